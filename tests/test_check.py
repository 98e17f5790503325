"""`check`: the deck's hand calculation audited, seeded mistakes found, correct work left alone.

The hand calculations here come from `hand()`, a person's calculation written out in plain
Decimal arithmetic (every product rounded half up as it is written down), independent of the
package; mistakes are seeded into it one at a time.
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal, localcontext

import mpmath
import pytest
import sympy as sp
from conftest import EXAMPLES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symbolic_bptt.audit.catalog import CODES
from symbolic_bptt.audit.check import check
from symbolic_bptt.evaluate.arithmetic import evaluate
from symbolic_bptt.evaluate.solution import shaped
from symbolic_bptt.inputs.claims import parse_claims
from symbolic_bptt.inputs.problem import load_problem, parse_problem
from symbolic_bptt.tape import unroll

# ---------------------------------------------------------------------------------------------
# A person's hand calculation


class Hand:
    """Rounds every number written down to `d` places, half up."""

    def __init__(self, d: int):
        self.d = d

    def r(self, x) -> Decimal:
        with localcontext() as ctx:
            ctx.prec = 60
            return Decimal(x).quantize(Decimal(1).scaleb(-self.d), rounding=ROUND_HALF_UP)

    def fn(self, f, x: Decimal) -> Decimal:
        with mpmath.workdps(40):
            return self.r(mpmath.nstr(f(mpmath.mpf(str(x))), 35))


def _tanh(x):
    return mpmath.tanh(x)


def _sigmoid(x):
    return 1 / (1 + mpmath.exp(-x))


def hand(raw: dict, d: int, mistake: str | None = None, slip_at: str | None = None) -> dict:
    """Every quantity of `solve` as a person computes it at d decimals (column convention), with
    one mistake seeded: a catalog code, `arithmetic` (7 units added to `slip_at`) or `method`
    (0.3 added)."""
    H = Hand(d)
    r = H.r
    D = Decimal
    m = raw["model"]
    act, loss = m["activation"], m["loss"]
    n_in, n_hid, n_out = m["input_size"], m["hidden_size"], m["output_size"]

    def mat(v, rows, cols):
        if not isinstance(v, list):
            return [[D(str(v))]]
        if rows == 1 and not isinstance(v[0], list):
            return [[D(str(x)) for x in v]]
        return [[D(str(x)) for x in row] for row in v]

    def vec(v, n):
        return [D(str(x)) for x in (v if isinstance(v, list) else [v] * n)]

    W_xh, W_hh, W_hy = (mat(raw["weights"][k], *s) for k, s in
                        (("W_xh", (n_hid, n_in)), ("W_hh", (n_hid, n_hid)), ("W_hy", (n_out, n_hid))))
    xs = [vec(x, n_in) for x in raw["data"]["x"]]
    ys = [vec(y, n_out) for y in raw["data"]["y"]]
    T = len(xs)
    out: dict = {}

    def matvec(W, v, transpose=False):
        rows = list(zip(*W)) if transpose else W
        return [sum((r(w * x) for w, x in zip(row, v)), D(0)) for row in rows]

    def outer(g, v):
        return [[r(a * b) for b in v] for a in g]

    def prime(h):
        return [D(1) - r(x * x) if act == "tanh" else r(x * (D(1) - x)) for x in h]

    def slip(name, value):
        if mistake in ("arithmetic", "method") and name == slip_at:
            # a slip of 7 units, or (another method) a number 0.3 away
            unit = 7 * D(1).scaleb(-d) if mistake == "arithmetic" else D("0.3")
            return [x + unit for x in value] if isinstance(value, list) else value + unit
        return value

    f = _tanh if act == "tanh" else _sigmoid
    h = {0: vec(raw["data"].get("h0", 0.0), n_hid)}
    o = {}
    for t in range(1, T + 1):
        z = [a + b for a, b in zip(matvec(W_hh, h[t - 1]), matvec(W_xh, xs[t - 1]))]
        out[f"z_{t}"] = z = slip(f"z_{t}", z)
        h[t] = out[f"h_{t}"] = slip(f"h_{t}", [H.fn(f, v) for v in z])
        o[t] = out[f"o_{t}"] = slip(f"o_{t}", matvec(W_hy, h[t]))
    scale = {"half_sse": D("0.5"), "sse": D(1), "mse": D(1) / T}[loss]
    if mistake == "loss-scale":
        scale = D(1) if scale != 1 else D("0.5")
    for t in range(1, T + 1):
        out[f"l_{t}"] = sum((r((a - b) * (a - b)) for a, b in zip(o[t], ys[t - 1])), D(0))
    out["L"] = r(scale * sum((out[f"l_{t}"] for t in range(1, T + 1)), D(0)))
    do = {}
    for t in range(T, 0, -1):
        diff = [(b - a) if mistake == "sign-error" else (a - b) for a, b in zip(o[t], ys[t - 1])]
        do[t] = out[f"dL/do_{t}"] = [r(2 * scale * x) for x in diff]
    for t in range(1, T + 1):
        out[f"dL/dW_hy^({t})"] = outer(do[t], h[t])
    out["dL/dW_hy"] = _msum([out[f"dL/dW_hy^({t})"] for t in range(1, T + 1)])
    dh, dz = {}, {}
    for t in range(T, 0, -1):
        g = matvec(W_hy, do[t], transpose=True)
        if t < T:
            if mistake == "derivative-index":
                inner = [r(p * x) for p, x in zip(prime(h[t]), dh[t + 1])]
                g = [a + b for a, b in zip(g, matvec(W_hh, inner, transpose=True))]
            elif mistake == "missing-activation-derivative":
                g = [a + b for a, b in zip(g, matvec(W_hh, dh[t + 1], transpose=True))]
            elif mistake == "missing-path":
                pass  # the gradient from the future, W_hh^T dL/dz_(t+1), left out
            else:
                g = [a + b for a, b in zip(g, matvec(W_hh, dz[t + 1], transpose=True))]
        dh[t] = out[f"dL/dh_{t}"] = slip(f"dL/dh_{t}", g)
        # a published walkthrough's tanh'(z_3) in dL/dz_2 too: phi'(z_(t+1)) applied twice
        local = prime(h[t + 1]) if mistake == "derivative-twice" and t == T - 1 else prime(h[t])
        dz[t] = out[f"dL/dz_{t}"] = [r(p * x) for p, x in zip(local, dh[t])]
    for t in range(1, T + 1):
        state = h[t] if mistake == "state-off-by-one" else h[t - 1]
        out[f"dL/dW_hh^({t})"] = outer(dz[t], state)
        out[f"dL/dW_xh^({t})"] = outer(dz[t], xs[t - 1])
    out["dL/dW_hh"] = _msum([out[f"dL/dW_hh^({t})"] for t in range(1, T + 1)])
    out["dL/dW_xh"] = _msum([out[f"dL/dW_xh^({t})"] for t in range(1, T + 1)])
    return out


def _msum(ms):
    return [[sum(col, Decimal(0)) for col in zip(*rows)] for rows in zip(*ms)]


def claims_toml(values: dict, d: int | None, names=None) -> str:
    """A claims file: numbers in the shape `solve --json` prints (a matrix as rows)."""
    lines = [f"decimals = {d}" if d is not None else "", "[claims]"]
    for name, v in values.items():
        if names is not None and name not in names:
            continue
        lines.append(f'"{name}" = {_toml(v, name.startswith("dL/dW"))}')
    return "\n".join(lines) + "\n"


def _toml(v, matrix: bool) -> str:
    if isinstance(v, list) and isinstance(v[0], list):  # a matrix from hand()
        if len(v) * len(v[0]) == 1:
            return str(v[0][0])
        return "[" + ", ".join("[" + ", ".join(map(str, row)) + "]" for row in v) + "]"
    if isinstance(v, list):
        return str(v[0]) if len(v) == 1 else "[" + ", ".join(map(str, v)) + "]"
    return str(v)


# ---------------------------------------------------------------------------------------------
# Problems

DECK = {
    "model": {"activation": "tanh", "loss": "half_sse", "input_size": 1, "hidden_size": 1,
              "output_size": 1},
    "data": {"x": [0.5, 0.1, 0.4], "y": [0.4, 0.2, 0.1], "h0": 0.0},
    "weights": {"W_xh": 0.6, "W_hh": 0.9, "W_hy": 0.8},
}
SIGMOID_MSE = {
    "model": {"activation": "sigmoid", "loss": "mse", "input_size": 1, "hidden_size": 1,
              "output_size": 1},
    "data": {"x": [0.5, -0.3, 0.8, 0.2], "y": [0.9, 0.1, 0.9, 0.2], "h0": 0.1},
    "weights": {"W_xh": 1.7, "W_hh": -1.3, "W_hy": 2.5},
}
VECTOR_SSE = {
    "model": {"activation": "tanh", "loss": "sse", "input_size": 2, "hidden_size": 2,
              "output_size": 1},
    "data": {"x": [[1.0, 0.5], [-0.5, 0.8], [0.3, -0.6]], "y": [0.5, -0.2, 0.4],
             "h0": [0.2, -0.1]},
    "weights": {"W_xh": [[0.5, -0.4], [0.3, 0.8]], "W_hh": [[0.6, -0.2], [0.4, 0.5]],
                "W_hy": [[0.9, -0.6]]},
}
VECTOR_OUT2 = {
    "model": {"activation": "tanh", "loss": "half_sse", "input_size": 1, "hidden_size": 2,
              "output_size": 2},
    "data": {"x": [0.9, -0.7, -0.9], "y": [[0.3, -0.5], [0.1, 0.6], [-0.4, 0.2]],
             "h0": [0.0, 0.0]},
    "weights": {"W_xh": [[0.8], [-0.6]], "W_hh": [[0.5, -0.7], [0.6, 0.4]],
                "W_hy": [[1.1, -0.3], [0.4, 0.9]]},
}
PROBLEMS = {"deck": DECK, "sigmoid_mse": SIGMOID_MSE, "vector_sse": VECTOR_SSE,
            "vector_out2": VECTOR_OUT2}


def audit_of(raw: dict, text: str):
    tape = unroll(parse_problem(raw))
    return check(tape, parse_claims(text, tape))


# ---------------------------------------------------------------------------------------------
# The deck


@pytest.fixture(scope="module")
def deck_audit():
    tape = unroll(load_problem(EXAMPLES / "deck.toml"))
    text = (EXAMPLES / "deck_claims.toml").read_text(encoding="utf-8")
    return {v.name: v for v in check(tape, parse_claims(text, tape)).verdicts}


def test_deck_claims_file_holds_every_printed_number(deck_audit):
    names = {f"{q}_{t}" for q in ("z", "h", "o", "l", "dL/do", "dL/dh", "dL/dz") for t in (1, 2, 3)}
    names |= {f"dL/dW_{w}^({t})" for w in ("hy", "hh", "xh") for t in (1, 2, 3)}
    names |= {"L", "dL/dW_hy", "dL/dW_hh", "dL/dW_xh"}
    assert set(deck_audit) == names


def test_deck_audit_finds_every_error_and_its_root_cause(deck_audit):
    verdicts = {n: (v.verdict, v.code) for n, v in deck_audit.items()}
    wrong = {n: code for n, (verdict, code) in verdicts.items() if verdict == "wrong"}
    assert wrong == {"h_3": "arithmetic", "l_3": "arithmetic",
                     "dL/dh_2": "derivative-index", "dL/dh_1": "derivative-index"}
    # o_1 = 0.8 x 0.2913 = 0.23304 is 0.2330, while the exact 0.2330500... rounds to 0.2331
    assert verdicts["o_1"] == ("rounding", None)
    assert verdicts["dL/do_1"] == ("rounding", None)
    # z_3 = 0.5203 is the exact 0.52033... rounded (the deck wrote 0.9 x 0.3115 = 0.2803)
    assert verdicts["z_3"] == ("ok", None)
    carried = {n: v.inherits for n, v in deck_audit.items() if v.verdict == "carried"}
    assert carried == {
        "o_3": ("h_3",), "dL/do_3": ("h_3",), "dL/dW_hy^(3)": ("h_3",), "dL/dW_hy": ("h_3",),
        "dL/dh_3": ("h_3",), "L": ("l_3",),
        "dL/dz_2": ("dL/dh_2",), "dL/dW_hh^(2)": ("dL/dh_2",), "dL/dW_hh": ("dL/dh_2",),
        "dL/dW_xh^(2)": ("dL/dh_2",), "dL/dz_1": ("dL/dh_1",), "dL/dW_xh^(1)": ("dL/dh_1",),
        "dL/dW_xh": ("dL/dh_1", "dL/dh_2"),
    }


def test_deck_derivative_index_numbers_come_with_the_explanation(deck_audit):
    D = Decimal
    # The deck's recursion on its own numbers, by hand: 0.8 x 0.0492 + 0.9 x 0.2256 x (1 - 0.3115^2)
    used = D("0.8") * D("0.0492") + D("0.9") * D("0.2256") * (1 - D("0.3115") ** 2)
    assert used == D("0.222698571960")
    v = deck_audit["dL/dh_2"]
    assert v.slip == D("0.2224") - D("0.2227")
    assert "plus a slip of 0.0003" in v.explanation
    assert "0.222699" in v.explanation and "W_hh·(dL/dh_3·(1 - h_2^2))" in v.explanation
    assert "W_hh·dL/dz_3" in v.explanation  # the formula needed
    # dL/dh_1: -0.1670 x 0.8 + 0.2224 x 0.9 x (1 - 0.2913^2) = 0.049575..., exactly the deck's 0.0496
    used = D("-0.1670") * D("0.8") + D("0.2224") * D("0.9") * (1 - D("0.2913") ** 2)
    assert round(used, 4) == D("0.0496")
    assert deck_audit["dL/dh_1"].slip is None
    assert deck_audit["dL/dh_1"].used.value == used


def test_deck_arithmetic_slips_show_what_the_numbers_give(deck_audit):
    with mpmath.workdps(30):
        tanh = mpmath.tanh(mpmath.mpf("0.5203"))
    assert mpmath.nstr(tanh, 6) == "0.477932"
    assert "tanh(0.5203) = 0.477932…" in deck_audit["h_3"].explanation
    assert deck_audit["h_3"].correct == Decimal("0.4780")
    assert "(0.3820 - 0.1)^2 = 0.079524" in deck_audit["l_3"].explanation  # 0.282^2 = 0.079524


def test_deck_delta_3_is_the_exact_value_though_not_what_the_deck_numbers_give(deck_audit):
    # 0.2256 x (1 - 0.4775^2) = 0.174162 (0.1742), but the exact dL/dz_3 = 0.174288 rounds to 0.1743
    v = deck_audit["dL/dz_3"]
    assert v.verdict == "ok"
    assert "0.174162" in v.note


def test_verdicts_carry_the_formulas_as_sympy_equations_for_reports(deck_audit):
    tape = unroll(load_problem(EXAMPLES / "deck.toml"))
    v = deck_audit["dL/dh_2"]
    assert v.needed.equation.rhs == tape.display("dL/dh_2")
    W_hh, W_hy, dh3, do2, h2 = (sp.Symbol(n) for n in ("W_hh", "W_hy", "dL/dh_3", "dL/do_2", "h_2"))
    assert sp.simplify(v.used.equation.rhs - (W_hy * do2 + W_hh * dh3 * (1 - h2**2))) == 0
    assert {r.name: (r.value, r.source) for r in v.used.readings} == {
        "W_hy": (Decimal("0.8"), "problem"), "dL/do_2": (Decimal("0.0492"), "claimed"),
        "W_hh": (Decimal("0.9"), "problem"), "dL/dh_3": (Decimal("0.2256"), "claimed"),
        "h_2": (Decimal("0.3115"), "claimed")}


def test_deck_check_command(cli):
    run = cli("check", EXAMPLES / "deck.toml", EXAMPLES / "deck_claims.toml")
    assert run.code == 1, run.err
    lines = run.out.splitlines()
    assert lines[-5].startswith("Summary: 15 ok, 2 rounding, 13 carried, 4 wrong.")
    assert lines[-2].startswith("  dL/dh_2 (derivative-index, plus a slip of 0.0003) → dL/dz_2")
    run = cli("check", EXAMPLES / "deck.toml", EXAMPLES / "deck_claims.toml", "--json")
    assert run.code == 1
    verdicts = run.json()["verdicts"]
    assert set(verdicts[0]) >= {"name", "claimed", "correct", "verdict", "code", "explanation"}
    h3 = next(v for v in verdicts if v["name"] == "h_3")
    assert (h3["claimed"], h3["correct"], h3["verdict"], h3["code"]) == (
        0.4775, 0.478, "wrong", "arithmetic")
    json.dumps(verdicts)


# ---------------------------------------------------------------------------------------------
# Seeded mistakes

MISTAKES = {
    # code: the steps the mistaken formula is written at
    "derivative-index": lambda T: {f"dL/dh_{t}" for t in range(1, T)},
    "missing-activation-derivative": lambda T: {f"dL/dh_{t}" for t in range(1, T)},
    "state-off-by-one": lambda T: {f"dL/dW_hh^({t})" for t in range(1, T + 1)},
    "missing-path": lambda T: {f"dL/dh_{t}" for t in range(1, T)},
    "derivative-twice": lambda T: {f"dL/dz_{T - 1}"},
    "loss-scale": lambda T: {"L"} | {f"dL/do_{t}" for t in range(1, T + 1)},
    "sign-error": lambda T: {f"dL/do_{t}" for t in range(1, T + 1)},
    "arithmetic": lambda T: {"h_2"},
    "method": lambda T: {"h_2"},
}
TRAINING_MISTAKES = {"update-sign", "clip-norm", "truncate-step"}  # tests/test_training_check.py


@pytest.mark.parametrize("d", [3, 4])
@pytest.mark.parametrize("problem", sorted(PROBLEMS))
def test_a_correct_hand_calculation_raises_no_alarm(problem, d):
    raw = PROBLEMS[problem]
    audit = audit_of(raw, claims_toml(hand(raw, d), d))
    assert {v.verdict for v in audit.verdicts} <= {"ok", "rounding"}
    assert audit.exit_code == 0


@pytest.mark.parametrize("d", [3, 4])
@pytest.mark.parametrize("problem", sorted(PROBLEMS))
@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_a_seeded_mistake_is_flagged_where_it_was_made(mistake, problem, d):
    raw = PROBLEMS[problem]
    right, seeded = hand(raw, d), hand(raw, d, mistake, slip_at="h_2")
    T = len(raw["data"]["x"])
    expected = MISTAKES[mistake](T)
    assert all(seeded[n] != right[n] for n in expected)
    audit = audit_of(raw, claims_toml(seeded, d))
    wrong = {v.name: v.code for v in audit.verdicts if v.verdict == "wrong"}
    assert wrong == dict.fromkeys(expected, mistake)
    for v in audit.verdicts:
        assert set(v.inherits) <= expected, v.name
    assert audit.exit_code == 1


@pytest.mark.parametrize("problem", sorted(PROBLEMS))
def test_a_mistake_in_unclaimed_steps_still_explains_the_final_answer(problem):
    """Only the weight gradients claimed: the rewritten step is applied to the unclaimed ones."""
    raw = PROBLEMS[problem]
    seeded = hand(raw, 4, "derivative-index")
    audit = audit_of(raw, claims_toml(seeded, 4, names={"dL/dW_hh", "dL/dW_xh"}))
    assert {(v.name, v.verdict, v.code) for v in audit.verdicts} == {
        ("dL/dW_hh", "wrong", "derivative-index"), ("dL/dW_xh", "wrong", "derivative-index")}


def test_a_slip_on_top_of_a_mistake_is_reported_as_nearly_reproduced():
    seeded = hand(DECK, 4, "missing-activation-derivative")
    seeded["dL/dh_1"][0] += Decimal("0.0004")
    audit = {v.name: v for v in audit_of(DECK, claims_toml(seeded, 4)).verdicts}
    v = audit["dL/dh_1"]
    assert (v.verdict, v.code, v.slip) == ("wrong", "missing-activation-derivative",
                                           Decimal("0.0004"))
    assert "plus a slip of 0.0004" in v.explanation


def test_an_element_claim_is_judged_on_its_own():
    right = hand(VECTOR_SSE, 4)
    text = (f'decimals = 4\n[claims]\n"h_2[1]" = {right["h_2"][1]}\n'
            f'"dL/dW_hh[0,1]" = {right["dL/dW_hh"][0][1] + Decimal("0.01")}\n')
    audit = {v.name: v for v in audit_of(VECTOR_SSE, text).verdicts}
    assert audit["h_2[1]"].verdict == "ok"
    assert (audit["dL/dW_hh[0,1]"].verdict, audit["dL/dW_hh[0,1]"].code) == ("wrong", "arithmetic")


def test_precision_is_read_off_each_written_number():
    right = hand(DECK, 4)
    # 0.23 at 2 decimals is the right o_1; 0.2330 at 4 decimals is within rounding of 0.8 x h_1
    text = f'[claims]\n"h_1" = {right["h_1"][0]}\n"o_1" = 0.23\n"o_2" = 0.2492\n'
    audit = {v.name: v for v in audit_of(DECK, text).verdicts}
    assert audit["o_1"].verdict == "ok" and audit["o_1"].decimals == 2
    assert audit["o_2"].decimals == 4


def test_the_catalog_documents_every_code_the_audit_can_give():
    """Every code is seeded: here (Elman), in the gated hand calculation of
    tests/test_catalog_gated.py (derivative-form, product-factor), or in
    tests/test_training_check.py (the training step's)."""
    from test_catalog_gated import SEEDED
    assert set(CODES) == set(MISTAKES) | set(SEEDED) | TRAINING_MISTAKES
    for code in CODES.values():
        assert code.mistake and code.steps


# ---------------------------------------------------------------------------------------------
# Property: the project's own rounded arithmetic is never wrong


@st.composite
def rounded_claims(draw):
    activation = draw(st.sampled_from(["tanh", "sigmoid", "relu", "identity"]))
    loss = draw(st.sampled_from(["half_sse", "sse", "mse", "cross_entropy"]))
    n_in, n_hid = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    n_out = draw(st.integers(2 if loss == "cross_entropy" else 1, 2))
    T = draw(st.integers(1, 3))
    bias = draw(st.booleans())
    number = st.decimals("-1", "1", places=2).map(float)

    def vector(n):
        return [draw(number) for _ in range(n)]

    weights = {"W_xh": [vector(n_in) for _ in range(n_hid)],
               "W_hh": [vector(n_hid) for _ in range(n_hid)],
               "W_hy": [vector(n_hid) for _ in range(n_out)]}
    if bias:
        weights |= {"b_h": vector(n_hid), "b_y": vector(n_out)}
    y = ([draw(st.integers(0, n_out - 1)) for _ in range(T)] if loss == "cross_entropy"
         else [vector(n_out) for _ in range(T)])
    raw = {"model": {"activation": activation, "loss": loss, "bias": bias, "input_size": n_in,
                     "hidden_size": n_hid, "output_size": n_out},
           "data": {"x": [vector(n_in) for _ in range(T)], "y": y, "h0": vector(n_hid)},
           "weights": weights}
    tape = unroll(parse_problem(raw))
    d = draw(st.integers(2, 5))
    ev = evaluate(tape, "rounded", d)
    names = [s.name for s in tape.steps]
    chosen = draw(st.sets(st.sampled_from(names), min_size=1)) if draw(st.booleans()) else names
    lines = [f"decimals = {d}" if draw(st.booleans()) else "", "[claims]"]
    for name in names:
        if name in chosen:
            q = tape.quantities[name]
            value = shaped(q, [str(v) for v in ev.values[name]])
            lines.append(f'"{name}" = {json.dumps(value).replace(chr(34), "")}')
    return tape, "\n".join(lines)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rounded_claims())
def test_the_projects_own_rounded_arithmetic_is_ok_or_rounding(case):
    tape, text = case
    audit = check(tape, parse_claims(text, tape))
    assert {v.verdict for v in audit.verdicts} <= {"ok", "rounding"}, [
        (v.name, v.verdict, v.explanation) for v in audit.verdicts if v.verdict != "ok"]
