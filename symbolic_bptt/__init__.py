"""symbolic-bptt: exact Backpropagation Through Time with SymPy, written up as LaTeX.

The Python API (symbolic_bptt.api): `load`, `problem`, `verify`, and what they return. It is
imported on first use, so the command line (`python -m symbolic_bptt solve ...`) pays only for
the stages it runs.
"""

from __future__ import annotations

from .errors import ProblemError

__all__ = ["Audit", "Problem", "ProblemError", "Solution", "Step", "Verified", "load",
           "load_problem", "parse_problem", "problem", "verify"]
__version__ = "0.1.0"

_API = {"Audit", "Problem", "Solution", "Step", "Verified", "load", "problem", "verify"}
_INPUTS = {"load_problem", "parse_problem"}


def __getattr__(name: str):
    """The API's names, imported when first asked for (PEP 562)."""
    if name in _API:
        from . import api
        return getattr(api, name)
    if name in _INPUTS:
        from .inputs import problem
        return getattr(problem, name)
    raise AttributeError(f"module 'symbolic_bptt' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
