"""The command line: argument parsing and dispatch to the stages; no mathematics here."""

from .main import main

__all__ = ["main", "run"]


def run() -> None:
    """The `symbolic-bptt` program: main(), then the process ends without tearing down the
    interpreter (freeing SymPy's objects one by one takes about 0.1 s, a fifth of a `verify`
    call). Exit handlers still run and the output is flushed; with other threads alive the
    exit is Python's usual one."""
    import atexit
    import os
    import sys
    import threading

    code = main()
    if threading.active_count() > 1:
        raise SystemExit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be written
            pass
    os._exit(code if isinstance(code, int) else 1)
