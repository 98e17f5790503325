"""`python -m symbolic_bptt` runs the command line."""

from .cli.main import main

raise SystemExit(main())
