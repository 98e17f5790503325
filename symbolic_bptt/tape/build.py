"""Build the tape of a problem from its cell's equations: the forward steps as written, the loss,
and the backward steps derived.

For each quantity, dL/dq_t is the sum over the quantities that read q_t (at t, or at t+1 for a
state) of (their local derivative)^T dL/d(that quantity), plus the loss's own term when q is the
output. The local derivatives of entrywise functions are taken by sympy.diff and rewritten in
the names notes use: tanh'(z_t) = 1 - h_t^2 where h_t = tanh(z_t), sigma' = sigma (1 - sigma).
Each derived step is a small tree of ops over relative names (`W_hy`, `dL/do` at t, `dL/dz` at
t+1); one Rule per kind of tree, shared by every t.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

from ..inputs.problem import Problem
from ..model import ACTIVATIONS, loss_gradient, model_loss, scaled
from ..model.cell import INPUT, TARGET, UPSTREAM, Cell
from ..model.equations import Call, Had, Neg, Node, Num, Pow, Prod, Sum, Sym, symbols
from ..model.losses import Loss
from .display_exprs import (
    BinaryCrossEntropy,
    CrossEntropy,
    ReLU,
    Sigmoid,
    SigmoidOf,
    Softmax,
    SquaredNorm,
)
from .rules import ExplicitOps, Quantity, Rule, ScalarDisplayOps, Step, Tape
from .named import (
    LOSS,
    MAX_T_NAMED,
    jacobian_steps,
    local_derivatives,
    via_steps,
    windowed_backward,
)
from .training import training_steps
from .trees import Op, Ref, refs, shift, tree_rule

# ---------------------------------------------------------------------------------------------
# Entrywise functions and their derivatives

_d = sp.Dummy("d")
_Y = sp.Dummy("y")
# How a function's name is written in a mistake's label: phi' for Elman's activation, sigma'.
_NOTES_NAME = {"sigmoid": "sigma", "relu": "ReLU", **{f"phi:{a}": "phi" for a in ACTIVATIONS}}
_DERIVE = {"tanh": sp.tanh, "sigmoid": Sigmoid, "relu": ReLU, "exp": sp.exp, "log": sp.log}


def _display_function(fn: str) -> Callable:
    """How a function prints: the activation's own form for phi, the name as written otherwise."""
    if fn.startswith("phi:"):
        return ACTIVATIONS[fn[4:]].phi
    return _DERIVE[fn]


def _function(fn: str) -> sp.Lambda:
    return sp.Lambda(_d, _display_function(fn)(_d))


def _prime(fn: str) -> tuple[sp.Lambda, bool]:
    """f' by sympy.diff, as a function of f's own value where that is how notes write it
    (tanh' = 1 - y^2); the flag says which: True for the value, False for the argument."""
    f = _DERIVE[fn.removeprefix("phi:")](_d)
    derivative = sp.diff(f, _d)
    in_value = derivative.xreplace({f: _Y})
    if _d not in in_value.free_symbols:
        return sp.Lambda(_Y, in_value), True
    return sp.Lambda(_d, derivative), False


# ---------------------------------------------------------------------------------------------
# From equations to trees


class _Trees:
    """The forward tree of every equation, and the derivation of its backward contributions."""

    def __init__(self, cell: Cell, shapes: dict[str, tuple[int, int]]):
        self.shapes = shapes
        self.named = {e.rhs: e.lhs for e in cell.equations if isinstance(e.rhs, Call)}

    def shape(self, node: Node) -> tuple[int, int]:
        if isinstance(node, Num):
            return (1, 1)
        if isinstance(node, Sym):
            return self.shapes[node.name]
        if isinstance(node, Neg | Call | Pow):
            return self.shape(node.arg if not isinstance(node, Pow) else node.base)
        if isinstance(node, Sum):
            return max((self.shape(t) for t in node.terms), key=lambda s: s[0] * s[1])
        a, b = self.shape(node.left), self.shape(node.right)
        if isinstance(node, Prod) and a[1] == b[0]:
            return (a[0], b[1])
        return b if a == (1, 1) else a

    def is_scale(self, node: Prod | Had) -> int | None:
        """Which factor of a product scales the other (0 or 1), or None for mm / \\odot."""
        a, b = self.shape(node.left), self.shape(node.right)
        if isinstance(node, Prod) and a[1] == b[0]:
            return None
        if a == b and isinstance(node, Had):
            return None
        return 0 if a == (1, 1) else 1

    def forward(self, node: Node, shape: tuple[int, int] | None = None):
        """The tree of an expression; numbers in a vector context are filled to its shape."""
        if isinstance(node, Num):
            value = Op("num", (node.value,))
            return value if shape in (None, (1, 1)) else Op("fill", (value, shape))
        if isinstance(node, Sym):
            return Ref(node.name, None if node.lag is None else -node.lag)
        own = self.shape(node)
        if isinstance(node, Sum):
            terms = []
            for t in node.terms:
                tree = self.forward(t, own)
                if self.shape(t) == (1, 1) and own != (1, 1) and not isinstance(t, Num):
                    tree = Op("fill", (tree, own))
                terms.append(tree)
            return Op("add", tuple(terms))
        if isinstance(node, Neg):
            return Op("neg", (self.forward(node.arg, shape),))
        if isinstance(node, Call):
            return Op("fn", (_function(node.fn), self.forward(node.arg)))
        if isinstance(node, Pow):
            return Op("fn", (sp.Lambda(_d, _d ** node.exponent), self.forward(node.base)))
        k = self.is_scale(node)
        left, right = self.forward(node.left), self.forward(node.right)
        if k is not None:
            return Op("scale", (left, right) if k == 0 else (right, left))
        return Op("mm" if isinstance(node, Prod) else "had", (left, right))

    def vjp(self, node: Node, target: Sym, grad, lhs: str) -> list:
        """The terms that `grad` (dL/d node) sends to the symbol `target` through `node`, with
        `lhs` the quantity whose right side `node` is part of."""
        if isinstance(node, Sym):
            return [grad] if node == target else []
        if isinstance(node, Num):
            return []
        if isinstance(node, Sum):
            own = self.shape(node)
            out = []
            for t in node.terms:
                g = Op("sum", (grad,)) if self.shape(t) == (1, 1) and own != (1, 1) else grad
                out += self.vjp(t, target, g, lhs)
            return out
        if isinstance(node, Neg):
            return [Op("neg", (g,)) for g in self.vjp(node.arg, target, grad, lhs)]
        if isinstance(node, Call | Pow):
            inner = node.arg if isinstance(node, Call) else node.base
            if not self._reads(inner, target):
                return []
            return self.vjp(inner, target, self._through(node, grad, lhs), lhs)
        left, right = node.left, node.right
        k = self.is_scale(node)
        out = []
        if k is None:
            if isinstance(node, Prod):
                to_left = Op("mm", (grad, Op("tr", (self.forward(right),))))
                to_right = Op("mm", (Op("tr", (self.forward(left),)), grad))
            else:
                to_left = Op("had", (grad, self.forward(right)))
                to_right = Op("had", (grad, self.forward(left)))
            if self._reads(left, target):
                out += self.vjp(left, target, to_left, lhs)
            if self._reads(right, target):
                out += self.vjp(right, target, to_right, lhs)
            return out
        s, v = (left, right) if k == 0 else (right, left)
        if self._reads(v, target):
            out += self.vjp(v, target, Op("scale", (self.forward(s), grad)), lhs)
        if self._reads(s, target):
            v_tree = self.forward(v)
            if self.shape(v)[1] == 1:
                to_s = Op("mm", (Op("tr", (v_tree,)), grad))
            else:
                to_s = Op("sum", (Op("had", (grad, v_tree)),))
            out += self.vjp(s, target, to_s, lhs)
        return out

    def _through(self, node: Call | Pow, grad, lhs: str):
        """grad times the entrywise derivative of a function node: grad ⊙ f'(...)."""
        if isinstance(node, Pow):
            n = node.exponent
            if n == 1:
                return grad
            return Op("had", (grad, Op("fn", (sp.Lambda(_d, n * _d ** (n - 1)),
                                              self.forward(node.base)))))
        prime, in_value = _prime(node.fn)
        if in_value:
            name = self.named.get(node)
            # a function inside a larger expression has no name of its own: written out again
            at = Ref(name, 0) if name is not None else Op(
                "fn", (_function(node.fn), self.forward(node.arg)))
        elif node.fn.removeprefix("phi:") == "relu" and not isinstance(node.arg, Sym) \
                and self.named.get(node) is not None:
            # relu'(a) = 1[a > 0] = 1[relu(a) > 0] for every a: read the named value, not a
            # compound argument written out again
            prime, at = sp.Lambda(_Y, sp.Heaviside(_Y, 0)), Ref(self.named[node], 0)
        else:
            at = self.forward(node.arg)
        if prime.expr == prime.variables[0]:  # exp' = exp: the value itself
            return Op("had", (grad, at))
        if not prime.expr.free_symbols:  # a constant derivative (the identity's 1) stays
            return Op("had", (grad, Op("fn", (prime, at))))
        return Op("had", (grad, Op("prime", (prime, at, _NOTES_NAME.get(node.fn, node.fn)))))

    @staticmethod
    def _reads(node: Node, target: Sym) -> bool:
        return target in symbols(node)


# ---------------------------------------------------------------------------------------------
# The tape


class _Builder:
    def __init__(self, problem: Problem):
        self.problem = problem
        self.scalar = problem.model.is_scalar
        self.quantities: dict[str, Quantity] = {}
        self.rules: dict[str, Rule] = {}
        self.trees: dict[str, object] = {}
        self.refs: dict[str, list[Ref]] = {}  # the inputs of each kind's tree, in slot order
        self.steps: list[Step] = []

    def quantity(self, name: str, shape: tuple[int, int], role: str, indexing: str | None = None):
        if name not in self.quantities:
            if indexing is None or shape == (1, 1):
                indexing = "scalar" if shape == (1, 1) else "vector"
            self.quantities[name] = Quantity(name, shape, indexing, role)
        return name

    def step(self, name: str, kind: str, t: int | None, tree, role: str,
             indexing: str | None = None, names: list[str] | None = None) -> None:
        """Add `name = tree` at step t; one rule per kind, built on the first step of the kind."""
        known = self.trees.get(kind)
        if known is not None and known is not tree and known != tree:
            raise AssertionError(f"two trees for the kind {kind}")
        inputs = self.refs[kind] if known is not None else refs(tree)
        actual = names if names is not None else [r.name(t) for r in inputs]
        if known is None:
            self.rules[kind] = tree_rule(kind, tree, inputs, [self.quantities[n] for n in actual],
                                     self.scalar)
            self.trees[kind], self.refs[kind] = tree, inputs
        self.quantity(name, self.rules[kind].shape, role, indexing)
        self.steps.append(Step(name, kind, t, tuple(actual)))


def computed(problem: Problem) -> dict[str, dict[int, None]]:
    """The steps at which each quantity is computed (in order, and asked `t in` in O(1)): every
    t, except an output that nothing in the cell reads, which exists only where the loss reads
    it (a many-to-one model's o_T)."""
    cell, T = problem.cell, problem.T
    every = dict.fromkeys(range(1, T + 1))
    read = {s.name for e in cell.equations for s in symbols(e.rhs)}
    return {q: dict.fromkeys(problem.loss_steps) if q == cell.output and q not in read else every
            for q in cell.quantities}


def unroll(problem: Problem) -> Tape:
    """The full tape for a problem: forward pass, loss, then the BPTT recursion and gradients."""
    b = _Builder(problem)
    cell: Cell = problem.cell
    T = problem.T
    shapes = problem.shapes
    trees = _Trees(cell, shapes)
    params = [n for n in shapes if n in cell.parameters]  # as [weights] lists them
    for name in params:
        b.quantity(name, shapes[name], "param", problem.indexing(name))
    for state in cell.states:
        b.quantity(f"{state}_0", shapes[state], "data")
    for t in range(1, T + 1):
        b.quantity(f"{INPUT}_{t}", shapes[INPUT], "data")
    given = problem.model.loss == "given"
    for t in problem.loss_steps:
        b.quantity(f"{UPSTREAM if given else TARGET}_{t}", shapes[cell.output], "data")
    at = computed(problem)
    forward = {e.lhs: trees.forward(e.rhs) for e in cell.equations}  # one tree per kind, every t
    for t in range(1, T + 1):
        for e in cell.equations:
            if t in at[e.lhs]:
                b.step(f"{e.lhs}_{t}", e.lhs, t, forward[e.lhs], "forward")
    loss = None if given else model_loss(problem.model.loss, problem.model.reduction)
    if loss is not None:
        _loss(b, problem.loss_steps, loss, cell.output, problem.model.loss_factor)
    named = T <= MAX_T_NAMED  # the intermediates people write down (tape/named.py)
    if named:
        local_derivatives(b, cell, trees, at)
    _backward(b, problem, trees, loss, params, at, named)
    if named:
        jacobian_steps(b, problem, cell, T)
    training_steps(b, params, problem.training)
    return Tape(problem, b.quantities, b.rules, tuple(b.steps), b.trees)


def _loss(b: _Builder, steps: tuple[int, ...], loss, output: str, factor: str) -> None:
    """l_t at each step read and L = their sum; the loss's factor (1/2, 1/n) outside the sum,
    or inside each l_t with loss_factor = "per_step"."""
    n = len(steps)
    inside = sp.Integer(1) if factor == "outside" else loss.scale(n)
    outside = loss.scale(n) if factor == "outside" else sp.Integer(1)
    tree = Op("loss", (_StepLoss(loss, inside), Ref(output, 0), Ref(TARGET, 0)))
    for t in steps:
        b.step(f"l_{t}", "l", t, tree, "forward")
    parts = [Ref("l", k) for k in range(n)]
    b.step("L", "L", None, Op("loss", (_TotalLoss(outside), *parts)), "forward",
           names=[f"l_{t}" for t in steps])


# The loss's formulas as values (equal when their data are), so that the trees that hold them
# are equal from one problem to the next and their rules are derived once (trees.tree_rule).


@dataclass(frozen=True)
class _StepLoss:
    """l_t = inside * l(o_t, y_t)."""

    loss: Loss
    inside: sp.Expr

    def __call__(self, ops, o, y):
        if ops is ExplicitOps:
            return sp.Matrix([[scaled(self.inside, self.loss.per_step(o, y))]])
        return scaled(self.inside, _display_per_step(self.loss, ops, o, y))


@dataclass(frozen=True)
class _TotalLoss:
    """L = outside * (l_1 + ... + l_n)."""

    outside: sp.Expr

    def __call__(self, ops, *terms):
        if ops is ExplicitOps:
            return sp.Matrix([[scaled(self.outside, sp.Add(*(x[0] for x in terms)))]])
        return scaled(self.outside, sp.Add(*(_scalar(x) for x in terms)))


@dataclass(frozen=True)
class _LossGradient:
    """dL/do_t's own term, the derivative of a loss over n steps."""

    loss: Loss
    n: int

    def __call__(self, ops, o, y):
        loss, n = self.loss, self.n
        if ops is ExplicitOps:
            return loss_gradient(loss, o, y, n)
        if ops is ScalarDisplayOps:
            if loss.name == "bce":
                return scaled(loss.scale(n), Sigmoid(o) - y)
            return loss_gradient(loss, sp.Matrix([o]), sp.Matrix([y]), n)[0]
        if loss.name == "cross_entropy":
            return scaled(loss.scale(n), sp.MatAdd(Softmax(o), -y))
        if loss.name == "bce":
            return scaled(loss.scale(n), sp.MatAdd(SigmoidOf(o), -y))
        return scaled(2 * loss.scale(n), sp.MatAdd(o, -y))


def _scalar(x):
    """A 1 x 1 display symbol as a plain symbol, so a sum of per-step losses reads as one."""
    return sp.Symbol(x.name) if isinstance(x, sp.MatrixSymbol) else x


def _display_per_step(loss, ops, o, y):
    if ops is ScalarDisplayOps:
        if loss.name == "bce":
            return -(y * sp.log(Sigmoid(o)) + (1 - y) * sp.log(1 - Sigmoid(o)))
        return loss.per_step(sp.Matrix([o]), sp.Matrix([y]))
    if loss.name == "cross_entropy":
        return CrossEntropy(o, y)
    if loss.name == "bce":
        return BinaryCrossEntropy(o, y)
    return SquaredNorm(sp.MatAdd(o, -y))


def _loss_term(loss, n: int, output: str):
    """dL/do_t's own term: the loss's derivative, or the given upstream gradient."""
    if loss is None:
        return Ref(UPSTREAM, 0)
    return Op("loss", (_LossGradient(loss, n), Ref(output, 0), Ref(TARGET, 0)))


def _readers(cell: Cell, q: str) -> list[tuple[int, object, Sym]]:
    """(lag, equation, symbol) for every place q is read: at t first, then at t-1 (a state)."""
    out = []
    for lag in (0, 1):
        for e in cell.equations:
            if Sym(q, lag) in symbols(e.rhs):
                out.append((lag, e, Sym(q, lag)))
    return out


def _backward(b: _Builder, problem: Problem, trees: _Trees, loss, params: list[str],
              at: dict[str, dict[int, None]], named: bool = True) -> None:
    cell, T = problem.cell, problem.T
    steps = set(problem.loss_steps)
    full: dict[str, list] = {}  # q -> (reader, lag, tree); reader None for the loss's own term
    for q in cell.quantities:
        terms = [(None, 0, _loss_term(loss, len(steps), q))] if q == cell.output else []
        for lag, e, sym in _readers(cell, q):
            grad = Ref(f"dL/d{e.lhs}", 0)
            for term in trees.vjp(e.rhs, sym, grad, e.lhs):
                terms.append((e.lhs, lag, shift(term, lag)))
        full[q] = terms
    training = problem.training
    if training is not None and training.truncate_window is not None:
        windowed_backward(b, problem, full, training.truncate_window, steps, at,
                          lambda q: _gradient_tree(problem, q, full[q], ())[0])
        for p in params:
            _parameter(b, problem, trees, p, at)
        return
    built: dict[tuple[str, tuple[int, ...]], tuple] = {}  # one tree per kind, shared by every t
    for t in range(T, 0, -1):
        for q in reversed(cell.quantities):
            if t not in at[q]:
                continue
            present = tuple(k for k, (reader, lag, _) in enumerate(full[q])
                            if (t in steps if reader is None else t + lag in at[reader])
                            and not (lag and training is not None and training.cut(t)))
            if named:
                via_steps(b, q, t, [(full[q][k][1], full[q][k][2], full[q][k][0] or LOSS)
                                    for k in present])
            if (q, present) not in built:
                built[q, present] = _gradient_tree(problem, q, full[q], present)
            tree, kind = built[q, present]
            b.step(f"dL/d{q}_{t}", kind, t, tree, "backward")
    for p in params:
        _parameter(b, problem, trees, p, at)


def _gradient_tree(problem: Problem, q: str, terms: list, present: tuple[int, ...]):
    """dL/dq_t's tree from the terms present at t, and its kind's name: dL/dq (every term),
    dL/dq_T (the later steps' terms missing, as at t = T), or dL/dq_<the readers present>."""
    if not present:  # q_t reaches no loss (a quantity nothing reads, or a step after the loss)
        zero = Op("num", (sp.Integer(0),))
        tree = zero if problem.shapes[q] == (1, 1) else Op("fill", (zero, problem.shapes[q]))
        return tree, f"dL/d{q}=0"
    trees = [terms[k][2] for k in present]
    tree = trees[0] if len(trees) == 1 else Op("add", tuple(trees))
    if len(present) == len(terms):
        return tree, f"dL/d{q}"
    if set(present) == {k for k, (_, lag, _) in enumerate(terms) if lag == 0}:
        return tree, f"dL/d{q}_T"
    via = ",".join(("l" if terms[k][0] is None else f"{terms[k][0]}{'+1' * terms[k][1]}")
                   for k in present)
    return tree, f"dL/d{q}_via_{via}"


def _parameter(b: _Builder, problem: Problem, trees: _Trees, p: str,
               at: dict[str, dict[int, None]]) -> None:
    """A shared parameter's gradient: one contribution per time step, then their sum."""
    cell, T = problem.cell, problem.T
    terms = []
    for e in cell.equations:
        terms += [(e.lhs, tree) for tree in trees.vjp(e.rhs, Sym(p), Ref(f"dL/d{e.lhs}", 0), e.lhs)]
    name = f"dL/d{p}"
    indexing = b.quantities[p].indexing
    parts = []
    kinds: dict[tuple[int, ...], str] = {}
    built: dict[tuple[int, ...], object] = {}
    for t in range(1, T + 1):
        present = tuple(k for k, (reader, _) in enumerate(terms) if t in at[reader])
        if not present:
            continue
        if len(present) == 1 and isinstance(terms[present[0]][1], Ref):
            parts.append(terms[present[0]][1].name(t))  # the gradient itself, as for a bias
            continue
        tree = built.get(present)
        if tree is None:  # one tree per kind: a step then finds its kind's own, not an equal one
            own = [terms[k][1] for k in present]
            tree = built[present] = own[0] if len(own) == 1 else Op("add", tuple(own))
        kind = kinds.setdefault(present, name + "^(t)" + ("" if len(present) == len(terms)
                                                          else f"_{len(kinds)}"))
        part = f"{name}^({t})"
        b.step(part, kind, t, tree, "backward", indexing)
        parts.append(part)
    total = Op("add", tuple(Ref(f"@{k}") for k in range(len(parts))))
    b.step(name, name, None, total, "backward", indexing, names=parts)
