"""A SymPy expression compiled into nested closures over mpmath numbers: the tape's rules
evaluated at n digits without rebuilding a SymPy tree at every step (xreplace and evalf cost
far more), for verify's numeric test.

Only the nodes the tape's explicit rules are made of are compiled (sums, products, powers,
exp, log, tanh, Heaviside, Max, numbers); any other node is `Unsupported`, and a value SymPy
would leave undefined or complex (1/0, log of a negative number) raises `Undefined`, so that
the caller can fall back to SymPy's own evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import mpmath
import sympy as sp

Fn = Callable[[Sequence], object]


class Unsupported(Exception):
    """A node this compiler does not know."""


class Undefined(ArithmeticError):
    """A value that is not a finite real number."""


def compile_exprs(exprs: Sequence[sp.Expr], slots: Sequence[sp.Symbol], prec: int) -> Fn:
    """A function of the slots' values (SymPy numbers) -> the expressions' values (SymPy
    Floats), computed at `prec` bits; Unsupported if an expression has a node not compiled
    here, Undefined (or AttributeError for a value that is not a number) when called."""
    index = {s: k for k, s in enumerate(slots)}
    with mpmath.workprec(prec):
        fns = [_compile(e, index) for e in exprs]

    def run(args: Sequence) -> list:
        with mpmath.workprec(prec):
            numbers = [mpmath.mpf(x._as_mpf_val(prec)) for x in args]
            out = [f(numbers) for f in fns]
        if not all(isinstance(v, mpmath.mpf) and mpmath.isfinite(v) for v in out):
            raise Undefined("not a finite real number")
        return [sp.Float._new(v._mpf_, prec) for v in out]

    return run


def _compile(e: sp.Expr, index: dict) -> Callable:
    if e.is_Symbol:
        if e not in index:
            raise Unsupported(f"the free symbol {e}")
        k = index[e]
        return lambda a: a[k]
    if e.is_Number:
        if not (e.is_Rational or e.is_Float):
            raise Unsupported(str(e))
        value = mpmath.mpf(e._as_mpf_val(mpmath.mp.prec))
        return lambda a: value
    parts = [_compile(x, index) for x in e.args]
    if e.is_Add:
        def add(a):
            total = parts[0](a)
            for f in parts[1:]:
                total += f(a)
            return total
        return add
    if e.is_Mul:
        def mul(a):
            total = parts[0](a)
            for f in parts[1:]:
                total *= f(a)
            return total
        return mul
    if e.is_Pow:
        return _power(parts[0], e.exp)
    fn = _FUNCTIONS.get(type(e).__name__)
    if fn is None:
        raise Unsupported(type(e).__name__)
    return lambda a: fn(*(f(a) for f in parts))


def _power(base: Callable, exp: sp.Expr) -> Callable:
    if exp.is_Integer:
        n = int(exp)
        if n < 0:
            return lambda a: _inverse(base(a) ** -n)
        return lambda a: base(a) ** n
    if exp == sp.S.Half:
        return lambda a: mpmath.sqrt(_nonnegative(base(a)))
    if exp.is_Rational:
        q = mpmath.mpf(exp.p) / exp.q
        return lambda a: _positive(base(a)) ** q
    raise Unsupported(f"the power {exp}")


def _inverse(x):
    if not x:
        raise Undefined("division by zero")
    return 1 / x


def _positive(x):
    if x <= 0:
        raise Undefined("a power of a number not positive")
    return x


def _nonnegative(x):
    if x < 0:
        raise Undefined("the square root of a negative number")
    return x


def _log(x):
    return mpmath.log(_positive(x))


def _heaviside(x, at_zero=None):
    if x > 0:
        return mpmath.mpf(1)
    if x < 0 or at_zero is not None and not at_zero:
        return mpmath.mpf(0)
    if at_zero is None:
        raise Undefined("Heaviside(0) without a value at 0")
    return at_zero


_FUNCTIONS = {"exp": mpmath.exp, "tanh": mpmath.tanh, "log": _log, "Heaviside": _heaviside,
              "Max": max, "Min": min, "Abs": abs}
