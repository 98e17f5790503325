"""The answer key of one exam variant, from the same tape the renderer uses.

For every question: the numbers asked for (each a `solve --json` name), the key value of each,
its tolerance, its share of the points, and the worked solution (formula, numbers substituted,
result) in the exam's arithmetic.

The key value is the exact value rounded half up to the exam's decimals: what PyTorch agrees
with to half a unit, and what `check` calls `ok`. The worked solution carries the exam's
arithmetic (by default 4 decimals rounded at every step, as by hand), so its last digit may
differ; the tolerance accepts every result of a correct calculation that rounds any
intermediate number to the exam's decimals, or keeps more. It is computed by the interval
arithmetic `check` uses for its `rounding` verdict: the widest such result's distance from the
exact value, plus half a unit for rounding the answer, rounded up to whole units (at least one).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from decimal import Decimal

import numpy as np
import sympy as sp

from ..documents import latex_out
from ..documents.document import Document, Line, Options, build
from ..evaluate.arithmetic import (
    Evaluation,
    compile_rule,
    evaluate,
    parameter_values,
    round_half_up,
    to_decimal,
    to_float,
)
from ..evaluate.intervals import Interval, carried
from ..evaluate.intervals import compile_rule as interval_rule
from ..evaluate.walk import Walker, intervals
from ..model import ACTIVATIONS
from ..model.equations import Call
from ..model.notation import Notation, make_notation
from ..tape import Quantity, Rule, Tape, unroll
from .choices import Choice, formula_choices
from .draw import Variant
from .spec import ExamSpec, Question

GRADIENTS = ("dL/dW_hy", "dL/dW_hh", "dL/dW_xh", "dL/db_h", "dL/db_y")


@dataclass(frozen=True)
class Entry:
    """One answer of the key: a number (quantity, value, tolerance) or a choice (a letter)."""

    variant: int
    question: int
    kind: str
    quantity: str  # "h_2", "h_2[1]", "dL/dW_hh[0,1]", "dh_3/dh_1"; "" for a choice or a word
    value: str  # "0.2913" (exactly `decimals` places), "B", "vanishing"
    tolerance: str | None
    points: Decimal
    worked: str | None = None  # the value the worked solution reaches, in the exam's arithmetic
    exact: str | None = None  # the exact value to 12 significant digits
    options: tuple[Choice, ...] = ()


@dataclass(frozen=True)
class Part:
    """One question of one variant: what is asked, what is given, the worked answer."""

    number: int
    kind: str
    points: Decimal
    prompt: str  # LaTeX text with $math$
    given: tuple[tuple[str, str], ...]  # (symbol, value) printed with the question
    choices: tuple[Choice, ...]
    lines: tuple[Line, ...]
    entries: tuple[Entry, ...]
    note: str = ""  # LaTeX text after the worked lines


@dataclass(frozen=True)
class Keyed:
    """A variant with its document data (for the setup) and its answered questions."""

    variant: Variant
    doc: Document
    parts: tuple[Part, ...]

    @property
    def entries(self) -> list[Entry]:
        return [e for p in self.parts for e in p.entries]

    @property
    def points(self) -> Decimal:
        return sum((p.points for p in self.parts), Decimal(0))


@dataclass(frozen=True)
class Solved:
    """A variant's evaluation in the exam's arithmetic, with exact values and hand-rounding
    enclosures of every quantity (flat, row-major)."""

    variant: Variant
    tape: Tape
    ev: Evaluation
    truth: dict[str, list[Interval]]
    hand: dict[str, list[Interval]]  # what a person carries: rounded or not
    spread: dict[str, list[Interval]]  # what a correct formula gives on carried inputs


def fixed(value: Decimal, decimals: int) -> str:
    """A value rounded half up to `decimals` places, as printed in the key (never -0.0000)."""
    text = format(round_half_up(value, decimals), "f")
    return text[1:] if text.startswith("-") and text.strip("-0.") == "" else text


def element_names(q: Quantity) -> list[str]:
    """The names of a quantity's entries, as `solve --json` and claims files write them."""
    rows, cols = q.shape
    if q.indexing == "scalar":
        return [q.name]
    if q.indexing == "vector":
        return [f"{q.name}[{i}]" for i in range(rows)]
    return [f"{q.name}[{i},{j}]" for i in range(rows) for j in range(cols)]


class KeyMaker:
    """Solves and keys the variants of one exam; tapes and compiled rules are shared by the
    variants of one sequence length (a tape's rules do not depend on the numbers)."""

    def __init__(self, spec: ExamSpec):
        self.spec = spec
        self.decimals = spec.decimals
        self.unit = Decimal(1).scaleb(-spec.decimals)
        self._tapes: dict[int, Tape] = {}
        self._walkers: dict[int, Walker] = {}
        self._last_jacobian: tuple[Solved, _Jacobian] | None = None
        m = spec.model
        self.act = ACTIVATIONS[m.activation]
        self.notation: Notation = make_notation("deck", bold_vectors=not m.is_scalar)

    # -- solving ---------------------------------------------------------------------------

    def tape(self, variant: Variant) -> Tape:
        T = variant.problem.T
        if T not in self._tapes:
            self._tapes[T] = unroll(variant.problem)
        return replace(self._tapes[T], problem=variant.problem)

    def solve(self, variant: Variant) -> Solved:
        """Evaluate a variant: exam arithmetic, exact enclosures and hand-rounding spreads."""
        tape = self.tape(variant)
        ev = evaluate(tape, self.spec.mode, self.decimals)
        params = {k: [Interval.point(v) for v in vs]
                  for k, vs in parameter_values(tape, to_decimal).items()}
        walker = self._walkers.get(tape.T)
        if walker is None:  # one per T: the tapes of one T share their rules
            walker = self._walkers[tape.T] = Walker(tape, intervals())
        truth = walker.run(dict(params))
        spread: dict = {}

        def by_hand(step, hand):
            spread[step.name] = walker.step(step, hand, self.decimals)
            return [carried(r, self.decimals) for r in spread[step.name]]

        hand = walker.run(dict(params), hook=by_hand)
        return Solved(variant, tape, ev, truth, hand, spread)

    def degenerate(self, solved: Solved) -> str | None:
        """Why a variant makes a poor exercise (a reason category and detail), or None."""
        tape, d = solved.tape, self.decimals
        s = self.spec.saturation
        act = self.spec.model.activation
        if self.spec.cell is not None:
            reason = self._saturated(solved) if s is not None else None
            if reason is not None:
                return reason
        elif s is not None and act in ("tanh", "sigmoid"):
            for t in range(1, tape.T + 1):
                for name, iv in zip(element_names(tape.quantities[f"h_{t}"]),
                                    solved.truth[f"h_{t}"]):
                    h = iv.mid
                    if (abs(h) > s if act == "tanh" else not 1 - s <= h <= s):
                        return f"saturated {act}: {name} = {fixed(h, d)}"
        names = [n for q in self.spec.questions for n in _asked(q, tape.T) if n.startswith("dL/d")]
        for name in dict.fromkeys(names):  # a gradient asked for that is 0 makes a poor question
            for label, iv in zip(element_names(tape.quantities[name]), solved.truth[name]):
                if round_half_up(iv.mid, d) == 0:
                    return f"zero gradient: {label} = {fixed(Decimal(0), d)} at {d} decimals"
        if any(q.kind == "vanishing" for q in self.spec.questions):
            jac = self._jacobian(solved)
            norm = _norm(jac.truth[jac.product])
            if abs(norm - 1) < 0.01:
                return f"Jacobian product too close to 1: {norm:.4f}"
        return None

    def _saturated(self, solved: Solved) -> str | None:
        """A cell of its own: a quantity defined as tanh or sigma of something, saturated."""
        tape, d, s = solved.tape, self.decimals, self.spec.saturation
        cell = tape.problem.cell
        squashed = {e.lhs: e.rhs.fn.removeprefix("phi:") for e in cell.equations
                    if isinstance(e.rhs, Call) and e.rhs.fn.removeprefix("phi:")
                    in ("tanh", "sigmoid")}
        for t in range(1, tape.T + 1):
            for q, fn in squashed.items():
                name = f"{q}_{t}"
                for label, iv in zip(element_names(tape.quantities[name]), solved.truth[name]):
                    v = iv.mid
                    if (abs(v) > s if fn == "tanh" else not 1 - s <= v <= s):
                        return f"saturated {fn}: {label} = {fixed(v, d)}"
        return None

    # -- the key ---------------------------------------------------------------------------

    def key(self, solved: Solved, rng: random.Random) -> Keyed:
        """The answered questions of a solved variant (rng shuffles multiple-choice options)."""
        custom = self.spec.cell is not None
        doc = build(solved.ev, Options(all_steps=True))  # the Elman layout, or the cell's own
        lines = _lines_by_name(doc)
        shown: set[str] = set()
        parts = []
        for q in self.spec.questions:
            if q.kind == "formula":
                parts.append(self._formula_part(solved, q, rng))
            elif q.kind == "vanishing":
                parts.append(self._vanishing_part(solved, q))
            else:
                parts.append(self._tape_part(solved, q, lines, shown,
                                             doc.notation if custom else self.notation))
        return Keyed(solved.variant, doc, tuple(parts))

    def _entry(self, solved: Solved, q: Question, name: str, e: int, label: str,
               share: Decimal) -> Entry:
        ev = solved.ev
        truth = solved.truth[name][e].mid
        R = solved.spread[name][e]
        return self._number_entry(solved.variant.number, q, label, truth, R, ev.values[name][e],
                                  share)

    def _number_entry(self, variant: int, q: Question, label: str, truth: Decimal, R: Interval,
                      worked, share: Decimal) -> Entry:
        d, unit = self.decimals, self.unit
        value = fixed(truth, d)
        worked_text = (fixed(worked, d) if isinstance(worked, Decimal)
                       else fixed(Decimal(repr(to_float(worked))), d))
        deviation = max(truth - R.lo, R.hi - truth) + unit / 2
        units = max(1, math.ceil(deviation / unit),
                    math.ceil(abs(Decimal(worked_text) - Decimal(value)) / unit))
        return Entry(variant, q.number, q.kind, label, value, fixed(units * unit, d), share,
                     worked_text, f"{truth:.12g}")

    def _tape_part(self, solved: Solved, q: Question, lines: dict[str, Line],
                   shown: set[str], n: Notation) -> Part:
        tape = solved.tape
        # a layout without o_t at some steps (many-to-one, no output layer) asks what exists
        asked = [a for a in _asked(q, tape.T) if a in tape.by_name]
        given: list[str] = []
        if q.kind == "dL/dh" and q.given and self.spec.cell is None:
            (k,) = q.steps(tape.T)
            v = "h" if self.act.prime_of == "h" else "z"
            given = [g for g in (f"dL/do_{k}", f"dL/dz_{k + 1}") if g in tape.by_name]
            if self.act.name != "identity":  # phi'(v_k) needs v_k
                given.append(f"{v}_{k}")
        needed = _closure(tape, asked, set(given))
        worked = tuple(lines[name] for name in needed if name not in shown)
        shown.update(needed)
        labels = [(name, e, label) for name in asked
                  for e, label in enumerate(element_names(tape.quantities[name]))]
        share = _share(q.points, len(labels))
        entries = tuple(self._entry(solved, q, name, e, label, share) for name, e, label in labels)
        m = self.spec.model
        prompt = _prompt(q, tape.T, n, m.bias, m.deck_layout) if self.spec.cell is None else \
            _cell_prompt(q, tape.T, n, m.bias)
        return Part(q.number, q.kind, q.points, prompt,
                    tuple((n.symbol(g), lines[g].result) for g in given), (), worked, entries)

    def _formula_part(self, solved: Solved, q: Question, rng: random.Random) -> Part:
        choices, _ = formula_choices(self.spec.model, self.notation, q.codes, q.correct, rng)
        correct = next(c for c in choices if c.correct)
        entry = Entry(solved.variant.number, q.number, q.kind, "", correct.letter, None,
                      q.points, options=choices)
        n = self.notation
        prompt = ("Exactly one of these formulas is correct for this network, where "
                  rf"${n.symbol('dL/do_t')} = \partial L / \partial {n.symbol('o_t')}$, "
                  rf"${n.symbol('dL/dh_t')} = \partial L / \partial {n.symbol('h_t')}$ and "
                  rf"${n.symbol('dL/dz_t')} = \partial L / \partial {n.symbol('z_t')}$. "
                  "Which one?")
        return Part(q.number, q.kind, q.points, prompt, (), choices, (), (entry,))

    # -- vanishing and exploding gradients ---------------------------------------------------

    def _jacobian(self, solved: Solved) -> _Jacobian:
        """The Jacobian products of a variant (built once: degenerate() and key() both ask)."""
        if self._last_jacobian is None or self._last_jacobian[0] is not solved:
            self._last_jacobian = (solved, _Jacobian(self, solved))
        return self._last_jacobian[1]

    def _vanishing_part(self, solved: Solved, q: Question) -> Part:
        jac = self._jacobian(solved)
        T = solved.tape.T
        product = jac.product
        labels = element_names(jac.quantities[product])
        share = _share(q.points, len(labels) + 1)
        entries = [self._number_entry(solved.variant.number, q, label, jac.truth[product][e].mid,
                                      jac.spread[product][e], jac.values[product][e], share)
                   for e, label in enumerate(labels)]
        norm = _norm(jac.truth[product])
        word = "vanishing" if norm < 1 else "exploding"
        entries.append(Entry(solved.variant.number, q.number, q.kind, "", word, None, share))
        n = self.notation
        h = n.symbol("h_t")[:-len("_{t}")]
        scalar = self.spec.model.hidden_size == 1
        size = "|" if scalar else r"\lVert "
        close = "|" if scalar else r" \rVert"
        relation, what = ("<", "damped") if norm < 1 else (r"\geq", "amplified")
        note = (rf"${size}\partial {h}_{{{T}}} / \partial {h}_{{1}}{close} = "
                rf"{norm:.{self.decimals}f} {relation} 1${'' if scalar else ' (spectral norm)'}: "
                rf"the gradient that reaches ${h}_{{1}}$ from the last output is {what}, so it is "
                rf"\textbf{{{word}}}; over longer sequences such factors compound geometrically.")
        prompt = (rf"Each step back through time multiplies the gradient by the Jacobian "
                  rf"$\partial {h}_{{k}} / \partial {h}_{{k-1}}$. Compute "
                  rf"$\partial {h}_{{{T}}} / \partial {h}_{{1}} = \prod_{{k=2}}^{{{T}}} "
                  rf"\partial {h}_{{k}} / \partial {h}_{{k-1}}$ for this network. Is the "
                  rf"gradient that reaches ${h}_{{1}}$ from the last output vanishing "
                  "(damped) or exploding (amplified)?")
        return Part(q.number, q.kind, q.points, prompt, (), (), tuple(jac.lines), tuple(entries),
                    note)


class _Jacobian:
    """dh_k/dh_(k-1) = diag(phi'(v_k)) W_hh for k = 2..T and the running products dh_k/dh_1,
    evaluated like tape steps: exam arithmetic, exact enclosures and hand-rounding spreads."""

    def __init__(self, maker: KeyMaker, solved: Solved):
        tape, ev = solved.tape, solved.ev
        m, act, n = maker.spec.model, maker.act, maker.notation
        H = m.hidden_size
        indexing = "scalar" if H == 1 else "matrix"
        v = "h" if act.prime_of == "h" else "z"
        self.quantities: dict[str, Quantity] = {}
        self.values = {k: list(vs) for k, vs in ev.values.items()}
        self.truth = dict(solved.truth)
        self.hand = dict(solved.hand)
        self.spread: dict[str, list[Interval]] = {}
        self.lines: list[Line] = []
        W = tape.quantities["W_hh"].elements
        h_tex = n.symbol("h_t")[:-len("_{t}")]
        fmt = _Numbers(ev)
        previous = None
        for k in range(2, tape.T + 1):
            vk = tape.quantities[f"{v}_{k}"]
            factor = Quantity(f"dh_{k}/dh_{k - 1}", (H, H), indexing, "jacobian")
            prime = [act.prime(e) for e in vk.elements]
            explicit = sp.Matrix(H, H, lambda i, j, prime=prime: W[i, j] * prime[i])
            self._step(maker, factor, [tape.quantities["W_hh"], vk], explicit)
            lhs = rf"\frac{{\partial {h_tex}_{{{k}}}}}{{\partial {h_tex}_{{{k - 1}}}}}"
            if H == 1:
                display = sp.Mul(sp.Symbol("W_hh"), act.prime(sp.Symbol(f"{v}_{k}")),
                                 evaluate=False)
                values = {name: latex_out.number(fmt.scalar(name, 0)) for name in ("W_hh", vk.name)}
                partial = None
                if act.name != "identity":
                    inner = self._evaluate(maker, [vk], sp.Matrix([[prime[0]]]))[0]
                    partial = rf"{values['W_hh']} \times {latex_out.number(fmt.text(inner))}"
                self.lines.append(Line(factor.name, k, lhs, latex_out.formula(display, n),
                                       latex_out.substituted(display, n, values), partial,
                                       fmt.text(self.values[factor.name][0]), mode=ev.mode))
            else:
                prime_tex = latex_out.formula(act.prime(sp.Symbol(f"{v}_{k}")), n)
                diag = [fmt.text(x) for x in self._evaluate(maker, [vk], sp.Matrix(prime))]
                self.lines.append(Line(
                    factor.name, k, lhs,
                    rf"\operatorname{{diag}}\left({prime_tex}\right) {n.symbol('W_hh')}",
                    rf"\operatorname{{diag}}\left({', '.join(diag)}\right) {fmt.value('W_hh')}",
                    None, fmt.matrix(self.values[factor.name], H), mode=ev.mode))
            if previous is None:
                previous = factor
                continue
            running = Quantity(f"dh_{k}/dh_1", (H, H), indexing, "jacobian")
            A, B = factor.elements, previous.elements
            self._step(maker, running, [factor, previous], A * B)
            lhs = rf"\frac{{\partial {h_tex}_{{{k}}}}}{{\partial {h_tex}_{{1}}}}"
            formula = (rf"\frac{{\partial {h_tex}_{{{k}}}}}{{\partial {h_tex}_{{{k - 1}}}}}"
                       rf" \frac{{\partial {h_tex}_{{{k - 1}}}}}{{\partial {h_tex}_{{1}}}}")
            if H == 1:
                subst = (rf"{latex_out.number(fmt.text(self.values[factor.name][0]))} \times "
                         rf"{latex_out.number(fmt.text(self.values[previous.name][0]))}")
            else:
                subst = (fmt.matrix(self.values[factor.name], H)
                         + fmt.matrix(self.values[previous.name], H))
            self.lines.append(Line(running.name, k, lhs, formula, subst, None,
                                   fmt.text(self.values[running.name][0]) if H == 1 else
                                   fmt.matrix(self.values[running.name], H), mode=ev.mode))
            previous = running
        self.product = previous.name  # dh_T/dh_1 (for T = 2, the one factor dh_2/dh_1)

    def _evaluate(self, maker: KeyMaker, inputs: list[Quantity], explicit: sp.Matrix) -> list:
        rule = Rule("jacobian", tuple(inputs), explicit, None)
        fn = compile_rule(rule, maker.spec.mode, maker.decimals)
        return fn([x for q in inputs for x in self.values[q.name]])

    def _step(self, maker: KeyMaker, out: Quantity, inputs: list[Quantity],
              explicit: sp.Matrix) -> None:
        self.quantities[out.name] = out
        self.values[out.name] = self._evaluate(maker, inputs, explicit)
        symbols = tuple(s for q in inputs for s in q.elements)
        fn = interval_rule(list(explicit), symbols)
        self.truth[out.name] = fn([x for q in inputs for x in self.truth[q.name]], None)
        self.spread[out.name] = fn([x for q in inputs for x in self.hand[q.name]], maker.decimals)
        self.hand[out.name] = [carried(r, maker.decimals) for r in self.spread[out.name]]


def _norm(product: list[Interval]) -> float:
    """The size of the product dh_T/dh_1: |p| for a number, the spectral norm for a matrix."""
    values = [float(iv.mid) for iv in product]
    size = math.isqrt(len(values))
    return float(np.linalg.norm(np.array(values).reshape(size, size), 2))


class _Numbers:
    """Numbers as the worked solution prints them (the carried values in rounded mode)."""

    def __init__(self, ev: Evaluation):
        self.ev = ev

    def text(self, value) -> str:
        if self.ev.mode == "rounded":
            return fixed(value, self.ev.decimals)
        return fixed(Decimal(repr(to_float(value))), self.ev.decimals)

    def scalar(self, name: str, e: int) -> str:
        q = self.ev.tape.quantities.get(name)
        value = self.ev.values[name][e]
        if q is not None and q.role in ("param", "data"):
            return format(to_decimal(value) + 0, "f")
        return self.text(value)

    def value(self, name: str) -> str:
        q = self.ev.tape.quantities[name]
        cells = [self.scalar(name, e) for e in range(len(self.ev.values[name]))]
        rows, cols = q.shape
        return latex_out.bmatrix([cells[i * cols:(i + 1) * cols] for i in range(rows)])

    def matrix(self, values: list, size: int) -> str:
        cells = [self.text(v) for v in values]
        return latex_out.bmatrix([cells[i * size:(i + 1) * size] for i in range(size)])


def _share(points: Decimal, count: int) -> Decimal:
    """A question's points shared equally by its answers (4 decimals)."""
    return (points / count).quantize(Decimal("0.0001"))


def _asked(q: Question, T: int) -> list[str]:
    """The tape quantities a question asks for."""
    if q.quantities:  # a cell of its own: forward or dL/d<quantity>, at the question's steps
        prefix = "" if q.kind == "forward" else "dL/d"
        return [f"{prefix}{k}_{t}" for t in q.steps(T) for k in q.quantities]
    if q.kind.startswith("dL/d") and q.kind not in ("dL/do", "dL/dh") + GRADIENTS:
        return [q.kind]  # a parameter of a cell of its own
    if q.kind == "forward":
        return [f"{k}_{t}" for t in q.steps(T) for k in ("h", "o")]
    if q.kind == "loss":
        return ["L"]
    if q.kind == "dL/do":
        return [f"dL/do_{t}" for t in q.steps(T)]
    if q.kind == "dL/dh":
        (k,) = q.steps(T)
        return [f"dL/dh_{k}", f"dL/dz_{k}"]
    if q.kind in GRADIENTS:
        return [q.kind]
    return []


def _closure(tape: Tape, targets: list[str], stop: set[str]) -> list[str]:
    """The steps computing `targets` from the problem's numbers and `stop`, in tape order."""
    need: set[str] = set()
    stack = list(targets)
    while stack:
        name = stack.pop()
        if name in need or name not in tape.by_name or (name in stop and name not in targets):
            continue
        need.add(name)
        stack.extend(tape.by_name[name].inputs)
    return [s.name for s in tape.steps if s.name in need]


def _lines_by_name(doc: Document) -> dict[str, Line]:
    out: dict[str, Line] = {}
    stack: list = list(doc.sections.values())
    while stack:
        item = stack.pop()
        if isinstance(item, Line):
            out[item.name] = item
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return out


def _steps_text(ts: list[int], T: int) -> str:
    if ts == list(range(1, T + 1)) and T > 3:
        return rf"$t = 1, \dots, {T}$"
    if len(ts) == 1:
        return f"$t = {ts[0]}$"
    return "$t = " + ", ".join(map(str, ts)) + "$"


def _prompt(q: Question, T: int, n: Notation, bias: bool, deck: bool = True) -> str:
    """The question's text (LaTeX with $math$)."""
    if q.kind == "forward":
        return (f"Compute the forward pass: the hidden states ${n.symbol('h_t')}$ and the outputs "
                f"${n.symbol('o_t')}$ (where the loss reads them) for "
                f"{_steps_text(q.steps(T), T)}." if not deck else
                f"Compute the forward pass: the hidden states ${n.symbol('h_t')}$ and the outputs "
                f"${n.symbol('o_t')}$ for {_steps_text(q.steps(T), T)}.")
    if q.kind == "loss":
        return "Compute the loss $L$."
    if q.kind == "dL/do":
        return (f"Compute the output gradients ${n.symbol('dL/do_t')} = \\partial L / \\partial "
                f"{n.symbol('o_t')}$ for {_steps_text(q.steps(T), T)}" +
                ("." if deck else " (where the loss reads them)."))
    if q.kind == "dL/dh":
        (k,) = q.steps(T)
        return (f"One step of the recursion back through time: compute "
                f"${n.symbol(f'dL/dh_{k}')} = \\partial L / \\partial {n.symbol(f'h_{k}')}$ and "
                f"${n.symbol(f'dL/dz_{k}')} = \\partial L / \\partial {n.symbol(f'z_{k}')}$.")
    symbol = n.symbol(q.kind[4:])
    return f"Compute the gradient $\\partial L / \\partial {symbol}$."


def _cell_prompt(q: Question, T: int, n: Notation, bias: bool) -> str:
    """A question on a cell of its own (LaTeX with $math$), in the cell's names."""
    def listed(names: list[str]) -> str:
        math = [f"${n.symbol(name)}$" for name in names]
        return math[0] if len(math) == 1 else ", ".join(math[:-1]) + " and " + math[-1]

    if q.kind == "forward":
        return (f"Compute the forward pass: {listed([f'{k}_t' for k in q.quantities])} for "
                f"{_steps_text(q.steps(T), T)}.")
    if q.kind == "loss":
        return "Compute the loss $L$."
    if q.quantities:
        (k,) = q.quantities
        return f"Compute the gradients ${n.symbol(f'dL/d{k}_t')}$ for {_steps_text(q.steps(T), T)}."
    return f"Compute the gradient $\\partial L / \\partial {n.symbol(q.kind[4:])}$."
