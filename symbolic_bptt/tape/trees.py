"""Op trees over relative names: how a step of the tape is written before it becomes a Rule.

A tree reads quantities by `Ref` (a name at t + offset, or a parameter) and combines them with
`Op`s (matrix product, transpose, Hadamard product, an entrywise function, a local derivative,
a loss). One tree per kind of step, shared by every t: the builder derives the backward trees
from the equations, and the mistake catalog rewrites them (a local derivative moved to another
t, dropped, a path left out) before they are read as Rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import sympy as sp

from .rules import (
    ExplicitOps,
    MatrixDisplayOps,
    Quantity,
    Rule,
    RuleCache,
    ScalarDisplayOps,
    make_rule,
    slots_like,
    sum_rule,
)


@dataclass(frozen=True)
class Ref:
    """A quantity: `base` at t + offset (offset None: a parameter)."""

    base: str
    offset: int | None = None

    def name(self, t: int) -> str:
        return self.base if self.offset is None else f"{self.base}_{t + self.offset}"


@dataclass(frozen=True)
class Op:
    """op(args): add, neg, mm, tr, scale, had, fill, sum, num, fn (args[0] a Lambda), loss, and
    prime: a local derivative f'(...) (args: the Lambda, its argument tree, f's name as notes
    write it), computed like fn and marked so that the catalog can find it."""

    op: str
    args: tuple


def refs(tree) -> list[Ref]:
    """The quantities a tree reads, in the order written, each once."""
    out: dict[Ref, None] = {}

    def walk(x):
        if isinstance(x, Ref):
            out.setdefault(x)
        elif isinstance(x, Op):
            for a in x.args:
                walk(a)
    walk(tree)
    return list(out)


def interpret(tree, ops, env: dict[Ref, Quantity]):
    """The tree as a SymPy formula under `ops` (explicit matrices or display symbols)."""
    if isinstance(tree, Ref):
        return ops.var(env[tree])
    a = tree.args
    if tree.op == "num":
        return ops.num(a[0])
    if tree.op == "fill":
        return ops.fill(interpret(a[0], ops.scalar_ops, env), a[1])
    if tree.op == "scale":
        return ops.scale(interpret(a[0], ops.scalar_ops, env), interpret(a[1], ops, env))
    if tree.op in ("fn", "prime"):
        return ops.elementwise(a[0], interpret(a[1], ops, env))
    if tree.op == "loss":
        return a[0](ops, *(interpret(x, ops, env) for x in a[1:]))
    args = [interpret(x, ops, env) for x in a]
    if tree.op == "tr" and ops is ScalarDisplayOps:
        return args[0]
    return {"add": ops.add, "neg": ops.neg, "mm": ops.mm, "tr": ops.tr, "had": ops.had,
            "sum": ops.sum_entries}[tree.op](*args)


def shift(tree, by: int):
    """A tree read at another time step (the contributions of the step that reads q_t)."""
    if isinstance(tree, Ref):
        return tree if tree.offset is None else Ref(tree.base, tree.offset + by)
    if isinstance(tree, Op):
        return Op(tree.op, tuple(shift(a, by) for a in tree.args))
    return tree


def transform(tree, fn: Callable):
    """The tree with every node x (leaves first) replaced by fn(x); fn returns x to keep it."""
    if isinstance(tree, Op):
        tree = Op(tree.op, tuple(transform(a, fn) for a in tree.args))
    return fn(tree) if isinstance(tree, Op | Ref) else tree


def nodes(tree):
    """Every Op and Ref of a tree, parents before children."""
    if isinstance(tree, Op | Ref):
        yield tree
    if isinstance(tree, Op):
        for a in tree.args:
            yield from nodes(a)


def explicit_functions(expr):
    """Functions kept by name while deriving, written out for arithmetic."""
    from .display_exprs import ReLU, Sigmoid

    if not expr.has(Sigmoid, ReLU):
        return expr
    return expr.replace(Sigmoid, lambda x: 1 / (1 + sp.exp(-x))).replace(
        ReLU, lambda x: sp.Max(0, x))


# Each kind's rule derived once per process: the same cell at another T, or another problem of
# the same shapes, reads the same Rule (and walk.py its compiled form).
_RULES = RuleCache()


def tree_rule(kind: str, tree, inputs: list[Ref], actual: list[Quantity], scalar: bool) -> Rule:
    """The Rule of a tree whose Refs `inputs` are filled, in order, by quantities like `actual`.

    A function of the kind, the tree, its inputs, the slots' shapes and indexing, and whether
    the model is scalar: the cache's key."""
    key = (kind, tree, tuple(inputs), tuple((q.shape, q.indexing) for q in actual), scalar)
    known = _RULES.get(key)
    if known is not None:
        return known
    if isinstance(tree, Op) and tree.op == "add" and tuple(tree.args) == tuple(inputs) \
            and len(set(inputs)) == len(inputs) \
            and len({(q.shape, q.indexing) for q in actual}) == 1:
        rule = sum_rule(kind, actual, scalar)  # a sum of its inputs, each read once
        _RULES.put(key, rule)
        return rule
    slots = slots_like(kind, actual)
    if any(isinstance(x, Op) and x.op == "loss" for x in nodes(tree)):
        env = dict(zip(inputs, slots))
        rule = make_rule(kind, actual, lambda ops, *_: interpret(tree, ops, env), scalar, slots)
        rule = Rule(rule.kind, rule.slots, rule.explicit.applyfunc(explicit_functions), rule.display)
    else:
        rule = TreeRule(kind, slots, tree, tuple(inputs), scalar)
    _RULES.put(key, rule)
    return rule


class TreeRule(Rule):
    """The Rule of an op tree, its explicit and display formulas made when first asked.

    Float arithmetic compiles the tree itself (evaluate/vector.py) and needs neither: the
    explicit matrices of an LSTM of hidden size 16 took SymPy seconds to build, most of a
    T = 1000 solve. Exact, rounded and interval arithmetic, proofs and documents read them as
    before."""

    def __init__(self, kind: str, slots: tuple[Quantity, ...], tree, inputs: tuple[Ref, ...],
                 scalar: bool):
        for name, value in (("kind", kind), ("slots", slots), ("tree", tree),
                            ("inputs", inputs), ("scalar", scalar)):
            object.__setattr__(self, name, value)

    @property
    def env(self) -> dict[Ref, Quantity]:
        """Each Ref of the tree and the slot that fills it."""
        return dict(zip(self.inputs, self.slots))

    @cached_property
    def explicit(self):
        matrix = sp.Matrix(interpret(self.tree, ExplicitOps, self.env))
        if any(isinstance(x, Op) and x.op in ("fn", "prime") for x in nodes(self.tree)):
            matrix = matrix.applyfunc(explicit_functions)  # only a function writes Sigmoid or ReLU
        return matrix

    @cached_property
    def display(self):
        ops = ScalarDisplayOps if self.scalar else MatrixDisplayOps
        return interpret(self.tree, ops, self.env)

    @cached_property
    def shape(self) -> tuple[int, int]:
        return tree_shape(self.tree, self.env)


def tree_shape(tree, env: dict[Ref, Quantity]) -> tuple[int, int]:
    """The shape of a tree's explicit value (a vector is a column), without computing it."""
    if isinstance(tree, Ref):
        return env[tree].element_shape
    op, a = tree.op, tree.args
    if op in ("num", "sum"):
        return (1, 1)
    if op == "fill":
        return tuple(a[1])
    if op in ("scale", "fn", "prime"):
        return tree_shape(a[1], env)
    if op == "mm":
        return (tree_shape(a[0], env)[0], tree_shape(a[1], env)[1])
    if op == "tr":
        rows, cols = tree_shape(a[0], env)
        return (cols, rows)
    if op in ("add", "neg", "had"):
        return tree_shape(a[0], env)
    raise ValueError(f"no shape for the op {op}")
