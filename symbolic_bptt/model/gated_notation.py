"""The textbook notations of the gated cells, as data: how d2l, colah's blog and Cho et al. (2014)
name the quantities and weights of the shipped cells (`lstm`, `gru_cho`), for documents (`render
--notation NAME`) and, once `verify` reads presets, for formulas written in those names.

Each preset maps a cell's names (as `solve --json` writes them) to LaTeX, like a [notation] table.
The cells stay the same definitions; only their names print differently. colah's W_f [h_{t-1},
x_t] is our W_hf h_{t-1} + W_if x_t (the concatenated matrix split by columns).
"""

from __future__ import annotations

_D2L_LSTM = {  # d2l.ai, 10.1 "Long Short-Term Memory (LSTM)"
    "i": "I", "f": "F", "o": "O", "g": r"\tilde{C}", "c": "C", "h": "H",
    "W_ii": "W_{xi}", "W_hi": "W_{hi}", "W_if": "W_{xf}", "W_hf": "W_{hf}",
    "W_ig": "W_{xc}", "W_hg": "W_{hc}", "W_io": "W_{xo}", "W_ho": "W_{ho}",
    "b_ii": "b_{xi}", "b_hi": "b_{hi}", "b_if": "b_{xf}", "b_hf": "b_{hf}",
    "b_ig": "b_{xc}", "b_hg": "b_{hc}", "b_io": "b_{xo}", "b_ho": "b_{ho}",
    "W_hy": "W_{hq}", "b_y": "b_{q}",
}
_COLAH_LSTM = {  # colah.github.io, "Understanding LSTM Networks" (2015)
    "g": r"\tilde{C}", "c": "C",
    "W_ii": "W_{i,x}", "W_hi": "W_{i,h}", "W_if": "W_{f,x}", "W_hf": "W_{f,h}",
    "W_ig": "W_{C,x}", "W_hg": "W_{C,h}", "W_io": "W_{o,x}", "W_ho": "W_{o,h}",
}
_D2L_GRU = {  # d2l.ai, 10.2 "Gated Recurrent Units (GRU)": the reset gate before W_hh (Cho's)
    "r": "R", "z": "Z", "n": r"\tilde{H}", "h": "H",
    "W_ir": "W_{xr}", "W_hr": "W_{hr}", "W_iz": "W_{xz}", "W_hz": "W_{hz}",
    "W_in": "W_{xh}", "W_hn": "W_{hh}",
    "b_ir": "b_{xr}", "b_hr": "b_{hr}", "b_iz": "b_{xz}", "b_hz": "b_{hz}",
    "b_in": "b_{xh}", "b_hn": "b_{hh}", "W_hy": "W_{hq}", "b_y": "b_{q}",
}
_CHO_GRU = {  # Cho et al. (2014), eq. (5)-(8): W for inputs, U for the previous state
    "n": r"\tilde{h}", "W_ir": "W_{r}", "W_hr": "U_{r}", "W_iz": "W_{z}", "W_hz": "U_{z}",
    "W_in": "W", "W_hn": "U",
}

PRESETS: dict[str, dict[str, dict[str, str]]] = {
    "lstm": {"d2l": _D2L_LSTM, "colah": _COLAH_LSTM},
    "gru_cho": {"d2l": _D2L_GRU, "cho": _CHO_GRU},
}
NAMES = tuple(sorted({name for presets in PRESETS.values() for name in presets}))


def gated_preset(cell: str, preset: str) -> dict[str, str]:
    """The names `preset` gives the shipped cell `cell` ({} when it names none of them)."""
    return dict(PRESETS.get(cell, {}).get(preset, {}))
