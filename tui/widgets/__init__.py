"""Reusable widgets; each posts its own messages (dataclasses nested in the widget class)."""
