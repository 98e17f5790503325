"""Writing files so that a failure never leaves a half-written file where a good one stood."""

from __future__ import annotations

import os
import stat
import sys
import tomllib
from pathlib import Path

from ..errors import ProblemError, quoted
from .limits import MAX_FILE_BYTES


def write_atomic(path: str | Path, text: str) -> Path:
    """Write one file as a run of its own: staged aside, then swapped in (inputs/staging.py)."""
    from .staging import Staging

    path = Path(path)
    with Staging(path.parent) as stage:
        stage.write(path, text)
    return path


STDIN = "-"  # the file name that means standard input, by the usual convention


def read_text(path: str | Path, what: str, limit: int = MAX_FILE_BYTES) -> str:
    """The text of a UTF-8 input file (`-`: standard input) of at most `limit` bytes; a
    ProblemError naming the file when it cannot be read.

    `what` names the expected file in messages: "a .toml problem file".
    """
    path = Path(path)
    shown = quoted(path) if not str(path).isprintable() or len(str(path)) > 200 else str(path)
    try:
        if str(path) == STDIN:
            data = sys.stdin.buffer.read(limit + 1)
        else:
            with open(path, "rb", opener=_open_regular) as f:
                data = f.read(limit + 1)
        if len(data) > limit:
            raise ProblemError(f"{shown}: larger than the limit of {limit:,} bytes for {what}")
        return data.decode("utf-8")
    except _NotRegular:
        raise ProblemError(f"{shown}: not a regular file (a pipe, device or socket), expected "
                           f"{what}") from None
    except FileNotFoundError:
        raise ProblemError(f"{shown}: no such file") from None
    except IsADirectoryError:
        raise ProblemError(f"{shown}: is a directory, expected {what}") from None
    except UnicodeDecodeError as exc:
        raise ProblemError(
            f"{shown}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}),"
            f" expected {what}") from None
    except OSError as exc:
        raise ProblemError(f"{shown}: cannot be read ({exc.strerror or exc})") from None


class _NotRegular(Exception):
    """An input path that is a FIFO, device or socket: reading it could block or never end."""


def _open_regular(path, flags: int) -> int:
    """Open without blocking on a FIFO, then refuse anything but a regular file or folder."""
    fd = os.open(path, flags | os.O_NONBLOCK)
    mode = os.fstat(fd).st_mode
    if stat.S_ISDIR(mode):
        os.close(fd)
        raise IsADirectoryError(21, "Is a directory", str(path))
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise _NotRegular(path)
    os.set_blocking(fd, True)
    return fd


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
    except ValueError:  # Python reads no integer of more than 4300 digits
        raise ProblemError("not valid TOML for this tool: an integer of more than 4300 "
                           "digits") from None
