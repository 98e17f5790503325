"""An audit as a document: the worked solution with each claimed step marked.

Each verdict becomes a Mark (LaTeX strings) keyed by the quantity it claims; the article
template tags the step's line with it, and explains a wrong claim right under its step: the
formula the person used and the one the chain rule needs, both on the person's own numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import sympy as sp

from ..documents import latex_out
from ..documents.document import Document, Options, build, escape_text
from ..evaluate.arithmetic import evaluate
from ..inputs.limits import check_sizes
from ..model.notation import Notation
from .check import Audit, Formula, Verdict, number_text

SUM_ROW = 70  # printed characters of a formula's row in a report's display

WHAT_WENT_WRONG = {  # one line per catalog code (audit.catalog.CODES), for readers
    "derivative-index": "the activation's derivative taken at the wrong time step",
    "missing-activation-derivative": "the activation's derivative left out, as for a linear RNN",
    "state-off-by-one": "the state or input of the wrong time step",
    "missing-path": "a path of the chain rule left out: one of the quantities that read it "
                    "sends no gradient back",
    "derivative-form": r"a derivative written in another function's form, $\sigma'$ as "
                       r"$1 - \sigma^2$ or $\tanh'$ as $\tanh(1 - \tanh)$",
    "product-factor": r"in the gradient of one factor of a product, that factor in place of "
                      r"the other one",
    "loss-scale": "the loss's factor ($1/2$ or $1/T$) dropped or changed",
    "sign-error": r"the output error with the wrong sign, $y_t - o_t$ for $o_t - y_t$",
    "method": "another method than the chain rule's: the number is far from what the formula "
              "gives on your own numbers",
}
COLOURS = {"ok": "auditok", "rounding": "auditrounding", "carried": "auditcarried",
           "wrong": "auditwrong"}


@dataclass(frozen=True)
class Mark:
    """One claim's verdict, ready to print beside its step."""

    key: str
    verdict: str
    colour: str
    tag: str  # a short label for the right margin
    detail: str  # a paragraph under the step ("" unless wrong)


def _number(value) -> str:
    if isinstance(value, list):
        if value and isinstance(value[0], list):
            return latex_out.bmatrix([[_word(v) for v in row] for row in value])
        return latex_out.bmatrix([[_word(v)] for v in value])
    return _word(value)


def _word(value) -> str:
    return number_text(value) if isinstance(value, Decimal) else str(value)


def _values(formula: Formula) -> dict[str, str]:
    """The numbers a formula read, as its substituted line prints them."""
    values = {}
    for r in formula.readings:
        values[r.name] = latex_out.number(_number(r.value))
        if isinstance(r.value, list):
            rows = r.value if r.value and isinstance(r.value[0], list) else [[v] for v in r.value]
            values[r.name + "^T"] = latex_out.bmatrix([[_word(v) for v in col] for col in zip(*rows)])
    return values


def formula_latex(formula: Formula, notation: Notation) -> str:
    """`lhs = formula = numbers = result` for a formula applied to the person's numbers."""
    eq = formula.equation
    lhs = latex_out.formula(eq.lhs, notation)
    rhs = latex_out.formula(eq.rhs, notation)
    subst = latex_out.substituted(eq.rhs, notation, _values(formula))
    result = _number(_short(formula.value))
    if formula.tape.model.is_scalar:
        return f"{lhs} = {rhs} = {subst} = {result}"
    # vectors and matrices: the formula, the numbers and the result each on a line of its own;
    # a long sum (an LSTM's dL/dh_t: one term per gate) a term of numbers to a row
    if isinstance(eq.rhs, sp.MatAdd) and latex_out.visible(rhs) > SUM_ROW:
        rhs = latex_out.sum_rows([latex_out.formula(a, notation) for a in eq.rhs.args],
                                 width=SUM_ROW)
        subst = latex_out.matrix_sum_rows(eq.rhs, notation, _values(formula), per_row=1)
    return (rf"\begin{{aligned}} {lhs} &= {rhs} \\ &= {subst} \\ &= {result} "
            rf"\end{{aligned}}")


def _short(value):
    """A computed value to 6 places at most (the claim's precision plus two), for reading."""
    if isinstance(value, list):
        return [_short(v) for v in value]
    if isinstance(value, Decimal):
        rounded = value.quantize(Decimal("0.000001"))
        return rounded.normalize() if rounded == value else rounded
    return value


def mark(v: Verdict, notation: Notation) -> Mark:
    """The LaTeX for one verdict."""
    colour = COLOURS[v.verdict]
    claimed = _number(v.claimed)
    sym = notation.symbol(v.quantity)
    if v.verdict == "ok":
        return Mark(v.name, v.verdict, colour,
                    rf"\textcolor{{{colour}}}{{$\checkmark$ ok}}", "")
    if v.verdict == "rounding":
        return Mark(v.name, v.verdict, colour,
                    rf"\textcolor{{{colour}}}{{rounding: you wrote ${claimed}$}}", "")
    if v.verdict == "carried":
        sources = ", ".join(f"${notation.symbol(n)}$" for n in v.inherits)
        return Mark(v.name, v.verdict, colour,
                    rf"\textcolor{{{colour}}}{{carried from {sources}: you wrote ${claimed}$}}", "")
    code = v.code or "arithmetic"
    slip = ""
    if v.slip is not None and code not in ("arithmetic", "method"):
        slip = rf", plus a slip of ${abs(v.slip)}$"
    head = (rf"\textcolor{{{colour}}}{{\textbf{{${sym}$: you wrote ${claimed}$ --- wrong "
            rf"({escape_text(code)}{slip}).}}}} The exact value is ${_number(v.correct)}$.")
    lines = [head]
    if v.used is not None:
        lines.append(rf"You used {fitted(formula_latex(v.used, notation) + ',')} "
                     rf"that is, {WHAT_WENT_WRONG.get(code, escape_text(code))}.")
    lines.append(rf"From your own numbers the chain rule needs "
                 rf"{fitted(formula_latex(v.needed, notation) + '.')}")
    if v.code == "method":
        lines.append("The number is far from this: the method differs."
                     + (" Your number would need " + "; or ".join(
                         _needed(n, notation) for n in v.would_need) + "." if v.would_need else ""))
    return Mark(v.name, v.verdict, colour, rf"\textcolor{{{colour}}}{{wrong}}", " ".join(lines))


def _needed(text: str, notation: Notation) -> str:
    """`z_2 = 0.5123 (yours: 0.3222)` with the quantity in the document's symbols."""
    name, _, rest = text.partition(" = ")
    value, _, yours = rest.partition(" (yours: ")
    return (rf"${notation.symbol(name)} = {escape_text(value)}$ (you have "
            rf"${escape_text(yours.rstrip(')'))}$)")


def fitted(math: str) -> str:
    """A displayed formula, shrunk to the line's width only when it is wider (a variant's
    negative numbers in parentheses can make a formula too long for the line)."""
    return rf"\[\adjustbox{{max width=\linewidth}}{{$\displaystyle {math}$}}\]"


def audit_document(audit: Audit, tape, options: Options | None = None) -> Document:
    """The worked solution in the person's precision, with the audit attached."""
    m = tape.problem.model
    check_sizes(tape.problem.T, max(m.input_size, m.hidden_size, m.output_size), document=True)
    ev = evaluate(tape, "rounded", audit.claims.carried_decimals)
    doc = build(ev, options or Options(figures=False))  # the Elman layout, or the cell's own
    notation = doc.notation
    marks: dict[str, list[Mark]] = {}
    for v in audit.verdicts:
        marks.setdefault(v.quantity, []).append(mark(v, notation))
    doc.marks = marks
    counts = {k: sum(v.verdict == k for v in audit.verdicts) for k in COLOURS}
    doc.audit = {
        "title": audit.claims.title or "",  # user text: the templates' |tex filter
        "author": audit.claims.author or "",
        "counts": counts,
        "colours": COLOURS,
        "rows": [{"name": notation.symbol(v.quantity) + _entry(v), "claimed": _number(v.claimed),
                  "correct": _number(v.correct), "verdict": v.verdict,
                  "colour": COLOURS[v.verdict], "code": escape_text(v.code or "")}
                 for v in audit.verdicts],
        "roots": [{"name": notation.symbol(audit_verdict(audit, r.name).quantity)
                   + _entry(audit_verdict(audit, r.name)),
                   "code": escape_text(r.code),
                   "affected": [notation.symbol(audit_verdict(audit, a).quantity)
                                + _entry(audit_verdict(audit, a)) for a in r.affected]}
                  for r in audit.roots],
    }
    return doc


def audit_verdict(audit: Audit, name: str) -> Verdict:
    return next(v for v in audit.verdicts if v.name == name)


def _entry(v: Verdict) -> str:
    """`[1]` or `[0,1]` for a claim of one entry, as a LaTeX subscript-free suffix."""
    return "" if v.name == v.quantity else rf"\,{v.name[len(v.quantity):]}"
