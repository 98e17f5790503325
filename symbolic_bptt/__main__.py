"""`python -m symbolic_bptt` runs the command line."""

from .cli import main

raise SystemExit(main())
