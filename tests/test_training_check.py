"""`check` on the training step: a hand calculation of clipping and the update (Decimal, carried
at 4 places, over test_check.hand's gradients), and truncated gradients by PyTorch; seeded with
the catalog's training mistakes, each must be found where it was made and named."""

from __future__ import annotations

from decimal import Decimal, localcontext

import pytest
from test_check import DECK, audit_of, claims_toml, hand

from symbolic_bptt.audit.catalog import CODES

PARAMS = ("W_xh", "W_hh", "W_hy")
CLIP, RATE = Decimal("0.1"), Decimal("0.5")


def r(x: Decimal, d: int = 4) -> Decimal:
    return x.quantize(Decimal(1).scaleb(-d))


def trained(mistake: str | None = None) -> tuple[dict, dict]:
    """DECK with [training], and every quantity as a person computes it at 4 places."""
    raw = DECK | {"training": {"clip_norm": float(CLIP), "learning_rate": float(RATE)}}
    out = hand(raw, 4)
    g = {p: out[f"dL/d{p}"][0][0] for p in PARAMS}
    with localcontext() as ctx:
        ctx.prec = 30
        squares = sum((r(v * v) for v in g.values()), Decimal(0))
        norm = squares if mistake == "clip-norm square" else r(squares.sqrt())
        out["|g|"] = norm
        for p, v in g.items():
            own = r(abs(v)) if mistake == "clip-norm own" else norm
            factor = min(Decimal(1), r(CLIP / own))
            out[f"clipped dL/d{p}"] = r(v * factor)
        for p in PARAMS:
            w = Decimal(str(raw["weights"][p]))
            step = r(RATE * out[f"clipped dL/d{p}"])
            out[f"{p}'"] = w + step if mistake == "update-sign" else w - step
    return raw, out


def verdicts(raw: dict, out: dict, names) -> dict:
    audit = audit_of(raw, claims_toml(out, 4, names=set(names)))
    return {v.name: (v.verdict, v.code) for v in audit.verdicts}


def test_a_correct_training_step_raises_no_alarm():
    raw, out = trained()
    names = ["dL/dW_hh", "|g|", *(f"clipped dL/d{p}" for p in PARAMS), *(f"{p}'" for p in PARAMS)]
    assert {v for v, _ in verdicts(raw, out, names).values()} <= {"ok", "rounding"}


def test_the_flipped_update_sign_is_named():
    raw, out = trained("update-sign")
    got = verdicts(raw, out, [f"clipped dL/d{p}" for p in PARAMS] + [f"{p}'" for p in PARAMS])
    assert {n: got[n] for n in (f"{p}'" for p in PARAMS)} == dict.fromkeys(
        (f"{p}'" for p in PARAMS), ("wrong", "update-sign"))


def test_the_norm_without_its_square_root_is_named():
    raw, out = trained("clip-norm square")
    got = verdicts(raw, out, ["dL/dW_xh", "dL/dW_hh", "dL/dW_hy", "|g|"])
    assert got["|g|"] == ("wrong", "clip-norm")


def test_each_gradient_clipped_by_its_own_norm_is_named():
    raw, out = trained("clip-norm own")
    names = [f"dL/d{p}" for p in PARAMS] + ["|g|"] + [f"clipped dL/d{p}" for p in PARAMS]
    got = verdicts(raw, out, names)
    wrong = {n: c for n, (v, c) in got.items() if v == "wrong"}
    assert wrong and set(wrong.values()) == {"clip-norm"}
    assert set(wrong) <= {f"clipped dL/d{p}" for p in PARAMS}


def test_claims_name_what_people_write_down():
    """dh_t/dz_t, the terms of a sum, Jacobians and their products, as a person computes them
    at 4 places (Decimal, from test_check.hand's forward pass)."""
    out = hand(DECK, 4)
    h = {t: out[f"h_{t}"][0] for t in (1, 2, 3)}
    W_hh, W_hy = Decimal("0.9"), Decimal("0.8")
    local = {t: 1 - r(h[t] * h[t]) for t in (1, 2, 3)}
    claims = {f"dh_{t}/dz_{t}": local[t] for t in (1, 2, 3)}
    claims["dL/dh_2 via o_2"] = r(W_hy * out["dL/do_2"][0])
    claims["dL/dh_2 via z_3"] = r(W_hh * out["dL/dz_3"][0])
    claims["dh_3/dh_2"] = r(local[3] * W_hh)
    claims["dh_2/dh_1"] = r(local[2] * W_hh)
    claims["dh_3/dh_1"] = r(claims["dh_3/dh_2"] * claims["dh_2/dh_1"])
    audit = audit_of(DECK, claims_toml(claims, 4))
    assert {v.name for v in audit.verdicts} == set(claims)
    assert {v.verdict for v in audit.verdicts} <= {"ok", "rounding"}
    claims["dL/dh_2 via z_3"] += Decimal("0.01")
    wrong = {v.name for v in audit_of(DECK, claims_toml(claims, 4)).verdicts
             if v.verdict == "wrong"}
    assert wrong == {"dL/dh_2 via z_3"}


def test_an_unknown_written_down_name_gets_a_did_you_mean():
    from symbolic_bptt.errors import ProblemError
    with pytest.raises(ProblemError, match=r"did you mean dh_3/dz_3\?"):
        audit_of(DECK, claims_toml({"dh_3/dz_4": Decimal("0.7715")}, 4))


torch = pytest.importorskip("torch")


def test_a_truncation_cut_one_step_early_is_named():
    """Gradients by PyTorch with the state detached after t = 1, 3 where the file says
    truncate = 2 (after t = 2, 4): the steps computed the wrong way are named truncate-step."""
    x, y = [0.5, 0.1, 0.4, -0.2, 0.3], [0.4, 0.2, 0.1, 0.0, 0.2]
    raw = {"model": DECK["model"], "data": {"x": x, "y": y, "h0": 0.0},
           "weights": DECK["weights"], "training": {"truncate": 2}}
    w = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
         for k, v in DECK["weights"].items()}
    h = torch.zeros((), dtype=torch.float64)
    hs, zs, loss = [], [], 0
    for t in range(1, 6):
        z = w["W_hh"] * h + w["W_xh"] * x[t - 1]
        h = torch.tanh(z)
        z.retain_grad()
        h.retain_grad()
        zs.append(z)
        hs.append(h)
        loss = loss + 0.5 * (w["W_hy"] * h - y[t - 1]) ** 2
        if t in (1, 3):  # one step early
            h = h.detach()
    loss.backward()
    out = {f"dL/dh_{t}": Decimal(f"{hs[t - 1].grad.item():.6f}") for t in range(1, 6)}
    out |= {f"dL/dz_{t}": Decimal(f"{zs[t - 1].grad.item():.6f}") for t in range(1, 6)}
    audit = audit_of(raw, claims_toml(out, 6))
    wrong = {v.name: v.code for v in audit.verdicts if v.verdict == "wrong"}
    assert wrong and set(wrong.values()) == {"truncate-step"}, wrong
    assert set(wrong) <= {f"dL/dh_{t}" for t in range(1, 5)}


def test_the_training_codes_are_in_the_catalog():
    assert {"derivative-twice", "update-sign", "clip-norm", "truncate-step"} <= set(CODES)

