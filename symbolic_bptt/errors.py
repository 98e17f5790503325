"""The one exception type for mistakes a user can make; the CLI prints it and exits 2."""

from __future__ import annotations


class ProblemError(Exception):
    """Bad input: a problem file, claims file, option or formula, explained in one line."""
