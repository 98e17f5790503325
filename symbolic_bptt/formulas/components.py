"""Component indices as sources print them: o_i^{(t)}, h_{t+1,i}, w_{ij}, (\\nabla_o L)_i,
\\sum_i over a vector's entries, Goodfellow's 1_{i=y^{(t)}}.

A free component index is a claim for every entry: each side of such a formula is wrapped in an
Each node that stacks the side's value for i = 1..n (and j) into a column (a matrix), n the
length of what i indexes in the formula. Evaluation (at one (T, t)) is here; the Instance calls
it for the Entry, EntrySum and Each nodes.
"""

from __future__ import annotations

from dataclasses import fields

import sympy as sp

from ..errors import ProblemError
from .formula_ast import Each, Entry, EntrySum, Formula, Node, show


def _children(node: Node):
    for f in fields(node):
        value = getattr(node, f.name)
        if isinstance(value, Node):
            yield value
        elif isinstance(value, tuple):
            yield from (v for v in value if isinstance(v, Node))


def entries(node: Node, bound: frozenset = frozenset()):
    """Every Entry node in `node` with the component indices bound around it."""
    if isinstance(node, Entry):
        yield node, bound
    if isinstance(node, EntrySum):
        bound = bound | {node.var}
    for child in _children(node):
        yield from entries(child, bound)


def _free(node: Node) -> list[sp.Symbol]:
    out: list[sp.Symbol] = []
    for e, bound in entries(node):
        for s in (e.row, e.col):
            if s is not None and s not in bound and s not in out:
                out.append(s)
    return out


def with_components(formula: Formula) -> Formula:
    """The formula with each side wrapped in Each when it has free component indices."""
    free: list[sp.Symbol] = []
    for side in formula.sides:
        free.extend(s for s in _free(side) if s not in free)
    if not free:
        return formula
    if len(free) > 2:
        raise ProblemError(f"the formula has {len(free)} free component indices "
                           f"({', '.join(map(str, free))}); verify reads at most two (i, j)")
    probes = tuple(e for side in formula.sides for e, bound in entries(side)
                   if {e.row, e.col} & set(free) and not {e.row, e.col} & bound)
    sides = tuple(Each(arg=side, vars=tuple(free), probes=probes) for side in formula.sides)
    return Formula(sides, formula.notes, formula.source)


# ---------------------------------------------------------------------------------------------
# Evaluation at one (T, t), for the Instance


def length(inst, var: sp.Symbol, probes) -> int:
    """How many entries the index `var` runs over: the size of what it indexes."""
    sizes = set()
    for e in probes:
        if var not in (e.row, e.col):
            continue
        try:
            value = inst.plain(inst.eval(e.arg))
        except ProblemError:
            continue  # names an index bound inside (the range comes from another probe)
        if e.col is not None:
            sizes.add(value.rows if var == e.row else value.cols)
        else:
            sizes.add(max(value.rows, value.cols))
    if not sizes:
        raise ProblemError(f"cannot tell how many entries the index {var} runs over")
    if len(sizes) > 1:
        raise ProblemError(f"the index {var} indexes vectors of {' and '.join(map(str, sizes))}"
                           " entries")
    return sizes.pop()


def entry(inst, node: Entry) -> sp.Matrix:
    value = inst.plain(inst.eval(node.arg))
    r = inst.index(node.row)
    c = inst.index(node.col) if node.col is not None else None
    if c is None:
        if value.cols != 1 and value.rows != 1:
            raise ProblemError(f"{show(node)}: one index of a {value.rows}x{value.cols} matrix "
                               "(write two, as in w_{ij})")
        n = len(value)
        if not 1 <= r <= n:
            raise ProblemError(f"{show(node)}: entry {r} of {n}")
        return sp.Matrix([[value[r - 1]]])
    if not (1 <= r <= value.rows and 1 <= c <= value.cols):
        raise ProblemError(f"{show(node)}: entry ({r}, {c}) of a {value.rows}x{value.cols} "
                           "matrix")
    return sp.Matrix([[value[r - 1, c - 1]]])


def _scalar(inst, value, node: Node) -> sp.Expr:
    value = inst.plain(value)
    if value.shape != (1, 1):
        raise ProblemError(f"{show(node)}: a component is a number, not a {value.rows}x"
                           f"{value.cols} matrix")
    return value[0]


def entry_sum(inst, node: EntrySum) -> sp.Matrix:
    n = length(inst, node.var, [e for e, _ in entries(node.arg)])
    total = None
    try:
        for k in range(1, n + 1):
            inst.env[node.var] = sp.Integer(k)
            value = inst.plain(inst.eval(node.arg))
            total = value if total is None else total + value if total.shape == value.shape \
                else _mismatch(node)
    finally:
        inst.env.pop(node.var, None)
    return total


def _mismatch(node):
    raise ProblemError(f"{show(node)}: the terms of the sum have different shapes")


def each(inst, node: Each) -> sp.Matrix:
    sizes = [length(inst, v, node.probes) for v in node.vars]
    rows, cols = sizes[0], sizes[1] if len(sizes) > 1 else 1
    out = sp.zeros(rows, cols)
    try:
        for r in range(rows):
            for c in range(cols):
                inst.env[node.vars[0]] = sp.Integer(r + 1)
                if len(sizes) > 1:
                    inst.env[node.vars[1]] = sp.Integer(c + 1)
                out[r, c] = _scalar(inst, inst.eval(node.arg), node)
    finally:
        for v in node.vars:
            inst.env.pop(v, None)
    return out
