"""Activations and losses: each stated derivative against sympy.diff and against the textbook form."""

from __future__ import annotations

import pytest
import sympy as sp

from symbolic_bptt.model import ACTIVATIONS, LOSSES, loss_gradient

z = sp.Symbol("z", real=True)


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "identity"])
def test_activation_prime_in_h_is_the_derivative_of_phi(name):
    act = ACTIVATIONS[name]
    assert act.prime_of == "h"
    stated = act.prime(act.phi(z))  # 1 - h^2 with h = tanh(z), ...
    assert sp.simplify(stated - sp.diff(act.phi(z), z)) == 0


def test_relu_prime_is_the_derivative_of_phi_away_from_the_kink_and_0_at_it():
    act = ACTIVATIONS["relu"]
    assert act.prime_of == "z"
    derivative = sp.diff(act.phi(z), z)
    for point in (sp.Rational(-3, 2), sp.Rational(-1, 10**6), sp.Rational(1, 10**6), 2):
        assert act.prime(point) == derivative.subs(z, point)
    assert act.prime(sp.Integer(0)) == 0  # PyTorch's convention: relu'(0) = 0


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "relu", "identity"])
def test_activation_phi_values(name):
    """phi itself, against mpmath at a few points (no SymPy simplification involved)."""
    import mpmath

    act = ACTIVATIONS[name]
    reference = {"tanh": mpmath.tanh, "sigmoid": lambda v: 1 / (1 + mpmath.exp(-v)),
                 "relu": lambda v: max(v, 0), "identity": lambda v: v}[name]
    with mpmath.workdps(40):
        for point in ("-2", "-0.3", "0", "0.7"):
            value = sp.N(act.phi(sp.Rational(point)), 40)
            assert abs(value - sp.Float(reference(mpmath.mpf(point)), 40)) < 1e-30, point


def _outputs(T: int, K: int):
    o = [sp.Matrix(K, 1, sp.symbols(f"o_{t}[0:{K}]")) for t in range(1, T + 1)]
    y = [sp.Matrix(K, 1, sp.symbols(f"y_{t}[0:{K}]")) for t in range(1, T + 1)]
    return o, y


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("T", [1, 3])
def test_loss_gradient_is_the_derivative_of_the_whole_loss(name, T):
    """dL/do_t from loss_gradient = d/do_t of scale(T) * sum_s l(o_s, y_s)."""
    loss = LOSSES[name]
    K = 3
    o, y = _outputs(T, K)
    total = loss.scale(T) * sum((loss.per_step(os, ys) for os, ys in zip(o, y)), sp.Integer(0))
    for t in range(T):
        stated = loss_gradient(loss, o[t], y[t], T).doit()
        for k in range(K):
            assert sp.simplify(stated[k] - sp.diff(total, o[t][k])) == 0, (name, t, k)


@pytest.mark.parametrize("T", [1, 2, 5])
def test_loss_gradients_have_their_textbook_forms(T):
    """half_sse: o - y; sse: 2 (o - y); mse: 2 (o - y) / T; cross_entropy: (softmax(o) - y) / T."""
    (o,), (y,) = _outputs(1, 3)
    softmax = sp.Matrix([sp.exp(v) for v in o]) / sum(sp.exp(v) for v in o)
    expected = {"half_sse": o - y, "sse": 2 * (o - y), "mse": 2 * (o - y) / T,
                "cross_entropy": (softmax - y) / T}
    for name, want in expected.items():
        got = loss_gradient(LOSSES[name], o, y, T).doit()
        assert sp.simplify(got - want) == sp.zeros(3, 1), name


def test_loss_scale_takes_a_symbolic_length():
    T = sp.Symbol("T", integer=True, positive=True)
    assert LOSSES["mse"].scale(T) == 1 / T
    assert LOSSES["cross_entropy"].scale(4) == sp.Rational(1, 4)
    assert LOSSES["half_sse"].scale(T) == sp.Rational(1, 2)
