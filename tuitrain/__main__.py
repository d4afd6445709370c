"""`python -m tuitrain` runs the same entry point as the `tuitrain` console script."""

from tuitrain.cli.main import main

raise SystemExit(main())
