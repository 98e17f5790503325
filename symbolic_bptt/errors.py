"""The one exception type for mistakes a user can make; the CLI prints it and exits 2."""

from __future__ import annotations

QUOTE_LIMIT = 60


class ProblemError(Exception):
    """Bad input: a problem file, claims file, option or formula, explained in one line."""


class MissingResource(Exception):
    """The installation lacks a file the package ships (a template, an example): not the user's
    input and not a write failure, so the CLI says which file and suggests reinstalling."""


def quoted(text: object, limit: int = QUOTE_LIMIT) -> str:
    """User text for a message: repr-style (so it is one line and escapes are visible), cut
    to about `limit` characters with the total length said, so no file can forge extra lines."""
    text = str(text)
    if len(text) > limit:
        return repr(text[:limit]) + f"... ({len(text)} characters)"
    return repr(text)


def one_line(message: str, limit: int = 400) -> str:
    """A message as one printable line: control characters escaped, long messages cut."""
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in message):
        message = "".join(c if not (ord(c) < 32 or 127 <= ord(c) < 160)
                          else repr(c)[1:-1] for c in message)
    if len(message) > limit:
        message = message[:limit] + f"... ({len(message)} characters)"
    return message
