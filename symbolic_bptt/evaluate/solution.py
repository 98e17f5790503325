"""The solved quantities of a problem as plain data: the `solve --json` shape and its text table."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from json.encoder import encode_basestring_ascii as _string

import sympy as sp

from ..tape import Quantity
from .arithmetic import Evaluation, to_float


def shaped(q: Quantity, flat: list) -> object:
    """A number for a size-1 quantity, a list for a vector, nested row lists for a matrix."""
    if q.indexing == "scalar":
        return flat[0]
    if q.indexing == "vector":
        return list(flat)
    rows, cols = q.shape
    return [list(flat[i * cols:(i + 1) * cols]) for i in range(rows)]


def _json_number(value, number: float, mode: str, approximate: bool = False):
    if mode == "exact":
        return {"value": number + 0.0, "exact": None if approximate else sp.sstr(value)}
    return number + 0.0  # + 0.0 turns -0.0 into 0.0


def quantities(ev: Evaluation) -> dict[str, object]:
    """Every step's value keyed by its name, in tape order (the `quantities` object of --json)."""
    out = {}
    for step in ev.tape.steps:
        q = ev.tape.quantities[step.name]
        if ev.mode != "exact":
            out[step.name] = shaped(q, [x + 0.0 for x in ev.as_float(step.name)])
            continue
        approximate = step.name in ev.approximate
        out[step.name] = shaped(q, [_json_number(v, x, ev.mode, approximate) for v, x in
                                    zip(ev.values[step.name], ev.as_float(step.name))])
    return out


def quantities_json(ev: Evaluation) -> str:
    """json_text({"quantities": quantities(ev)}), each step's value shaped straight from its
    flat floats when they are floats (float and rounded arithmetic): the same text, faster."""
    if ev.mode == "exact" or not ev.tape.steps:
        return json_text({"quantities": quantities(ev)})
    items = (f"  {_string(step.name)}: " + json_text(
        shaped(ev.tape.quantities[step.name], [x + 0.0 for x in ev.as_float(step.name)]), 2)
        for step in ev.tape.steps)
    return '{\n "quantities": {\n' + ",\n".join(items) + "\n }\n}"


def json_text(value, level: int = 0) -> str:
    """The text of json.dumps(value, indent=1), made without the pure-Python encoder that an
    indent selects (a T = 1000 LSTM's 32,000 numbers took 0.4 s there)."""
    if type(value) is float and math.isfinite(value):
        return float.__repr__(value)
    pad = "\n" + " " * (level + 1)
    if isinstance(value, dict) and value and all(type(k) is str for k in value):
        return "{" + pad + ("," + pad).join(
            _string(k) + ": " + json_text(v, level + 1) for k, v in value.items()) \
            + "\n" + " " * level + "}"
    if isinstance(value, list | tuple) and value:
        if all(type(v) is float for v in value) and all(map(math.isfinite, value)):
            items = map(float.__repr__, value)
        else:
            items = (json_text(v, level + 1) for v in value)
        return "[" + pad + ("," + pad).join(items) + "\n" + " " * level + "]"
    return json.dumps(value, indent=1).replace("\n", "\n" + " " * level)


def format_number(value, mode: str, decimals: int, number: float | None = None) -> str:
    """A value for people: fixed decimals when rounded, ~12 digits for float, both for exact.

    `number` is the value as a float when the caller has it (exact mode's decimal twin)."""
    if mode == "rounded":
        if isinstance(value, Decimal):
            return f"{value.copy_abs() if value.is_zero() else value:.{decimals}f}"
        return str(value)
    if mode == "exact":
        if isinstance(value, sp.Float):  # a closed form too large to carry (see arithmetic)
            return f"{float(value) + 0.0:.12g}"
        exact = sp.sstr(value)
        approx = f"{(to_float(value) if number is None else number) + 0.0:.12g}"
        return approx if exact == approx else f"{exact} ≈ {approx}"
    return f"{float(value) + 0.0:.12g}"


def table_rows(ev: Evaluation) -> list[tuple[str, str]]:
    """(name, formatted value) for each step; vectors and matrices as bracketed lists."""
    rows = []
    for step in ev.tape.steps:
        q = ev.tape.quantities[step.name]
        cells = [format_number(v, ev.mode, ev.decimals, x)
                 for v, x in zip(ev.values[step.name], ev.as_float(step.name))]
        rows.append((step.name, _bracket(shaped(q, cells))))
    return rows


def _bracket(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_bracket(v) for v in value) + "]"
    return str(value)
