"""Writing files so that a failure never leaves a half-written file where a good one stood."""

from __future__ import annotations

import tomllib
from pathlib import Path

from ..errors import ProblemError


def write_atomic(path: str | Path, text: str) -> Path:
    """Write one file as a run of its own: staged aside, then swapped in (inputs/staging.py)."""
    from .staging import Staging

    path = Path(path)
    with Staging(path.parent) as stage:
        stage.write(path, text)
    return path


def read_text(path: str | Path, what: str) -> str:
    """The text of a UTF-8 input file; a ProblemError naming the file when it cannot be read.

    `what` names the expected file in messages: "a .toml problem file".
    """
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProblemError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ProblemError(f"{path}: is a directory, expected {what}") from None
    except UnicodeDecodeError as exc:
        raise ProblemError(
            f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}),"
            f" expected {what}") from None
    except OSError as exc:
        raise ProblemError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def parse_toml(text: str, parse_float=float) -> dict:
    """TOML text as a table; a ProblemError in one line when it is not valid TOML."""
    try:
        return tomllib.loads(text, parse_float=parse_float)
    except tomllib.TOMLDecodeError as exc:
        raise ProblemError(f"not valid TOML ({' '.join(str(exc).split())})") from None
    except RecursionError:
        raise ProblemError("not valid TOML (lists or tables nested too deeply)") from None
