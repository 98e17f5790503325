"""The general-T forms, instantiated at T = 1..6, against the unrolled tape.

Each comparison is a proof (`is_zero` of the difference) in the tape's own symbols: a recursion
step against the step's formula, a closed form against the tape's recursion composed back to the
forward quantities h_t, z_t and the output gradients dL/do_t.
"""

from __future__ import annotations

import pytest
import sympy as sp
from problems import random_problem

from symbolic_bptt.evaluate.arithmetic import evaluate
from symbolic_bptt.inputs.problem import Model
from symbolic_bptt.model import elman_forms as g
from symbolic_bptt.tape import Tape, unroll

ACTIVATIONS = ("tanh", "sigmoid", "relu", "identity")
SCALAR_LOSSES = ("half_sse", "sse", "mse")  # cross_entropy needs output_size >= 2


def forward_and_output_gradients(tape: Tape) -> set[str]:
    """The quantities a closed form is written in: the forward pass and every dL/do_t."""
    return {name for name, q in tape.quantities.items()
            if q.role == "forward" or name.startswith("dL/do_")}


def assert_same(general: sp.Expr, tape_expr: sp.Expr, what: str) -> None:
    assert g.is_zero(general - tape_expr), f"{what}: {general} != {tape_expr}"


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("loss", SCALAR_LOSSES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_general_forms_instantiated_equal_the_unrolled_tape(activation, loss, bias):
    forms = g.general_forms(Model(activation=activation, loss=loss, bias=bias))
    for T in range(1, 7):
        tape = unroll(random_problem(activation, loss, T, bias=bias))
        closed_in = forward_and_output_gradients(tape)

        def at(name: str, t: int | None = None, T: int = T) -> sp.Expr:
            lhs, rhs = forms[name]
            assert g.instantiate(lhs, T, t) == sp.Symbol(tape_name(name, t, T))
            return g.instantiate(rhs, T, t)

        for t in range(1, T + 1):
            for name in ("z_t", "h_t", "o_t", "dL/do_t", "dL/dz_t"):
                assert_same(at(name, t), tape.explicit(tape_name(name, t, T))[0], f"{name} t={t}")
            recursion = "dL/dh_T" if t == T else "dL/dh_t"
            assert_same(at(recursion, t), tape.explicit(f"dL/dh_{t}")[0], f"{recursion} t={t}")
            for name in ("dL/dh_t (expanded)", "dL/dz_t (expanded)"):
                composed = g.substituted(tape, tape_name(name, t, T), keep=closed_in)[0]
                assert_same(at(name, t), composed, f"{name} T={T} t={t}")
        outputs = {f"o_{t}" for t in range(1, T + 1)}
        assert_same(at("L"), g.substituted(tape, "L", keep=outputs)[0], f"L T={T}")
        sums = ["dL/dW_hy", "dL/dW_hh", "dL/dW_xh"] + ["dL/db_h", "dL/db_y"] * bias
        for name in sums:
            # The tape's sum of its per-step contributions, each written out.
            per_step = {n for n in tape.quantities if not n.startswith(f"{name}^(")}
            assert_same(at(name), g.substituted(tape, name, keep=per_step)[0], f"{name} T={T}")
        for name in ("dL/dW_hh", "dL/dW_xh"):
            expanded = at(f"{name} (expanded)")
            assert_same(expanded, g.substituted(tape, name, keep=closed_in)[0], f"{name} T={T}")


def tape_name(form: str, t: int | None, T: int) -> str:
    """The tape quantity a general form's left-hand side names at (T, t)."""
    base = form.removesuffix(" (expanded)")
    if base == "dL/dh_T":
        return f"dL/dh_{T}"
    return base.removesuffix("_t") + f"_{t}" if base.endswith("_t") else base


def test_instantiate_writes_out_sums_and_products_in_tape_names():
    expansion = g.hidden_gradient_expansion(g.ACTIVATIONS["tanh"])
    W_hh, W_hy = sp.symbols("W_hh W_hy")
    h2, h3, g1, g2, g3 = sp.symbols("h_2 h_3 dL/do_1 dL/do_2 dL/do_3")
    expected = W_hy * (g1 + W_hh * (1 - h2**2) * g2 + W_hh**2 * (1 - h2**2) * (1 - h3**2) * g3)
    assert sp.expand(g.instantiate(expansion, 3, 1) - expected) == 0
    with pytest.raises(ValueError, match="t_value"):
        g.instantiate(expansion, 3)


def test_general_forms_are_for_the_scalar_model_only():
    with pytest.raises(ValueError, match="scalar"):
        g.general_forms(Model(loss="cross_entropy", output_size=2))


def test_is_zero_proves_identities_and_refuses_differences():
    a, b = sp.symbols("a b")
    e = sp.exp(-a)
    assert g.is_zero(e / (1 + e) ** 2 - (1 / (1 + e)) * (1 - 1 / (1 + e)))  # sigmoid' two ways
    assert g.is_zero(sp.tanh(a + b) ** 2 - sp.tanh(b + a) * sp.tanh(a + b))
    assert g.is_zero(sp.Max(0, a) * sp.Heaviside(a, 0) - sp.Heaviside(a, 0) * sp.Max(a, 0))
    assert g.is_zero(sp.UnevaluatedExpr(sp.Rational(1, 2)) * (a + b) - a / 2 - b / 2)
    assert not g.is_zero(e / (1 + e) ** 2 - 1 / (1 + e))
    assert not g.is_zero(sp.Float(0.5) * a - sp.Float(0.25) * a)
    assert not g.is_zero(sp.tanh(a) - sp.tanh(b))


def test_is_zero_sees_a_shifted_derivative_index():
    """phi'(z_(k-1)) where the chain rule needs phi'(z_k): a classic slip, and no identity."""
    tape = unroll(random_problem("tanh", "half_sse", 3))
    keep = forward_and_output_gradients(tape)
    shifted = sp.Sum(sp.Product(g.W_hh * (1 - g.h[g.k - 1] ** 2), (g.k, g.t + 1, g.i))
                     * g.W_hy * g.dL_do[g.i], (g.i, g.t, g.T))
    composed = g.substituted(tape, "dL/dh_1", keep=keep)[0]
    assert g.is_zero(g.instantiate(g.hidden_gradient_expansion(g.ACTIVATIONS["tanh"]), 3, 1)
                     - composed)
    assert not g.is_zero(g.instantiate(shifted, 3, 1) - composed)


# ---------------------------------------------------------------------------------------------
# Vectors: the Jacobian-product expansion at a concrete T


VECTOR_CASES = [(activation, loss) for activation in ACTIVATIONS
                for loss in ("half_sse", "cross_entropy")]


@pytest.mark.parametrize("activation,loss", VECTOR_CASES)
def test_jacobian_expansion_equals_the_recursion_symbolically(activation, loss):
    for T in (1, 2, 3):
        tape = unroll(random_problem(activation, loss, T, sizes=(2, 2, 2), bias=True))
        keep = forward_and_output_gradients(tape)
        for t in range(1, T + 1):
            composed = g.substituted(tape, f"dL/dh_{t}", keep=keep)
            expansion = g.jacobian_expansion(tape, t)
            for a, b in zip(expansion, composed, strict=True):
                assert_same(a, b, f"dL/dh_{t} T={T}")


@pytest.mark.parametrize("activation,loss", VECTOR_CASES)
def test_jacobian_expansion_equals_the_recursion_numerically(activation, loss):
    for T in (4, 5, 6):
        tape = unroll(random_problem(activation, loss, T, sizes=(3, 2, 3), bias=True))
        values = evaluate(tape, "float").values
        point = {s: v for name, q in tape.quantities.items() if name in values
                 for s, v in zip(q.elements, values[name], strict=True)}
        for t in range(1, T + 1):
            expansion = [float(e.xreplace(point)) for e in g.jacobian_expansion(tape, t)]
            assert expansion == pytest.approx(values[f"dL/dh_{t}"], rel=1e-12, abs=1e-14)


# ---------------------------------------------------------------------------------------------
# The deck's section-2 expansion has no phi': right for a linear hidden layer only


def deck_vector_expansion(tape: Tape, t: int) -> sp.Matrix:
    """sum_{i=t}^{T} (W_hh^T)^(T-i) W_qh^T dL/do_(T+t-i), as the deck prints it."""
    q = tape.quantities
    W_hh_T, W_hy_T = q["W_hh"].elements.T, q["W_hy"].elements.T
    return sum((W_hh_T ** (tape.T - i) * W_hy_T * q[f"dL/do_{tape.T + t - i}"].elements
                for i in range(t, tape.T + 1)), sp.zeros(tape.model.hidden_size, 1))


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_deck_expansion_holds_for_the_identity_activation_only(activation):
    deck = g.deck_hidden_gradient()
    for T in range(1, 7):
        tape = unroll(random_problem(activation, "half_sse", T))
        keep = forward_and_output_gradients(tape)
        for t in range(1, T + 1):
            agrees = g.is_zero(g.instantiate(deck, T, t)
                               - g.substituted(tape, f"dL/dh_{t}", keep=keep)[0])
            # At t = T both are W_hy dL/do_T; before it, the deck drops phi'(z_(t+1)), ...
            assert agrees == (activation == "identity" or t == T), (T, t)


@pytest.mark.parametrize("activation", ["identity", "tanh"])
def test_deck_vector_expansion_holds_for_the_identity_activation_only(activation):
    tape = unroll(random_problem(activation, "half_sse", 3, sizes=(1, 2, 2)))
    keep = forward_and_output_gradients(tape)
    composed = g.substituted(tape, "dL/dh_1", keep=keep)
    agrees = all(g.is_zero(a - b) for a, b in zip(deck_vector_expansion(tape, 1), composed))
    assert agrees == (activation == "identity")


def test_deck_expansion_misses_the_deck_example_gradient():
    """On the deck's own tanh example the expansion gives a different dL/dh_1."""
    from conftest import EXAMPLES

    from symbolic_bptt.inputs.problem import load_problem

    tape = unroll(load_problem(EXAMPLES / "deck.toml"))
    values = evaluate(tape, "float").values
    point = {sp.Symbol(name): v[0] for name, v in values.items()}
    deck = float(g.instantiate(g.deck_hidden_gradient(), 3, 1).xreplace(point))
    assert abs(deck - values["dL/dh_1"][0]) > 1e-3
