"""Interval arithmetic over a tape rule's SymPy formula, for auditing hand calculations.

An Interval has Decimal endpoints computed with directed rounding (floor for the lower end,
ceiling for the upper) at 50 significant digits, so it always encloses the exact result; tanh,
exp and log are monotone and are taken at the endpoints with mpmath, then nudged outwards.

`compile_rule` turns a rule's formula into a function of slot intervals with an optional
`decimals`: the precision a person carries. With it, every intermediate value of the formula
(each product, partial product, sum, power and function value) may have been rounded to that
many places, ties either way, or kept unrounded: its interval becomes the hull of both. The
formula's own result is not widened; the caller compares it with the claim's half-unit interval.
Without `decimals` the function computes tight enclosures of exact values.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    ROUND_HALF_DOWN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    localcontext,
)

import mpmath
import sympy as sp

PREC = 50
_FLOOR = Context(prec=PREC, rounding=ROUND_FLOOR)
_CEIL = Context(prec=PREC, rounding=ROUND_CEILING)
_INF = Decimal("Infinity")


@dataclass(frozen=True, slots=True)
class Interval:
    """The closed interval [lo, hi]; lo = -Infinity or hi = Infinity when unbounded."""

    lo: Decimal
    hi: Decimal

    @classmethod
    def point(cls, value: Decimal) -> Interval:
        return cls(value, value)

    @classmethod
    def around(cls, value: Decimal, decimals: int) -> Interval:
        """Every number that rounds to `value` at `decimals` places: value ± half a unit."""
        half = Decimal(5).scaleb(-decimals - 1)
        return cls(value - half, value + half)

    @property
    def finite(self) -> bool:
        return self.lo.is_finite() and self.hi.is_finite()

    @property
    def mid(self) -> Decimal:
        if self.lo == self.hi:
            return self.lo
        if not self.finite:
            return self.lo if self.lo.is_finite() else self.hi
        with localcontext(Context(prec=PREC)):
            return (self.lo + self.hi) / 2

    def meets(self, other: Interval) -> bool:
        """True when the two intervals share a point."""
        return self.lo <= other.hi and other.lo <= self.hi

    def distance(self, other: Interval) -> Decimal:
        """The gap between two intervals (0 when they meet)."""
        return max(Decimal(0), self.lo - other.hi, other.lo - self.hi)

    def __str__(self) -> str:
        return f"[{self.lo:.6g}, {self.hi:.6g}]"


ENTIRE = Interval(-_INF, _INF)


def hull(*parts: Interval) -> Interval:
    return Interval(min(p.lo for p in parts), max(p.hi for p in parts))


def add(a: Interval, b: Interval) -> Interval:
    return Interval(_FLOOR.add(a.lo, b.lo), _CEIL.add(a.hi, b.hi))


def neg(a: Interval) -> Interval:
    return Interval(-a.hi, -a.lo)


def mul(a: Interval, b: Interval) -> Interval:
    if not (a.finite and b.finite):
        return ENTIRE
    pairs = [(x, y) for x in (a.lo, a.hi) for y in (b.lo, b.hi)]
    return Interval(min(_FLOOR.multiply(x, y) for x, y in pairs),
                    max(_CEIL.multiply(x, y) for x, y in pairs))


def reciprocal(a: Interval) -> Interval:
    if a.lo <= 0 <= a.hi or not a.finite:
        return ENTIRE
    return Interval(_FLOOR.divide(1, a.hi), _CEIL.divide(1, a.lo))


def power(a: Interval, n: int) -> Interval:
    """a**n for a whole number n, by repeated directed multiplication (no rounding surprises)."""
    if n < 0:
        return power(reciprocal(a), -n)
    if n == 0:
        return Interval.point(Decimal(1))
    if not a.finite:
        return ENTIRE

    def up(x: Decimal, ctx: Context) -> Decimal:  # |x|**n rounded by ctx
        out = Decimal(1)
        for _ in range(n):
            out = ctx.multiply(out, abs(x))
        return out

    if a.lo >= 0:
        return Interval(up(a.lo, _FLOOR), up(a.hi, _CEIL))
    if a.hi <= 0:
        if n % 2:
            return Interval(-up(a.lo, _CEIL), -up(a.hi, _FLOOR))
        return Interval(up(a.hi, _FLOOR), up(a.lo, _CEIL))
    if n % 2:
        return Interval(-up(a.lo, _CEIL), up(a.hi, _CEIL))
    return Interval(Decimal(0), max(up(a.lo, _CEIL), up(a.hi, _CEIL)))


def _mp_bound(fn, x: Decimal, upward: bool) -> Decimal:
    """fn(x) for a monotone mpmath function, rounded outwards past mpmath's own error."""
    if not x.is_finite():
        with mpmath.workdps(PREC + 20):
            out = fn(mpmath.mpf("inf") if x > 0 else mpmath.mpf("-inf"))
    else:
        with mpmath.workdps(PREC + 20):
            out = fn(mpmath.mpf(str(x)))
    if mpmath.isinf(out):
        return _INF if out > 0 else -_INF
    if mpmath.isnan(out):
        return _INF if upward else -_INF
    value = Decimal(mpmath.nstr(out, PREC + 10, strip_zeros=False, min_fixed=-mpmath.inf,
                                max_fixed=mpmath.inf))
    slack = abs(value).scaleb(-PREC + 5) + Decimal(1).scaleb(-PREC - 5)
    return _CEIL.add(value, slack) if upward else _FLOOR.subtract(value, slack)


def increasing(fn, lower: Decimal | None = None) -> Callable[[Interval], Interval]:
    """An increasing function on intervals; below `lower` (a domain edge) the result is unbounded."""

    def apply(a: Interval) -> Interval:
        if lower is not None and a.lo <= lower:
            if a.hi <= lower:
                raise ValueError(f"{fn.__name__} is undefined on {a}")
            return Interval(-_INF, _mp_bound(fn, a.hi, True))
        return Interval(_mp_bound(fn, a.lo, False), _mp_bound(fn, a.hi, True))

    return apply


FUNCTIONS: dict = {
    sp.tanh: increasing(mpmath.tanh),
    sp.exp: increasing(mpmath.exp),
    sp.log: increasing(mpmath.log, lower=Decimal(0)),
}


def _round(x: Decimal, decimals: int, upward: bool) -> Decimal:
    """x rounded to `decimals` places, a tie going up (upward) or down."""
    positive = x >= 0
    mode = ROUND_HALF_UP if upward == positive else ROUND_HALF_DOWN
    with localcontext(Context(prec=PREC + 20)):
        return x.quantize(Decimal(1).scaleb(-decimals), rounding=mode)


def carried(a: Interval, decimals: int | None) -> Interval:
    """Every value a person may carry for a number in `a`: itself, or it rounded to `decimals`."""
    if decimals is None:
        return a
    lo = min(a.lo, _round(a.lo, decimals, upward=False)) if a.lo.is_finite() else a.lo
    hi = max(a.hi, _round(a.hi, decimals, upward=True)) if a.hi.is_finite() else a.hi
    return Interval(lo, hi)


def number(value: sp.Basic) -> Interval:
    """A SymPy number as a tight interval (1/3 is not a finite decimal)."""
    if value.is_Integer:
        return Interval.point(Decimal(int(value)))
    if value.is_Rational:
        p, q = int(value.p), int(value.q)
        return Interval(_FLOOR.divide(p, q), _CEIL.divide(p, q))
    return Interval.point(Decimal(str(sp.Float(value, PREC))))


# ---------------------------------------------------------------------------------------------
# Compiling a formula

Node = Callable[[Sequence[Interval], "int | None"], Interval]


def compile_rule(outputs: Sequence[sp.Basic], symbols: Sequence[sp.Symbol]
                 ) -> Callable[[Sequence[Interval], int | None], list[Interval]]:
    """A function (slot intervals, decimals) -> one result interval per output expression."""
    index = {s: i for i, s in enumerate(symbols)}
    nodes = [_node(e, index) for e in outputs]
    return lambda args, decimals=None: [node(args, decimals) for node in nodes]


def _operation(expr: sp.Basic) -> bool:
    """True when a person writes down (and may round) this node's value."""
    if isinstance(expr, sp.UnevaluatedExpr):
        return _operation(expr.args[0])
    if expr.is_Symbol:
        return False
    if expr.is_Number:
        # A constant such as 1/3 is carried rounded; 1/2 or 2 is exact at any precision.
        return not (expr.is_Rational and _finite_decimal(int(expr.q)))
    return not (isinstance(expr, sp.Mul) and len(expr.args) == 2 and expr.args[0] == -1)


def _finite_decimal(q: int) -> bool:
    for p in (2, 5):
        while q % p == 0:
            q //= p
    return q == 1


def _node(expr: sp.Basic, index: dict) -> Node:
    """A closure computing expr's interval; children are widened to what a person carries."""
    if isinstance(expr, sp.UnevaluatedExpr):
        return _node(expr.args[0], index)
    if expr.is_Symbol:
        i = index[expr]
        return lambda args, d: args[i]
    if expr.is_Number:
        const = number(expr)
        return lambda args, d: const
    raw = [_node(a, index) for a in expr.args]
    rounds = [_operation(a) for a in expr.args]

    def children(args, d):
        return [carried(c(args, d), d) if r else c(args, d) for c, r in zip(raw, rounds)]

    if isinstance(expr, sp.Add):
        def total(args, d):
            parts = children(args, d)
            out = parts[0]
            for p in parts[1:]:
                out = add(out, p)
            return out
        return total
    if isinstance(expr, sp.Mul):
        if len(raw) == 2 and expr.args[0] == -1:
            return lambda args, d: neg(raw[1](args, d))
        return lambda args, d: _product(children(args, d), d)
    if isinstance(expr, sp.Pow):
        if expr.exp.is_Integer:
            n = int(expr.exp)
            return lambda args, d: power(children(args, d)[0], n)
        if expr.exp.is_Rational and expr.exp > 0:
            p = sp.Float(expr.exp, PREC + 10)
            fn = increasing(lambda x: mpmath.power(x, mpmath.mpf(str(p))), lower=Decimal(0))
            return lambda args, d: fn(children(args, d)[0])
        raise NotImplementedError(f"interval arithmetic has no rule for {expr}")
    if isinstance(expr, sp.Max | sp.Min):
        pick = max if isinstance(expr, sp.Max) else min

        def extreme(args, d):
            parts = children(args, d)
            return Interval(pick(p.lo for p in parts), pick(p.hi for p in parts))
        return extreme
    if isinstance(expr, sp.Heaviside):
        # PyTorch's convention at the kink, as the tape uses: H(0) = 0.
        def step(args, d):
            z = children(args, d)[0]
            if z.lo > 0:
                return Interval.point(Decimal(1))
            if z.hi <= 0:
                return Interval.point(Decimal(0))
            return Interval(Decimal(0), Decimal(1))
        return step
    fn = FUNCTIONS.get(expr.func)
    if fn is not None:
        return lambda args, d: fn(children(args, d)[0])
    raise NotImplementedError(f"interval arithmetic has no rule for {expr.func.__name__}")


def _product(factors: list[Interval], decimals: int | None) -> Interval:
    """A product of several factors; with `decimals`, any partial product may have been rounded.

    A person multiplies two numbers at a time, in an order we do not know: the result is the
    hull over every way of grouping the factors, each partial product carried rounded.
    """
    out = factors[0]
    if decimals is None or len(factors) <= 2:
        for f in factors[1:]:
            out = mul(out, f)
        return out
    n = len(factors)
    best: dict[int, Interval] = {1 << i: f for i, f in enumerate(factors)}
    full = (1 << n) - 1
    for size in range(2, n + 1):
        for members in itertools.combinations(range(n), size):
            subset = sum(1 << i for i in members)
            options = []
            first = members[0]
            sub = (subset - 1) & subset
            while sub:
                if sub & (1 << first):  # each split once: the part holding the first member
                    rest = subset ^ sub
                    if rest:
                        options.append(mul(best[sub], best[rest]))
                sub = (sub - 1) & subset
            joined = hull(*options)
            best[subset] = joined if subset == full else carried(joined, decimals)
    return best[full]
