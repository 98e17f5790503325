"""The command line: argument parsing and dispatch to the stages; no mathematics here."""

from .main import main

__all__ = ["main"]
