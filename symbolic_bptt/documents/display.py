"""Rich display for notebooks: steps, solutions, audits and verify verdicts as the documents
print them (the same Line records, the same notation: δ_3, not dL/dz_3), plus plain text.

Pure functions from stage data to strings; the API's objects call them from `_repr_latex_`,
`_repr_html_` and `_repr_markdown_`, as SymPy and handcalcs do for Jupyter.
"""

from __future__ import annotations

import html
import re
from functools import cache

import sympy as sp

from ..audit.check import Audit, plain
from ..evaluate.arithmetic import Evaluation, to_decimal
from ..evaluate.solution import format_number
from ..formulas.verify import Verdict
from ..model.notation import Notation, document_notation, make_notation
from ..tape import Step, Tape
from .document import Line, Options, _Formatter, line


def notation_for(tape: Tape, options: Options | None = None) -> Notation:
    """The notation the documents use for this problem (the deck's, or a cell's own names)."""
    options = options or Options()
    p = tape.problem
    if p.custom_cell is not None:
        from .cell_document import cell_notation
        return cell_notation(tape, options)
    return make_notation(document_notation(options, p), p.notation,
                         bold_vectors=not p.model.is_scalar,
                         row_convention=options.row_convention)


def lines(ev: Evaluation, notation: Notation) -> list[Line]:
    """Every step of the tape as the documents print it: formula, numbers, result."""
    fmt = _Formatter(ev, notation, None)
    return [line(step, fmt) for step in ev.tape.steps]


def equation(ln: Line, align: bool = False) -> str:
    """`lhs = formula = numbers ≈ result` in LaTeX (with `&` before the first relation)."""
    chain = " ".join(f"{rel} {tex}" for rel, tex in ln.chain)
    return f"{ln.lhs} {'&' if align else ''}= {ln.formula} {chain}".rstrip()


def aligned(eqs: list[Line]) -> str:
    """Several steps as one display: $$\\begin{aligned} ... \\end{aligned}$$."""
    body = " \\\\\n".join(equation(ln, align=True) for ln in eqs)
    return f"$$\\begin{{aligned}}\n{body}\n\\end{{aligned}}$$"


def text_forms(ev: Evaluation, step: Step) -> tuple[str, str | None, str]:
    """(formula, numbers substituted, result) in plain text; no substituted line when the
    formula reads a vector or matrix (the LaTeX form has it)."""
    tape = ev.tape
    expr = tape.display(step)
    names = {s.name for s in expr.free_symbols if s.name in ev.values}
    result = _value(ev, step.name)
    if any(tape.quantities[n].indexing != "scalar" for n in names):
        return plain(expr), None, result
    return plain(expr), plain(expr, {n: _value(ev, n) for n in names}), result


def _value(ev: Evaluation, name: str) -> str:
    if ev.tape.quantities[name].role in ("param", "data"):  # as the problem wrote them
        cells = [_input(v) for v in ev.values[name]]
    else:
        cells = [format_number(v, ev.mode, ev.decimals, x)
                 for v, x in zip(ev.values[name], ev.as_float(name))]
    cells = [c.split(" ≈ ")[-1] if ev.mode == "exact" else c for c in cells]
    return cells[0] if len(cells) == 1 else "[" + ", ".join(cells) + "]"


def _input(value) -> str:
    d = to_decimal(sp.Rational(value) if isinstance(value, sp.Basic) else value)
    return "0" if d.is_zero() else format(d.normalize(), "f")


@cache
def verdict_colours() -> dict[str, str]:
    """The audit's colours as CSS, read from the LaTeX preamble so both show the same ones."""
    from .render import TEMPLATES

    text = (TEMPLATES / "_preamble.tex.j2").read_text(encoding="utf-8")
    colours = {}
    for m in re.finditer(r"\\definecolor\{audit(\w+)\}\{rgb\}\{([\d.]+),([\d.]+),([\d.]+)\}", text):
        colours[m[1]] = "rgb({})".format(", ".join(str(round(float(c) * 255)) for c in m.groups()[1:]))
    return colours


def _math(tex: str) -> str:
    return f"\\({html.escape(tex)}\\)"


def _claim_symbol(name: str, quantity: str, notation: Notation) -> str:
    index = name[len(quantity):]  # "[0,1]" for one entry of a matrix
    return notation.symbol(quantity) + (f"_{{{index}}}" if index else "")


def audit_html(audit: Audit, notation: Notation) -> str:
    """The audit table with each verdict in its colour, then the root causes."""
    colours = verdict_colours()
    rows = []
    for v in audit.verdicts:
        colour = colours.get(v.verdict, "inherit")
        code = html.escape(v.code or "")
        why = "" if v.verdict == "ok" else html.escape(v.explanation)
        rows.append(
            f"<tr><td>{_math(_claim_symbol(v.name, v.quantity, notation))}</td>"
            f"<td>{html.escape(_cell(v.claimed))}</td><td>{html.escape(_cell(v.correct))}</td>"
            f'<td style="color:{colour};font-weight:bold">{v.verdict}</td><td>{code}</td>'
            f'<td style="text-align:left">{why}</td></tr>')
    head = ("<tr><th>quantity</th><th>claimed</th><th>correct</th><th>verdict</th>"
            "<th>code</th><th>why</th></tr>")
    roots = "".join(
        f"<li>{_math(notation.symbol(r.name.split('[')[0]))} ({html.escape(r.code)}) &rarr; "
        f"{html.escape(', '.join(r.affected) or 'nothing else claimed')}</li>"
        for r in audit.roots)
    summary = f"<p>Root causes:</p><ul>{roots}</ul>" if roots else "<p>Nothing is wrong.</p>"
    return f"<table>{head}{''.join(rows)}</table>{summary}"


def _cell(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_cell(v) for v in value) + "]"
    return str(value)


def verdict_markdown(verdict: Verdict, formula: str) -> str:
    """A verify verdict: holds or fails (with its mistake code), the formula, the explanation."""
    head = "**holds**" if verdict.holds else "**fails**"
    if verdict.code:
        head += f" — the `{verdict.code}` mistake"
    return f"{head}\n\n$${formula}$$\n\n{verdict.explanation}"


def short(value: object, places: int = 4) -> str:
    """A number (or SymPy value) to a few places, for one-line reprs."""
    if isinstance(value, list):
        return "[" + ", ".join(short(v, places) for v in value) + "]"
    if isinstance(value, dict):  # exact mode's {"value", "exact"}
        value = value["value"]
    if isinstance(value, sp.Basic):
        value = float(value)
    return f"{float(value):.{places}g}"
