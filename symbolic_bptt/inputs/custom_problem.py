"""A problem file whose cell is not Elman: parameters and sizes come from the cell's equations
and the values in [weights]; each state's initial value is `<name>0` in [data]."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..errors import ProblemError
from ..model.cell import Cell, bind, infer_shapes
from .limits import check_sizes
from .problem import (
    Problem,
    _common,
    _no_unknown,
    _number,
    _parse_model,
    _show,
    _vector,
    loss_data,
    sequences,
)


def parse_custom(raw: dict[str, Any], name: str, cell: Cell) -> Problem:
    """Validate a problem over `cell` (shipped by name, a file, or the [cell] table)."""
    table = dict(raw["model"])
    sized = [k for k in ("input_size", "hidden_size", "output_size") if k in table]
    if sized:
        raise ProblemError(f"model.{sized[0]} is for the elman cell; the sizes of cell "
                           f"{cell.name!r} come from its equations and [weights]")
    model = _parse_model(table)
    bound = bind(cell, model.activation, model.bias, model.output)
    weights, vectors = _weights(raw["weights"], bound)
    data = raw["data"]
    states = {f"{s}0": s for s in bound.states}
    _no_unknown(data, {"x", "y", "dL_do", *states}, "data.")
    x_raw, y_raw = sequences(data, model)
    size = len(x_raw[0]) if isinstance(x_raw[0], list) else 1
    x = tuple(_vector(v, size, f"data.x[{t}]") for t, v in enumerate(x_raw))
    params = {n: (len(w), len(w[0])) for n, w in weights.items()}
    given = {}
    for key, state in states.items():
        if key in data and isinstance(data[key], list):
            given[state] = len(data[key])
    shapes = infer_shapes(bound, params, size, given)
    initial = {s: _vector(data.get(k, 0.0), shapes[s][0], f"data.{k}", broadcast=True)
               for k, s in states.items()}
    out = shapes[bound.output][0]
    if model.loss == "cross_entropy" and out < 2:
        raise ProblemError(f"model.loss = \"cross_entropy\" needs an output of 2 or more "
                           f"classes, but {bound.output}_t has {out} entry")
    y, upstream = loss_data(data, y_raw, model, len(x_raw), out)
    dims = [d for s in (*shapes.values(), *params.values()) for d in s]
    check_sizes(len(x_raw), max(dims + [size]))
    model = replace(model, input_size=size, hidden_size=max(dims + [size]), output_size=out)
    return Problem(model=model, x=x, y=y, h0=(), weights=weights, name=name, custom_cell=cell,
                   initial=initial, vectors=frozenset(vectors), upstream=upstream,
                   **_common(raw, ("x", "y", "l", "L", *bound.quantities, *bound.parameters)))


def _weights(table: dict[str, Any], cell: Cell) -> tuple[dict, list[str]]:
    """Every parameter of the cell: a number, a list (a vector) or a list of rows (a matrix)."""
    unknown = sorted(set(table) - set(cell.parameters))
    if unknown:
        raise ProblemError(f"unknown key weights.{unknown[0]}: not a parameter of the cell "
                           f"(expected one of: {', '.join(cell.parameters)})")
    weights, vectors = {}, []
    for p in cell.parameters:
        where = f"weights.{p}"
        if p not in table:
            raise ProblemError(f"missing key {where} (the cell's parameter {p}: a number, a list"
                               " or a list of rows)")
        value = table[p]
        if not isinstance(value, list):
            weights[p] = ((_number(value, where),),)
        elif value and all(isinstance(r, list) for r in value):
            cols = len(value[0])
            if cols == 0 or any(len(r) != cols for r in value):
                raise ProblemError(f"{where} must be a matrix: rows of equal length, got "
                                   f"{_show(value)}")
            weights[p] = tuple(tuple(_number(v, f"{where}[{i}][{j}]") for j, v in enumerate(r))
                               for i, r in enumerate(value))
        elif value and not any(isinstance(r, list) for r in value):
            weights[p] = tuple((_number(v, f"{where}[{i}]"),) for i, v in enumerate(value))
            if len(value) > 1:
                vectors.append(p)
        else:
            raise ProblemError(f"{where} must be a number, a list of numbers or a list of rows,"
                               f" got {_show(value)}")
    return weights, vectors

