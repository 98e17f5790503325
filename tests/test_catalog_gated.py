"""The mistake catalog on the shipped LSTM (cell = "lstm", torch.nn.LSTM's conventions): its hand
calculation computed here in plain numpy from the textbook equations (checked against
torch.nn.LSTM itself), with one mistake that real gated hand calculations make seeded at a time;
`check` must name the mistake in the steps where it was made, and call the rest carried.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import EXAMPLES
from test_catalog_cells import claims_text

from symbolic_bptt.audit.catalog import CODES, Catalog
from symbolic_bptt.audit.check import check
from symbolic_bptt.inputs.claims import parse_claims
from symbolic_bptt.inputs.files import parse_toml
from symbolic_bptt.inputs.problem import parse_problem
from symbolic_bptt.tape import unroll

torch = pytest.importorskip("torch")

LSTM = EXAMPLES / "lstm.toml"
GATES = "ifgo"


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def weights(raw: dict) -> dict[str, np.ndarray]:
    """The example's state_dict split into torch's gate blocks (rows i, f, g, o) by numpy."""
    w = raw["weights"]
    out = {"W_hy": np.array(w["W_hy"], dtype=float), "b_y": np.array([[w["b_y"]]])}
    for key, kind in (("weight_ih_l0", "W_i"), ("weight_hh_l0", "W_h"), ("bias_ih_l0", "b_i"),
                      ("bias_hh_l0", "b_h")):
        blocks = np.split(np.array(w[key], dtype=float), 4)
        for g, block in zip(GATES, blocks):
            out[f"{kind}{g}"] = block.reshape(len(block), -1)
    return out


def lstm_by_hand(raw: dict, mistake: str | None = None) -> dict[str, np.ndarray]:
    """Every quantity of the example, forward and backward; `mistake` seeds one."""
    w = weights(raw)
    xs = [np.array(x, dtype=float).reshape(-1, 1) for x in raw["data"]["x"]]
    ys = [np.array([[y]]) for y in raw["data"]["y"]]
    T = len(xs)
    h = {0: np.array(raw["data"]["h0"], dtype=float).reshape(-1, 1)}
    c = {0: np.array(raw["data"]["c0"], dtype=float).reshape(-1, 1)}
    q: dict[str, np.ndarray] = {}
    gate = {}
    for t in range(1, T + 1):
        x, hp = xs[t - 1], h[t - 1]
        for g in GATES:
            a = w[f"W_i{g}"] @ x + w[f"b_i{g}"] + w[f"W_h{g}"] @ hp + w[f"b_h{g}"]
            gate[g, t] = np.tanh(a) if g == "g" else _sigmoid(a)
        c[t] = gate["f", t] * c[t - 1] + gate["i", t] * gate["g", t]
        h[t] = gate["o", t] * np.tanh(c[t])
        q |= {f"{g}_{t}": gate[g, t] for g in GATES}
        q |= {f"c_{t}": c[t], f"h_{t}": h[t], f"y^_{t}": w["W_hy"] @ h[t] + w["b_y"]}
    pre: dict[tuple[str, int], np.ndarray] = {}  # dL/d(a gate's pre-activation)
    for t in range(T, 0, -1):
        dy = q[f"y^_{t}"] - ys[t - 1]
        dh = w["W_hy"].T @ dy
        if t < T:
            dh = dh + sum(w[f"W_h{g}"].T @ pre[g, t + 1] for g in GATES)
        at = c[t - 1] if mistake == "derivative-index" else c[t]
        local = 1 - np.tanh(at) ** 2
        if mistake == "missing-activation-derivative":
            local = np.ones_like(local)
        dc = dh * gate["o", t] * local
        if t < T:
            forget = gate["f", t] if mistake == "state-off-by-one" else gate["f", t + 1]
            if mistake != "missing-path":
                dc = dc + q[f"dL/dc_{t + 1}"] * forget
        own_o = gate["o", t] if mistake == "product-factor" else np.tanh(c[t])
        grads = {"o": dh * own_o, "i": dc * gate["g", t], "g": dc * gate["i", t],
                 "f": dc * c[t - 1]}
        for g, v in grads.items():
            s = gate[g, t]
            tanh_form = g == "g" or mistake == "derivative-form"  # sigma' as 1 - sigma^2
            pre[g, t] = v * (1 - s**2) if tanh_form else v * s * (1 - s)
            q[f"dL/d{g}_{t}"] = v
        q |= {f"dL/dy^_{t}": dy, f"dL/dh_{t}": dh, f"dL/dc_{t}": dc}
    return q


def test_the_hand_lstm_is_torch_nn_lstm():
    """The numpy LSTM above agrees with torch.nn.LSTM (h_t, c_t, dL/dh_t), so its seeded mistakes
    are the only differences from the truth."""
    raw = parse_toml(LSTM.read_text(encoding="utf-8"))
    ours = lstm_by_hand(raw)
    module = torch.nn.LSTM(2, 2, dtype=torch.float64)
    with torch.no_grad():
        for key in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
            getattr(module, key).copy_(torch.tensor(raw["weights"][key], dtype=torch.float64))
    W_hy = torch.tensor(raw["weights"]["W_hy"], dtype=torch.float64)
    state = tuple(torch.tensor(raw["data"][k], dtype=torch.float64).reshape(1, 1, -1)
                  for k in ("h0", "c0"))
    L, hs = 0, []
    for t, (x, y) in enumerate(zip(raw["data"]["x"], raw["data"]["y"]), start=1):
        _, state = module(torch.tensor(x, dtype=torch.float64).reshape(1, 1, -1), state)
        state[0].retain_grad()
        hs.append(state)
        L = L + 0.5 * ((W_hy @ state[0].reshape(-1, 1) + raw["weights"]["b_y"] - y) ** 2).sum()
    L.backward()
    for t, (h, c) in enumerate(hs, start=1):
        assert np.allclose(ours[f"h_{t}"].ravel(), h.detach().numpy().ravel(), rtol=1e-12)
        assert np.allclose(ours[f"c_{t}"].ravel(), c.detach().numpy().ravel(), rtol=1e-12)
        assert np.allclose(ours[f"dL/dh_{t}"].ravel(), h.grad.numpy().ravel(), rtol=1e-12)


SEEDED = {
    # code: the claims the mistake is made in (T = 3)
    "missing-path": {"dL/dc_1", "dL/dc_2"},  # the c path from c_(t+1) forgotten
    "state-off-by-one": {"dL/dc_1", "dL/dc_2"},  # f_t where f_(t+1) belongs
    "missing-activation-derivative": {"dL/dc_1", "dL/dc_2", "dL/dc_3"},  # tanh'(c_t) dropped
    "derivative-index": {"dL/dc_1", "dL/dc_2", "dL/dc_3"},  # tanh'(c_(t-1)): the wrong step
    "derivative-form": {"dL/dh_1", "dL/dh_2"},  # sigma' written as 1 - sigma^2
    "product-factor": {"dL/do_1", "dL/do_2", "dL/do_3"},  # o_t where tanh(c_t) belongs
}


@pytest.mark.parametrize("mistake", sorted(SEEDED))
def test_a_seeded_gated_mistake_is_named_where_it_was_made(mistake):
    raw = parse_toml(LSTM.read_text(encoding="utf-8"))
    tape = unroll(parse_problem(raw, name="lstm"))
    right, seeded = lstm_by_hand(raw), lstm_by_hand(raw, mistake)
    # 6 decimals: at 4, f_1 for f_2 moves dL/dc_1 by less than the rounding its claimed inputs
    # carry (check then rightly calls it carried from dL/dc_2)
    d = 6
    assert all(claims_text({n: seeded[n]}, d) != claims_text({n: right[n]}, d)
               for n in SEEDED[mistake])
    audit = check(tape, parse_claims(claims_text(seeded, d), tape))
    wrong = {v.name: v.code for v in audit.verdicts if v.verdict == "wrong"}
    assert wrong == dict.fromkeys(SEEDED[mistake], mistake)
    for v in audit.verdicts:
        assert set(v.inherits) <= SEEDED[mistake], v.name


def test_a_correct_gated_calculation_raises_no_alarm():
    raw = parse_toml(LSTM.read_text(encoding="utf-8"))
    tape = unroll(parse_problem(raw, name="lstm"))
    audit = check(tape, parse_claims(claims_text(lstm_by_hand(raw), 4), tape))
    assert {v.verdict for v in audit.verdicts} <= {"ok", "rounding"}


@pytest.mark.parametrize("stem", ["lstm", "gru"])
def test_the_gated_entries_are_offered_with_gated_labels(stem):
    """The gated catalog on both shipped cells: documented codes, labels in the cell's names."""
    raw = parse_toml((EXAMPLES / f"{stem}.toml").read_text(encoding="utf-8"))
    catalog = Catalog(unroll(parse_problem(raw, name=stem)))
    labels = {(h.code, h.label) for h in catalog.hypotheses}
    assert {code for code, _ in labels} <= set(CODES)
    if stem == "lstm":
        assert ("state-off-by-one", "f_t in place of f_(t+1) in dL/dc_t") in labels
        assert ("missing-path", "dL/dc_t without the path through c_(t+1)") in labels
        assert ("missing-activation-derivative", "tanh'(c_t) left out of dL/dc_t") in labels
        assert ("product-factor", "o_t in place of tanh(c_t) in dL/do_t (through h_t)") in labels
    assert any(code == "derivative-form" and label.startswith("sigma'(a) written as 1 - y^2")
               for code, label in labels)


@pytest.mark.parametrize("formula, code", [
    (r"\frac{\partial L}{\partial c_t} = \frac{\partial L}{\partial h_t} \odot o_t \odot "
     r"(1 - \tanh^2(c_t)) + \frac{\partial L}{\partial c_{t+1}} \odot f_{t+1}", None),
    (r"\frac{\partial L}{\partial c_t} = \frac{\partial L}{\partial h_t} \odot o_t \odot "
     r"(1 - \tanh^2(c_t)) + \frac{\partial L}{\partial c_{t+1}} \odot f_t", "state-off-by-one"),
    (r"\frac{\partial L}{\partial o_t} = \frac{\partial L}{\partial h_t} \odot o_t",
     "product-factor"),
    (r"\frac{\partial L}{\partial c_t} = \frac{\partial L}{\partial h_t} \odot o_t \odot "
     r"\tanh(c_t) \odot (1 - \tanh(c_t)) + \frac{\partial L}{\partial c_{t+1}} \odot f_{t+1}",
     "derivative-form"),
])
def test_verify_names_the_gated_mistakes_in_the_shipped_lstm(cli, formula, code):
    run = cli("verify", LSTM, "--json", "--latex", formula)
    result = run.json()
    assert result["holds"] is (code is None), result
    assert result.get("code") == code
