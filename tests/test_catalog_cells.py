"""The mistake catalog on cells it was never written for: an LSTM's hand calculation, computed
here in plain numpy from the textbook equations (checked against PyTorch autograd), with one
classic mistake seeded at a time; `check` must name the step and the mistake, and call what the
mistake reached carried.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from conftest import EXAMPLES

from symbolic_bptt.audit.catalog import CODES, Catalog
from symbolic_bptt.audit.check import check
from symbolic_bptt.inputs.claims import parse_claims
from symbolic_bptt.inputs.files import parse_toml
from symbolic_bptt.inputs.problem import parse_problem
from symbolic_bptt.tape import unroll

torch = pytest.importorskip("torch")

LSTM = EXAMPLES / "lstm_custom.toml"


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def lstm_by_hand(raw: dict, mistake: str | None = None) -> dict[str, np.ndarray]:
    """Every quantity of the LSTM example, forward and backward, from the textbook equations;
    `mistake` seeds one into dL/dc_t."""
    w = {k: np.array(v, dtype=float).reshape(len(v), -1) if isinstance(v, list)
         else np.array([[v]]) for k, v in raw["weights"].items()}
    xs = [np.array(x, dtype=float).reshape(-1, 1) for x in raw["data"]["x"]]
    ys = [np.array([[y]]) for y in raw["data"]["y"]]
    T = len(xs)
    h = {0: np.array(raw["data"]["h0"], dtype=float).reshape(-1, 1)}
    c = {0: np.array(raw["data"]["c0"], dtype=float).reshape(-1, 1)}
    q: dict[str, np.ndarray] = {}
    gate = {}
    for t in range(1, T + 1):
        x, hp = xs[t - 1], h[t - 1]
        for g, f in (("i", _sigmoid), ("f", _sigmoid), ("g", np.tanh), ("o", _sigmoid)):
            gate[g, t] = f(w[f"W_i{g}"] @ x + w[f"W_h{g}"] @ hp + w[f"b_{g}"])
        c[t] = gate["f", t] * c[t - 1] + gate["i", t] * gate["g", t]
        h[t] = gate["o", t] * np.tanh(c[t])
        q |= {f"{g}_{t}": gate[g, t] for g in "ifgo"}
        q |= {f"c_{t}": c[t], f"h_{t}": h[t], f"y^_{t}": w["W_hy"] @ h[t] + w["b_y"]}
    pre: dict[tuple[str, int], np.ndarray] = {}  # dL/d(gate's pre-activation)
    for t in range(T, 0, -1):
        dy = q[f"y^_{t}"] - ys[t - 1]
        dh = w["W_hy"].T @ dy
        if t < T:
            dh = dh + sum(w[f"W_h{g}"].T @ pre[g, t + 1] for g in "ifgo")
        tanh_c = np.tanh(c[t])
        local = 1 - tanh_c**2
        if mistake == "missing-activation-derivative":
            local = np.ones_like(local)
        dc = dh * gate["o", t] * local
        if t < T:
            forget = gate["f", t] if mistake == "state-off-by-one" else gate["f", t + 1]
            if mistake != "missing-path":
                dc = dc + q[f"dL/dc_{t + 1}"] * forget
        grads = {"o": dh * tanh_c, "i": dc * gate["g", t], "g": dc * gate["i", t],
                 "f": dc * c[t - 1]}
        for g, v in grads.items():
            s = gate[g, t]
            pre[g, t] = v * (1 - s**2) if g == "g" else v * s * (1 - s)
            q[f"dL/d{g}_{t}"] = v
        q |= {f"dL/dy^_{t}": dy, f"dL/dh_{t}": dh, f"dL/dc_{t}": dc}
    return q


def test_the_hand_lstm_is_right():
    """The numpy LSTM above agrees with PyTorch autograd, so its seeded mistakes are the only
    differences from the truth."""
    raw = parse_toml(LSTM.read_text(encoding="utf-8"))
    ours = lstm_by_hand(raw)
    w = {k: torch.tensor(np.array(v, dtype=float), dtype=torch.float64, requires_grad=True)
         for k, v in raw["weights"].items()}
    h = torch.tensor(raw["data"]["h0"], dtype=torch.float64)
    c = torch.tensor(raw["data"]["c0"], dtype=torch.float64)
    kept, L = {}, 0
    for t, (x, y) in enumerate(zip(raw["data"]["x"], raw["data"]["y"]), start=1):
        x = torch.tensor(x, dtype=torch.float64)
        i, f, o = (torch.sigmoid(w[f"W_i{g}"] @ x + w[f"W_h{g}"] @ h + w[f"b_{g}"]) for g in "ifo")
        g = torch.tanh(w["W_ig"] @ x + w["W_hg"] @ h + w["b_g"])
        c = f * c + i * g
        h = o * torch.tanh(c)
        for name, v in (("c", c), ("h", h), ("f", f)):
            v.retain_grad()
            kept[f"{name}_{t}"] = v
        L = L + 0.5 * ((w["W_hy"] @ h + w["b_y"] - y) ** 2).sum()
    L.backward()
    for name, v in kept.items():
        assert np.allclose(ours[f"dL/d{name}"].ravel(), v.grad.numpy(), rtol=1e-12, atol=1e-14)
        assert np.allclose(ours[name].ravel(), v.detach().numpy(), rtol=1e-12)


def claims_text(values: dict[str, np.ndarray], d: int) -> str:
    lines = [f"decimals = {d}", "[claims]"]
    for name, v in values.items():
        flat = [format(Decimal(repr(float(x))).quantize(Decimal(1).scaleb(-d)), "f")
                for x in v.ravel()]
        lines.append(f'"{name}" = ' + (flat[0] if len(flat) == 1 else f"[{', '.join(flat)}]"))
    return "\n".join(lines) + "\n"


SEEDED = {
    # code: the claims the mistake is made in (T = 3)
    "missing-path": {"dL/dc_1", "dL/dc_2"},
    "state-off-by-one": {"dL/dc_1", "dL/dc_2"},
    "missing-activation-derivative": {"dL/dc_1", "dL/dc_2", "dL/dc_3"},
}


@pytest.mark.parametrize("mistake", sorted(SEEDED))
def test_a_seeded_lstm_mistake_is_named_where_it_was_made(mistake):
    raw = parse_toml(LSTM.read_text(encoding="utf-8"))
    tape = unroll(parse_problem(raw, name="lstm"))
    right, seeded = lstm_by_hand(raw), lstm_by_hand(raw, mistake)
    d = 4
    assert all(claims_text({n: seeded[n]}, d) != claims_text({n: right[n]}, d)
               for n in SEEDED[mistake])
    audit = check(tape, parse_claims(claims_text(seeded, d), tape))
    wrong = {v.name: v.code for v in audit.verdicts if v.verdict == "wrong"}
    assert wrong == dict.fromkeys(SEEDED[mistake], mistake)
    for v in audit.verdicts:
        assert set(v.inherits) <= SEEDED[mistake], v.name


def test_a_correct_lstm_calculation_raises_no_alarm():
    raw = parse_toml(LSTM.read_text(encoding="utf-8"))
    tape = unroll(parse_problem(raw, name="lstm"))
    audit = check(tape, parse_claims(claims_text(lstm_by_hand(raw), 4), tape))
    assert {v.verdict for v in audit.verdicts} <= {"ok", "rounding"}


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*_custom.toml")) + [
    EXAMPLES / "jordan.toml", EXAMPLES / "leaky.toml", EXAMPLES / "indrnn.toml"],
    ids=lambda p: p.stem)
def test_every_hypothesis_is_a_documented_code_that_changes_its_steps(path):
    """On every custom cell: each rewrite differs from the tape's own step where it applies, and
    its code is in the catalog's documentation."""
    raw = parse_toml(path.read_text(encoding="utf-8"))
    tape = unroll(parse_problem(raw, name=path.stem))
    catalog = Catalog(tape)
    assert catalog.hypotheses
    for h in catalog.hypotheses:
        assert h.code in CODES
        changed = 0
        for step in tape.steps:
            found = catalog.rewrite(h, step)
            if found is not None:
                rule, inputs = found
                changed += (rule.explicit, inputs) != (tape.rules[step.kind].explicit, step.inputs)
        assert changed, h.label
