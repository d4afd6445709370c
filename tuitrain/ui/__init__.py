"""The Textual dashboard: the app, its screens, widgets and the one stylesheet.

Nothing in this package imports an ML framework; training runs in the runner process and the
UI only reads the run folder and writes control commands."""
