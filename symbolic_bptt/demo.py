"""The main job: reproduce the lecture deck's worked example into output/deck/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from .arithmetic import evaluate
from .files import write_atomic
from .problem import load_problem
from .solution import quantities
from .tape import unroll

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_demo(out: str | Path) -> Iterator[str]:
    """Write the deck's solution files; yields one progress line per file written."""
    out_dir = Path(out) / "deck"
    problem = load_problem(EXAMPLES / "deck.toml")
    tape = unroll(problem)
    for mode in ("exact", "rounded"):
        ev = evaluate(tape, mode)
        path = out_dir / f"solution-{mode}.json"
        write_atomic(path, json.dumps({"quantities": quantities(ev)}, indent=1) + "\n")
        yield f"wrote {path}"
