"""Writing files so that a failure never leaves a half-written file where a good one stood."""

from __future__ import annotations

import os
import sys
import tempfile
import tomllib
from pathlib import Path

from ..errors import ProblemError


def write_atomic(path: str | Path, text: str) -> Path:
    """Write text to a temporary file beside `path`, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


STDIN = "-"  # the file name that means standard input, by the usual convention


def read_text(path: str | Path, what: str) -> str:
    """The text of a UTF-8 input file (`-`: standard input); a ProblemError naming the file
    when it cannot be read.

    `what` names the expected file in messages: "a .toml problem file".
    """
    path = Path(path)
    try:
        if str(path) == STDIN:
            return sys.stdin.buffer.read().decode("utf-8")
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


def input_name(path: str | Path) -> tuple[str, str]:
    """(how messages name an input file, the name its outputs take): ("<stdin>", "stdin") for
    `-`, else (the path as given, its stem)."""
    if str(path) == STDIN:
        return "<stdin>", "stdin"
    return str(path), Path(path).stem


def parse_toml(text: str, parse_float=float) -> dict:
    """TOML text as a table; a ProblemError in one line when it is not valid TOML."""
    try:
        return tomllib.loads(text, parse_float=parse_float)
    except tomllib.TOMLDecodeError as exc:
        raise ProblemError(f"not valid TOML ({' '.join(str(exc).split())})") from None
    except RecursionError:
        raise ProblemError("not valid TOML (lists or tables nested too deeply)") from None
