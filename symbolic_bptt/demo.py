"""The main job: reproduce the lecture deck's worked example into output/deck/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from .arithmetic import evaluate
from .document import Options, build
from .files import write_atomic
from .problem import load_problem
from .render import publish, render_tex
from .solution import quantities
from .tape import unroll

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_demo(out: str | Path, pdf: bool = True) -> Iterator[str]:
    """Write the deck's slides, worked solution and solved values; yields progress lines."""
    out_dir = Path(out) / "deck"
    problem = load_problem(EXAMPLES / "deck.toml")
    tape = unroll(problem)
    rounded = evaluate(tape)  # the deck's own arithmetic: 4 decimals carried by hand
    exact = evaluate(tape, "exact")
    for name, ev in (("solution-exact.json", exact), ("solution-rounded.json", rounded)):
        path = write_atomic(out_dir / name, json.dumps({"quantities": quantities(ev)}, indent=1) + "\n")
        yield f"wrote {path}"
    doc = build(rounded, Options())
    for fmt, what in (("beamer", "slides"), ("article", "worked solution")):
        if pdf:
            yield f"compiling {what}: {out_dir / (fmt + '.pdf')} ..."
        for path in publish(render_tex(fmt, doc), out_dir / f"{fmt}.tex", pdf):
            yield f"wrote {path}"
