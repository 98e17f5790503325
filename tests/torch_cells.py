"""The shipped custom cells written by hand as PyTorch recurrences: the oracles of the custom-cell
and verify tests. Each `cell(w, x, prev)` returns the step's quantities from the weights `w`,
the input `x` and the previous step's quantities (or the initial states)."""

from __future__ import annotations

import torch


def leaky(w, x, prev):
    z = w["W_hh"] @ prev["h"] + w["W_xh"] @ x + w["b_h"]
    h = w["a"] * prev["h"] + (1 - w["a"]) * torch.tanh(z)
    return {"z": z, "h": h, "o": w["W_hy"] @ h}


def jordan(w, x, prev):
    h = torch.tanh(w["W_xh"] @ x + w["W_oh"] @ prev["o"] + w["b_h"])
    return {"h": h, "o": w["W_ho"] @ h + w["b_o"]}


def indrnn(w, x, prev):
    h = torch.relu(w["W_xh"] @ x + w["u"] * prev["h"] + w["b_h"])
    return {"h": h, "o": w["W_hy"] @ h}


def lstm(w, x, prev):
    i = torch.sigmoid(w["W_ii"] @ x + w["W_hi"] @ prev["h"] + w["b_i"])
    f = torch.sigmoid(w["W_if"] @ x + w["W_hf"] @ prev["h"] + w["b_f"])
    g = torch.tanh(w["W_ig"] @ x + w["W_hg"] @ prev["h"] + w["b_g"])
    o = torch.sigmoid(w["W_io"] @ x + w["W_ho"] @ prev["h"] + w["b_o"])
    c = f * prev["c"] + i * g
    h = o * torch.tanh(c)
    return {"i": i, "f": f, "g": g, "o": o, "c": c, "h": h, "y^": w["W_hy"] @ h + w["b_y"]}


def gru(w, x, prev):
    r = torch.sigmoid(w["W_ir"] @ x + w["b_ir"] + w["W_hr"] @ prev["h"] + w["b_hr"])
    z = torch.sigmoid(w["W_iz"] @ x + w["b_iz"] + w["W_hz"] @ prev["h"] + w["b_hz"])
    n = torch.tanh(w["W_in"] @ x + w["b_in"] + r * (w["W_hn"] @ prev["h"] + w["b_hn"]))
    h = (1 - z) * n + z * prev["h"]
    return {"r": r, "z": z, "n": n, "h": h, "y^": w["W_hy"] @ h}


def lstm_nn(w, x, prev):
    """The shipped cell "lstm": torch.nn.LSTM's equations with its two biases per gate."""
    h_prev, b = prev["h"], lambda name: w.get(name, 0.0)  # bias = false: no biases
    i = torch.sigmoid(w["W_ii"] @ x + b("b_ii") + w["W_hi"] @ h_prev + b("b_hi"))
    f = torch.sigmoid(w["W_if"] @ x + b("b_if") + w["W_hf"] @ h_prev + b("b_hf"))
    g = torch.tanh(w["W_ig"] @ x + b("b_ig") + w["W_hg"] @ h_prev + b("b_hg"))
    o = torch.sigmoid(w["W_io"] @ x + b("b_io") + w["W_ho"] @ h_prev + b("b_ho"))
    c = f * prev["c"] + i * g
    h = o * torch.tanh(c)
    out = {"i": i, "f": f, "g": g, "o": o, "c": c, "h": h}
    return out | ({"y^": w["W_hy"] @ h + b("b_y")} if "W_hy" in w else {})  # output = "none"


def gru_nn(w, x, prev, cho: bool = False):
    """The shipped cell "gru" (torch.nn.GRU), or "gru_cho" (r_t applied before W_hn)."""
    h_prev, b = prev["h"], lambda name: w.get(name, 0.0)  # bias = false: no biases
    r = torch.sigmoid(w["W_ir"] @ x + b("b_ir") + w["W_hr"] @ h_prev + b("b_hr"))
    z = torch.sigmoid(w["W_iz"] @ x + b("b_iz") + w["W_hz"] @ h_prev + b("b_hz"))
    if cho:
        n = torch.tanh(w["W_in"] @ x + b("b_in") + w["W_hn"] @ (r * h_prev) + b("b_hn"))
    else:
        n = torch.tanh(w["W_in"] @ x + b("b_in") + r * (w["W_hn"] @ h_prev + b("b_hn")))
    h = (1 - z) * n + z * h_prev
    out = {"r": r, "z": z, "n": n, "h": h}
    return out | ({"y^": w["W_hy"] @ h + b("b_y")} if "W_hy" in w else {})  # output = "none"


def gru_cho(w, x, prev):
    return gru_nn(w, x, prev, cho=True)
