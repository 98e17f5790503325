"""Every output of a run built aside and swapped in together at the end, or not at all.

A run writes into a scratch folder beside its output folder (same file system, so renames are
atomic); `commit` moves each file into place with `os.replace`, keeping the previous file until
all are in, and puts everything back if any step fails. Files are created new (O_EXCL) with
mode 0666 less the umask, like any ordinary file; a symbolic link planted where an output goes
is replaced, never followed, and a linked folder inside the output folder is refused.
"""

from __future__ import annotations

import os
import secrets
import shutil
import threading
from pathlib import Path
from typing import Self

from ..errors import ProblemError, quoted

_PREFIX = ".symbolic-bptt-"


def create_new(path: Path, data: bytes) -> None:
    """Write `data` to a file that must not exist yet; never through a symbolic link."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


class Staging:
    """The files of one run: `write` and `add` stage them, `commit` swaps them in together.

    Use as a context manager: leaving it by an exception (an error, Ctrl-C, SIGTERM) discards
    the scratch folder and leaves the output folder as it was.
    """

    def __init__(self, out: str | Path):
        self.out = Path(out)
        if self.out.exists() and not self.out.is_dir():
            raise ProblemError(f"cannot write into {quoted(self.out)}: it is not a folder")
        home = self.out
        while not home.is_dir():
            home = home.parent
        self.scratch = Path(_mkdtemp(home))
        self.files: dict[Path, Path] = {}  # final path -> staged path, in order of staging
        self.removed: list[Path] = []
        self._lock = threading.Lock()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind, value, tb) -> None:
        try:
            if kind is None:
                self.commit()
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def _staged(self, dest: Path) -> Path:
        dest = Path(dest)
        try:
            dest.relative_to(self.out)
        except ValueError:
            raise ValueError(f"{dest} is outside the output folder {self.out}") from None
        with self._lock:
            if dest in self.files:
                self.files[dest].unlink(missing_ok=True)
            staged = self.scratch / f"{len(self.files) + len(self.removed):05d}-{dest.name}"
            self.files[dest] = staged
        return staged

    def write(self, dest: str | Path, text: str) -> Path:
        """Stage `text` (UTF-8) as the new content of `dest`; returns `dest`."""
        create_new(self._staged(Path(dest)), text.encode("utf-8"))
        return Path(dest)

    def add(self, dest: str | Path, source: Path) -> Path:
        """Stage a copy of the file `source` (a built PDF, a log) as `dest`; returns `dest`."""
        create_new(self._staged(Path(dest)), Path(source).read_bytes())
        return Path(dest)

    def remove(self, dest: str | Path) -> None:
        """Delete `dest` at commit (a stale file of an earlier run), with the others."""
        with self._lock:
            self.removed.append(Path(dest))

    def commit(self) -> list[Path]:
        """Move every staged file into place; on any failure, put the folder back as it was."""
        backup = self.scratch / "previous"
        backup.mkdir()
        made: list[Path] = []      # folders this commit created
        moved: list[tuple[Path, Path | None]] = []  # (final path, its backup or None)
        try:
            for dest in [*self.files, *self.removed]:
                self._check_folder(dest.parent, made)
                kept = None
                if os.path.lexists(dest):
                    if dest.is_dir() and not dest.is_symlink():
                        raise ProblemError(f"cannot write {quoted(dest)}: it is a folder")
                    kept = backup / f"{len(moved):05d}"
                    os.replace(dest, kept)
                moved.append((dest, kept))
                if dest in self.files:
                    os.replace(self.files[dest], dest)
        except BaseException:
            for dest, kept in reversed(moved):
                if dest in self.files and os.path.lexists(dest):
                    os.replace(dest, self.files[dest])
                if kept is not None:
                    os.replace(kept, dest)
            for folder in reversed(made):
                try:
                    folder.rmdir()
                except OSError:
                    pass
            raise
        return list(self.files)

    def _check_folder(self, folder: Path, made: list[Path]) -> None:
        """Create `folder` (inside the output folder) if needed; refuse linked folders in it."""
        parts = folder.relative_to(self.out).parts
        for ancestor in reversed([self.out, *self.out.parents]):
            if not ancestor.exists():
                ancestor.mkdir()
                made.append(ancestor)
        current = self.out
        for part in ("", *parts):
            current = current / part if part else current
            if part and current.is_symlink():
                raise ProblemError(f"{quoted(current)} is a symbolic link: not written through")
            if not current.exists():
                current.mkdir()
                made.append(current)
            elif not current.is_dir():
                raise ProblemError(f"cannot write into {quoted(current)}: it is not a folder")


def _mkdtemp(home: Path) -> str:
    """A new private scratch folder in `home` (mode 0700 while it lives)."""
    for _ in range(100):
        path = home / f"{_PREFIX}{secrets.token_hex(6)}"
        try:
            path.mkdir(mode=0o700)
            return str(path)
        except FileExistsError:
            continue
    raise FileExistsError(f"no free scratch folder name in {home}")
