"""evaluate/float_code.py: a rule compiled from its expression tree gives lambdify's values."""

import math

import pytest
import sympy as sp

from symbolic_bptt.evaluate.arithmetic import _heaviside
from symbolic_bptt.evaluate.float_code import float_function

a, b, c = sp.Symbol("W[0,1]"), sp.Symbol("h_1[0]"), sp.Symbol("x_2")


@pytest.mark.parametrize("expr", [
    1 / (1 + sp.exp(-(a * b + c))) * sp.tanh(a - b),
    sp.Rational(1, 3) * a ** 2 - sp.sqrt(b ** 2 + 1) / c + sp.pi,
    sp.Max(0, a - c) + sp.Heaviside(b, 0) * sp.log(c) + sp.Abs(a) ** -2,
    sp.UnevaluatedExpr(sp.Float(0.5)) * (a + b) + sp.cos(a) * sp.sin(b) - sp.atan(c),
])
def test_values_match_lambdify(expr):
    outputs, args = [expr, expr * 2, a], [0.3, -0.7, 1.9]
    fn = float_function(outputs, (a, b, c), _heaviside)
    ref = sp.lambdify((a, b, c), [e.doit() for e in outputs],
                      modules=[{"Heaviside": _heaviside, "Max": max}, "math"])
    for x, y in zip(fn(args), ref(*args)):
        assert math.isclose(x, y, rel_tol=1e-14)


def test_errors_are_arithmetic_and_unknown_nodes_refused():
    assert pytest.raises(ValueError, float_function([sp.sqrt(a)], (a,), _heaviside), [-1.0])
    assert pytest.raises(ZeroDivisionError, float_function([1 / a], (a,), _heaviside), [0.0])
    assert float_function([sp.gamma(a)], (a,), _heaviside) is None
