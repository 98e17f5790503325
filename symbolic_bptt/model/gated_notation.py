"""The textbook notations of the gated cells for documents (`render --notation NAME`), read off
the same preset files `verify` reads (model/notations/*.toml: d2l.toml's [cells.lstm] and
[cells.gru_cho] sections, colah.toml, cho.toml): one source of truth for both.

A preset's [symbols] maps the source's symbols to the cell's names; documents need the other
direction, the LaTeX of each of the cell's names: the first symbol declared for exactly that
name (sums such as b_ii + b_hi and blocks such as [W_hf, W_if] name no single one; passed over).
"""

from __future__ import annotations

import re
from functools import cache

from ..formulas.reading import SETTINGS, preset, preset_cells, preset_names
from .cell import load_cell


def _latex(key: str) -> str:
    """A [symbols] key as LaTeX: W_xi is W_{xi}, b_q is b_{q}."""
    return re.sub(r"([_^])([A-Za-z0-9]+)", r"\1{\2}", key)


@cache
def _presets() -> dict[str, dict[str, dict[str, str]]]:
    out: dict[str, dict[str, dict[str, str]]] = {}
    for name in preset_names():
        raw = preset(name)
        for cell in preset_cells(name):
            if cell == "elman":
                continue
            section = raw if raw.get("cell") == cell else raw["cells"][cell]
            loaded = load_cell(cell)
            own = {*loaded.quantities, *loaded.parameters}
            names: dict[str, str] = {}
            for key, target in section.get("symbols", {}).items():
                if key not in SETTINGS and target in own:
                    names.setdefault(target, _latex(key))
            out.setdefault(cell, {})[name] = names
    return out


PRESETS: dict[str, dict[str, dict[str, str]]] = _presets()
NAMES = tuple(sorted({name for presets in PRESETS.values() for name in presets}))


def gated_preset(cell: str, preset_name: str) -> dict[str, str]:
    """The names `preset_name` gives the shipped cell `cell` ({} when it names none of them)."""
    return dict(PRESETS.get(cell, {}).get(preset_name, {}))
