"""Arithmetic modes at their edges: exact closed forms that outgrow their budget, huge numbers."""

from __future__ import annotations

import json
import math

import pytest
from conftest import EXAMPLES, solve

from symbolic_bptt.evaluate.arithmetic import EXACT_BUDGET, evaluate, round_half_up
from symbolic_bptt.inputs.problem import load_problem, parse_problem
from symbolic_bptt.tape import unroll


def test_exact_mode_keeps_small_closed_forms_and_carries_large_ones_as_numbers():
    tape = unroll(load_problem(EXAMPLES / "vector_bias.toml"))
    exact, floats = evaluate(tape, "exact"), evaluate(tape, "float")
    assert "z_1" not in exact.approximate  # W_hh h_0 + W_xh x_1 + b_h: a few rationals
    assert "dL/dW_hh" in exact.approximate  # nested tanh of nested tanh: far over the budget
    for name in ("z_1", "h_2", "L", "dL/dW_hh", "dL/dW_xh", "dL/db_h"):
        for a, b in zip(exact.as_float(name), floats.as_float(name)):
            assert math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15), name


def test_exact_json_says_null_where_the_closed_form_was_too_large(capsys):
    code, out, _ = solve(capsys, EXAMPLES / "vector_bias.toml", "--mode", "exact", "--json")
    assert code == 0
    q = json.loads(out)["quantities"]
    assert q["z_1"][0]["exact"] is not None
    assert q["L"]["exact"] is None and isinstance(q["L"]["value"], float)
    assert EXACT_BUDGET >= 100


@pytest.mark.parametrize("mode", ["rounded", "float", "exact"])
def test_huge_inputs_are_computed_or_refused_in_one_line(capsys, mode):
    raw = {"model": {"activation": "sigmoid"}, "data": {"x": [1e300, 0.5], "y": [0.1, 0.2]},
           "weights": {"W_xh": 0.6, "W_hh": 0.9, "W_hy": 0.8},
           "arithmetic": {"mode": "rounded", "decimals": 30}}
    ev = evaluate(unroll(parse_problem(raw, "huge")), mode)
    assert ev.as_float("h_1") == [1.0]  # sigmoid(6e299) is 1 to every digit carried


def test_round_half_up_needs_no_more_digits_than_the_number_has():
    from decimal import Decimal

    assert round_half_up(Decimal("0.28035"), 4) == Decimal("0.2804")
    big = Decimal("6e299")
    assert round_half_up(big, 30) == big
