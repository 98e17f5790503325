"""The one exception type for mistakes a user can make; the CLI prints it and exits 2."""

from __future__ import annotations


class ProblemError(Exception):
    """Bad input: a problem file, claims file, option or formula, explained in one line."""


class MissingResource(Exception):
    """The installation lacks a file the package ships (a template, an example): not the user's
    input and not a write failure, so the CLI says which file and suggests reinstalling."""
