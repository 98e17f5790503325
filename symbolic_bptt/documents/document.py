"""The evaluated tape as plain data for the templates: each step as formula, numbers, result.

Python decides the mathematics (which steps, their LaTeX, the numbers shown); the Jinja2
templates decide the layout. In rounded mode the numbers shown are the numbers carried, so a
reader who redoes a line by hand gets the printed result.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

import sympy as sp
from pylatexenc.latexencode import UnicodeToLatexEncoder

from ..evaluate.arithmetic import Evaluation, _rounded_node, to_decimal, to_float
from ..model.notation import Notation
from ..tape import Step
from . import latex_out

_ENCODER = UnicodeToLatexEncoder(
    non_ascii_only=False, replacement_latex_protection="braces-all", unknown_char_warning=False,
    unknown_char_policy=lambda ch: ch if "LATIN" in unicodedata.name(ch, "") else "?")


_ABBREVIATION = re.compile(r"\b(Dr|Mr|Mrs|Ms|Prof|St|vs|etc|al|e\.g|i\.e)\. ")


_LONG_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z0-9]{30,}")


def escape_text(text: str) -> str:
    """User text (title, author) as literal LaTeX: specials escaped, macros inert, accents kept."""
    text = " ".join(unicodedata.normalize("NFC", text).split())  # a blank line is no \par
    latex = _ENCODER.unicode_to_latex(text)
    latex = _LONG_WORD.sub(lambda m: r"\allowbreak{}".join(
        m[0][k:k + 20] for k in range(0, len(m[0]), 20)), latex)  # may break: no overfull line
    return _ABBREVIATION.sub(r"\1.\\ ", latex)  # "Dr. X": a word space, not a sentence end


@dataclass(frozen=True)
class Line:
    """One displayed step: `lhs = formula = substituted (= partial) = result`."""

    name: str
    t: int | None
    lhs: str
    formula: str
    substituted: str | None
    partial: str | None
    result: str
    exact: str | None = None
    subst_exact: bool = True  # the numbers substituted are the values, not roundings of them
    mode: str = "rounded"
    paths: tuple[str, str] | None = None  # (relation, each path's value labelled) before the result
    relation: str = "="  # between lhs and formula; a step continued on a new slide may start at ≈
    rest: tuple[tuple[str, str], ...] | None = None  # the chain of a part of a split step

    @property
    def chain(self) -> list[tuple[str, str]]:
        """What follows `lhs = formula`, as (relation, LaTeX) pairs, in an order that is true:
        exact results before approximate numbers, "=" only where equality holds."""
        if self.rest is not None:
            return list(self.rest)
        approx = r"\approx"
        if self.mode == "rounded":  # every number shown is the number carried
            out = [("=", p) for p in (self.substituted, self.partial) if p]
            return out + ([self.paths] if self.paths else []) + [("=", self.result)]
        out = []
        if self.substituted and self.subst_exact:
            out.append(("=", self.substituted))
        if self.exact and self.exact != self.substituted:
            out.append(("=", self.exact))
        if self.substituted and not self.subst_exact:
            out.append((approx, self.substituted))
        if self.partial and not self.exact:  # rounded partial sums add nothing after the exact value
            out.append((approx, self.partial))
        if self.paths:
            out.append(self.paths)
        out.append((approx, self.result))
        return out

    @property
    def matrices(self) -> bool:
        """Whether the line prints a vector or matrix of numbers: a row that cannot break."""
        return "bmatrix" in "".join((self.formula, self.substituted or "", self.partial or "",
                                     self.paths[1] if self.paths else "", self.result))

    @property
    def length(self) -> int:
        """Roughly how many characters the one-line form prints (huge when it holds a matrix)."""
        if self.matrices:
            return 10**6
        return sum(latex_out.visible(p) for p in (self.formula, self.substituted or "",
                                                   self.partial or "",
                                                   self.paths[1] if self.paths else "",
                                                   self.result))


@dataclass(frozen=True)
class Options:
    """Rendering choices that do not change the mathematics."""

    notation: str = "deck"
    all_steps: bool = False
    row_convention: bool = False
    shown_first: int = 2  # when collapsing, the first steps shown before the ellipsis
    figures: bool = True  # the unrolled graph, gradient norms and loss curve (documents/figures)
    reveal: bool = False  # slides: each step's lines appear one at a time (beamer overlays)
    handout: bool = False  # slides: one page per frame, overlays collapsed, for printing
    theme: str = ""  # slides: a beamer theme by name ("" is the plain look)


@dataclass
class Document:
    """Everything a template needs, as strings and lists."""

    title: str
    author: str
    institute: str
    date: str
    mode: str
    decimals: int
    T: int
    setup: dict
    sections: dict[str, list] = field(default_factory=dict)
    shown_t: list = field(default_factory=list)
    general: dict = field(default_factory=dict)
    jacobians: dict = field(default_factory=dict)
    summary: list = field(default_factory=list)
    notation: Notation | None = None
    marks: dict = field(default_factory=dict)  # quantity -> audit marks (audit reports only)
    audit: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)  # [training]: documents/training.py
    figures: dict = field(default_factory=dict)  # documents/figures.py's data, by figure
    options: Options = field(default_factory=Options)


class _Formatter:
    """Numbers as they are shown: carried values in rounded mode, fixed decimals otherwise."""

    def __init__(self, ev: Evaluation, notation: Notation, max_terms: int | None):
        self.ev = ev
        self.notation = notation
        self.max_terms = max_terms
        self.inputs = {n for n, q in ev.tape.quantities.items() if q.role in ("param", "data")}

    def exact(self, name: str) -> bool:
        """Whether the printed value of a quantity is the value itself, not a rounding of it."""
        if self.ev.mode == "rounded" or name in self.inputs:
            return True
        return (self.ev.mode == "exact" and name not in self.ev.approximate
                and all(self._short(v) for v in self.ev.values[name]))

    @staticmethod
    def _short(value) -> bool:
        return isinstance(value, sp.Basic) and len(sp.sstr(value)) <= 16

    def scalar(self, name: str, value, exact: bool = True) -> str:
        """One number as printed; in exact mode a short exact value unless `exact` is False."""
        if self.ev.mode == "rounded" or name in self.inputs:
            text = format(to_decimal(value) if not isinstance(value, sp.Basic) else
                          to_decimal(sp.Rational(value)), "f")
        elif exact and name and self.exact(name):
            return latex_out.formula(value, self.notation)
        else:
            text = f"{to_float(value):.{self.ev.decimals}f}"
        if text.startswith("-") and text.strip("-0.") == "":
            text = text[1:]  # -0.0000 is 0.0000
        return "0" if text.strip("0.") == "" and name in self.inputs else text

    def value(self, name: str, transposed: bool | None = None, exact: bool = True) -> str:
        """The printed number(s); vectors and matrices transposed in the row convention."""
        if transposed is None:
            transposed = self.notation.row_convention
        q = self.ev.tape.quantities[name]
        cells = [self.scalar(name, v, exact) for v in self.ev.values[name]]
        if q.indexing == "scalar":
            return cells[0]
        rows, cols = q.shape
        matrix = [cells[i * cols:(i + 1) * cols] for i in range(rows)]
        return latex_out.bmatrix([list(c) for c in zip(*matrix)] if transposed else matrix)

    def substitution(self, expr) -> dict[str, str]:
        """Printed numbers for every quantity in a formula (and rows for transposed columns)."""
        names = {s.name for s in expr.free_symbols if s.name in self.ev.values}
        values = {n: latex_out.number(self.value(n, transposed=False)) for n in names}
        for n in names:
            if self.ev.tape.quantities[n].indexing != "scalar":
                values[n + "^T"] = self.value(n, transposed=True)
        return values


def _partial(expr, fmt: _Formatter) -> str | None:
    """The line with each top-level term worked out (0.2622 + 0.06), when that adds a step."""
    if not isinstance(expr, sp.Add | sp.Mul):
        return None
    compound = [a for a in expr.args
                if not (a.is_Atom or isinstance(a, sp.UnevaluatedExpr) or _negated_atom(a))]
    if not compound or (isinstance(expr, sp.Mul) and len(compound) == len(expr.args)
                        and len(expr.args) == 1):
        return None
    ev = fmt.ev
    index = {sp.Symbol(n): i for i, n in enumerate(ev.values)}
    args = [ev.values[n][0] for n in ev.values]
    stand_ins, values = {}, {}
    for k, a in enumerate(compound):
        if ev.mode == "rounded":
            v = _rounded_node(a, index, ev.decimals)(args)
        else:
            v = a.xreplace({s: sp.Float(to_float(ev.values[s.name][0]), 30)
                            for s in a.free_symbols}).evalf(30)
        key = f"@partial{k}"
        stand_ins[a] = sp.Symbol(key)
        values[key] = latex_out.number(fmt.scalar("", v))
    with sp.evaluate(False):
        reduced = expr.xreplace(stand_ins)
    values |= fmt.substitution(reduced)
    return latex_out.substituted(reduced, fmt.notation, values, fmt.max_terms)


LONG_SUM = 90  # printed characters beyond which a sum of numbers is broken into rows




def _negated_atom(a) -> bool:
    return isinstance(a, sp.Mul) and len(a.args) == 2 and a.args[0] == -1 and a.args[1].is_Atom


def line(step: Step, fmt: _Formatter) -> Line:
    """One step shown three ways (four when a partial result helps)."""
    tape, ev = fmt.ev.tape, fmt.ev
    expr = tape.display(step)
    n, most = fmt.notation, fmt.max_terms
    formula = latex_out.formula(expr, n, most)
    long = tape.model.is_scalar and isinstance(expr, sp.Add) and most is None
    if long and latex_out.visible(formula) > LONG_SUM:
        formula = latex_out.sum_rows([latex_out.formula(a, n) for a in expr.args], width=LONG_SUM)
    values = fmt.substitution(expr)
    subst = (latex_out.matrix_sum_rows(expr, n, values, max_terms=most)
             or latex_out.function_sum_rows(expr, n, values)
             or latex_out.product_rows(expr, n, values)
             or latex_out.substituted(expr, n, values, most))
    if tape.model.is_scalar and latex_out.visible(subst) > LONG_SUM:  # a long sum of numbers: rows
        subst = latex_out.matrix_sum_rows(expr, n, values, max_terms=most, scalar=True) or subst
    partial = _partial(expr, fmt) if tape.model.is_scalar else None
    exact = None
    if ev.mode == "exact" and tape.quantities[step.name].indexing == "scalar":
        value = ev.values[step.name][0]
        if len(sp.sstr(value)) <= 40 and not value.is_Number:
            exact = latex_out.formula(value, n)
        elif value.is_Rational and not value.is_Integer:
            exact = sp.latex(value)
    shown_exactly = all(fmt.exact(s.name) for s in expr.free_symbols if s.name in ev.values)
    return Line(step.name, step.t, n.symbol(step.name), formula,
                subst if subst != formula else None,
                partial if partial not in (subst, formula) else None,
                fmt.value(step.name, exact=False), exact, subst_exact=shown_exactly, mode=ev.mode)


def shown_steps(T: int, options: Options) -> list[int | None]:
    """Time steps to show: all, or the first few, None for an ellipsis, and the last."""
    if options.all_steps or T <= options.shown_first + 2:
        return list(range(1, T + 1))
    return list(range(1, options.shown_first + 1)) + [None, T]


def build(ev: Evaluation, options: Options | None = None) -> Document:
    """The document data for one evaluated problem: the Elman cell's own layout (elman.py, the
    deck's sections, for the deck's loss layout), or any other cell's (cell_document.py)."""
    training = ev.tape.problem.training
    windows = training is not None and training.truncate_window is not None  # no deck recursion
    if ev.tape.problem.custom_cell is not None or not ev.tape.model.deck_layout or windows:
        from .cell_document import build_cell
        return build_cell(ev, options or Options())
    from .elman import build_elman
    return build_elman(ev, options or Options())


def loss_latex(ev: Evaluation, n: Notation, output: str = "o") -> str:
    """The loss as a sentence's formula, over the quantity `output` the loss reads: its factor,
    the steps it reads (every t, the last, or a list) and the per-step term; for a given
    upstream gradient, which gradients are given."""
    m = ev.tape.model
    steps = ev.tape.problem.loss_steps
    o, y = n.symbol(f"{output}_t"), n.symbol("y_t")
    if m.loss_steps == "all":
        over, count = r"\sum_{t=1}^{T} ", "T"
    elif len(steps) == 1:
        over, count = "", "1"
        o, y = n.symbol(f"{output}_{steps[0]}"), n.symbol(f"y_{steps[0]}")
    else:
        over = rf"\sum_{{t \in \{{{', '.join(map(str, steps))}\}}}} "
        count = str(len(steps))
    if m.loss == "given":
        where = "" if m.loss_steps == "all" else \
            rf" \text{{ at }} t \in \{{{', '.join(map(str, steps))}\}}"
        return rf"\frac{{\partial L}}{{\partial {n.symbol(f'{output}_t')}}} \text{{ given}}{where}"
    mean = m.loss in ("mse", "cross_entropy", "bce") and (
        m.loss == "mse" or m.reduction == "mean")
    scale = r"\frac{1}{2}" if m.loss == "half_sse" else \
        (rf"\frac{{1}}{{{count}}}" if mean and count != "1" else "")
    if m.loss == "cross_entropy":
        return rf"L = {scale}{over}-\log \operatorname{{softmax}}({o})_{{{y}}}"
    if m.loss == "bce":
        return (rf"L = {scale}{over}-\left[{y} \log \sigma({o}) + (1 - {y}) "
                rf"\log\left(1 - \sigma({o})\right)\right]")
    norm = rf"\left({o} - {y}\right)^{{2}}" if m.output_size == 1 else \
        rf"\lVert {o} - {y} \rVert^{{2}}"
    return rf"L = {scale}{over}{norm}"
