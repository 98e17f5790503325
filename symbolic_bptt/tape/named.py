"""Tape steps for the intermediate numbers people write down, for every cell: each equation's
local derivative (dh_t/dz_t = 1 - h_t^2), the terms of a sum over consumers (dL/dh_2 via o_2,
dL/dh_2 via z_3), one step's Jacobian dh_3/dh_2 and their products dh_3/dh_1.

They are derived from the same equations and trees as the backward steps, so every backend
(exact, float, rounded, intervals) computes them, claims may name them, and check audits them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import sympy as sp

from ..inputs.limits import check_window
from ..model.equations import Call, Had, Neg, Node, Num, Pow, Prod, Sum, Sym, symbols
from .derivative import Sparse, add_into, dense, jacobian, matmul
from .rules import Rule, RuleCache, Step, Tape, slots_like
from .trees import Op, Ref, refs, transform

LOSS = "l"  # the label of the loss's own term in a sum over consumers
MAX_T_PRODUCTS = 8  # products of Jacobians ds_t/du_k for every pair t > k + 1 up to this T
MAX_T_NAMED = 100  # beyond, no one writes the steps down: long tapes stay as fast as before
MAX_STATE_JACOBIAN = 8  # a state of more entries: its Jacobians (64+ entries) are not named
_NAMED: ContextVar[bool] = ContextVar("named intermediates", default=True)


@contextmanager
def without_intermediates() -> Iterator[None]:
    """Tapes built inside leave out this module's steps (dh_t/dz_t, dL/dh_t via o_t, ds_t/du_k):
    `verify` reads none of them (it differentiates the definitions itself), and deriving the
    Jacobians is most of a small tape's cost."""
    token = _NAMED.set(False)
    try:
        yield
    finally:
        _NAMED.reset(token)


def _ones(shape: tuple[int, int]):
    one = Op("num", (sp.Integer(1),))
    return one if shape == (1, 1) else Op("fill", (one, shape))


def _without_ones(tree, ones):
    """A tree with 1 ⊙ x and x ⊙ 1 written as x (the seed of a local derivative)."""
    def drop(x):
        if isinstance(x, Op) and x.op == "had":
            a, b = x.args
            if a == ones:
                return b
            if b == ones:
                return a
        return x
    return transform(tree, drop)


def _diagonal(trees, node: Node, target: Sym) -> bool:
    """Whether d node / d target is entrywise (a diagonal Jacobian): no matrix product and no
    broadcast of the target on the way to it."""
    if target not in symbols(node):
        return True
    if isinstance(node, Sym | Num):
        return True
    if isinstance(node, Sum):
        own = trees.shape(node)
        return all(_diagonal(trees, t, target) and (target not in symbols(t)
                                                    or trees.shape(t) == own)
                   for t in node.terms)
    if isinstance(node, Neg | Call):
        return _diagonal(trees, node.arg, target)
    if isinstance(node, Pow):
        return _diagonal(trees, node.base, target)
    if isinstance(node, Had | Prod):
        k = trees.is_scale(node)
        if k is None and isinstance(node, Prod):
            return False
        if k is not None:
            s = (node.left, node.right)[k]
            if target in symbols(s):
                return False
        return _diagonal(trees, node.left, target) and _diagonal(trees, node.right, target)
    return False


def local_derivatives(b, cell, trees, at: dict[str, dict[int, None]]) -> None:
    """d<q>_t/d<p>_t for each equation q_t = f(..., p_t, ...) whose derivative in p_t is
    entrywise: the activation's derivative dh_t/dz_t of Elman, dh_t/dc_t of an LSTM."""
    if not _NAMED.get():
        return
    shapes = trees.shapes
    for e in cell.equations:
        read = []
        for s in symbols(e.rhs):
            if s.lag == 0 and s.name in cell.quantities and s.name not in read:
                read.append(s.name)
        for p in read:
            target = Sym(p, 0)
            if shapes[p] != shapes[e.lhs] or not (b.scalar or _diagonal(trees, e.rhs, target)):
                continue
            ones = _ones(shapes[e.lhs])
            terms = [_without_ones(x, ones) for x in trees.vjp(e.rhs, target, ones, e.lhs)]
            if not terms:
                continue
            tree = terms[0] if len(terms) == 1 else Op("add", tuple(terms))
            if not any(r.offset is not None for r in refs(tree)):
                continue  # a constant or a parameter (do_t/dh_t = W_hy): nothing new to name
            for t in at[e.lhs]:
                if t in at[p] and all(r.name(t) in b.quantities for r in refs(tree)):
                    b.step(f"d{e.lhs}_{t}/d{p}_{t}", f"d{e.lhs}/d{p}", t, tree, "forward")


def via_steps(b, q: str, t: int, present: list[tuple[int, object, str]]) -> None:
    """The terms of dL/dq_t one by one when it sums more than one consumer's: `dL/dh_2 via
    o_2` (what o_2 sends back) and `dL/dh_2 via z_3`; `present` holds (lag, tree, reader)."""
    if not _NAMED.get():
        return
    groups: dict[tuple[int, str], list] = {}
    for lag, tree, via in present:
        groups.setdefault((lag, via), []).append(tree)
    if len(groups) < 2:
        return
    for (lag, via), parts in groups.items():
        tree = parts[0] if len(parts) == 1 else Op("add", tuple(parts))
        kind = f"dL/d{q} via {via}" + ("(t+1)" if lag else "")
        b.step(f"dL/d{q}_{t} via {via}_{t + lag}", kind, t, tree, "backward")


# ---------------------------------------------------------------------------------------------
# Truncation in windows: per-loss gradients


def windowed_backward(b, problem, full: dict[str, list], k: int, steps: set[int],
                      at: dict[str, dict[int, None]], zero_tree) -> None:
    """Truncated BPTT in windows: each step loss l_s sends its gradient back through steps
    s, s-1, ..., s-k+1 only. `dL/dq_t from l_s` is what l_s sends to q_t along those paths, and
    dL/dq_t (the truncated gradient, under its usual name) their sum over s = t .. t+k-1.
    `full[q]` holds (reader, lag, tree) as for the untruncated backward (reader None: the
    loss's own term); `steps` are the steps the loss reads; zero_tree(q) is 0."""
    cell, T = problem.cell, problem.T
    check_window(T, k)
    zero: set[str] = set()

    def name_of(ref: Ref, t: int, s: int) -> str:
        n = ref.name(t)
        return f"{n} from l_{s}" if ref.base.startswith("dL/d") and ref.offset is not None else n

    for s in sorted(steps, reverse=True):
        for t in range(s, max(1, s - k + 1) - 1, -1):
            for q in reversed(cell.quantities):
                name = f"dL/d{q}_{t} from l_{s}"
                present = []
                for reader, lag, tree in full[q]:
                    if t not in at[q]:
                        break
                    if (t != s) if reader is None else (t + lag > s or t + lag not in at[reader]):
                        continue
                    if any(name_of(r, t, s) in zero for r in refs(tree)):
                        continue  # what a zero gradient sends back
                    present.append((lag, tree, reader or LOSS))
                if not present:
                    zero.add(name)
                    continue
                tree = present[0][1] if len(present) == 1 else Op(
                    "add", tuple(p[1] for p in present))
                sig = ",".join(f"{via}{'+1' if lag else ''}" for lag, _, via in present)
                b.step(name, f"dL/d{q} from l [{sig}]", t, tree, "backward",
                       names=[name_of(r, t, s) for r in refs(tree)])
    for t in range(T, 0, -1):
        for q in reversed(cell.quantities):
            if t not in at[q]:
                continue
            parts = [f"dL/d{q}_{t} from l_{s}" for s in range(t, min(T, t + k - 1) + 1)]
            parts = [p for p in parts if p in b.quantities]
            if not parts:
                tree, kind, names = zero_tree(q), f"dL/d{q}=0", None
            else:
                tree = Op("add", tuple(Ref(f"@{i}") for i in range(len(parts))))
                kind, names = f"dL/d{q} window {len(parts)}", parts
            b.step(f"dL/d{q}_{t}", kind, t, tree, "backward", names=names)


# ---------------------------------------------------------------------------------------------
# Jacobians of one step and their products


def _name_values(named: dict, expr, sym) -> None:
    """Let `sym` stand for `expr` in a derivative; for a sigmoid 1/(1 + e^-a) also its parts,
    so that sigma' = e^-a / (1 + e^-a)^2 reads sigma (1 - sigma)."""
    if expr.is_Symbol or expr.is_Number:
        return
    named[expr] = sym
    if isinstance(expr, sp.Pow) and expr.exp == -1 and isinstance(expr.base, sp.Add):
        rest = [a for a in expr.base.args if a != 1]
        if len(rest) == 1 and len(expr.base.args) == 2 and isinstance(rest[0], sp.exp):
            named[expr.base] = 1 / sym
            named[rest[0]] = 1 / sym - 1


def _step_jacobians(tape: Tape, steps: list[Step], explicit: dict[str, sp.Matrix], wrt: str,
                    t: int) -> dict[str, Sparse]:
    """d q_t / d wrt_{t-1} for each q of `steps` (the forward steps of t, in order; `explicit`
    their formulas) by the chain rule through them, each local derivative written in the named
    values of step t where it can be (1 - h_t^2, not 1 - tanh(z_t)^2), as people write it."""
    named = {}  # a forward formula of step t -> the element symbol that names it
    D: dict[str, Sparse] = {}
    target = tape.quantities[f"{wrt}_{t - 1}"]
    for step in steps:
        E = explicit[step.name]
        for expr, sym in zip(E, tape.quantities[step.name].elements):
            _name_values(named, expr, sym)
        total: Sparse = {}
        for n in step.inputs:
            if D.get(n) or n == target.name:
                J = jacobian(E, tape.quantities[n].elements, named)
                add_into(total, matmul(J, D[n]) if n in D else J)
        D[step.name] = total
    return D


def _step_forward(tape: Tape, states: list[str], t: int) -> list[Step]:
    """The forward steps of time t up to the last state's (the quantities a Jacobian of one
    step runs through), without the local derivatives."""
    steps = [s for s in tape.steps if s.t == t and tape.quantities[s.name].role == "forward"
             and "/" not in s.name]
    last = max(i for i, s in enumerate(steps) if s.name in {f"{q}_{t}" for q in states})
    return steps[:last + 1]


def _jacobian_rule(tape: Tape, steps: list[Step], J: sp.Matrix, of: str, wrt: str,
                   kind: str) -> tuple[Rule, list]:
    """The rule of ds_t/du_{t-1} from its derivation J at t = 2 through `steps`, and how each
    slot shifts with t."""
    where = {}  # the element symbols of what step 2 reads and computes
    for name in dict.fromkeys(n for s in steps for n in (*s.inputs, s.name)):
        for s in tape.quantities[name].elements:
            where[s] = name
    used: list[str] = []
    for s in sorted(J.free_symbols, key=lambda x: str(x)):
        if where[s] not in used:
            used.append(where[s])
    qs = [tape.quantities[n] for n in used]
    slots = slots_like(kind, qs)
    mapping = {}
    for slot, q in zip(slots, qs):
        mapping.update(zip(q.elements, slot.elements))
    explicit = J.xreplace(mapping)
    if tape.model.is_scalar:
        with sp.evaluate(False):
            display = explicit[0, 0]
    else:
        display = sp.MatrixSymbol(f"d{of}_t/d{wrt}_t-1", *J.shape)
    rule = Rule(kind, tuple(slots), sp.Matrix(explicit), display)
    shifts = []
    for n in used:
        base, _, k = n.rpartition("_")
        if tape.quantities[n].role != "param" and k.isdigit():
            shifts.append((base, int(k) - 2))
        else:
            shifts.append((n, None))
    return rule, shifts


# One derivation per cell and sizes, shared by every T (verify unrolls T = 1..5): keyed by the
# states and what the forward steps of t = 2 are (names, inputs, trees, quantities).
_JACOBIANS = RuleCache()


def _jacobian_rules(tape: Tape, states: list[str]) -> dict[tuple[str, str], tuple[Rule, list]]:
    """The rule of ds_t/du_{t-1} and its slots' shifts for every pair of states (s, u)."""
    steps = _step_forward(tape, states, 2)
    key = None
    if all(s.kind in tape.trees for s in steps):
        key = (tuple(states), tape.model.is_scalar,
               tuple((s.name, s.kind, s.inputs, tape.trees[s.kind], tape.quantities[s.name],
                      tuple(tape.quantities[n] for n in s.inputs)) for s in steps))
        known = _JACOBIANS.get(key)
        if known is not None:
            return known
    explicit = {s.name: tape.explicit(s) for s in steps}
    out = {}
    for u in states:
        D = _step_jacobians(tape, steps, explicit, u, 2)
        for s in states:
            J = dense(D[f"{s}_2"], len(tape.quantities[f"{s}_2"].elements),
                      len(tape.quantities[f"{u}_1"].elements))
            out[s, u] = _jacobian_rule(tape, steps, J, s, u, f"d{s}/d{u}(t-1)")
    if key is not None:
        _JACOBIANS.put(key, out)
    return out


def jacobian_steps(b, problem, cell, T: int) -> None:
    """ds_t/du_{t-1} for every pair of states and t = 2..T; with T <= MAX_T_PRODUCTS also the
    products ds_t/du_k (k < t - 1), chained through every state in between. Not for a cell with a
    state of more than MAX_STATE_JACOBIAN entries: no one writes down a 16 x 16 Jacobian, and
    deriving them was most of the time of an LSTM of hidden size 16."""
    states = cell.states
    if T < 2 or not states or not _NAMED.get() or any(
            problem.shapes[s][0] * problem.shapes[s][1] > MAX_STATE_JACOBIAN for s in states):
        return
    tape = Tape(problem, b.quantities, b.rules, tuple(b.steps), b.trees)
    shapes = problem.shapes
    rules = _jacobian_rules(tape, states)
    for s in states:
        for u in states:
            rule, shifts = rules[s, u]
            kind = rule.kind
            b.rules[kind] = rule
            rows, cols = shapes[s][0], shapes[u][0]
            for t in range(2, T + 1):
                name = f"d{s}_{t}/d{u}_{t - 1}"
                b.quantity(name, (rows, cols), "backward", "matrix")
                inputs = tuple(base if k is None else f"{base}_{t + k}" for base, k in shifts)
                b.steps.append(Step(name, kind, t, inputs))
    if T > MAX_T_PRODUCTS:
        return
    for t in range(3, T + 1):
        for k in range(t - 2, 0, -1):
            for s in states:
                for u in states:
                    names = []
                    for v in states:
                        names += [f"d{s}_{t}/d{v}_{t - 1}", f"d{v}_{t - 1}/d{u}_{k}"]
                    tree = Op("add", tuple(Op("mm", (Ref(f"@{2 * i}"), Ref(f"@{2 * i + 1}")))
                                           for i in range(len(states))))
                    if len(states) == 1:
                        tree = tree.args[0]
                    b.step(f"d{s}_{t}/d{u}_{k}", f"d{s}/d{u} product", t, tree, "backward",
                           "matrix", names=names)


__all__ = ["LOSS", "MAX_T_NAMED", "MAX_T_PRODUCTS", "jacobian_steps", "local_derivatives",
           "via_steps", "windowed_backward", "without_intermediates"]
