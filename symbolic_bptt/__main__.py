"""`python -m symbolic_bptt` runs the command line."""

from .cli import run

run()
