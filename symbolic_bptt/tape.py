"""The tape: every forward and BPTT step of a problem, in dependency order, as SymPy formulas.

Steps of one kind (z_t for every t, say) share one Rule: a formula over placeholder slots,
written once and read two ways (explicit matrices of element symbols for arithmetic and proofs,
and a display form in whole-quantity symbols for documents). A Step names its kind and the
quantities that fill the slots, so the tape grows linearly with T and each kind is compiled once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from .display_exprs import CrossEntropy, Softmax, SquaredNorm
from .model import ACTIVATIONS, LOSSES, Activation, loss_gradient, scaled
from .problem import Model, Problem, weight_shapes


@dataclass(frozen=True)
class Quantity:
    """A named value: its shape and whether it prints as a number, a vector or a matrix."""

    name: str
    shape: tuple[int, int]
    indexing: str  # "scalar" | "vector" | "matrix"
    role: str  # "param" | "data" | "forward" | "backward"

    @cached_property
    def elements(self) -> sp.Matrix:
        """One SymPy symbol per entry, named as users write them: h_2, h_2[1], dL/dW_hh[0,1]."""
        rows, cols = self.shape
        if self.indexing == "scalar":
            return sp.Matrix([[sp.Symbol(self.name)]])
        if self.indexing == "vector":
            return sp.Matrix(rows, 1, [sp.Symbol(f"{self.name}[{i}]") for i in range(rows)])
        return sp.Matrix(rows, cols, [sp.Symbol(f"{self.name}[{i},{j}]")
                                      for i in range(rows) for j in range(cols)])

    def display(self, matrix_display: bool):
        """The whole-quantity symbol used in displayed formulas."""
        if not matrix_display:
            return sp.Symbol(self.name)
        return sp.MatrixSymbol(self.name, *self.shape)


class ExplicitOps:
    """Formulas on explicit SymPy matrices of element symbols."""

    @staticmethod
    def var(q: Quantity) -> sp.Matrix:
        return q.elements

    @staticmethod
    def mm(a, b):
        return a * b

    @staticmethod
    def tr(a):
        return a.T

    @staticmethod
    def add(*terms):
        if isinstance(terms[0], sp.MatrixBase):
            # One sp.Add per entry: adding T matrices one by one would re-sort each sum T times.
            return sp.Matrix(*terms[0].shape, lambda i, j: sp.Add(*(t[i, j] for t in terms)))
        total = terms[0]
        for term in terms[1:]:
            total = total + term
        return total

    @staticmethod
    def had(a, b):
        return a.multiply_elementwise(b)

    @staticmethod
    def elementwise(fn, a):
        return a.applyfunc(fn)


class ScalarDisplayOps(ExplicitOps):
    """Display formulas when every quantity is a number: plain products, no transposes."""

    @staticmethod
    def var(q: Quantity):
        return q.display(matrix_display=False)

    @staticmethod
    def mm(a, b):
        return sp.Mul(a, b, evaluate=False)

    @staticmethod
    def tr(a):
        return a

    @staticmethod
    def add(*terms):
        # Unevaluated, so a formula reads in the order it was written (W_hh h_{t-1} + W_xh x_t).
        return sp.Add(*terms, evaluate=False) if len(terms) > 1 else terms[0]

    @staticmethod
    def had(a, b):
        return sp.Mul(a, b, evaluate=False)

    @staticmethod
    def elementwise(fn, a):
        return fn(a)


class _Elementwise(ElementwiseApplyFunction):
    """phi applied entrywise, kept as such for a 1 x 1 matrix too.

    SymPy's constructor first tries the function on a 1 x 1 matrix symbol itself, which raises
    for sigmoid and relu (hidden_size 1 with output_size > 1), also when xreplace rebuilds it.
    """

    def __new__(cls, function, expr):
        return sp.MatrixExpr.__new__(cls, function, expr)


class MatrixDisplayOps(ExplicitOps):
    """Display formulas in whole-matrix symbols: W_hh^T delta, Hadamard products, phi applied."""

    @staticmethod
    def var(q: Quantity):
        return q.display(matrix_display=True)

    @staticmethod
    def add(*terms):
        return sp.MatAdd(*terms) if len(terms) > 1 else terms[0]

    @staticmethod
    def had(a, b):
        return sp.HadamardProduct(a, b)

    @staticmethod
    def elementwise(fn, a):
        d = sp.Dummy("d")
        return _Elementwise(sp.Lambda(d, fn(d)), a)


@dataclass(frozen=True)
class Rule:
    """One kind of step: a formula over slots, explicit and for display."""

    kind: str
    slots: tuple[Quantity, ...]
    explicit: sp.Matrix
    display: object

    @cached_property
    def slot_symbols(self) -> tuple[sp.Symbol, ...]:
        """Every element symbol of every slot, flattened in slot order (the compiled arguments)."""
        return tuple(s for q in self.slots for s in q.elements)


@dataclass(frozen=True)
class Step:
    """One line of the tape: `name = rule(inputs)`, at time step t (None for whole-sequence steps)."""

    name: str
    kind: str
    t: int | None
    inputs: tuple[str, ...]


def make_rule(kind: str, inputs: Sequence[Quantity], formula, scalar: bool) -> Rule:
    """A Rule over placeholder slots shaped like `inputs`: `formula` read once on explicit
    matrices and once in display symbols (plain symbols when the model is scalar)."""
    slots = tuple(Quantity(f"{kind}#{i}", q.shape, q.indexing, "slot") for i, q in enumerate(inputs))
    display_ops = ScalarDisplayOps if scalar else MatrixDisplayOps
    explicit = formula(ExplicitOps, *(ExplicitOps.var(q) for q in slots))
    display = formula(display_ops, *(display_ops.var(q) for q in slots))
    return Rule(kind, slots, sp.Matrix(explicit), display)


def rule_display(rule: Rule, actual: Sequence[Quantity], matrix: bool):
    """A rule's display formula on the quantities `actual` (in slot order), unevaluated so it
    reads in the order it was written."""
    mapping = {}
    for slot, q in zip(rule.slots, actual, strict=True):
        mapping[slot.display(matrix)] = q.display(matrix)
        if matrix and slot.shape == (1, 1):  # a 1 x 1 quantity may appear as a scalar
            mapping[slot.display(False)] = q.display(False)
    with sp.evaluate(False):
        return rule.display.xreplace(mapping)


@dataclass(frozen=True)
class Tape:
    """The steps of one problem in dependency order, with every quantity and rule they use."""

    problem: Problem
    quantities: dict[str, Quantity] = field(hash=False)
    rules: dict[str, Rule] = field(hash=False)
    steps: tuple[Step, ...]

    @property
    def model(self) -> Model:
        return self.problem.model

    @property
    def T(self) -> int:
        return self.problem.T

    @cached_property
    def by_name(self) -> dict[str, Step]:
        return {s.name: s for s in self.steps}

    def explicit(self, step: Step | str) -> sp.Matrix:
        """The step's formula on element symbols of its actual inputs."""
        step = self.by_name[step] if isinstance(step, str) else step
        rule = self.rules[step.kind]
        mapping = {}
        for slot, name in zip(rule.slots, step.inputs, strict=True):
            mapping.update(zip(slot.elements, self.quantities[name].elements))
        return rule.explicit.xreplace(mapping)

    def display(self, step: Step | str):
        """The step's formula in whole-quantity symbols, for documents."""
        step = self.by_name[step] if isinstance(step, str) else step
        return rule_display(self.rules[step.kind], [self.quantities[n] for n in step.inputs],
                            not self.model.is_scalar)


# ---------------------------------------------------------------------------------------------
# Building the tape


class _Builder:
    def __init__(self, problem: Problem):
        self.problem = problem
        self.model = problem.model
        self.quantities: dict[str, Quantity] = {}
        self.rules: dict[str, Rule] = {}
        self.steps: list[Step] = []

    def quantity(self, name: str, shape: tuple[int, int], role: str, matrix: bool = False) -> str:
        if name not in self.quantities:
            if shape == (1, 1):
                indexing = "scalar"
            else:
                indexing = "matrix" if matrix else "vector"
            self.quantities[name] = Quantity(name, shape, indexing, role)
        return name

    def step(self, name: str, kind: str, t: int | None, inputs: list[str], formula, role: str,
             matrix: bool = False) -> str:
        """Add `name = formula(*inputs)`; the formula is built once per kind over slots."""
        if kind not in self.rules:
            self.rules[kind] = make_rule(kind, [self.quantities[n] for n in inputs], formula,
                                         self.model.is_scalar)
        shape = self.rules[kind].explicit.shape
        self.quantity(name, shape, role, matrix)
        self.steps.append(Step(name, kind, t, tuple(inputs)))
        return name


def unroll(problem: Problem) -> Tape:
    """The full tape for a problem: forward pass, loss, then the BPTT recursion and gradients."""
    b = _Builder(problem)
    m = problem.model
    T = problem.T
    act: Activation = ACTIVATIONS[m.activation]
    loss = LOSSES[m.loss]
    for name, shape in weight_shapes(m).items():
        b.quantity(name, shape, "param", matrix=name.startswith("W"))
    b.quantity("h_0", (m.hidden_size, 1), "data")
    for t in range(1, T + 1):
        b.quantity(f"x_{t}", (m.input_size, 1), "data")
        b.quantity(f"y_{t}", (m.output_size, 1), "data")
    _forward(b, T, act)
    _loss(b, T, loss)
    _backward(b, T, act, loss)
    return Tape(problem, b.quantities, b.rules, tuple(b.steps))


def _forward(b: _Builder, T: int, act: Activation) -> None:
    bias = b.model.bias

    def z_rule(ops, W_hh, h_prev, W_xh, x, *b_h):
        return ops.add(ops.mm(W_hh, h_prev), ops.mm(W_xh, x), *b_h)

    def o_rule(ops, W_hy, h, *b_y):
        return ops.add(ops.mm(W_hy, h), *b_y)

    for t in range(1, T + 1):
        b.step(f"z_{t}", "z", t, ["W_hh", f"h_{t-1}", "W_xh", f"x_{t}"] + ["b_h"] * bias, z_rule,
               "forward")
        b.step(f"h_{t}", "h", t, [f"z_{t}"], lambda ops, z: ops.elementwise(act.phi, z), "forward")
        b.step(f"o_{t}", "o", t, ["W_hy", f"h_{t}"] + ["b_y"] * bias, o_rule, "forward")


def _loss(b: _Builder, T: int, loss) -> None:
    def l_rule(ops, o, y):
        if ops is ExplicitOps:
            return sp.Matrix([[loss.per_step(o, y)]])
        return _display_per_step(loss, ops, o, y)

    for t in range(1, T + 1):
        b.step(f"l_{t}", "l", t, [f"o_{t}", f"y_{t}"], l_rule, "forward")

    def total(ops, *terms):
        if ops is ExplicitOps:
            return sp.Matrix([[scaled(loss.scale(T), sp.Add(*(x[0] for x in terms)))]])
        return scaled(loss.scale(T), sp.Add(*(_scalar(x) for x in terms)))

    b.step("L", "L", None, [f"l_{t}" for t in range(1, T + 1)], total, "forward")


def _scalar(x):
    """A 1 x 1 display symbol as a plain symbol, so a sum of per-step losses reads as one."""
    return sp.Symbol(x.name) if isinstance(x, sp.MatrixSymbol) else x


def _display_per_step(loss, ops, o, y):
    if ops is ScalarDisplayOps:
        return loss.per_step(sp.Matrix([o]), sp.Matrix([y]))
    if loss.name == "cross_entropy":
        return CrossEntropy(o, y)
    return SquaredNorm(sp.MatAdd(o, -y))


def _backward(b: _Builder, T: int, act: Activation, loss) -> None:
    m = b.model
    bias = m.bias

    def dl_do_rule(ops, o, y):
        if ops is ExplicitOps:
            return loss_gradient(loss, o, y, T)
        if ops is ScalarDisplayOps:
            return loss_gradient(loss, sp.Matrix([o]), sp.Matrix([y]), T)[0]
        if loss.name == "cross_entropy":
            return scaled(loss.scale(T), sp.MatAdd(Softmax(o), -y))
        return scaled(2 * loss.scale(T), sp.MatAdd(o, -y))

    def outer(ops, g, v):
        return ops.mm(g, ops.tr(v))

    for t in range(T, 0, -1):
        b.step(f"dL/do_{t}", "dL/do", t, [f"o_{t}", f"y_{t}"], dl_do_rule, "backward")
    _accumulate(b, T, "dL/dW_hy", "dL/do_{t}", "h_{t}", outer)

    def dh_last(ops, W_hy, g_o):
        return ops.mm(ops.tr(W_hy), g_o)

    def dh_rule(ops, W_hy, g_o, W_hh, g_z_next):
        return ops.add(ops.mm(ops.tr(W_hy), g_o), ops.mm(ops.tr(W_hh), g_z_next))

    def dz_rule(ops, v, g_h):
        prime = ops.elementwise(act.prime, v)
        if act.name == "identity":
            return g_h
        return ops.had(g_h, prime)

    for t in range(T, 0, -1):
        if t == T:
            b.step(f"dL/dh_{t}", "dL/dh_T", t, ["W_hy", f"dL/do_{t}"], dh_last, "backward")
        else:
            b.step(f"dL/dh_{t}", "dL/dh", t, ["W_hy", f"dL/do_{t}", "W_hh", f"dL/dz_{t+1}"],
                   dh_rule, "backward")
        v = f"h_{t}" if act.prime_of == "h" else f"z_{t}"
        b.step(f"dL/dz_{t}", "dL/dz", t, [v, f"dL/dh_{t}"], dz_rule, "backward")
    _accumulate(b, T, "dL/dW_hh", "dL/dz_{t}", "h_{t_1}", outer)
    _accumulate(b, T, "dL/dW_xh", "dL/dz_{t}", "x_{t}", outer)
    if bias:
        _accumulate(b, T, "dL/db_h", "dL/dz_{t}", None, None)
        _accumulate(b, T, "dL/db_y", "dL/do_{t}", None, None)


def _accumulate(b: _Builder, T: int, name: str, grad: str, other: str | None, term) -> None:
    """A shared parameter's gradient: one contribution per time step, then their sum."""
    if term is None:
        parts = [grad.format(t=t) for t in range(1, T + 1)]
    else:
        parts = []
        for t in range(1, T + 1):
            part = f"{name}^({t})"
            b.step(part, name + "^(t)", t, [grad.format(t=t), other.format(t=t, t_1=t - 1)], term,
                   "backward", matrix=True)
            parts.append(part)

    def total(ops, *terms):
        return ops.add(*terms)

    b.step(name, name, None, parts, total, "backward", matrix=name.startswith("dL/dW"))
