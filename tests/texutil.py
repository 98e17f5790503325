"""Helpers for tests that need TeX: skip without it, unless CI demands it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

TOOLS = ("pdflatex", "latexmk", "pdftotext", "chktex")


def require_tex() -> None:
    """Skip when TeX is missing; with SYMBOLIC_BPTT_REQUIRE_TEX=1 (CI) fail instead."""
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        message = f"TeX tools missing: {', '.join(missing)}"
        if os.environ.get("SYMBOLIC_BPTT_REQUIRE_TEX") == "1":
            pytest.fail(message + " (SYMBOLIC_BPTT_REQUIRE_TEX=1)")
        pytest.skip(message)


def pdf_text(pdf: Path) -> str:
    """The text of a PDF, as pdftotext reads it."""
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
