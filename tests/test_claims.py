"""The claims file: what it accepts, and one clear line for each mistake in it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from conftest import EXAMPLES

from symbolic_bptt.errors import ProblemError
from symbolic_bptt.inputs.claims import parse_claims
from symbolic_bptt.inputs.problem import load_problem, parse_problem
from symbolic_bptt.tape import unroll

VECTOR = {
    "model": {"activation": "tanh", "loss": "half_sse", "input_size": 1, "hidden_size": 2,
              "output_size": 1},
    "data": {"x": [0.5, -0.3], "y": [0.2, 0.1]},
    "weights": {"W_xh": [[0.5], [-0.4]], "W_hh": [[0.6, -0.2], [0.4, 0.5]], "W_hy": [[0.9, -0.6]]},
}


@pytest.fixture(scope="module")
def deck():
    return unroll(load_problem(EXAMPLES / "deck.toml"))


@pytest.fixture(scope="module")
def vector():
    return unroll(parse_problem(VECTOR))


def test_numbers_keep_the_precision_they_are_written_with(deck):
    claims = parse_claims('[claims]\n"o_1" = 0.2330\n"z_1" = 0.3\n"dL/dW_hh^(1)" = 0\n', deck)
    got = {c.key: (c.values, c.decimals) for c in claims.claims}
    # a whole number says nothing of its precision: it takes the claims' (issue 11: a bare 0 is
    # not a number rounded to 0 places); the tie 1 vs 4 goes to the finer
    assert got == {"z_1": ((Decimal("0.3"),), (1,)), "o_1": ((Decimal("0.2330"),), (4,)),
                   "dL/dW_hh^(1)": ((Decimal(0),), (4,))}
    assert [c.key for c in claims.claims] == ["z_1", "o_1", "dL/dW_hh^(1)"]  # tape order
    assert claims.carried_decimals == 4  # ties go to the finer precision


def test_decimals_sets_the_precision_of_every_claim(deck):
    claims = parse_claims('decimals = 4\n[claims]\n"z_1" = 0.3\n"L" = 1\n', deck)
    assert {c.decimals for c in claims.claims} == {(4,)}
    assert claims.carried_decimals == 4


def test_vectors_matrices_and_single_entries(vector):
    text = ('[claims]\n"h_1" = [0.2449, -0.1974]\n"dL/dW_hh[1,0]" = 0.01\n"z_2[1]" = -0.2\n'
            '"dL/dW_hh^(2)" = [[0.1, 0.2], [0.3, 0.4]]\n"dL/dW_xh" = [[0.5], [0.6]]\n')
    claims = {c.key: c for c in parse_claims(text, vector).claims}
    assert claims["h_1"].elements == (0, 1) and claims["h_1"].whole
    assert (claims["dL/dW_hh[1,0]"].quantity, claims["dL/dW_hh[1,0]"].elements) == ("dL/dW_hh", (2,))
    assert claims["z_2[1]"].elements == (1,) and not claims["z_2[1]"].whole
    assert claims["dL/dW_hh^(2)"].values == tuple(Decimal(v) for v in ("0.1", "0.2", "0.3", "0.4"))
    assert claims["dL/dW_xh"].elements == (0, 1)


@pytest.mark.parametrize("text, message", [
    ('[claims]\n"h_9" = 0.1\n', "claims.h_9: unknown quantity"),
    ('[claims]\n"dL/dh_9" = 0.1\n', 'claims."dL/dh_9": unknown quantity'),
    ('[claims]\n"h_9" = 0.1\n', "did you mean h_3?"),
    ('[claims]\n"dL/dh" = 0.1\n', "unknown quantity 'dL/dh'"),
    ('[claims]\n"W_hh" = 0.9\n', "W_hh is given by the problem"),
    ('[claims]\n"h_2[0]" = 0.1\n', "h_2 is a number; claim it as h_2"),
    ('[claims]\n"h_2" = [0.1]\n', "h_2 is a number, got a list"),
    ('[claims]\n"h_1" = "0.2913"\n', "claims.h_1 must be a number, got '0.2913'"),
    ('[claims]\n"h_1" = true\n', "claims.h_1 must be a number"),
    ('[claims]\n"h_1" = {value = 0.2913}\n', "claims.h_1 must be a number"),
    ('[claims]\n"h_1" = nan\n', "claims.h_1 must be a finite number"),
    ('[claims]\n"h_1" = -inf\n', "claims.h_1 must be a finite number"),
    ('decimal = 4\n[claims]\n"h_1" = 0.2913\n', "unknown key decimal"),
    ('decimals = 4.0\n[claims]\n"h_1" = 0.2913\n', "decimals must be a whole number"),
    ('decimals = "4"\n[claims]\n"h_1" = 0.2913\n', "decimals must be a whole number"),
    ('decimals = true\n[claims]\n"h_1" = 0.2913\n', "decimals must be a whole number"),
    ('decimals = 31\n[claims]\n"h_1" = 0.2913\n', "decimals must be a whole number from 0 to 30"),
    ('decimals = 3\n[claims]\n"h_1" = 0.2913\n', "claims.h_1 = 0.2913 has 4 decimals but decimals = 3"),
    ('[claims]\n', "[claims] is empty"),
    ('decimals = 4\n', "missing table [claims]"),
    ('claims = 3\n', "[claims] must be a table"),
    ('title = 3\n[claims]\n"h_1" = 0.2913\n', "title must be a string"),
    ('[claims\n"h_1" = 0.2913\n', "not valid TOML"),
])
def test_each_mistake_in_a_claims_file_is_one_line_naming_the_key(deck, text, message):
    with pytest.raises(ProblemError) as err:
        parse_claims(text, deck)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("text, message", [
    ('[claims]\n"h_2[2]" = 0.1\n', "index 2 is out of range 0..1"),
    ('[claims]\n"h_2[0,1]" = 0.1\n', "h_2 is a vector; claim one entry as h_2[i]"),
    ('[claims]\n"dL/dW_hh[0]" = 0.1\n', "claim one entry as dL/dW_hh[i,j]"),
    ('[claims]\n"dL/dW_hh[0,2]" = 0.1\n', "index [0,2] is out of range [0..1,0..1]"),
    ('[claims]\n"h_2" = [0.1]\n', "h_2 is a vector: expected a list of 2 numbers"),
    ('[claims]\n"h_2" = 0.1\n', "h_2 is a vector: expected a list of 2 numbers"),
    ('[claims]\n"dL/dW_hh" = [0.1, 0.2, 0.3, 0.4]\n', "dL/dW_hh is a 2 x 2 matrix"),
    ('[claims]\n"dL/dW_hh" = [[0.1, 0.2], [0.3]]\n', "dL/dW_hh is a 2 x 2 matrix"),
    ('[claims]\n"h_2" = [0.1, "x"]\n', 'claims.h_2[1] must be a number'),
    ('[claims]\n"h_2" = [0.1, 0.2]\n"h_2[1]" = 0.2\n', "already claimed by claims.h_2"),
])
def test_shapes_and_indices_are_checked_against_the_quantity(vector, text, message):
    with pytest.raises(ProblemError) as err:
        parse_claims(text, vector)
    assert message in str(err.value)


def test_check_command_bad_input_is_one_line_and_exit_2(cli, tmp_path):
    bad = tmp_path / "claims.toml"
    bad.write_text('[claims]\n"h_7" = 0.1\n', encoding="utf-8")
    for args in [(EXAMPLES / "deck.toml", bad), (EXAMPLES / "deck.toml", tmp_path / "none.toml"),
                 (tmp_path / "none.toml", EXAMPLES / "deck_claims.toml"),
                 (EXAMPLES / "deck.toml",)]:
        run = cli("check", *args)
        assert run.code == 2, args
        assert run.err.count("\n") == 1 and run.err.startswith("symbolic-bptt"), run.err
        assert "error: " in run.err
        assert "Traceback" not in run.err and run.out == ""
    assert "claims.h_7" in cli("check", EXAMPLES / "deck.toml", bad).err


def test_check_command_exit_code_is_0_when_nothing_is_wrong(cli, tmp_path):
    claims = tmp_path / "claims.toml"
    claims.write_text('[claims]\n"h_1" = 0.2913\n"o_1" = 0.2330\n"L" = 0.0550\n', encoding="utf-8")
    run = cli("check", EXAMPLES / "deck.toml", claims)
    assert run.code == 0, run.err
    assert run.out.splitlines()[-1] == "Summary: nothing is wrong (2 ok, 1 rounding)."
    run = cli("check", EXAMPLES / "deck.toml", claims, "--json")
    assert run.code == 0
    assert [v["verdict"] for v in run.json()["verdicts"]] == ["ok", "rounding", "ok"]
