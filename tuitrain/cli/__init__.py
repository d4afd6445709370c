"""The command line: `tuitrain` and its subcommands. No training logic lives here."""
