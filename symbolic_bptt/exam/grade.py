"""Grade a class: `symbolic-bptt grade EXAMDIR ANSWERS [--policy ecf|strict] [--out DIR]`.

    EXAMDIR (key.json, variants/NN.toml, moodle.xml) + ANSWERS (exam/answers.py) ->
    each student's numbers audited by `check` against their version's tape -> a verdict per
    answer (ok, rounding, carried, wrong, missing) -> points by the policy -> the class

Numbers named by a quantity of the tape are audited together, so a slip in h_2 is `wrong` once
and every later number computed from it is `carried` (error carried forward). A number the tape
has no name for is compared with the key within its tolerance; a choice (formula letter,
vanishing/exploding) with the key's answer, a wrong letter named by the misconception it stands
for. Policy `ecf` (default) pays ok, rounding and carried; `strict` pays ok and rounding.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import re
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cached_property
from pathlib import Path

from ..audit.catalog import CODES
from ..audit.check import Audit, Shared, Verdict, check, number_text
from ..errors import ProblemError, quoted
from ..inputs.claims import Claims, at_least, claims_from_table
from ..inputs.files import read_text
from ..inputs.limits import MAX_CLASS_BYTES
from ..inputs.problem import load_problem
from ..tape import Tape, unroll
from .answers import Answer, Sheet, moodle_questions, read_answers

POLICIES = {"ecf": ("ok", "rounding", "carried"), "strict": ("ok", "rounding")}
VERDICTS = ("ok", "rounding", "carried", "wrong", "missing")
CHOICE_KINDS = ("formula", "vanishing")
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,3})?")
Progress = Callable[[str, int, int], None]


# ---------------------------------------------------------------------------------------------
# The key


@dataclass(frozen=True)
class KeyAnswer:
    """One answer of key.json."""

    variant: int
    question: int
    kind: str
    quantity: str  # "" for a choice or a verdict
    value: str  # the number as text, a letter, or vanishing/exploding
    tolerance: Decimal | None
    points: Decimal
    options: tuple[dict, ...] = ()

    @property
    def name(self) -> str:
        """How answers.csv and the feedback name it: the quantity, else `qN`."""
        return self.quantity or f"q{self.question}"


class Key:
    """An exam folder's key: its answers per variant, the variants' tapes (built on demand)."""

    def __init__(self, examdir: str | Path):
        self.dir = Path(examdir)
        path = self.dir / "key.json"
        try:
            raw = json.loads(read_text(path, "an exam's key.json", MAX_CLASS_BYTES))
        except json.JSONDecodeError as exc:
            raise ProblemError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
        if not isinstance(raw, dict) or not isinstance(raw.get("answers"), list):
            raise ProblemError(f"{path}: not an exam key (no \"answers\" list): is {self.dir} "
                               "a folder written by `symbolic-bptt exam`?")
        self.title = str(raw.get("title") or "")
        self.decimals = int(raw.get("decimals") or 4)
        self.problems = {int(v["variant"]): self.dir / v["problem"]
                         for v in raw.get("variants", [])}
        self.answers: dict[int, list[KeyAnswer]] = {}
        try:
            for a in raw["answers"]:
                number = a["tolerance"] is not None
                entry = KeyAnswer(
                    int(a["variant"]), int(a["question"]), str(a["kind"]), a["quantity"] or "",
                    _decimal_text(a["value"], self.decimals) if number else str(a["value"]),
                    Decimal(repr(a["tolerance"])) if number else None,
                    Decimal(repr(a["points"])), tuple(a.get("options") or ()))
                self.answers.setdefault(entry.variant, []).append(entry)
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise ProblemError(f"{path}: an answer cannot be read ({type(exc).__name__}: {exc})") \
                from None
        self._tapes: dict[int, tuple[Tape, Shared]] = {}

    def tape(self, variant: int) -> tuple[Tape, Shared]:
        """The variant's tape and what its audits share (built once)."""
        if variant not in self._tapes:
            if variant not in self.problems:
                raise ProblemError(f"key.json lists no problem file for variant {variant}")
            tape = unroll(load_problem(self.problems[variant]))
            self._tapes[variant] = (tape, Shared(tape))
        return self._tapes[variant]

    @cached_property
    def moodle(self):
        path = self.dir / "moodle.xml"
        return (moodle_questions(read_text(path, "the exam's moodle.xml", MAX_CLASS_BYTES))
                if path.exists() else None)

    def names(self, variant: int) -> dict[str, KeyAnswer]:
        """Every name an answer may be given under, for one variant: the key's quantities, `qN`
        for a question with one answer or one choice, and `formula`/`vanishing` when the exam
        has one question of that kind."""
        entries = self.answers[variant]
        out = {e.quantity: e for e in entries if e.quantity}
        by_question: dict[int, list[KeyAnswer]] = {}
        for e in entries:
            by_question.setdefault(e.question, []).append(e)
        for q, es in by_question.items():
            choices = [e for e in es if not e.quantity]
            if len(choices) == 1:
                out[f"q{q}"] = choices[0]
            elif len(es) == 1:
                out[f"q{q}"] = es[0]
        for kind in CHOICE_KINDS:
            of_kind = [e for e in entries if e.kind == kind and not e.quantity]
            if len({e.question for e in of_kind}) == 1 and len(of_kind) == 1:
                out[kind] = of_kind[0]
        return out


def _decimal_text(value, decimals: int) -> str:
    """A key number as key.csv writes it: at the exam's decimals (0.122 as 0.1220)."""
    d = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    return number_text(d.quantize(Decimal(1).scaleb(-decimals)) if -d.as_tuple().exponent < decimals
                       else d)


# ---------------------------------------------------------------------------------------------
# One student


@dataclass(frozen=True)
class Mark:
    """One key answer of one student: what they wrote, the verdict, the points earned."""

    key: KeyAnswer
    written: str  # "" when missing
    verdict: str  # ok | rounding | carried | wrong | missing
    code: str | None
    inherits: tuple[str, ...]
    points: Decimal
    explanation: str
    audited: Verdict | None = None


@dataclass(frozen=True)
class Graded:
    """One student's marks, in the key's order, and their audit (None when no number of theirs
    has a name in the tape)."""

    student: str
    variant: int
    marks: tuple[Mark, ...]
    audit: Audit | None = field(default=None, repr=False)

    @property
    def total(self) -> Decimal:
        return sum((m.points for m in self.marks), Decimal(0))

    @property
    def maximum(self) -> Decimal:
        return sum((m.key.points for m in self.marks), Decimal(0))


def grade_sheet(key: Key, sheet: Sheet, policy: str = "ecf") -> Graded:
    """Audit one student's answers and mark each answer of their variant's key."""
    if sheet.variant not in key.answers:
        raise ProblemError(f"student {quoted(sheet.student)}: variant {sheet.variant} is not in "
                           f"the key (variants {', '.join(map(str, sorted(key.answers)))})")
    names = key.names(sheet.variant)
    given: dict[str, Answer] = {}
    for a in sheet.answers:
        entry = names.get(a.name)
        if entry is None:
            close = difflib.get_close_matches(a.name, list(names), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ProblemError(f"{a.where}: {quoted(a.name)} is not an answer of version "
                               f"{sheet.variant}{hint}; names are those of key.csv, qN, formula "
                               "or vanishing")
        if entry.name in given:
            raise ProblemError(f"{a.where}: student {quoted(sheet.student)} answers "
                               f"{entry.name} twice ({given[entry.name].where} and here)")
        given[entry.name] = a
    tape, shared = key.tape(sheet.variant)
    numbers: dict[str, Decimal] = {}
    for e in key.answers[sheet.variant]:
        a = given.get(e.name)
        if a is not None and e.quantity and _audited(e.quantity, tape):
            value = read_number(a.text)
            if value is not None:
                numbers[e.quantity] = value
    audit = None
    verdicts: dict[str, Verdict] = {}
    if numbers:
        claims = at_least(claims_from_table({"claims": numbers}, tape), key.decimals)
        claims = Claims(claims.claims, key.decimals,
                        f"{sheet.student}, version {sheet.variant:02d}", "")
        audit = check(tape, claims, shared)
        verdicts = {v.name: v for v in audit.verdicts}
    paid = POLICIES[policy]
    marks = []
    for e in key.answers[sheet.variant]:
        a = given.get(e.name)
        mark = _mark(e, a, verdicts.get(e.quantity) if e.quantity else None)
        points = e.points if mark[0] in paid else Decimal(0)
        marks.append(Mark(e, a.text if a else "", mark[0], mark[1], mark[2], points, mark[3],
                          verdicts.get(e.quantity) if e.quantity else None))
    return Graded(sheet.student, sheet.variant, tuple(marks), audit)


def _audited(quantity: str, tape: Tape) -> bool:
    base = re.sub(r"\[[0-9, ]+\]$", "", quantity)
    return base in tape.by_name


def read_number(text: str) -> Decimal | None:
    """A number as a student writes it (a Unicode minus too), or None when it is not one or
    beyond the claims' limits (12 digits before the point, 30 after)."""
    text = text.strip().replace("\u2212", "-")
    if not NUMBER.fullmatch(text):
        return None
    value = Decimal(text)
    if value and (value.adjusted() >= 12 or -value.as_tuple().exponent > 30):
        return None
    return value


def _mark(e: KeyAnswer, a: Answer | None, v: Verdict | None):
    """(verdict, code, inherits, explanation) of one answer."""
    if a is None:
        return "missing", None, (), "no answer"
    if v is not None:
        return v.verdict, v.code, v.inherits, v.explanation if v.verdict != "ok" else ""
    if e.tolerance is not None:  # a number: audited above, or compared with the key
        value = read_number(a.text)
        if value is None:
            return "wrong", "not-a-number", (), f"{quoted(a.text)} is not a number"
        if abs(value - Decimal(e.value)) <= e.tolerance:
            return "ok", None, (), ""
        return ("wrong", "not-within-tolerance", (),
                f"{number_text(value)} is not within {e.tolerance} of the key's {e.value}")
    written = a.text.strip()
    if e.kind == "vanishing" or e.value in ("vanishing", "exploding"):
        word = {"damped": "vanishing", "amplified": "exploding"}.get(
            written.lower().split(" ")[0], written.lower().split(" ")[0] if written else "")
        if word == e.value:
            return "ok", None, (), ""
        return ("wrong", "vanishing-verdict", (),
                f"the Jacobian product says {e.value}, not {written}")
    letter = written.strip("() .").upper()
    if letter == e.value.upper():
        return "ok", None, (), ""
    chosen = next((o for o in e.options if o.get("letter") == letter), None)
    if chosen is None:
        return "wrong", "not-an-option", (), f"{quoted(written)} is not one of the options"
    why = chosen.get("misconception") or chosen.get("code") or "a wrong formula"
    return "wrong", chosen.get("code") or "wrong-option", (), f"option {letter}: {why}"


def grade_class(key: Key, sheets: list[Sheet], policy: str = "ecf",
                progress: Progress | None = None) -> list[Graded]:
    """Every student, in the answers' order."""
    if policy not in POLICIES:
        raise ProblemError(f"unknown policy {policy!r} (expected one of: {', '.join(POLICIES)})")
    out = []
    for i, sheet in enumerate(sheets, 1):
        out.append(grade_sheet(key, sheet, policy))
        if progress:
            progress("grading", i, len(sheets))
    return out


def load_class(examdir: str | Path, answers: str | Path) -> tuple[Key, list[Sheet]]:
    """The key of EXAMDIR and the sheets of ANSWERS (a Moodle report read with moodle.xml)."""
    key = Key(examdir)
    return key, read_answers(answers, key.moodle)


# ---------------------------------------------------------------------------------------------
# Tables


def points_text(value: Decimal) -> str:
    """Points as printed: at most 2 decimals, no trailing zeros (1.5, 0.33, 12)."""
    text = format(value.quantize(Decimal("0.01")).normalize(), "f")
    return "0" if text in ("-0", "0") else text


def grades_csv(graded: list[Graded], key: Key) -> str:
    """grades.csv: student, variant, total, maximum, then the points of each question."""
    questions = sorted({e.question for es in key.answers.values() for e in es})
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["student", "variant", "total", "maximum", *[f"q{q}" for q in questions]])
    for g in graded:
        per = Counter()
        for m in g.marks:
            per[m.key.question] += m.points
        w.writerow([_cell(g.student), g.variant, points_text(g.total), points_text(g.maximum),
                    *[points_text(per[q]) if any(m.key.question == q for m in g.marks) else ""
                      for q in questions]])
    return out.getvalue()


ANSWER_COLUMNS = ("student", "variant", "question", "quantity", "written", "key", "verdict",
                  "code", "inherits", "points", "maximum")


def answers_csv(graded: list[Graded]) -> str:
    """answers.csv: every answer of every student with its verdict, code, inherits and points."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(ANSWER_COLUMNS)
    for g in graded:
        for m in g.marks:
            w.writerow([_cell(g.student), g.variant, m.key.question, m.key.name,
                        _cell(m.written), m.key.value, m.verdict, m.code or "",
                        " ".join(m.inherits), points_text(m.points), points_text(m.key.points)])
    return out.getvalue()


def _cell(text: str) -> str:
    """A spreadsheet cell: text that a spreadsheet would run as a formula is quoted ('=...)."""
    return "'" + text if text[:1] in ("=", "+", "@", "\t", "\r") or (
        text[:1] == "-" and not NUMBER.fullmatch(text)) else text


# ---------------------------------------------------------------------------------------------
# The class: misconceptions, clusters, distribution


@dataclass(frozen=True)
class Misconception:
    """One code made by some students: how many, at which answers, one anonymised example."""

    code: str
    students: int
    steps: tuple[tuple[str, int], ...]  # (answer name, students), most first
    example: Mark
    variant: int


@dataclass(frozen=True)
class Cluster:
    """Students who wrote the same wrong number for the same answer of the same version."""

    variant: int
    name: str
    written: str
    code: str | None
    students: tuple[str, ...]


def misconceptions(graded: list[Graded]) -> list[Misconception]:
    """Every code of a wrong answer, by how many students made it (most first)."""
    who: dict[str, set[str]] = {}
    steps: dict[str, Counter] = {}
    example: dict[str, tuple[Mark, int]] = {}
    for g in graded:
        for m in g.marks:
            if m.verdict == "wrong" and m.code:
                who.setdefault(m.code, set()).add(g.student)
                steps.setdefault(m.code, Counter())[m.key.name] += 1
                example.setdefault(m.code, (m, g.variant))
    return sorted((Misconception(c, len(who[c]), tuple(steps[c].most_common()), *example[c])
                   for c in who), key=lambda x: (-x.students, x.code))


def clusters(graded: list[Graded], smallest: int = 2) -> list[Cluster]:
    """Identical wrong numbers at the same answer of the same version, biggest first (choices
    are left out: five options make many identical wrong letters)."""
    groups: dict[tuple, list[str]] = {}
    codes: dict[tuple, str | None] = {}
    for g in graded:
        for m in g.marks:
            if m.verdict == "wrong" and m.key.tolerance is not None:
                value = read_number(m.written)
                k = (g.variant, m.key.name, number_text(value) if value is not None
                     else m.written.strip())
                groups.setdefault(k, []).append(g.student)
                codes.setdefault(k, m.code)
    out = [Cluster(v, n, w, codes[(v, n, w)], tuple(s)) for (v, n, w), s in groups.items()
           if len(s) >= smallest]
    return sorted(out, key=lambda c: (-len(c.students), c.variant, c.name, c.written))


def distribution(graded: list[Graded], bins: int = 10) -> list[int]:
    """How many students scored in each tenth of the maximum (the last bin includes 100%)."""
    counts = [0] * bins
    for g in graded:
        share = g.total / g.maximum if g.maximum else Decimal(0)
        counts[min(bins - 1, int(share * bins))] += 1
    return counts


def summary(graded: list[Graded]) -> dict:
    """Mean, median, lowest and highest score in percent of the maximum."""
    shares = [float(100 * g.total / g.maximum) if g.maximum else 0.0 for g in graded]
    if not shares:
        return {"students": 0}
    return {"students": len(shares), "mean": statistics.fmean(shares),
            "median": statistics.median(shares), "lowest": min(shares), "highest": max(shares)}


# ---------------------------------------------------------------------------------------------
# A student's feedback as text


def feedback_text(g: Graded, policy: str) -> str:
    """feedback/<student>.txt: the marks, then the audit of their numbers as `check` prints it."""
    from ..audit.check import format_audit

    lines = [f"{g.student}: version {g.variant:02d}, {points_text(g.total)} of "
             f"{points_text(g.maximum)} points (policy {policy})", ""]
    rows = [("question", "answer", "written", "key", "verdict", "points")]
    for m in g.marks:
        verdict = m.verdict + (f" ({m.code})" if m.code else "")
        rows.append((f"q{m.key.question}", m.key.name, m.written or "-", m.key.value, verdict,
                     f"{points_text(m.points)}/{points_text(m.key.points)}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    notes = [m for m in g.marks if m.explanation and m.verdict not in ("missing",)
             and m.audited is None]
    if notes:
        lines += ["", "Other answers:"]
        lines += [f"  {m.key.name}: {m.explanation}" for m in notes]
    codes = sorted({m.code for m in g.marks if m.verdict == "wrong" and m.code in CODES})
    if codes:
        lines += ["", "What went wrong:"]
        lines += [f"  {c}: {CODES[c].mistake}" for c in codes]
    if g.audit is not None:
        lines += ["", "Your numbers, audited step by step:", format_audit(g.audit)]
    return "\n".join(lines) + "\n"


def file_stem(student: str, taken: set[str]) -> str:
    """A file name for a student: letters, digits, - _ . kept, others as _; unique in `taken`."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", student).strip("._") or "student"
    stem = stem[:80]
    name, n = stem, 2
    while name.lower() in taken:
        name, n = f"{stem}-{n}", n + 1
    taken.add(name.lower())
    return name
