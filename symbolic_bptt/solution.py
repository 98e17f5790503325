"""The solved quantities of a problem as plain data: the `solve --json` shape and its text table."""

from __future__ import annotations

from decimal import Decimal

import sympy as sp

from .arithmetic import Evaluation, to_float
from .tape import Quantity


def shaped(q: Quantity, flat: list) -> object:
    """A number for a size-1 quantity, a list for a vector, nested row lists for a matrix."""
    if q.indexing == "scalar":
        return flat[0]
    if q.indexing == "vector":
        return list(flat)
    rows, cols = q.shape
    return [list(flat[i * cols:(i + 1) * cols]) for i in range(rows)]


def _json_number(value, mode: str):
    if mode == "exact":
        return {"value": to_float(value) + 0.0, "exact": sp.sstr(value)}
    return float(value) + 0.0  # + 0.0 turns -0.0 into 0.0


def quantities(ev: Evaluation) -> dict[str, object]:
    """Every step's value keyed by its name, in tape order (the `quantities` object of --json)."""
    out = {}
    for step in ev.tape.steps:
        q = ev.tape.quantities[step.name]
        out[step.name] = shaped(q, [_json_number(v, ev.mode) for v in ev.values[step.name]])
    return out


def format_number(value, mode: str, decimals: int) -> str:
    """A value for people: fixed decimals when rounded, ~12 digits for float, both for exact."""
    if mode == "rounded":
        if isinstance(value, Decimal):
            return f"{value.copy_abs() if value.is_zero() else value:.{decimals}f}"
        return str(value)
    if mode == "exact":
        exact = sp.sstr(value)
        approx = f"{to_float(value):.12g}"
        return approx if exact == approx else f"{exact} ≈ {approx}"
    return f"{float(value) + 0.0:.12g}"


def table_rows(ev: Evaluation) -> list[tuple[str, str]]:
    """(name, formatted value) for each step; vectors and matrices as bracketed lists."""
    rows = []
    for step in ev.tape.steps:
        q = ev.tape.quantities[step.name]
        cells = [format_number(v, ev.mode, ev.decimals) for v in ev.values[step.name]]
        rows.append((step.name, _bracket(shaped(q, cells))))
    return rows


def _bracket(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_bracket(v) for v in value) + "]"
    return str(value)
