"""The documents' figures as plain data, every number read off the evaluated tape: the unrolled
graph (forward values, or the gradients flowing back), the norms of the products of step
Jacobians over time, a gated cell's product of forget gates beside an Elman cell's product, and
the loss against one weight with its tangent. The templates draw them with TikZ and pgfplots.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import sympy as sp

from ..evaluate.arithmetic import Evaluation, evaluate
from ..evaluate.walk import Walker, floats
from ..inputs.problem import parse_problem
from ..model.cell import INPUT, Cell
from ..model.equations import Call, Had, Node, Prod, Sum, Sym, children, symbols
from ..tape import unroll
from ..tape.jacobian import jacobians, step_jacobian
from .document import _Formatter

LEVEL_GAP = 2.2  # cm between levels of a step drawn sideways (a gated cell)
FIRST_GAP = 3.2  # cm from the states and input to the first level, sideways
LANE_DOWN = 1.25  # cm between the quantities of one level drawn sideways
VECTOR_ENTRIES = 4  # a node shows a vector of at most this many entries; a longer one, its norm
LANE = 1.7  # cm between quantities computed side by side in one step
COLUMN_GAP = 1.6  # cm between the columns of two time steps
ROW = 1.5  # cm between the levels of one step (input, cell quantities, output, loss)
SCALES = (0.5, 2.0)  # spectral radii of the recurrent weight in the vanishing/exploding plot
SURFACE_POINTS = 21  # loss values computed around the weight's value


@dataclass(frozen=True)
class GraphNode:
    """One quantity at one time step, placed at (x, y) cm; `value` is LaTeX math or ''."""

    key: str  # the tape name (h_2) or a made-up one for an ellipsis
    label: str
    x: float
    y: float
    value: str = ""
    kind: str = "forward"  # data | state0 | forward | loss | ellipsis


@dataclass(frozen=True)
class GraphEdge:
    """`src` is read by `dst`; `label` the parameters that carry it; `carried` (backward, numbers
    only) the part of dL/d src that flows back along it; `cut` for truncated BPTT."""

    src: str
    dst: str
    label: str = ""
    carried: str = ""
    across: bool = False  # from step t-1 to step t
    dashed: bool = False  # through the ellipsis of a collapsed sequence
    cut: bool = False


@dataclass(frozen=True)
class Graph:
    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...]
    backward: bool
    width: float
    height: float

    @property
    def ids(self) -> dict[str, str]:
        """A TikZ name for every node (tape names hold characters TikZ reads as syntax)."""
        return {node.key: f"n{k}" for k, node in enumerate(self.nodes)}


# ---------------------------------------------------------------- the unrolled graph

def carriers(node: Node, params: set[str]) -> dict[tuple[str, int | None], list[str]]:
    """For each symbol an equation reads, the parameters that multiply it on its way in:
    W_hh for h_{t-1} in W_hh h_{t-1} + W_xh x_t (a product or an entrywise product)."""
    out: dict[tuple[str, int | None], list[str]] = {}

    def walk(n: Node, above: tuple[str, ...]) -> None:
        if isinstance(n, Sym):
            out.setdefault((n.name, n.lag), [])
            out[n.name, n.lag] += [p for p in above if p not in out[n.name, n.lag]]
            return
        if isinstance(n, Prod | Had):
            for side, other in ((n.left, n.right), (n.right, n.left)):
                add = (other.name,) if isinstance(other, Sym) and other.name in params else ()
                walk(side, above + add)
            return
        for child in children(n):
            walk(child, above)

    walk(node, ())
    return out


def _levels(cell: Cell) -> dict[str, int]:
    """Each quantity's level in one step: 1 + the highest level it reads at the same step
    (the input and the states of the step before are level 0)."""
    level = {INPUT: 0}
    for e in cell.equations:
        level[e.lhs] = 1 + max((level.get(s.name, 0) for s in symbols(e.rhs) if s.lag == 0),
                               default=0)
    return level


def sideways(cell: Cell) -> bool:
    """Whether a step computes several quantities side by side (an LSTM's gates): then each
    step is drawn on its own, flowing left to right, rather than as one column of many."""
    return any(lane for _, lane in _places(cell).values())


def _places(cell: Cell, max_lanes: int = 99) -> dict[str, tuple[int, float]]:
    """(row, lane offset) of the input, each quantity and the loss in a step: by level (what
    a quantity reads at the same step comes first), at most `max_lanes` side by side."""
    level = _levels(cell)
    by_level: dict[int, list[str]] = {}
    for q in (INPUT, *cell.quantities):
        by_level.setdefault(level[q], []).append(q)
    places, row = {}, 0
    for lv in sorted(by_level):
        group = by_level[lv]
        for k in range(0, len(group), max_lanes):
            chunk = group[k:k + max_lanes]
            for i, q in enumerate(chunk):
                places[q] = (row, i - (len(chunk) - 1) / 2)
            row += 1
    places["l"] = (row, places[cell.output][1])
    return places


def unrolled_graph(ev: Evaluation, fmt: _Formatter, shown: list[int | None],
                   backward: bool = False, cut: frozenset[int] = frozenset()) -> Graph:
    """The network unrolled over the shown steps (None: an ellipsis column), one column per
    step after a column of the states they start from. Forward: each node's value. Backward:
    each node's dL/d value and, for numbers, the part of it each reader sends back. `cut`:
    steps t whose edges from step t-1 truncated BPTT cuts (drawn cut)."""
    tape = ev.tape
    cell = tape.problem.cell
    n = fmt.notation
    params = set(cell.parameters)
    places = _places(cell)
    side = sideways(cell)
    if side:  # one step drawn left to right: levels across, the quantities of a level stacked
        shown = [t for t in shown if t is not None]
    lanes = 1 + 2 * max(abs(lane) for _, lane in places.values())
    column = lanes * LANE + COLUMN_GAP

    # a node holding a column of k numbers is about 0.32 k cm taller: space the rows for it
    entries = max((len(v) for q in cell.quantities if (v := ev.values.get(f"{q}_1")) is not None
                   and len(v) <= VECTOR_ENTRIES), default=1)
    row_gap = max(ROW, 0.9 + 0.32 * entries)
    lane_down = max(LANE_DOWN, 0.75 + 0.32 * entries)

    def value_of(name: str) -> str:
        return _value(ev, fmt, name)
    spread = max(abs(lane) for _, lane in places.values()) + 1  # sideways: above and below
    state_y = {}  # sideways: a state that reads itself (c_{t-1} -> c_t) level with itself,
    for s in sorted(cell.states, key=lambda s: Sym(s, 1) not in symbols(cell.equation(s).rhs)):
        y = -places[s][1] * lane_down  # the others above the step
        state_y[s] = y if y not in state_y.values() else (spread + len(state_y) - 1) * lane_down

    def at(q: str, x0: float) -> tuple[float, float]:
        row, lane = places[q]
        if not side:
            return x0 + lane * LANE, row * row_gap
        if q == INPUT:  # beside the states it enters with, below them
            return x0, -spread * lane_down
        return x0 + (row - 1) * LEVEL_GAP + FIRST_GAP, -lane * lane_down

    nodes: list[GraphNode] = []
    edges: list[GraphEdge] = []
    first = shown[0] - 1
    for s in cell.states:  # the states the first step reads, in a column
        name = f"{s}_{first}"
        value = value_of(f"dL/d{name}" if backward else name)
        nodes.append(GraphNode(name, n.symbol(name), 0.0,
                               state_y[s] if side else places[s][0] * row_gap, value,
                               "state0" if first == 0 else "forward"))
    x0 = 0.0 if side else COLUMN_GAP + (lanes + 1) * LANE / 2
    previous: int | None = first
    for t in shown:
        if t is None:
            for s in cell.states:
                nodes.append(GraphNode(f"...{s}", r"\cdots", x0 - column * 0.3,
                                       places[s][0] * row_gap, "", "ellipsis"))
            edges += [GraphEdge(f"{s}_{previous}", f"...{s}", dashed=True, across=True)
                      for s in cell.states]
            previous = None
            x0 += column * 0.4
            continue
        names = {INPUT: f"{INPUT}_{t}", **{q: f"{q}_{t}" for q in cell.quantities}}
        exists = set(ev.values)  # a quantity the loss does not need is not computed (o_1)
        for q, name in names.items():
            if name not in exists:
                continue
            value = "" if q == INPUT and backward else value_of(
                f"dL/d{name}" if backward and q != INPUT else name)
            nodes.append(GraphNode(name, n.symbol(name), *at(q, x0), value,
                                   "data" if q == INPUT else "forward"))
        if f"l_{t}" in exists:  # a step the loss reads
            nodes.append(GraphNode(f"l_{t}", n.symbol(f"l_{t}"), *at("l", x0),
                                   "" if backward else value_of(f"l_{t}"), "loss"))
            edges.append(GraphEdge(f"{cell.output}_{t}", f"l_{t}", "",
                                   _loss_carried(ev, cell, t) if backward else "",
                                   across=side))
        for e in cell.equations:
            for (name, lag), through in carriers(e.rhs, params).items():
                if lag is None:
                    continue
                src = (f"...{name}" if previous is None else f"{name}_{previous}") if lag == 1 \
                    else f"{name}_{t}"
                if f"{e.lhs}_{t}" not in exists or not (src in exists or src.startswith("...")):
                    continue
                carried = _carried(ev, src, f"{e.lhs}_{t}") if backward and \
                    not src.startswith("...") and name != INPUT and \
                    not (lag == 1 and t in cut) else ""
                edges.append(GraphEdge(src, f"{e.lhs}_{t}", ", ".join(n.symbol(w) for w in through),
                                       carried, across=lag == 1 or side,
                                       dashed=previous is None and lag == 1,
                                       cut=lag == 1 and t in cut))
        previous = t
        x0 += column
    width = max(node.x for node in nodes) + LANE
    return Graph(tuple(nodes), tuple(edges), backward, width, (places["l"][0] + 1) * row_gap)



def graph_parts(shown: list[int | None], per_part: int) -> list[list[int | None]]:
    """The shown steps in parts of at most `per_part` steps (an ellipsis counts as none), for
    a cell whose columns are too wide for one slide; each part starts from the states of the
    step before it."""
    parts, current = [], []
    for t in shown:
        if current and t is not None and sum(x is not None for x in current) >= per_part:
            parts.append(current)
            current = []
        current.append(t)
    if current and current[0] is None:  # a part starts at a step, not at an ellipsis
        current = current[1:]
    parts.append(current)
    return [p for p in parts if p]


def _value(ev: Evaluation, fmt: _Formatter, name: str) -> str:
    """A node's value as printed in the document: a number, a short column, or a norm."""
    if name not in ev.values:
        return ""
    cells = [fmt.scalar(name, v, exact=False) for v in ev.values[name]]
    if len(cells) == 1:
        return cells[0]
    if len(cells) > VECTOR_ENTRIES:
        norm = float(np.linalg.norm(ev.as_float(name)))
        return rf"\lVert\cdot\rVert = {norm:.{ev.decimals}f}"
    return r"\left(\begin{smallmatrix}" + r"\\".join(cells) + r"\end{smallmatrix}\right)"


def _float_values(ev: Evaluation) -> dict[sp.Symbol, float]:
    out = {}
    for name, q in ev.tape.quantities.items():
        if name in ev.values:
            out.update(zip(q.elements, ev.as_float(name)))
    return out


def _carried(ev: Evaluation, src: str, dst: str) -> str:
    """The part of dL/d src that flows back from dst: (d dst / d src)^T dL/d dst, when both
    are numbers (vectors would crowd the picture)."""
    tape = ev.tape
    if tape.quantities[src].indexing != "scalar" or tape.quantities[dst].indexing != "scalar" \
            or f"dL/d{dst}" not in ev.values:
        return ""
    formula = tape.explicit(dst)[0, 0]
    local = sp.diff(formula, tape.quantities[src].elements[0])
    values = {s: v for s, v in _float_values(ev).items() if s in local.free_symbols}
    number = float(local.subs(values)) * ev.as_float(f"dL/d{dst}")[0]
    return _printed(ev, number)


def _loss_carried(ev: Evaluation, cell: Cell, t: int) -> str:
    """What l_t sends back to the output: dL/do_t less what the output's other readers send."""
    tape = ev.tape
    o = f"{cell.output}_{t}"
    if tape.quantities[o].indexing != "scalar":
        return ""
    total = ev.as_float(f"dL/d{o}")[0]
    for e in cell.equations:
        for (name, lag), _ in carriers(e.rhs, set(cell.parameters)).items():
            if name == cell.output and lag is not None and t + lag <= tape.T:
                dst = f"{e.lhs}_{t + lag}"
                formula = tape.explicit(dst)[0, 0] if tape.quantities[dst].indexing == "scalar" \
                    else None
                if formula is None:
                    return ""
                local = sp.diff(formula, tape.quantities[o].elements[0])
                vals = _float_values(ev)
                total -= float(local.subs(vals)) * ev.as_float(f"dL/d{dst}")[0]
    return _printed(ev, total)


def _printed(ev: Evaluation, number: float) -> str:
    text = f"{number:.{ev.decimals}f}"
    return text[1:] if text.startswith("-") and text.strip("-0.") == "" else text


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


def cut_steps(problem) -> frozenset[int]:
    """Steps t whose recurrent edges from t-1 truncated BPTT in chunks cuts ([training]
    truncate = k detaches the state at t = k, 2k, ...); none without a [training] table."""
    training = getattr(problem, "training", None)
    if training is None or getattr(training, "truncate", None) is None:
        return frozenset()
    return frozenset(t for t in range(2, problem.T + 1) if training.cut(t - 1))


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

