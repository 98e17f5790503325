"""The documents' figures as plain data, every number read off the evaluated tape: the unrolled
graph (graph.py), the norms of the products of step Jacobians over time, a gated cell's product
of forget gates beside an Elman cell's product, and the loss against one weight with its
tangent. The templates draw them with TikZ and pgfplots (templates/_figures.tex.j2).
"""

from __future__ import annotations

import numpy as np

from ..evaluate.arithmetic import Evaluation, evaluate
from ..evaluate.walk import Walker, floats
from ..inputs.problem import parse_problem
from ..model.cell import INPUT, Cell
from ..model.equations import Call, Prod, Sum, Sym, symbols
from ..tape import unroll
from ..tape.jacobian import jacobians, step_jacobian
from .document import _Formatter
from .graph import _printed, carriers, cut_steps, graph_parts, sideways, unrolled_graph

SCALES = (0.5, 2.0)  # spectral radii of the recurrent weight in the vanishing/exploding plot
SURFACE_POINTS = 21  # loss values computed around the weight's value


# ---------------------------------------------------------------- gradient norms over time

def _single_state(cell: Cell) -> str | None:
    """The state whose product of step Jacobians is the whole dh_T/dh_k: the only one."""
    return cell.states[0] if len(cell.states) == 1 else None


def recurrent_weight(cell: Cell) -> str | None:
    """The one parameter that carries the state into the next step (W_hh), if only one does."""
    state = _single_state(cell)
    if state is None:
        return None
    found = set()
    for e in cell.equations:
        found.update(carriers(e.rhs, set(cell.parameters)).get((state, 1), []))
    return found.pop() if len(found) == 1 else None


def _radius(values: list[float], shape: tuple[int, int]) -> float:
    """The spectral radius of a square matrix; of a vector or number, its largest |entry|
    (the diagonal it multiplies by)."""
    if shape[0] != shape[1] and min(shape) > 1:
        return 0.0  # no spectral radius: the figure shows this example only
    if shape[0] == shape[1] and shape[0] > 1:
        return float(max(abs(np.linalg.eigvals(np.array(values).reshape(shape)))))
    return float(max(abs(v) for v in values))


_WALKERS: dict[int, Walker] = {}


def _walk(tape, replaced: dict[str, list[float]]) -> dict[str, list[float]]:
    """The tape walked in floats with some parameters replaced (its rules compiled once)."""
    walker = _WALKERS.get(id(tape))
    if walker is None or walker.tape is not tape:
        _WALKERS.clear()
        walker = _WALKERS[id(tape)] = Walker(tape, floats())
    values = walker.start()
    values.update({k: tuple(v) for k, v in replaced.items()})
    return {k: [float(x) for x in v] for k, v in walker.run(values).items()}


def _products(tape, state: str, values: dict[str, list[float]]) -> list[dict]:
    """||d s_T / d s_k|| for k = T..0 as (T-k, norm), from the tape's step Jacobians."""
    T = tape.T
    ks = list(range(T, 0, -1))
    # derived at t = 2 and read at every k with its names shifted (k = 1 reads s_0)
    factors = jacobians(tape, state, state, values, ks)
    size = tape.quantities[f"{state}_{T}"].shape[0]
    running = np.eye(size)
    rows = [{"lag": 0, "k": T, "norm": 1.0}]
    for k in ks:
        running = running @ np.array(factors[k])
        rows.append({"lag": T - k + 1, "k": k - 1, "norm": float(np.linalg.norm(running, 2))})
    return rows


def gradient_norms(ev: Evaluation, notation) -> dict | None:
    """||dh_T/dh_k|| against T - k for this example and, when one weight W carries the state,
    for the same network with W scaled to a spectral radius below and above 1."""
    tape = ev.tape
    cell = tape.problem.cell
    state = _single_state(cell)
    if state is None or tape.T < 2:
        return None
    walked = ev if ev.mode == "float" else evaluate(tape, "float")
    base = {k: walked.as_float(k) for k in walked.values}
    series = [{"label": "this example", "rows": _products(tape, state, base), "style": "this"}]
    w = recurrent_weight(cell)
    rho = None
    if w is not None:
        rho = _radius(base[w], tape.quantities[w].shape)
        if rho > 0:
            for target, style in zip(SCALES, ("below", "above")):
                scaled = [v * target / rho for v in base[w]]
                values = _walk(tape, {w: scaled})
                series.append({"label": f"$\\rho = {target}$", "style": style,
                               "rows": _products(tape, state, values)})
    for s in series:  # a log axis cannot show 0 (a dead ReLU): such points are left out
        s["points"] = [(r["lag"], r["norm"]) for r in s["rows"] if r["norm"] > 1e-300]
    return {"state": notation.symbol(f"{state}_T"), "state_k": notation.symbol(f"{state}_k"),
            "weight": notation.symbol(w) if w else "", "rho": rho, "series": series,
            "T": tape.T}


# ---------------------------------------------------------------- gated cells: forget gates

def memory_state(tape) -> str | None:
    """A state whose step Jacobian d s_t / d s_{t-1} is diagonal (an LSTM's c_t: diag(f_t)),
    among several states: the path gates were made for."""
    cell = tape.problem.cell
    if len(cell.states) < 2 or tape.T < 2:
        return None
    for s in cell.states:
        if Sym(s, 1) not in symbols(cell.equation(s).rhs):
            continue  # a state its own step does not read (the LSTM's h_t) is no memory
        J = step_jacobian(tape, s, s, 2)
        if J.shape[0] == J.shape[1] and all(J[i, j] == 0 for i in range(J.shape[0])
                                            for j in range(J.shape[1]) if i != j):
            return s
    return None


def diagonal_gate(tape, memory: str, values: dict[str, list[float]]) -> str | None:
    """The quantity whose values are the diagonal of d s_t / d s_{t-1} at every step (the
    forget gate f_t of c_t = f_t * c_{t-1} + ...), found by the numbers."""
    ks = list(range(1, tape.T + 1))
    factors = jacobians(tape, memory, memory, values, ks)
    size = len(values[f"{memory}_1"])
    for q in tape.problem.cell.quantities:
        if len(values.get(f"{q}_1", ())) == size and all(
                abs(factors[k][i][i] - values[f"{q}_{k}"][i]) <= 1e-12 for k in ks
                for i in range(size)):
            return q
    return None


def _candidate(cell: Cell, memory: str) -> tuple[str, dict] | None:
    """The equation q_t = tanh(W x_t + U h_{t-1} + b) of a gated cell (the LSTM's g_t): with
    its gates removed, an Elman cell. Returns (q, {W_xh: W, W_hh: U, b_h: [biases], h: state})."""
    params = set(cell.parameters)
    for e in cell.equations:
        if not (isinstance(e.rhs, Call) and e.rhs.fn == "tanh" and isinstance(e.rhs.arg, Sum)):
            continue
        found: dict = {"b_h": []}  # torch's LSTM adds two biases, b_ig + b_hg
        for term in e.rhs.arg.terms:
            if isinstance(term, Sym) and term.name in params:
                found["b_h"].append(term.name)
            elif (isinstance(term, Prod) and isinstance(term.left, Sym)
                  and term.left.name in params and isinstance(term.right, Sym)):
                read = term.right
                if read.name == INPUT and read.lag == 0 and "W_xh" not in found:
                    found["W_xh"] = term.left.name
                elif read.lag == 1 and read.name != memory and "W_hh" not in found:
                    found |= {"W_hh": term.left.name, "h": read.name}
                else:
                    break
            else:
                break
        else:
            if "W_xh" in found and "W_hh" in found:
                return e.lhs, found
    return None


def forget_products(ev: Evaluation, notation) -> dict | None:
    """The LSTM's ||dc_T/dc_k|| (the product of forget gates, read off the tape as the step
    Jacobians of c) beside ||dh_T/dh_k|| of the Elman cell its candidate is without gates, over
    the same inputs: the vanishing story side by side."""
    tape = ev.tape
    p = tape.problem
    cell = p.cell
    memory = memory_state(tape)
    if memory is None:
        return None
    found = _candidate(cell, memory)
    if found is None:
        return None
    candidate, names = found
    walked = ev if ev.mode == "float" else evaluate(tape, "float")
    base = {k: walked.as_float(k) for k in walked.values}
    gated = _products(tape, memory, base)
    gate = diagonal_gate(tape, memory, base)
    elman = elman_twin(p, names, base)
    rows = _products(elman, "h", {k: list(v) for k, v in Walker(elman, floats()).run().items()})
    return {
        "memory": notation.symbol(f"{memory}_T"), "memory_k": notation.symbol(f"{memory}_k"),
        "elman_rule": (rf"{notation.symbol('h_t')} = \tanh\left({notation.symbol(names['W_hh'])} "
                       rf"{notation.symbol('h_t-1')} + {notation.symbol(names['W_xh'])} "
                       rf"{notation.symbol('x_t')}"
                       + "".join(rf" + {notation.symbol(b)}" for b in names["b_h"])
                       + r"\right)"),
        "candidate": notation.symbol(f"{candidate}_t"),
        "gate": notation.symbol(f"{gate}_t") if gate else "",
        "rows": [{"lag": g["lag"], "k": g["k"], "gated": g["norm"], "elman": e["norm"]}
                 for g, e in zip(gated, rows)],
        "T": tape.T,
    }


def elman_twin(p, names: dict[str, str], values: dict[str, list[float]]):
    """The tape of an Elman cell with a gated cell's candidate weights, over the same inputs
    and initial state (its output layer is zero: only its states are read)."""
    def rows(name: str) -> list[list[float]]:
        r, c = p.shapes[name] if name in p.shapes else (len(values[name]), 1)
        flat = values[name]
        return [flat[i * c:(i + 1) * c] for i in range(r)]

    hidden = p.shapes[names["h"]][0]
    weights = {"W_xh": rows(names["W_xh"]), "W_hh": rows(names["W_hh"]),
               "W_hy": [[0.0] * hidden]}
    if names["b_h"]:
        weights |= {"b_h": [sum(values[b][i] for b in names["b_h"]) for i in range(hidden)],
                    "b_y": [0.0]}
    raw = {"model": {"cell": "elman", "activation": "tanh", "input_size": p.model.input_size,
                     "hidden_size": hidden, "output_size": 1, "bias": bool(names["b_h"])},
           "data": {"x": [list(x) for x in p.x], "y": [0.0] * p.T,
                    "h0": list(p.initial_values[names["h"]])},
           "weights": weights}
    return unroll(parse_problem(raw, name="elman-twin"))


# ---------------------------------------------------------------- the loss against one weight

def loss_surface(ev: Evaluation, notation) -> dict | None:
    """L against one entry of the recurrent weight (W_hh; a custom cell's weights on its
    states), the entry with the largest |dL/dw|, around its value, and the tangent of slope
    dL/dw there: the gradient as a picture."""
    tape = ev.tape
    cell = tape.problem.cell
    params = [n for n, q in tape.quantities.items() if q.role == "param"]
    if "L" not in ev.values or not params:  # given upstream gradients: no loss to draw
        return None
    recurrent = recurrent_weight(cell)
    candidates = [recurrent] if recurrent else list(dict.fromkeys(
        x for e in cell.equations for (name, lag), ws in carriers(e.rhs, set(params)).items()
        if lag == 1 for x in ws)) or params
    # the entry the loss is steepest in: a curve, not a flat line
    w, entry = max(((c, i) for c in candidates for i in range(len(ev.values[c]))),
                   key=lambda ci: abs(ev.as_float(f"dL/d{ci[0]}")[ci[1]]))
    walked = ev if ev.mode == "float" else evaluate(tape, "float")
    base = {k: walked.as_float(k) for k in walked.values}
    w0 = float(ev.as_float(w)[entry])
    slope = float(ev.as_float(f"dL/d{w}")[entry])
    L0 = float(ev.as_float("L")[0])
    half = max(0.5, abs(w0) * 0.5)
    points = []
    for k in range(SURFACE_POINTS):
        v = w0 - half + 2 * half * k / (SURFACE_POINTS - 1)
        changed = list(base[w])
        changed[entry] = v
        points.append((v, _walk(tape, {w: changed})["L"][0]))
    q = tape.quantities[w]
    cols = q.shape[1]
    name = notation.symbol(w) + ("" if q.indexing == "scalar" else f"[{entry}]"
                                 if q.indexing == "vector" else f"[{entry // cols},{entry % cols}]")
    L_drawn = base["L"][0]  # the point on the curve (in rounded mode L0 is the carried value)
    span = half * 0.6
    tangent = [(w0 + d, L_drawn + slope * d) for d in (-span, span)]
    lo = min(min(L for _, L in points), *(L for _, L in tangent))
    hi = max(max(L for _, L in points), *(L for _, L in tangent))
    pad = (hi - lo) * 0.1 or 0.1
    return {"weight": name, "w0": w0, "L0": L_drawn, "slope": slope, "points": points,
            "tangent": tangent, "ymin": lo - pad, "ymax": hi + pad,
            "w0_text": _printed(ev, w0), "L0_text": _printed(ev, L0),
            "slope_text": _printed(ev, slope),
            "dL": rf"\partial L / \partial {name}"}


def figures(ev: Evaluation, fmt: _Formatter, shown: list[int | None]) -> dict:
    """Every figure of one document."""
    n = fmt.notation
    cut = cut_steps(ev.tape.problem)
    parts = graph_parts(shown, 1 if sideways(ev.tape.problem.cell) else len(shown))
    return {
        "graph": [unrolled_graph(ev, fmt, part) for part in parts],
        "graph_backward": [unrolled_graph(ev, fmt, part, backward=True, cut=cut)
                           for part in parts],
        "norms": gradient_norms(ev, n),
        "gated": forget_products(ev, n),
        "surface": loss_surface(ev, n),
    }

