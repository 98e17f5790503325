"""symbolic-bptt: exact Backpropagation Through Time with SymPy, written up as LaTeX.

The Python API (symbolic_bptt.api): `load`, `problem`, `verify`, and what they return.
"""

from __future__ import annotations

from .api import Audit, Problem, Solution, Step, Verified, load, problem, verify
from .errors import ProblemError
from .inputs.problem import load_problem, parse_problem

__all__ = ["Audit", "Problem", "ProblemError", "Solution", "Step", "Verified", "load",
           "load_problem", "parse_problem", "problem", "verify"]
__version__ = "0.1.0"
