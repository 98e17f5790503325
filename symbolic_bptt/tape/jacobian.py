"""Jacobians of one time step, read off the tape: d q_t / d s_{t-1} for a state s.

The forward steps of time t are composed into one formula for q_t in the values it reads from
step t-1, the parameters and x_t, and differentiated by SymPy; nothing about the cell is written
here, so the Elman factor diag(phi'(z_t)) W_hh and an LSTM's dh_t/dh_{t-1} come the same way.
"""

from __future__ import annotations

import sympy as sp

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
    return expr.jacobian(list(tape.quantities[f"{wrt}_{t - 1}"].elements))


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
    fn = sp.lambdify(symbols, J.tolist(), modules=[{"Heaviside": lambda v, h0=0: float(v > 0),
                                            "Max": max}, "math"])
    if any(entry[0] is not tape for entry in _DERIVED.values()):
        _DERIVED.clear()
    _DERIVED[key] = (tape, (fn, symbols, where))
    return fn, symbols, where
