"""The solved quantities of a problem as plain data: the `solve --json` shape and its text table."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Sequence
from decimal import Decimal
from fnmatch import fnmatchcase
from json.encoder import encode_basestring_ascii as _string

import sympy as sp

from ..errors import ProblemError, quoted
from ..tape import Quantity, Tape
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


def select(tape: Tape, only: Sequence[str] = (), gradients: bool = False) -> frozenset[str]:
    """The steps `solve --only PATTERNS --gradients` prints: the names that match a pattern
    (shell-style: dL/dW_h? matches dL/dW_hi, not dL/dW_hi^(3)), and with `gradients` L and the
    gradient of every parameter, summed over t. A pattern that names no step is an error."""
    names = [step.name for step in tape.steps]
    chosen = set()
    for pattern in only:
        matched = [n for n in names if fnmatchcase(n, pattern)]
        if not matched:
            raise ProblemError(f"--only {quoted(pattern)} names no quantity of this problem "
                               f"(its names: {_sample(names)})")
        chosen.update(matched)
    if gradients:
        params = [q.name for q in tape.quantities.values() if q.role == "param"]
        chosen.update(n for n in ("L", *(f"dL/d{p}" for p in params)) if n in tape.by_name)
    return frozenset(chosen)


def _sample(names: list[str]) -> str:
    """A tape's names by kind, a time step written t (h_t for h_1 ... h_T)."""
    kinds = list(dict.fromkeys(re.sub(r"(?<=_)\d+|(?<=\()\d+(?=\))", "t", n) for n in names))
    return ", ".join(kinds[:16]) + (", ..." if len(kinds) > 16 else "")


def quantities(ev: Evaluation, names: Collection[str] | None = None) -> dict[str, object]:
    """Every step's value keyed by its name, in tape order (the `quantities` object of --json);
    only those in `names` when it is given."""
    out = {}
    for step in _steps(ev, names):
        q = ev.tape.quantities[step.name]
        if ev.mode != "exact":
            out[step.name] = shaped(q, [x + 0.0 for x in ev.as_float(step.name)])
            continue
        approximate = step.name in ev.approximate
        out[step.name] = shaped(q, [_json_number(v, x, ev.mode, approximate) for v, x in
                                    zip(ev.values[step.name], ev.as_float(step.name))])
    return out


def _steps(ev: Evaluation, names: Collection[str] | None):
    return ev.tape.steps if names is None else [s for s in ev.tape.steps if s.name in names]


def quantities_json(ev: Evaluation, names: Collection[str] | None = None) -> str:
    """json_text({"quantities": quantities(ev, names)}), each step's value shaped straight from
    its flat floats when they are floats (float and rounded arithmetic): the same text, faster."""
    steps = _steps(ev, names)
    if ev.mode == "exact" or not steps:
        return json_text({"quantities": quantities(ev, names)})
    items = (f"  {_string(step.name)}: " + json_text(
        shaped(ev.tape.quantities[step.name], _floats(ev, step.name)), 2) for step in steps)
    return '{\n "quantities": {\n' + ",\n".join(items) + "\n }\n}"


def _floats(ev: Evaluation, name: str) -> Sequence[float]:
    """A step's values as floats, -0.0 written 0.0 (float arithmetic's are floats already)."""
    values = ev.values[name] if ev.mode == "float" else ev.as_float(name)
    return [x + 0.0 for x in values] if 0.0 in values else values  # -0.0 == 0.0 too


_FLOAT = {float}


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
        if set(map(type, value)) == _FLOAT and all(map(math.isfinite, value)):
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


def table_rows(ev: Evaluation, names: Collection[str] | None = None) -> list[tuple[str, str]]:
    """(name, formatted value) for each step (those in `names`, when given); vectors and
    matrices as bracketed lists."""
    rows = []
    for step in _steps(ev, names):
        q = ev.tape.quantities[step.name]
        cells = [format_number(v, ev.mode, ev.decimals, x)
                 for v, x in zip(ev.values[step.name], ev.as_float(step.name))]
        rows.append((step.name, _bracket(shaped(q, cells))))
    return rows


def _bracket(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_bracket(v) for v in value) + "]"
    return str(value)
