"""The unrolled network as plain data for TikZ: a column per time step, each quantity a node
with its value (or, backward, its dL/d value), each read an edge labelled with the parameters
that carry it (backward, for numbers: the part of the gradient that flows back along it), cut
edges of truncated BPTT marked. Every number is read off the evaluated tape."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from ..evaluate.arithmetic import Evaluation
from ..model.cell import INPUT, Cell
from ..model.equations import Had, Node, Prod, Sym, children, symbols
from .document import _Formatter

LEVEL_GAP = 2.2  # cm between levels of a step drawn sideways (a gated cell)
FIRST_GAP = 3.2  # cm from the states and input to the first level, sideways
LANE_DOWN = 1.25  # cm between the quantities of one level drawn sideways
VECTOR_ENTRIES = 4  # a node shows a vector of at most this many entries; a longer one, its norm
LANE = 1.7  # cm between quantities computed side by side in one step
COLUMN_GAP = 1.6  # cm between the columns of two time steps
ROW = 1.5  # cm between the levels of one step (input, cell quantities, output, loss)


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
    lane_down = max(LANE_DOWN, 1.0 + 0.32 * entries)

    def value_of(name: str) -> str:
        return _value(ev, fmt, name)
    spread = max(1.0, max(abs(lane) for _, lane in places.values()))  # sideways: the states
    # and the input level with the outermost lanes (further out, the picture only grew taller
    # and was scaled down more)
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


def cut_steps(problem) -> frozenset[int]:
    """Steps t whose recurrent edges from t-1 truncated BPTT in chunks cuts ([training]
    truncate = k detaches the state at t = k, 2k, ...); none without a [training] table."""
    training = getattr(problem, "training", None)
    if training is None or getattr(training, "truncate", None) is None:
        return frozenset()
    return frozenset(t for t in range(2, problem.T + 1) if training.cut(t - 1))
