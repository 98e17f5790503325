"""Exams: seeded variants of one BPTT exercise, question and key documents, machine-readable keys.

    EXAM.toml -> spec -> draw a variant from a seed -> reject degenerate ones -> solve it on the
    tape -> key (values, tolerances, worked lines) -> exam.tex / key.tex, key.json, key.csv,
    moodle.xml, variants/NN.toml -> PDFs compiled in parallel

The same spec and run seed give byte-identical sources and keys: every variant is drawn from
its own `random.Random(seed)`, the seeds come from one stream seeded by the run seed, and
nothing written depends on the clock, the machine or the order in which PDFs finish.
"""

from __future__ import annotations

import csv
import io
import json
import shlex
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import jinja2

from ..documents.document import escape_text
from ..documents.render import (
    environment,
    generated_header,
    publish_all,
    render_wide,
)
from ..errors import ProblemError
from ..inputs.staging import Staging
from .draw import Variant, draw_variant, seed_stream
from .keys import Entry, Keyed, KeyMaker
from .moodle import moodle_xml
from .spec import ExamSpec

Progress = Callable[[str, int, int], None]
TEX_LINE = 56  # printed characters before a worked step breaks into rows
CSV_COLUMNS = ("variant", "question", "quantity", "value", "tolerance", "points")


@dataclass(frozen=True)
class Exam:
    """The keyed variants of one run, and what the draw rejected on the way."""

    spec: ExamSpec
    source: str  # the EXAM.toml file name, as printed in the variants' comments
    seed: int | None  # the run seed (None when the variants were given by their own seeds)
    keyed: tuple[Keyed, ...]
    rejected: dict[str, int] = field(default_factory=dict, hash=False)

    @property
    def variants(self) -> list[Variant]:
        return [k.variant for k in self.keyed]

    @property
    def entries(self) -> list[Entry]:
        return [e for k in self.keyed for e in k.entries]

    def rejected_text(self) -> str:
        """'2 rejected: 1 saturated tanh, 1 zero gradient' (or '0 rejected')."""
        total = sum(self.rejected.values())
        if not total:
            return "0 rejected"
        return f"{total} rejected: " + ", ".join(f"{n} {why}" for why, n in self.rejected.items())


def draw_exam(spec: ExamSpec, variants: int | None = None, seed: int | None = None,
              variant_seeds: Iterable[int] | None = None, source: str = "exam.toml",
              progress: Progress | None = None) -> Exam:
    """Draw, check and key the variants: `variants` of them from the run `seed` (defaults: the
    spec's), or exactly the given `variant_seeds`. Raises ProblemError when `max_tries` draws in
    a row are rejected, or when a given seed draws a degenerate variant."""
    maker = KeyMaker(spec)
    explicit = variant_seeds is not None
    seeds = list(variant_seeds) if explicit else None
    n = len(seeds) if explicit else (spec.variants if variants is None else variants)
    run_seed = None if explicit else (spec.seed if seed is None else seed)
    stream = iter(seeds) if explicit else seed_stream(run_seed)
    seen: dict[str, int] = {}
    rejected: Counter[str] = Counter()
    streak: Counter[str] = Counter()
    examples: dict[str, str] = {}
    keyed: list[Keyed] = []
    while len(keyed) < n:
        number = len(keyed) + 1
        variant_seed = next(stream)
        variant, rng = draw_variant(spec, variant_seed, number, source)
        solved = None
        if variant.numbers in seen:
            reason = f"duplicate: the numbers of version {seen[variant.numbers]:02d}"
        else:
            solved = maker.solve(variant)
            reason = maker.degenerate(solved)
        if reason is not None:
            if explicit:
                raise ProblemError(
                    f"variant seed {variant_seed} draws a degenerate variant ({reason})")
            why = reason.split(":")[0]
            rejected[why] += 1
            streak[why] += 1
            examples.setdefault(why, reason)
            if sum(streak.values()) >= spec.max_tries:
                raise ProblemError(_impossible(spec, number, streak, examples))
            continue
        streak.clear()
        seen[variant.numbers] = number
        keyed.append(maker.key(solved, rng))
        if progress:
            progress("drawing", len(keyed), n)
    return Exam(spec, source, run_seed, tuple(keyed), dict(rejected))


def _impossible(spec: ExamSpec, number: int, streak: Counter, examples: dict[str, str]) -> str:
    reasons = ", ".join(f"{n} {why} (e.g. {examples[why].split(': ', 1)[-1]})"
                        for why, n in streak.most_common())
    return (f"no valid variant {number:02d} in {spec.max_tries} tries ({reasons}): widen the "
            "ranges in [draw], relax [reject] or raise reject.max_tries")


# ---------------------------------------------------------------------------------------------
# Documents and key files


def exam_command(exam: Exam) -> str:
    """The `symbolic-bptt exam` command line that draws this run again."""
    if exam.seed is None:
        seeds = [w for v in exam.variants for w in ("--variant-seed", str(v.seed))]
        return shlex.join(["symbolic-bptt", "exam", exam.source, *seeds])
    return shlex.join(["symbolic-bptt", "exam", exam.source, "--variants",
                       str(len(exam.keyed)), "--seed", str(exam.seed)])


def exam_tex(exam: Exam, answers: bool, keyed: Iterable[Keyed] | None = None,
             env: jinja2.Environment | None = None, command: str | None = None) -> str:
    """The LaTeX source (exam class) of the questions, or with answers=True of the key,
    headed by how to regenerate it (`command`, default: exam_command)."""
    spec = exam.spec
    versions = list(exam.keyed if keyed is None else keyed)
    template = (env or environment()).get_template("exam.tex.j2")
    mode = {"rounded": f"Carry {spec.decimals} decimals at every step, rounding half up; give "
                       f"every answer to {spec.decimals} decimals.",
            "float": f"Give every answer to {spec.decimals} decimals.",
            "exact": f"Give every answer to {spec.decimals} decimals."}[spec.mode]
    return generated_header(command or exam_command(exam)) + render_wide(
        template,
        exam={"title": spec.title or "Backpropagation Through Time",  # user text: |tex
              "course": spec.course, "date": spec.date, "author": spec.author,
              "instructions": _paragraphs(spec.instructions),
              "mode": mode, "decimals": spec.decimals, "rounded": spec.mode == "rounded"},
        versions=versions, answers=answers, max_len=TEX_LINE, approx=spec.mode != "rounded",
        points=_points, space=_space, tt=escape_text)


def _space(part) -> float:
    """Inches left blank for the answer on the question sheet: about as tall as the key's."""
    if part.choices:
        return 0.4
    rows = sum(1 if line.length <= TEX_LINE else 1 + len(line.chain) for line in part.lines)
    return min(7.0, 0.8 + 0.3 * rows + 0.15 * len(part.entries))


def _paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]


def _points(value: Decimal) -> str:
    return format(value.normalize(), "f")


def key_json(exam: Exam) -> str:
    """key.json: {"answers": [...]} with one entry per answer, plus the variants' seeds."""
    answers = []
    for e in exam.entries:
        item = {"variant": e.variant, "question": e.question, "kind": e.kind,
                "quantity": e.quantity or None,
                "value": float(e.value) if e.tolerance is not None else e.value,
                "tolerance": float(e.tolerance) if e.tolerance is not None else None,
                "points": float(e.points)}
        if e.worked is not None:
            item["worked"] = float(e.worked)
            item["exact"] = float(e.exact)
        if e.options:
            item["options"] = [{"letter": c.letter, "correct": c.correct, "code": c.code,
                                "misconception": c.misconception or None} for c in e.options]
        answers.append(item)
    spec = exam.spec
    head = {"title": spec.title, "seed": exam.seed, "mode": spec.mode, "decimals": spec.decimals,
            "variants": [{"variant": v.number, "seed": v.seed,
                          "problem": f"variants/{v.label}.toml"}
                         for v in exam.variants],
            "rejected": exam.rejected}
    return json.dumps({"answers": answers, **head}, indent=1, ensure_ascii=False) + "\n"


def key_csv(exam: Exam) -> str:
    """key.csv: variant, question, quantity, value, tolerance, points (one row per answer)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in exam.entries:
        writer.writerow([e.variant, e.question, e.quantity, e.value, e.tolerance or "",
                         _points(e.points)])
    return out.getvalue()


@dataclass(frozen=True)
class Outputs:
    """What a run writes: (path, text) pairs, and the .tex files to compile."""

    files: list[tuple[Path, str]]
    documents: list[tuple[Path, str]]


def outputs(exam: Exam, out: Path, command: str | None = None) -> Outputs:
    """Every file of a run, as text, before anything is written (`command`: how to run it
    again, for the documents' headers)."""
    files = [(out / "key.json", key_json(exam)), (out / "key.csv", key_csv(exam)),
             (out / "moodle.xml", moodle_xml(exam))]
    env = environment()  # one environment: each template is compiled once for the run
    documents = [(out / "exam.tex", exam_tex(exam, False, env=env, command=command)),
                 (out / "key.tex", exam_tex(exam, True, env=env, command=command))]
    for k in exam.keyed:
        label = k.variant.label
        files.append((out / "variants" / f"{label}.toml", k.variant.text))
        for kind, answers in (("exam", False), ("key", True)):
            documents.append((out / "variants" / f"{label}-{kind}.tex",
                              exam_tex(exam, answers, [k], env, command)))
    return Outputs(files, documents)


def write_exam(exam: Exam, out: str | Path, pdf: bool = False,
               progress: Progress | None = None, command: str | None = None,
               stage: Staging | None = None) -> list[Path]:
    """Write the run's files into `out`; with pdf, compile every document in parallel (one
    latexmk per core). Raises CompileError (the first failure, in file order) after all ran.
    Every file is staged (in `stage`, or a run of its own): a failure writes none of them."""
    out = Path(out)
    plan = outputs(exam, out, command)
    with nullcontext(stage) if stage is not None else Staging(out) as st:
        written = [st.write(path, text) for path, text in plan.files]
        if not pdf:
            return written + [st.write(path, text) for path, text in plan.documents]
        return written + publish_all(plan.documents, st, progress)
