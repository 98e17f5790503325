"""symbolic-bptt: exact Backpropagation Through Time with SymPy, written up as LaTeX."""

from __future__ import annotations

from .errors import ProblemError
from .inputs.problem import Problem, load_problem, parse_problem

__all__ = ["Problem", "ProblemError", "load_problem", "parse_problem"]
__version__ = "0.1.0"
