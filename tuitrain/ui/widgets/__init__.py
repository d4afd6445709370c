"""Textual widgets of the tuitrain dashboard, one per module."""
