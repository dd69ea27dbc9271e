"""Widgets shared by the screens: live step output, the check panel and the progress line."""
