"""`check`: the bugs found while transcribing published hand calculations (issue 11).

Every expected number is recomputed here in plain float (math.tanh) from the deck's problem,
independent of the package: whole-number claims take the claims' precision, a claim computed
from a carried value is carried on every path, a method outside the catalog is named as such
with what the person's number would need, and no number is shown as -0, 1E-7 or with 17 places.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from decimal import Decimal

import pytest
from conftest import EXAMPLES

from symbolic_bptt.audit.check import check, format_audit
from symbolic_bptt.inputs.claims import parse_claims
from symbolic_bptt.inputs.problem import load_problem, parse_problem
from symbolic_bptt.tape import unroll

W_XH, W_HH, W_HY = 0.6, 0.9, 0.8  # examples/deck.toml
X, Y = (0.5, 0.1, 0.4), (0.4, 0.2, 0.1)


def forward(xs=X, ys=Y):
    """The deck's network in floats: h_t, o_t and the output errors dL/do_t = o_t - y_t."""
    h, o = [0.0], [None]
    for x in xs:
        h.append(math.tanh(W_HH * h[-1] + W_XH * x))
        o.append(W_HY * h[-1])
    return h, o, [None] + [o[t] - ys[t - 1] for t in range(1, len(xs) + 1)]


H, O, DO = forward()


@pytest.fixture(scope="module")
def deck():
    return unroll(load_problem(EXAMPLES / "deck.toml"))


def audit(tape, text):
    return {v.name: v for v in check(tape, parse_claims(text, tape)).verdicts}


def r4(x: float) -> str:
    return f"{x:.4f}"


# ---------------------------------------------------------------------------------------------
# A whole number is not a number rounded to 0 places


def test_a_whole_number_claim_takes_the_precision_of_the_others(deck):
    # h_3 = 0.478 and dL/do_1 = -0.167 both round to 0 at 0 places, but not at 4
    assert round(H[3]) == 0 and round(DO[1]) == 0
    assert abs(H[3]) > 0.4 and abs(DO[1]) > 0.1
    text = (f'[claims]\n"h_1" = {r4(H[1])}\n"h_2" = {r4(H[2])}\n"h_3" = 0\n'
            f'"dL/do_1" = 0\n')
    got = audit(deck, text)
    assert got["h_3"].decimals == 4 and got["dL/do_1"].decimals == 4
    assert got["h_3"].verdict == "wrong" and got["dL/do_1"].verdict == "wrong"
    assert got["h_1"].verdict == got["h_2"].verdict == "ok"


def test_a_whole_number_with_decimals_zero_is_rounded_to_zero_places(deck):
    got = audit(deck, 'decimals = 0\n[claims]\n"h_3" = 0\n"dL/do_1" = 0\n')
    assert got["h_3"].verdict == "ok" and got["dL/do_1"].verdict == "ok"


def test_a_right_whole_number_is_ok(deck):
    # dL/dW_hh^(1) = dL/dz_1 * h_0 = 0 exactly (h_0 = 0)
    got = audit(deck, f'[claims]\n"h_1" = {r4(H[1])}\n"dL/dW_hh^(1)" = 0\n')
    assert got["dL/dW_hh^(1)"].verdict == "ok" and got["dL/dW_hh^(1)"].decimals == 4


def test_only_whole_numbers_are_taken_at_zero_places(deck):
    got = audit(deck, '[claims]\n"h_3" = 0\n')
    assert got["h_3"].decimals == 0 and got["h_3"].verdict == "ok"


# ---------------------------------------------------------------------------------------------
# Carried, on every path


def test_a_claim_computed_from_a_carried_value_is_carried(deck):
    """h_2 written 0.3117 (an arithmetic slip: tanh(z_2) is 0.3115), o_2 = 0.8 x 0.3117 =
    0.24936 written 0.2493, dL/do_2 = 0.2493 - 0.2 = 0.0493. dL/do_2 is also within rounding
    of the exact 0.0492 (the interval of o_2's rounding reaches it): it was reported `rounding`
    although it is computed from the carried o_2."""
    z2 = W_HH * float(r4(H[1])) + W_XH * X[1]
    assert abs(0.3117 - math.tanh(z2)) > 1.5e-4  # beyond rounding: wrong
    assert abs(W_HY * 0.3117 - 0.2493) < 1e-4  # the right formula on the slipped h_2
    assert float(r4(W_HY * H[2])) != 0.2493  # ... and not the exact value
    text = (f'decimals = 4\n[claims]\n"z_1" = {r4(W_XH * X[0])}\n"h_1" = {r4(H[1])}\n'
            f'"z_2" = {r4(z2)}\n"h_2" = 0.3117\n"o_2" = 0.2493\n"dL/do_2" = 0.0493\n')
    got = audit(deck, text)
    assert got["h_2"].verdict == "wrong"
    assert (got["o_2"].verdict, got["o_2"].inherits) == ("carried", ("h_2",))
    assert (got["dL/do_2"].verdict, got["dL/do_2"].inherits) == ("carried", ("h_2",))


def test_a_sum_of_carried_terms_is_carried(deck):
    """dL/dW_hh = sum of its terms; the term at t = 3 inherits a slip in dL/dz_3 just past
    rounding, so the sum is carried even where it is within rounding of the exact sum."""
    text = (EXAMPLES / "deck_claims.toml").read_text(encoding="utf-8")
    got = audit(deck, text)
    carried_terms = [n for n in ("dL/dW_hh^(1)", "dL/dW_hh^(2)", "dL/dW_hh^(3)")
                     if got[n].verdict == "carried"]
    assert carried_terms == ["dL/dW_hh^(2)"]
    assert got["dL/dW_hh"].verdict == "carried"
    assert got["dL/dW_hh"].inherits == got["dL/dW_hh^(2)"].inherits == ("dL/dh_2",)


def test_carried_verdicts_never_stop_at_a_claim_computed_from_them(deck):
    """Over the deck's own claims: every claim whose formula reads a carried or wrong claim is
    carried or wrong (or ok, when the number is the exact one), never `rounding`."""
    tape = deck
    text = (EXAMPLES / "deck_claims.toml").read_text(encoding="utf-8")
    got = audit(tape, text)
    bad = {n for n, v in got.items() if v.verdict in ("carried", "wrong")}
    for step in tape.steps:
        if step.name in got and bad.intersection(step.inputs):
            assert got[step.name].verdict != "rounding", step.name


# ---------------------------------------------------------------------------------------------
# A method outside the catalog


def test_a_method_outside_the_catalog_says_so_and_what_the_number_would_need(deck):
    """dL/dh_2 = W_hy dL/do_2 + W_hh dL/dz_3 written 0.2600 (the exact value is 0.1962): no
    catalog mistake gives it, and it is 640 units away: another method, not a slip."""
    do2, dz3 = float(r4(DO[2])), float(r4(DO[3] * W_HY * (1 - H[3] ** 2)))
    needed = W_HY * do2 + W_HH * dz3
    assert abs(0.26 - needed) > 0.05
    text = (f'decimals = 4\n[claims]\n"dL/do_2" = {do2:.4f}\n"dL/dz_3" = {dz3:.4f}\n'
            f'"dL/dh_2" = 0.2600\n')
    v = audit(deck, text)["dL/dh_2"]
    assert (v.verdict, v.code) == ("wrong", "method")
    assert "the method differs" in v.explanation
    # the value of each number read that would give 0.2600, the others as written
    want = {"dL/dz_3": (0.26 - W_HY * do2) / W_HH, "dL/do_2": (0.26 - W_HH * dz3) / W_HY,
            "W_hh": (0.26 - W_HY * do2) / dz3, "W_hy": (0.26 - W_HH * dz3) / do2}
    for name, x in want.items():
        assert f"{name} = {x:.4f} (yours: " in v.explanation, name
    assert v.would_need[0].startswith(("dL/dz_3", "dL/do_2"))  # the person's numbers first


def test_a_small_slip_is_still_arithmetic(deck):
    z2 = W_HH * float(r4(H[1])) + W_XH * X[1]
    slipped = float(r4(math.tanh(z2))) + 0.0007
    v = audit(deck, f'decimals = 4\n[claims]\n"z_2" = {r4(z2)}\n"h_2" = {slipped:.4f}\n')["h_2"]
    assert (v.verdict, v.code) == ("wrong", "arithmetic")
    assert "method" not in v.explanation


def test_method_in_the_cli_and_json(cli, tmp_path):
    claims = tmp_path / "c.toml"
    claims.write_text('decimals = 4\n[claims]\n"dL/dh_3" = 0.9000\n', encoding="utf-8")
    run = cli("check", EXAMPLES / "deck.toml", claims, "--json")
    assert run.code == 1
    (v,) = run.json()["verdicts"]
    assert (v["code"], v["verdict"]) == ("method", "wrong")
    # dL/dh_3 = W_hy dL/do_3: 0.9 would need dL/do_3 = 0.9 / 0.8
    assert f"dL/do_3 = {0.9 / W_HY:.4f}" in v["explanation"]


# ---------------------------------------------------------------------------------------------
# Cosmetics


TINY = """
[model]
activation = "tanh"
loss = "half_sse"
input_size = 1
hidden_size = 1
output_size = 1
[data]
x = [-0.000000001, 0.5]
y = [-0.4, 0.2]
h0 = 0.0
[weights]
W_xh = 0.6
W_hh = 0.9
W_hy = 0.8
"""


def test_no_negative_zero_and_no_exponents_in_what_is_shown():
    """h_1 = tanh(-6e-10) rounds to -0 at 8 places (it was shown "(-0E-8)" in a formula), and
    dL/dW_hy^(1) = (o_1 - y_1) h_1 = 0.4 x -6e-10 rounds to -0.0000 at 4 places."""
    h1 = math.tanh(W_XH * -1e-9)
    assert -5e-9 < h1 < 0 and -5e-5 < (W_HY * h1 + 0.4) * h1 < 0
    tape = unroll(parse_problem(tomllib.loads(TINY)))
    a = check(tape, parse_claims('decimals = 8\n[claims]\n"o_1" = 0.1\n', tape))
    text = format_audit(a)
    assert "E-" not in text and "E+" not in text
    assert not re.search(r"-0\.0+(?![0-9])", text)  # no negative zero (the exact -5e-10 is shown)
    assert "0.8·0.00000000" in a.verdicts[0].explanation
    b = check(tape, parse_claims('[claims]\n"dL/dW_hy^(1)" = 0.0000\n"h_2" = 0.3\n', tape))
    v = next(v for v in b.verdicts if v.name == "dL/dW_hy^(1)")
    assert str(v.correct) == "0.0000" and v.verdict == "ok"
    assert "-0" not in format_audit(b)
    assert json.dumps(b.as_json()).count("-0.0") == 0


def test_the_header_says_decimals_carried_only_when_the_file_sets_them(deck):
    texts = {d: format_audit(check(deck, parse_claims(
        f'{"decimals = 4" if d else ""}\n[claims]\n"h_1" = {r4(H[1])}\n', deck)))
        for d in (True, False)}
    assert "(4 decimals carried)" in texts[True].splitlines()[0]
    first = texts[False].splitlines()[0]
    assert "decimals carried)" not in first and "written with" in first


def test_a_float_written_with_17_digits_is_read_as_the_float(deck):
    """Numbers dumped by a program with 17 places ("0.29130000000000000" for 0.2913, or
    0.29130000000000000338 at 20): the float's shortest form, with its precision; other numbers
    as written."""
    long_h1 = f"{float(r4(H[1])):.20f}"
    assert len(long_h1) >= 18 and long_h1 != r4(H[1])
    claims = parse_claims(f'[claims]\n"h_1" = {long_h1}\n"z_1" = {0.3:.17f}\n', deck)
    got = {c.key: c for c in claims.claims}
    assert str(got["h_1"].values[0]) == r4(H[1]) and got["h_1"].decimals == (4,)
    assert str(got["z_1"].values[0]) == "0.3"
    a = check(deck, claims)
    assert {v.verdict for v in a.verdicts} == {"ok"}
    assert re.search(r"0\.2913\s+0\.2913\s+ok", format_audit(a))
    # a genuinely precise number keeps its digits
    precise = f"{math.tanh(0.3):.20f}"
    c = parse_claims(f'[claims]\n"h_1" = {precise}\n', deck).claims[0]
    assert c.decimals == (20,)


def test_the_report_says_the_method_differs_and_what_the_number_would_need(deck):
    from symbolic_bptt.audit.report import audit_document
    from symbolic_bptt.documents.render import render_tex

    text = 'decimals = 4\n[claims]\n"dL/dh_3" = 0.9000\n'
    tex = render_tex("article", audit_document(check(deck, parse_claims(text, deck)), deck))
    assert "the method differs" in tex
    # dL/dh_3 = W_hy dL/do_3: 0.9 would need dL/do_3 = 0.9 / 0.8, printed in the deck's symbols
    assert rf"$\delta o_{{3}} = {0.9 / W_HY:.4f}$ (you have" in tex


def test_a_float64_printout_is_judged_at_13_significant_digits(deck):
    """A float64 as NumPy prints it (its shortest form, 16-17 digits) carries float64's own
    rounding in its last digits: judged at 13 significant digits, so a value computed in
    another order is ok, while a slip in the 12th digit is still wrong."""
    h1 = math.tanh(0.6 * 0.5)  # the deck's h_1 by another route than the tape
    other_order = float(Decimal(repr(h1)) + Decimal("3e-16"))
    printed = repr(other_order)
    assert 15 <= len(printed.replace("0.", "", 1).lstrip("0")) <= 17
    c = parse_claims(f'[claims]\n"h_1" = {printed}\n', deck).claims[0]
    assert c.decimals == (13,)
    assert {v.verdict for v in check(deck, parse_claims(f'[claims]\n"h_1" = {printed}\n',
                                                          deck)).verdicts} == {"ok"}
    slip = repr(h1 + 2e-12)
    verdicts = check(deck, parse_claims(f'[claims]\n"h_1" = {slip}\n', deck)).verdicts
    assert [v.verdict for v in verdicts] == ["wrong"]
