"""Evaluate a tape under an arithmetic mode: exact (SymPy), float, or rounded by hand.

Each rule is compiled once and called for every step of its kind. In rounded mode every node of
a formula (each product, sum, power and function value) is rounded half up to `decimals` places
and the rounded value is carried on, as a person does on paper.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext

import mpmath
import sympy as sp

from ..errors import ProblemError
from ..inputs.limits import check_sizes
from ..model.cell import UPSTREAM
from .float_code import float_function
from ..tape import Rule, Tape
from ..tape.rules import SumRule
from ..tape.display_exprs import Sigmoid

MODES = ("exact", "float", "rounded")
_PREC = 60


def round_half_up(value: Decimal, decimals: int) -> Decimal:
    """Round a decimal the way people do: 0.23305 -> 0.2331 at 4 places."""
    digits = max(_PREC, value.adjusted() + decimals + 2) if value.is_finite() else _PREC
    with localcontext(Context(prec=digits)):
        return value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)


def to_decimal(value) -> Decimal:
    """A number as written (0.6 stays 0.6, not its binary neighbour) as a Decimal."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | float):
        return Decimal(repr(value))
    rational = sp.Rational(value)
    with localcontext(Context(prec=_PREC)):
        return Decimal(int(rational.p)) / Decimal(int(rational.q))


def to_rational(value) -> sp.Rational:
    """A number as written, exactly: 0.6 -> 3/5."""
    return sp.Rational(repr(value)) if isinstance(value, float) else sp.Rational(value)


@dataclass(frozen=True)
class Evaluation:
    """Values of every quantity of a tape (flat, row-major) in one arithmetic mode."""

    tape: Tape
    mode: str
    decimals: int
    values: dict[str, tuple] = field(hash=False)
    # exact mode: quantities whose closed form outgrew EXACT_BUDGET, carried as 40-digit numbers
    approximate: frozenset[str] = frozenset()
    numbers: dict[str, tuple] | None = field(default=None, hash=False)  # exact mode: floats

    def value(self, name: str) -> tuple:
        return self.values[name]

    def __repr__(self) -> str:  # the default printed the whole tape: 12,600 characters
        extra = f", {self.decimals} decimals" if self.mode == "rounded" else ""
        return (f"<Evaluation {self.tape.problem.name!r}: {self.mode}{extra}, "
                f"{len(self.values)} quantities>")

    def as_float(self, name: str) -> list[float]:
        """The flat values of one quantity as Python floats."""
        if self.numbers is not None:
            return list(self.numbers[name])
        return [v if type(v) is float else to_float(v) for v in self.values[name]]


def to_float(value) -> float:
    if isinstance(value, sp.Basic):
        return float(sp.N(value, 30))
    return float(value)


def parameter_values(tape: Tape, convert: Callable) -> dict[str, tuple]:
    """Parameters and data of the problem, flat row-major, through `convert`."""
    p = tape.problem
    values: dict[str, tuple] = {}
    for name, matrix in p.weights.items():
        values[name] = tuple(convert(v) for row in matrix for v in row)
    for state, value in p.initial_values.items():
        values[f"{state}_0"] = tuple(convert(v) for v in value)
    for t in range(1, p.T + 1):
        values[f"x_{t}"] = tuple(convert(v) for v in p.x[t - 1])
    for t, y in zip(p.loss_steps, p.y):
        values[f"y_{t}"] = tuple(convert(v) for v in y)
    for t, g in zip(p.loss_steps, p.upstream):
        values[f"{UPSTREAM}_{t}"] = tuple(convert(v) for v in g)
    return values


def evaluate(tape: Tape, mode: str | None = None, decimals: int | None = None,
             progress: Callable[[str, int, int], None] | None = None) -> Evaluation:
    """Walk the tape once, computing every step from the values before it; `progress` hears
    (stage, done, total) now and then on long tapes (a bar on a terminal)."""
    from . import vector
    from .walk import Walker, digits, exact, floats, rounded

    mode = mode or tape.problem.arithmetic.mode
    decimals = tape.problem.arithmetic.decimals if decimals is None else decimals
    if mode not in MODES:
        raise ProblemError(f"unknown arithmetic mode {mode!r} (expected one of: {', '.join(MODES)})")
    if mode == "exact":
        m = tape.problem.model
        check_sizes(tape.problem.T, max(m.input_size, m.hidden_size, m.output_size), mode)
    failure = f"cannot be computed in {mode} arithmetic"
    heard = progress if len(tape.steps) >= _LONG_TAPE else None
    if mode == "float" and vector.pays(tape):
        values = vector.run(tape, parameter_values(tape, float),
                            lambda rule: compile_rule(rule, "float", 0), failure, heard)
        ev = Evaluation(tape, mode, decimals, values)
    elif mode != "exact":
        walker = Walker(tape, floats() if mode == "float" else rounded(decimals), failure)
        ev = Evaluation(tape, mode, decimals, walker.run(progress=heard))
    else:
        # closed forms while they stay small, and a 40-digit twin for the rest
        twin = Walker(tape, digits(40), failure).run()
        walker = Walker(tape, exact(), failure)
        approximate: set[str] = set()

        def carry(step, values):
            if not approximate.intersection(step.inputs):
                out = walker.step(step, values)
                if all(_small(v) for v in out):
                    return out
            approximate.add(step.name)  # too large to carry exactly: 40 digits instead
            return tuple(sp.Float(str(v), 40) for v in twin[step.name])

        values = walker.run(hook=carry, progress=heard)
        numbers = {k: tuple(float(v) for v in vs) for k, vs in twin.items()}
        ev = Evaluation(tape, mode, decimals, values, frozenset(approximate), numbers)
    _finite(ev)
    return ev


_LONG_TAPE = 5_000  # steps: below this a run takes about a second and needs no bar


def _finite(ev: Evaluation) -> None:
    """Refuse values that overflow a float (or are not numbers): every mode says so alike,
    rather than printing Infinity in JSON or inf in a document."""
    for step in ev.tape.steps:
        try:
            numbers = ev.as_float(step.name) if ev.mode != "float" else ev.values[step.name]
        except (OverflowError, TypeError, ValueError):
            numbers = [math.inf]
        if ev.mode == "float" and all(map(math.isfinite, numbers)):
            continue  # the usual case, in one pass in C
        for x in numbers:
            try:
                ok = math.isfinite(x)
            except (TypeError, OverflowError):
                ok = False
            if not ok:
                raise ProblemError(
                    f"{step.name} is {x} in {ev.mode} arithmetic: the values overflow (the "
                    "inputs are too large for this network; scale them down)")


EXACT_BUDGET = 400  # nodes: a larger closed form is carried as a 40-digit number instead


def _small(value) -> bool:
    """Whether an exact value's expression tree has at most EXACT_BUDGET nodes."""
    if not isinstance(value, sp.Basic):
        return True
    if isinstance(value, sp.Float):
        return False
    seen, stack = 0, [value]
    while stack:
        seen += 1
        if seen > EXACT_BUDGET:
            return False
        stack.extend(stack.pop().args)
    return True


def compile_rule(rule: Rule, mode: str, decimals: int) -> Callable[[Sequence], list]:
    """A function from the rule's flat slot values to its flat results."""
    if mode == "float" and isinstance(rule, SumRule):  # its formula is not needed: positions
        return _adder([(None, sorted(p, reverse=True)) for p in rule.slot_positions()])
    outputs = list(rule.explicit)
    if mode == "float":
        sums = _float_sums(outputs, rule.slot_symbols)
        if sums is not None:
            return sums
        fn = float_function(outputs, rule.slot_symbols, _heaviside)
        if fn is not None:
            return fn
        # Slot names such as W_ii[0,1] are not identifiers: lambdify would rename each one in a
        # pass over the whole formula (quadratic: minutes for an LSTM of hidden size 16). One
        # renaming pass here, to plain names, instead.
        plain = [sp.Symbol(f"_s{i}") for i in range(len(rule.slot_symbols))]
        renamed = [e.xreplace(dict(zip(rule.slot_symbols, plain))) for e in outputs]
        fn = sp.lambdify(plain, renamed, modules=[{"Heaviside": _heaviside, "Max": max}, "math"],
                         cse=True, dummify=False)
        return lambda args: fn(*args)
    if mode == "exact":
        symbols = rule.slot_symbols
        plain = [e.doit() for e in outputs]  # drops UnevaluatedExpr so results simplify
        return lambda args: [e.xreplace(dict(zip(symbols, args))) for e in plain]
    index = {s: i for i, s in enumerate(rule.slot_symbols)}
    nodes = [_rounded_node(e, index, decimals) for e in outputs]
    return lambda args: [node(args) for node in nodes]


def _float_sums(outputs: list, symbols: tuple) -> Callable[[Sequence], list] | None:
    """A rule whose outputs are each a sum of slot values, maybe times a number (L, dL/dW_hh):
    plain additions. None for any other rule.

    A sum over t has T slots and lambdify renames each slot in a pass over the whole formula,
    about 10 s per sum at T = 1000. Terms are added from the last slot to the first (t = T down
    to 1), the order in which backpropagation accumulates them. (lambdify's order followed the
    names of its dummy symbols, so it depended on how many SymPy had made before.)
    """
    index = {s: i for i, s in enumerate(symbols)}
    plans = []
    for e in outputs:
        scale = None
        if isinstance(e, sp.Mul) and len(e.args) == 2:  # model.scaled(number, sum)
            number, rest = sorted(e.args, key=lambda a: not isinstance(a, sp.UnevaluatedExpr))
            if isinstance(number, sp.UnevaluatedExpr) and number.args[0].is_Number:
                scale, e = float(number.args[0]), rest
        terms = e.args if isinstance(e, sp.Add) else (e,)
        if not all(term in index for term in terms):
            return None
        plans.append((scale, sorted((index[term] for term in terms), reverse=True)))
    return _adder(plans)


def _adder(plans: list[tuple[float | None, list[int]]]) -> Callable[[Sequence], list]:
    """For each output, the slot values at `positions` added in that order, times `scale`."""
    def add(args: Sequence) -> list:
        out = []
        for scale, positions in plans:
            total = args[positions[0]]
            for i in positions[1:]:
                total += args[i]
            out.append(total if scale is None else total * scale)
        return out
    return add


def _heaviside(x, h0=0.0):
    return 1.0 if x > 0 else (h0 if x == 0 else 0.0)


def sigmoid(x):
    return 1 / (1 + mpmath.exp(-x))


_FUNCTIONS = {sp.tanh: mpmath.tanh, sp.exp: mpmath.exp, sp.log: mpmath.log, Sigmoid: sigmoid}


def _rounded_node(expr: sp.Basic, index: dict, decimals: int) -> Callable[[Sequence], Decimal]:
    """Compile one expression into a closure that rounds after every operation."""

    def r(x: Decimal) -> Decimal:
        return round_half_up(x, decimals)

    if isinstance(expr, sp.Symbol):
        i = index[expr]
        return lambda args: args[i]
    if isinstance(expr, sp.UnevaluatedExpr):
        return _rounded_node(expr.args[0], index, decimals)
    if expr.is_Number:
        const = to_decimal(expr)
        return lambda args: const
    children = [_rounded_node(a, index, decimals) for a in expr.args]
    if isinstance(expr, sp.Add):
        return lambda args: r(sum((c(args) for c in children), Decimal(0)))
    if isinstance(expr, sp.Mul):
        if expr.args[0] == -1 and len(children) == 2:
            rest = children[1]
            return lambda args: -rest(args)

        def product(args):
            with localcontext(Context(prec=_PREC)):
                out = Decimal(1)
                for c in children:
                    out *= c(args)
            return r(out)
        return product
    if isinstance(expr, sp.Pow):
        base, exponent = children
        if expr.exp.is_Integer:
            n = int(expr.exp)

            def power(args):
                with localcontext(Context(prec=_PREC)):
                    b = base(args)
                    return r(b**n if n >= 0 else Decimal(1) / b ** (-n))
            return power
        return lambda args: r(_mp(mpmath.power, base(args), exponent(args)))
    if isinstance(expr, sp.Max):
        return lambda args: max(c(args) for c in children)
    if isinstance(expr, sp.Min):  # clipping's min(1, c / |g|), in a displayed formula
        return lambda args: min(c(args) for c in children)
    if isinstance(expr, sp.Heaviside):
        arg = children[0]
        return lambda args: Decimal(1) if arg(args) > 0 else Decimal(0)
    fn = _FUNCTIONS.get(expr.func)
    if fn is not None:
        arg = children[0]
        return lambda args: r(_mp(fn, arg(args)))
    raise NotImplementedError(f"rounded arithmetic has no rule for {expr.func.__name__}")


def _mp(fn, *xs: Decimal) -> Decimal:
    with mpmath.workdps(_PREC):
        out = fn(*(mpmath.mpf(str(x)) for x in xs))
        if not mpmath.isfinite(out):
            raise OverflowError(f"{fn.__name__} overflows")
        if out != 0 and abs(mpmath.log10(abs(out))) > 10**6:
            if abs(out) < 1:  # far below any number of decimals a person carries
                return Decimal(0)
            raise OverflowError(f"{fn.__name__} is too large to write out")
        return Decimal(mpmath.nstr(out, _PREC, strip_zeros=False))
