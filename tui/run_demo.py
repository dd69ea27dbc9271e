"""``python -m tui.run_demo STEP_ID``: a step's real operation, as the notebook would run it.

Runs the lab notebook's setup and exercise cells (the learner's own code),
then the step's demo cells, in an IPython shell so magics and `display` work
as in JupyterLab. It runs in a child of the TUI (tui.child): whatever the
learner's code unshares or mounts stays in this process.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    from IPython.core.interactiveshell import InteractiveShell

    from kernel_helpers.course import load_course, notebook_text
    from kernel_helpers.errors import LabkitError
    from tui.lessons import section
    try:
        course = load_course()
        step = course.step(argv[0])
        nb = notebook_text.read(course.lab_of(step).notebook)
    except LabkitError as err:
        print(f"labkit: {err}")
        return 2
    shell = InteractiveShell.instance()
    # A LabkitError is one sentence here too, as in the CLI, not a traceback.
    shell.set_custom_exc((LabkitError,), lambda _shell, _type, err, _tb, tb_offset=None:
                         print(f"labkit: {err}"))
    for cell in notebook_text.cells_of_kind(nb, "setup", "exercise"):
        if not shell.run_cell(cell.source, silent=True).success:
            print("(the notebook's setup or exercise cells failed; fix them and run again)")
            return 1
    demos = [c for c in section(nb, step.id) if notebook_text.labkit_meta(c).get("kind") == "demo"]
    for cell in demos:
        print(">>> " + cell.source.replace("\n", "\n... "))
        if not shell.run_cell(cell.source).success:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
