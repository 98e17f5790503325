"""The deck's worked example, against values computed without this package."""

from __future__ import annotations

import math

from conftest import EXAMPLES


def _deck_by_hand_floats():
    """The deck's network in plain Python floats: an independent forward and backward pass."""
    x, y, wxh, whh, why = [0.5, 0.1, 0.4], [0.4, 0.2, 0.1], 0.6, 0.9, 0.8
    h = [0.0]
    for xt in x:
        h.append(math.tanh(whh * h[-1] + wxh * xt))
    o = [why * ht for ht in h[1:]]
    loss = 0.5 * sum((ot - yt) ** 2 for ot, yt in zip(o, y))
    do = [ot - yt for ot, yt in zip(o, y)]
    dh, dz = [0.0] * 4, [0.0] * 5
    for t in (3, 2, 1):
        dh[t] = why * do[t - 1] + whh * dz[t + 1]
        dz[t] = (1 - h[t] ** 2) * dh[t]
    return {
        "h_1": h[1], "L": loss,
        "dL/dW_hy": sum(do[t - 1] * h[t] for t in (1, 2, 3)),
        "dL/dW_hh": sum(dz[t] * h[t - 1] for t in (1, 2, 3)),
        "dL/dW_xh": sum(dz[t] * x[t - 1] for t in (1, 2, 3)),
    }


def test_deck_exact_values_match_an_independent_float_computation(cli):
    run = cli("solve", EXAMPLES / "deck.toml", "--mode", "exact", "--json")
    assert run.code == 0, run.err
    q = run.json()["quantities"]
    assert q["h_1"]["exact"] == "tanh(3/10)"
    for name, expected in _deck_by_hand_floats().items():
        assert math.isclose(q[name]["value"], expected, rel_tol=1e-12), name


def test_deck_printed_hh_and_xh_gradients_are_wrong(cli):
    """The deck prints 0.1128 and 0.1125; the true gradients round to 0.1059 and 0.0993."""
    q = cli("solve", EXAMPLES / "deck.toml", "--mode", "float", "--json").json()["quantities"]
    printed = {"dL/dW_hh": 0.1128, "dL/dW_xh": 0.1125}
    true = {"dL/dW_hh": 0.1059, "dL/dW_xh": 0.0993}
    for name, deck_value in printed.items():
        assert round(q[name], 4) == true[name]
        assert abs(q[name] - deck_value) > 0.005
