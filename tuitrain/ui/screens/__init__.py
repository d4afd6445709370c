"""Textual screens of the tuitrain dashboard, one per module."""
