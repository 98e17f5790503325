"""The tape's BPTT gradients against the reference: sympy.diff of the fully substituted loss.

Small cases are proved (the difference is identically 0); bigger ones are compared at random
rational points in 50-digit arithmetic, the tape evaluated exactly and the reference by mpmath.
"""

from __future__ import annotations

import mpmath
import pytest
import sympy as sp
from problems import random_problem

from symbolic_bptt.evaluate.arithmetic import parameter_values, to_rational
from symbolic_bptt.inputs.problem import Problem, weight_shapes
from symbolic_bptt.model import elman_forms as g
from symbolic_bptt.tape import Tape, unroll

ACTIVATIONS = ("tanh", "sigmoid", "relu", "identity")


def assert_proved(problem: Problem) -> None:
    tape = unroll(problem)
    reference = g.reference_gradients(tape)
    assert list(reference) == [f"dL/d{n}" for n in weight_shapes(problem.model)]
    for name, matrix in reference.items():
        by_tape = g.substituted(tape, name)
        assert matrix.shape == by_tape.shape == tape.quantities[name].shape
        for a, b in zip(matrix, by_tape, strict=True):
            assert g.is_zero(a - b), (problem.model, problem.T, name)


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("loss", ["half_sse", "sse", "mse"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_scalar_gradients_equal_the_reference_symbolically(activation, loss, bias):
    for T in range(1, 5):
        assert_proved(random_problem(activation, loss, T, bias=bias))


VECTOR = [
    pytest.param(a, loss, sizes, marks=[pytest.mark.slow] * (a == "sigmoid" and loss == "mse"))
    for a in ACTIVATIONS
    for loss, sizes in (("half_sse", (1, 2, 1)), ("mse", (2, 2, 2)), ("cross_entropy", (2, 2, 2)))]


@pytest.mark.parametrize("activation,loss,sizes", VECTOR)
def test_hidden_size_2_gradients_equal_the_reference_symbolically(activation, loss, sizes):
    for T in range(1, 4):
        assert_proved(random_problem(activation, loss, T, sizes=sizes, bias=True))


def test_a_wrong_gradient_is_not_proved_equal():
    """The proof is not vacuous: sum_t delta_t h_t (h_t for h_(t-1)) is caught."""
    tape = unroll(random_problem("tanh", "half_sse", 3))
    reference = g.reference_gradients(tape)["dL/dW_hh"][0]
    h = {t: g.substituted(tape, f"h_{t}")[0] for t in range(4)}
    delta = {t: g.substituted(tape, f"dL/dz_{t}")[0] for t in range(1, 4)}
    assert g.is_zero(reference - sum(delta[t] * h[t - 1] for t in range(1, 4)))
    assert not g.is_zero(reference - sum(delta[t] * h[t] for t in range(1, 4)))


# ---------------------------------------------------------------------------------------------
# Beyond small cases: 50 digits at random rational points


_MP = {sp.tanh: mpmath.tanh, sp.exp: mpmath.exp, sp.log: mpmath.log}


def mp_value(expr: sp.Expr, point: dict[sp.Symbol, mpmath.mpf]) -> mpmath.mpf:
    """expr at `point` in the current mpmath precision, each shared subexpression once."""
    memo: dict[sp.Basic, mpmath.mpf] = {}

    def walk(node: sp.Basic) -> mpmath.mpf:
        if node in memo:
            return memo[node]
        if node.is_Symbol:
            out = point[node]
        elif node.is_Rational:
            out = mpmath.mpf(int(node.p)) / int(node.q)
        elif isinstance(node, sp.UnevaluatedExpr):
            out = walk(node.args[0])
        elif isinstance(node, sp.Add):
            out = mpmath.fsum(walk(a) for a in node.args)
        elif isinstance(node, sp.Mul):
            out = mpmath.fprod(walk(a) for a in node.args)
        elif isinstance(node, sp.Pow):
            out = walk(node.base) ** walk(node.exp)
        elif isinstance(node, sp.Max):
            out = max(walk(a) for a in node.args)
        elif isinstance(node, sp.Heaviside):
            value, at_zero = (walk(a) for a in node.args)
            out = mpmath.mpf(1) if value > 0 else (at_zero if value == 0 else mpmath.mpf(0))
        else:
            out = _MP[node.func](*(walk(a) for a in node.args))
        memo[node] = out
        return out

    return walk(expr)


def _mp_point(tape: Tape) -> dict[sp.Symbol, mpmath.mpf]:
    """Every parameter and data element symbol at the problem's own numbers, read exactly."""
    return {s: mpmath.mpf(int(v.p)) / int(v.q)
            for name, values in parameter_values(tape, to_rational).items()
            for s, v in zip(tape.quantities[name].elements, values, strict=True)}


def reference_values(tape: Tape, digits: int = 60) -> dict[str, list]:
    """The reference gradients at the problem's own numbers, in `digits`-digit mpmath."""
    with mpmath.workdps(digits):
        point = _mp_point(tape)
        return {name: [mp_value(e, point) for e in matrix]
                for name, matrix in g.reference_gradients(tape).items()}


def tape_values(tape: Tape, digits: int = 60) -> dict[str, list]:
    """Every quantity of the tape in mpmath: each step's formula on the values before it.

    (Exact mode's nested tanh(... tanh(...)) values are slow to evaluate to 50 digits with
    sp.N beyond T ~ 6: evalf does not share common subexpressions.)
    """
    with mpmath.workdps(digits):
        point = _mp_point(tape)
        for step in tape.steps:
            q = tape.quantities[step.name]
            point.update(zip(q.elements, (mp_value(e, point) for e in tape.explicit(step))))
        return {name: [point[s] for s in q.elements] for name, q in tape.quantities.items()}


BIG = [(a, "half_sse", T, (1, 1, 1)) for a in ACTIVATIONS for T in (5, 8)] + [
    (a, loss, 4, sizes) for a in ACTIVATIONS
    for loss, sizes in (("mse", (2, 2, 2)), ("cross_entropy", (1, 2, 3)))] + [
    pytest.param(a, loss, T, sizes, marks=pytest.mark.slow) for a in ACTIVATIONS
    for loss, T, sizes in (("sse", 4, (2, 3, 2)), ("cross_entropy", 5, (2, 2, 3)))]


@pytest.mark.parametrize("activation,loss,T,sizes", BIG)
def test_gradients_equal_the_reference_to_40_digits(activation, loss, T, sizes):
    tape = unroll(random_problem(activation, loss, T, sizes=sizes, bias=True, seed=1, decimals=3))
    by_tape = tape_values(tape)
    for name, by_reference in reference_values(tape).items():
        assert len(by_tape[name]) == len(by_reference)
        with mpmath.workdps(60):
            for a, b in zip(by_tape[name], by_reference):
                assert abs(a - b) <= 1e-40 * max(1, abs(b)), (name, a, b)
