#!/bin/sh
# Template for the lab VM's login message: vagrant/lab-vm.sh installs it as /etc/update-motd.d/60-labkit.
cat <<'TEXT'

  labkit lab VM: learn how containers really work by building one.
    labkit            the course in this terminal (the TUI; it runs itself as root)
    labkit doctor     what this kernel supports
    labkit cleanup    remove anything a crashed run left behind
  The labs are notebooks in @KIT_DIR@/labs, your copy of the kit's repository.
TEXT
if [ -r /etc/labkit/jupyter-url ]; then
  echo "  JupyterLab, in your laptop's browser: $(cat /etc/labkit/jupyter-url)"
fi
echo
