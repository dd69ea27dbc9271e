"""The TUI's screens: the lab catalogue, one lesson step, and small modal dialogs."""
