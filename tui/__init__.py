"""The labkit TUI: the labs as rustlings-style walkthroughs in a terminal (`labkit tui`)."""
