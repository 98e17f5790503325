"""Shared fixtures: paths to the examples and a CLI runner that captures exit code and output."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from symbolic_bptt.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
# the problem files among the examples (claims files and exam descriptions are other formats):
# those of the Elman cell, and those that define a cell of their own
_PROBLEMS = sorted(p for p in EXAMPLES.glob("*.toml") if "[weights]" in p.read_text(encoding="utf-8"))
CUSTOM_FILES = [p for p in _PROBLEMS if 'cell = "custom"' in p.read_text(encoding="utf-8")]
# the examples over a shipped gated cell (cell = "lstm", "gru", ...): tests/test_gated_cells.py
GATED_FILES = [p for p in _PROBLEMS if re.search(r'^cell = "(lstm|gru)\w*"', p.read_text(
    encoding="utf-8"), re.M)]
PROBLEM_FILES = [p for p in _PROBLEMS if p not in CUSTOM_FILES and p not in GATED_FILES]
# the Elman problems with a [training] table (clipping, update, truncation): tests/test_training.py
# (a gated cell's, lstm_gomez's SGD step, is torch.optim.SGD's in tests/test_gated_cells.py)
TRAINING_FILES = [p for p in _PROBLEMS if "\n[training]" in p.read_text(encoding="utf-8")
                  and p not in GATED_FILES]


def flat(value) -> list[float]:
    """A `solve --json` value (number, list, rows) as a flat row-major list of floats."""
    if isinstance(value, list):
        return [v for item in value for v in flat(item)]
    if isinstance(value, dict):  # exact mode: {"value": ..., "exact": ...}
        return [float(value["value"])]
    return [float(value)]


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def cli():
    """Run `python -m symbolic_bptt ARGS` as a user would, in a fresh process."""

    def run(*args: str, cwd: Path | None = None) -> Run:
        proc = subprocess.run([sys.executable, "-m", "symbolic_bptt", *map(str, args)],
                              capture_output=True, text=True, cwd=cwd or ROOT, check=False)
        return Run(proc.returncode, proc.stdout, proc.stderr)

    return run


def solve(capsys, *args) -> tuple[int, str, str]:
    """`symbolic-bptt solve ARGS` in this process: (exit code, stdout, stderr)."""
    try:
        code = main(["solve", *map(str, args)])
    except SystemExit as exc:  # argparse
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def deck_gradient(name: str, eps: float = 1e-7) -> float:
    """dL/d(name) of the deck's network (examples/deck.toml) by central finite differences of a
    forward pass written here, independent of the package."""
    def loss(w):
        h, total = 0.0, 0.0
        for x, y in zip([0.5, 0.1, 0.4], [0.4, 0.2, 0.1], strict=True):
            h = math.tanh(w["W_hh"] * h + w["W_xh"] * x)
            total += 0.5 * (w["W_hy"] * h - y) ** 2
        return total
    w = {"W_xh": 0.6, "W_hh": 0.9, "W_hy": 0.8}
    up, down = dict(w, **{name: w[name] + eps}), dict(w, **{name: w[name] - eps})
    return (loss(up) - loss(down)) / (2 * eps)
