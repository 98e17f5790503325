"""What `grade` writes: grades.csv, answers.csv, feedback/<student>.txt and .pdf, class.pdf.

The feedback PDF is the `check --report` document of the student's own numbers (audit/report.py)
headed by their score, with their choice answers as rows of its table. class.pdf is what a
lecturer reads before the next lecture: the score distribution, every misconception with how
many students made it, where, and one anonymised example, and the clusters of identical wrong
numbers. PDFs are compiled in parallel, one latexmk per core; every file is staged and swapped
in together (inputs/staging.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

from ..audit.catalog import CODES
from ..audit.check import Audit, number_text
from ..audit.report import COLOURS, WHAT_WENT_WRONG, audit_document, formula_latex
from ..documents.document import escape_text
from ..documents.display import notation_for
from ..documents.render import (
    environment,
    generated_header,
    publish_all,
    render_tex,
    render_wide,
)
from ..inputs.claims import Claims
from ..inputs.staging import Staging
from .grade import (
    VERDICTS,
    Graded,
    Key,
    answers_csv,
    clusters,
    distribution,
    feedback_text,
    file_stem,
    grades_csv,
    misconceptions,
    points_text,
    read_number,
    summary,
)

Progress = Callable[[str, int, int], None]
OTHER_CODES = {  # codes of answers the tape does not audit
    "not-a-number": "the answer is not a number",
    "not-within-tolerance": "a number outside the key's tolerance (not audited step by step)",
    "vanishing-verdict": "vanishing and exploding gradients confused",
    "not-an-option": "an answer that is none of the options",
    "wrong-option": "a wrong option",
}


def what(code: str) -> str:
    """A sentence (LaTeX) saying what a code means."""
    if code in WHAT_WENT_WRONG:
        return WHAT_WENT_WRONG[code]
    if code in OTHER_CODES:
        return escape_text(OTHER_CODES[code])
    if code in CODES:
        return escape_text(CODES[code].mistake)
    return escape_text(code)


# ---------------------------------------------------------------------------------------------
# Feedback PDF


def feedback_tex(key: Key, g: Graded, policy: str, command: str) -> str:
    """The student's `check --report` document, headed by their score."""
    tape, _ = key.tape(g.variant)
    audit = g.audit or Audit(tape.problem, Claims((), key.decimals, "", ""), ())
    doc = audit_document(audit, tape)
    doc.title = f"{g.student}: {points_text(g.total)} of {points_text(g.maximum)} points"
    doc.author = f"{key.title or 'Exam'}, version {g.variant:02d}"
    doc.date = f"Policy {policy}: {', '.join(_paid(policy))} answers earn their points"
    rows = doc.audit["rows"]
    notation = doc.notation
    for m in g.marks:
        if m.audited is not None:
            continue
        verdict = m.verdict
        base, _, entry = m.key.quantity.partition("[")
        name = (notation.symbol(base) + (rf"\,[{entry}" if entry else "")
                if base in tape.by_name else rf"\text{{{escape_text(m.key.name)}}}")
        rows.append({"name": name + rf"\ \text{{(question {m.key.question})}}",
                     "claimed": rf"\text{{{escape_text(m.written or '-')}}}",
                     "correct": rf"\text{{{escape_text(m.key.value)}}}", "verdict": verdict,
                     "colour": COLOURS.get(verdict, "black"),
                     "code": escape_text(m.code or "")})
    counts = Counter(m.verdict for m in g.marks)
    doc.audit["counts"] = {k: counts.get(k, 0) for k in COLOURS}
    return render_tex("article", doc, command)


def _paid(policy: str) -> tuple[str, ...]:
    from .grade import POLICIES

    return POLICIES[policy]


# ---------------------------------------------------------------------------------------------
# class.pdf


def class_tex(key: Key, graded: list[Graded], policy: str, command: str) -> str:
    """The class report: distribution, verdicts, misconceptions with examples, clusters."""
    bins = distribution(graded)
    stats = summary(graded)
    verdicts = Counter(m.verdict for g in graded for m in g.marks)
    found = misconceptions(graded)
    rows = []
    for mc in found:
        at = ", ".join(rf"\texttt{{{escape_text(n)}}}~({k})" for n, k in mc.steps[:4])
        if len(mc.steps) > 4:
            at += r", \dots"
        rows.append({"code": escape_text(mc.code), "students": mc.students, "at": at,
                     "what": what(mc.code), "example": _example(key, mc)})
    groups = clusters(graded)
    questions = sorted({m.key.question for g in graded for m in g.marks})
    per_question = []
    for q in questions:
        got = [(sum(m.points for m in g.marks if m.key.question == q),
                sum(m.key.points for m in g.marks if m.key.question == q)) for g in graded]
        total = sum(b for _, b in got)
        per_question.append({"q": q, "share": f"{100 * sum(a for a, _ in got) / total:.0f}"
                             if total else "--"})
    template = environment().get_template("grade_class.tex.j2")
    return generated_header(command) + render_wide(
        template,
        title=key.title or "Exam", policy=policy, paid=", ".join(_paid(policy)),
        stats={k: (f"{v:.1f}" if isinstance(v, float) else v) for k, v in stats.items()},
        bins=[{"label": f"{10 * i}", "count": n} for i, n in enumerate(bins)],
        ymax=max(bins + [1]),
        xstep=max(1, -(-max([r["students"] for r in rows] + [1]) // 8)),
        bin_coordinates=" ".join(f"({10 * i},{n})" for i, n in enumerate(bins)),
        misconception_coordinates=" ".join(f"({r['students']},{r['code']})" for r in rows),
        verdicts=[{"name": v, "count": verdicts.get(v, 0),
                   "colour": COLOURS.get(v, "black")} for v in VERDICTS],
        misconceptions=rows,
        clusters=[{"variant": f"{c.variant:02d}", "name": escape_text(c.name),
                   "written": escape_text(c.written), "code": escape_text(c.code or ""),
                   "size": len(c.students),
                   "students": escape_text(", ".join(c.students[:12])
                                           + (", ..." if len(c.students) > 12 else ""))}
                  for c in groups[:30]],
        more_clusters=max(0, len(groups) - 30),
        questions=per_question)


def _example(key: Key, mc) -> str:
    """One anonymised example of a misconception (LaTeX): the version, what was written and,
    for an audited number, the formula used beside the one needed, on the student's numbers."""
    m = mc.example
    head = (rf"Version {mc.variant:02d}, \texttt{{{escape_text(m.key.name)}}}: "
            rf"a student wrote {_written(m.written)} (key {_written(m.key.value)}).")
    v = m.audited
    if v is None:
        return head + " " + escape_text(m.explanation)
    tape, _ = key.tape(mc.variant)
    notation = notation_for(tape)
    parts = [head]
    if v.used is not None:
        parts.append(rf"Formula used: {_display(formula_latex(v.used, notation))}")
    parts.append(rf"Formula needed, on the same numbers: "
                 rf"{_display(formula_latex(v.needed, notation))}")
    return " ".join(parts)


def _written(text: str) -> str:
    """What a student wrote (LaTeX): a number as math, anything else as literal text."""
    value = read_number(text)
    return f"${number_text(value)}$" if value is not None else rf"\texttt{{{escape_text(text)}}}"


def _display(math: str) -> str:
    """A displayed formula shrunk to the line's width when it is wider (never overfull)."""
    return (r"\begin{center}\adjustbox{max width=\linewidth}{$\displaystyle "
            + math + r"$}\end{center}")


# ---------------------------------------------------------------------------------------------
# Writing


def write_grades(key: Key, graded: list[Graded], out: str | Path, policy: str, pdf: bool = True,
                 progress: Progress | None = None,
                 command: str = "symbolic-bptt grade") -> list[Path]:
    """Write every output into `out` (staged: all or nothing); with pdf, compile the feedback
    PDFs and class.pdf in parallel. Raises CompileError (the first failure) after all ran."""
    out = Path(out)
    taken: set[str] = set()
    stems = [file_stem(g.student, taken) for g in graded]
    with Staging(out) as st:
        written = [st.write(out / "grades.csv", grades_csv(graded, key)),
                   st.write(out / "answers.csv", answers_csv(graded))]
        for g, stem in zip(graded, stems):
            written.append(st.write(out / "feedback" / f"{stem}.txt", feedback_text(g, policy)))
        if not pdf:
            return written
        documents = [(out / "class.tex", class_tex(key, graded, policy, command))]
        for i, (g, stem) in enumerate(zip(graded, stems), 1):
            documents.append((out / "feedback" / f"{stem}.tex",
                              feedback_tex(key, g, policy, command)))
            if progress:
                progress("writing", i, len(graded))
        written += publish_all(documents, st, progress)
        return written
