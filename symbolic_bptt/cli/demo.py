"""The main job: reproduce the lecture deck's example into output/deck/ (slides, worked solution,
values, the audit of the deck's own numbers) and a small exam into output/exam/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from ..audit.check import check, format_audit
from ..audit.report import audit_document
from ..documents.document import Options, build
from ..documents.render import publish, render_tex
from ..evaluate.arithmetic import evaluate
from ..evaluate.solution import quantities
from ..inputs.claims import load_claims
from ..inputs.files import write_atomic
from ..inputs.problem import load_problem
from ..tape import unroll

# Package data (symbolic_bptt/examples links to the repository's examples/ folder): the demo
# runs from any directory with only the installed package, and writes into `out`.
EXAMPLES = resources.files("symbolic_bptt") / "examples"


def run_demo(out: str | Path, pdf: bool = True,
             command: str = "symbolic-bptt demo") -> Iterator[str]:
    """Write the deck's slides, worked solution and solved values; yields progress lines.
    `command` heads every .tex: how to write them again."""
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
        for path in publish(render_tex(fmt, doc, command), out_dir / f"{fmt}.tex", pdf):
            yield f"wrote {path}"
    yield from _audit(tape, out_dir, pdf, command)
    yield from _exam(Path(out) / "exam", pdf, command)


def _audit(tape, out_dir: Path, pdf: bool, command: str) -> Iterator[str]:
    """Check the deck's own printed numbers (examples/deck_claims.toml) and write the audit."""
    audit = check(tape, load_claims(EXAMPLES / "deck_claims.toml", tape))
    yield f"wrote {write_atomic(out_dir / 'audit.txt', format_audit(audit) + chr(10))}"
    text = json.dumps(audit.as_json(), indent=1, ensure_ascii=False) + "\n"
    yield f"wrote {write_atomic(out_dir / 'audit.json', text)}"
    if pdf:
        yield f"compiling the audit of the deck's numbers: {out_dir / 'audit.pdf'} ..."
    document = render_tex("article", audit_document(audit, tape), command)
    for path in publish(document, out_dir / "audit.tex", pdf):
        yield f"wrote {path}"
    wrong = [r.name for r in audit.roots]
    yield f"the deck's hand calculation: {len(wrong)} root causes ({', '.join(wrong)}); see {out_dir / 'audit.txt'}"


def _exam(out_dir: Path, pdf: bool, command: str) -> Iterator[str]:
    """A small exam on the deck's network (examples/exam.toml): three versions, each with its
    problem file and worked key, key.json, key.csv and a Moodle quiz."""
    from ..exam.spec import load_spec
    from ..exam.write import draw_exam, write_exam

    exam = draw_exam(load_spec(EXAMPLES / "exam.toml"), 3, source="exam.toml")
    for v in exam.variants:
        yield f"exam version {v.label}: seed {v.seed}"
    if pdf:
        yield f"compiling the exam, its key and each version's: {out_dir} ..."
    written = write_exam(exam, out_dir, pdf, command=command)
    for path in written:
        if path.parent == out_dir:
            yield f"wrote {path}"
    yield f"wrote {out_dir / 'variants'}/: {sum(p.parent != out_dir for p in written)} files"
