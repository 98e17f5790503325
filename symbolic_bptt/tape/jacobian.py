"""Jacobians of one time step, read off the tape: d q_t / d s_{t-1} for a state s.

The forward steps of time t are composed into one formula for q_t in the values it reads from
step t-1, the parameters and x_t, and differentiated by SymPy's rules (tape/derivative.py: the
same entries as Matrix.jacobian, without its zero tests); nothing about the cell is written
here, so the Elman factor diag(phi'(z_t)) W_hh and an LSTM's dh_t/dh_{t-1} come the same way.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from .derivative import dense, jacobian
from .rules import Tape


def step_jacobian(tape: Tape, of: str, wrt: str, t: int) -> sp.Matrix:
    """d of_t / d wrt_{t-1} (rows: entries of of_t; columns: entries of wrt_{t-1}), in the
    element symbols of the quantities step t reads."""
    inner = {}  # element symbol of a quantity computed at step t -> its formula
    for step in tape.steps:
        if step.t == t and step.name in tape.quantities and tape.quantities[step.name].role == "forward":
            inner.update(zip(tape.quantities[step.name].elements, tape.explicit(step)))
    expr = sp.Matrix(tape.explicit(f"{of}_{t}"))
    for _ in range(len(inner) + 1):  # each pass writes out one more level of the step
        if not expr.free_symbols & inner.keys():
            break
        expr = expr.xreplace(inner)
    wrt_symbols = list(tape.quantities[f"{wrt}_{t - 1}"].elements)
    return dense(jacobian(list(expr), wrt_symbols), len(expr), len(wrt_symbols))


def jacobians(tape: Tape, of: str, wrt: str, values: dict[str, list[float]],
              steps: list[int]) -> dict[int, list[list[float]]]:
    """d of_k / d wrt_{k-1} at the walked values for each k of `steps` (a tape with T >= 2): derived
    once at t = 2 and read at every other k with its names shifted (k = 1 reads wrt_0)."""
    if not steps:
        return {}
    fn, symbols, where = _derived(tape, of, wrt)
    out = {}
    for k in steps:
        args = []
        for s in symbols:
            base, shift, i = where[s]
            args.append(values[base if shift is None else f"{base}_{k + shift}"][i])
        out[k] = [[float(v) for v in row] for row in fn(*args)]
    return out


_DERIVED: dict[tuple[int, str, str], tuple] = {}


def _derived(tape: Tape, of: str, wrt: str) -> tuple:
    """d of_2 / d wrt_1 compiled, with where each of its symbols is read at another step;
    kept for the last tape asked (a figure reads the same Jacobian at several sets of values)."""
    key = (id(tape), of, wrt)
    if key in _DERIVED and _DERIVED[key][0] is tape:
        return _DERIVED[key][1]
    J = step_jacobian(tape, of, wrt, 2)
    where = {}  # element symbol at t = 2 -> (quantity, offset from 2 or None, entry)
    for name, q in tape.quantities.items():
        base, _, k = name.rpartition("_")
        shift = int(k) - 2 if q.role != "param" and k.isdigit() else None
        for i, s in enumerate(q.elements):
            where[s] = (base if shift is not None else name, shift, i)
    symbols = sorted(J.free_symbols, key=str)
    fn = _compiled(J, symbols)
    if any(entry[0] is not tape for entry in _DERIVED.values()):
        _DERIVED.clear()
    _DERIVED[key] = (tape, (fn, symbols, where))
    return fn, symbols, where


def _compiled(J: sp.Matrix, symbols: list) -> Callable:
    """J as a function of `symbols`' values returning its rows of floats: straight from its
    expression tree (evaluate/float_code.py), lambdify only for a node that printer does not
    know (lambdify renamed the symbols h_1[0] ... in a pass over every entry: 4 s of a GRU of
    hidden size 4's render)."""
    from ..evaluate.float_code import float_function

    def heaviside(v, h0=0):
        return float(v > 0)
    code = float_function(list(J), symbols, heaviside)
    if code is None:
        return sp.lambdify(symbols, J.tolist(), modules=[{"Heaviside": heaviside, "Max": max},
                                                         "math"])
    return lambda *args: _rows(code(args), J.cols)


def _rows(flat: list, cols: int) -> list[list]:
    return [flat[i:i + cols] for i in range(0, len(flat), cols)]
