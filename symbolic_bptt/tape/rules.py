"""The tape's data: quantities, rules over placeholder slots, steps, and the ops that read a rule.

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

from ..inputs.problem import Model, Problem
from .display_exprs import Filled, SumEntries


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
        return sp.Matrix(*self.element_shape, self.element_symbols())

    @property
    def element_shape(self) -> tuple[int, int]:
        """The shape of `elements`: 1 x 1 for a scalar, a column for a vector."""
        rows, cols = self.shape
        return (1, 1) if self.indexing == "scalar" else (rows, 1) if self.indexing == "vector" \
            else (rows, cols)

    def element_symbols(self) -> list[sp.Symbol]:
        """The symbols of `elements`, row-major, without making the matrix."""
        rows, cols = self.shape
        if self.indexing == "scalar":
            return [sp.Symbol(self.name)]
        if self.indexing == "vector":
            return [sp.Symbol(f"{self.name}[{i}]") for i in range(rows)]
        return [sp.Symbol(f"{self.name}[{i},{j}]") for i in range(rows) for j in range(cols)]

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
        return _matmul(a, b)

    @staticmethod
    def tr(a):
        return a.T

    @staticmethod
    def add(*terms):
        if isinstance(terms[0], sp.MatrixBase):
            # One sum per entry: adding T matrices one by one would re-sort each sum T times.
            flats = [[x for row in t.tolist() for x in row] for t in terms]
            return sp.Matrix(*terms[0].shape, [_sum([f[k] for f in flats])
                                               for k in range(len(flats[0]))])
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

    @staticmethod
    def num(value):
        return sp.Matrix([[value]])

    @staticmethod
    def neg(a):
        return -a

    @staticmethod
    def scale(s, v):
        """A 1 x 1 value times a vector or matrix."""
        return s[0, 0] * v

    @staticmethod
    def fill(s, shape):
        """A 1 x 1 value broadcast to `shape` (the 1 of 1 - z_t)."""
        return sp.Matrix(*shape, lambda i, j: s[0, 0])

    @staticmethod
    def sum_entries(a):
        return sp.Matrix([[sp.Add(*a)]])


ExplicitOps.scalar_ops = ExplicitOps

_PLAIN = sp.Symbol("x").assumptions0
_NOT_FINITE = (sp.S.Infinity, sp.S.NegativeInfinity, sp.S.ComplexInfinity, sp.S.NaN)


def _matmul(a: sp.Matrix, b: sp.Matrix) -> sp.Matrix:
    """a * b; for explicit matrices entry by entry the sum of the nonzero products, as SymPy's
    product forms it, without the 0 * x == 0 test it makes of every entry (an assumptions
    query: seconds for the gates of hidden size 16). Entries that may be infinite keep SymPy's
    product."""
    if not (isinstance(a, sp.MatrixBase) and isinstance(b, sp.MatrixBase)) or a.cols != b.rows \
            or any(x.has(*_NOT_FINITE) for m in (a, b) for x in m):
        return a * b
    rows = [[x for x in a.row(i)] for i in range(a.rows)]
    cols = [[x for x in b.col(j)] for j in range(b.cols)]
    return sp.Matrix(a.rows, b.cols, [
        sp.Add(*[x * y for x, y in zip(r, c) if x != 0 and y != 0]) for r in rows for c in cols])


def _sum(terms: list) -> sp.Expr:
    """sp.Add(*terms). A sum of distinct plain symbols (a parameter's gradient, over T steps) is
    put in order by name: the order SymPy's Add sorts them in (a symbol compares by its name),
    without its comparisons, which take seconds for the sums of T = 1000."""
    if len(terms) > 2 and all(type(x) is sp.Symbol for x in terms) \
            and len(set(terms)) == len(terms) and all(x.assumptions0 == _PLAIN for x in terms):
        return sp.Add._from_args(sorted(terms, key=lambda x: x.name), True)
    return sp.Add(*terms)


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

    @staticmethod
    def num(value):
        return value

    @staticmethod
    def scale(s, v):
        return sp.Mul(s, v, evaluate=False)

    @staticmethod
    def fill(s, shape):
        return s

    @staticmethod
    def sum_entries(a):
        return a


ScalarDisplayOps.scalar_ops = ScalarDisplayOps


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

    @staticmethod
    def scale(s, v):
        return sp.MatMul(s, v)

    @staticmethod
    def fill(s, shape):
        return Filled(s, *shape)

    @staticmethod
    def sum_entries(a):
        return SumEntries(a)


MatrixDisplayOps.scalar_ops = ScalarDisplayOps


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

    @property
    def shape(self) -> tuple[int, int]:
        """The shape of the rule's value."""
        return self.explicit.shape


class RuleCache:
    """Rules derived once per process and shared by every tape that has them (the same cell
    and sizes at another T, verify's T = 1..5, the catalog's rewritten trees): a bounded map
    from a hashable key (what the rule is a function of) to what was derived."""

    def __init__(self, size: int = 4096):
        self.size = size
        self._known: dict = {}

    def get(self, key):
        """What was derived for `key`, or None (also for a key that cannot be hashed)."""
        try:
            return self._known.get(key)
        except TypeError:
            return None

    def put(self, key, value) -> None:
        try:
            hash(key)
        except TypeError:
            return
        if len(self._known) >= self.size:
            self._known.clear()
        self._known[key] = value


@dataclass(frozen=True)
class Step:
    """One line of the tape: `name = rule(inputs)`, at time step t (None for whole-sequence steps)."""

    name: str
    kind: str
    t: int | None
    inputs: tuple[str, ...]


def slots_like(kind: str, inputs: Sequence[Quantity]) -> tuple[Quantity, ...]:
    """Placeholder slots shaped like `inputs`, named after the rule's kind."""
    return tuple(Quantity(f"{kind}#{i}", q.shape, q.indexing, "slot") for i, q in enumerate(inputs))


def make_rule(kind: str, inputs: Sequence[Quantity], formula, scalar: bool,
              slots: tuple[Quantity, ...] | None = None) -> Rule:
    """A Rule over placeholder slots shaped like `inputs` (or `slots`, made already): `formula`
    read once on explicit matrices and once in display symbols (plain symbols when the model is
    scalar)."""
    slots = slots if slots is not None else slots_like(kind, inputs)
    display_ops = ScalarDisplayOps if scalar else MatrixDisplayOps
    explicit = formula(ExplicitOps, *(ExplicitOps.var(q) for q in slots))
    display = formula(display_ops, *(display_ops.var(q) for q in slots))
    return Rule(kind, slots, sp.Matrix(explicit), display)


class SumRule(Rule):
    """The Rule of the sum of its slots (a parameter's gradient over T steps): make_rule's, with
    the explicit and display formulas made only when asked. At T = 1000 the slots' symbols took
    seconds, and float arithmetic needs none of them (`slot_positions`)."""

    def __init__(self, kind: str, slots: tuple[Quantity, ...], scalar: bool):
        for name, value in (("kind", kind), ("slots", slots), ("scalar", scalar)):
            object.__setattr__(self, name, value)

    @cached_property
    def display(self):
        """The sum in display symbols, made when a document asks (T = 1000: 18,000 symbols)."""
        ops = ScalarDisplayOps if self.scalar else MatrixDisplayOps
        return ops.add(*(ops.var(q) for q in self.slots))

    @cached_property
    def slot_symbols(self) -> tuple[sp.Symbol, ...]:
        return tuple(x for q in self.slots for x in q.element_symbols())

    @cached_property
    def explicit(self) -> sp.Matrix:
        n = len(self.slot_symbols) // len(self.slots)
        flats = [self.slot_symbols[k * n:(k + 1) * n] for k in range(len(self.slots))]
        return sp.Matrix(*self.slots[0].element_shape, [_sum([f[e] for f in flats])
                                                        for e in range(n)])

    @property
    def shape(self) -> tuple[int, int]:
        return self.slots[0].element_shape

    def slot_positions(self) -> list[list[int]]:
        """For each entry, where its terms are among the flat slot values, slot by slot."""
        n = len(self.slots[0].element_symbols())
        return [[k * n + e for k in range(len(self.slots))] for e in range(n)]


def sum_rule(kind: str, inputs: Sequence[Quantity], scalar: bool) -> Rule:
    """make_rule's Rule of the sum of its slots, each read once, in order."""
    return SumRule(kind, slots_like(kind, inputs), scalar)


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
    trees: dict[str, object] = field(hash=False, default_factory=dict)  # kind -> tape.trees tree

    @property
    def model(self) -> Model:
        return self.problem.model

    def __repr__(self) -> str:  # the default printed every quantity and rule
        return (f"<Tape {self.problem.name!r}: T = {self.T}, {len(self.steps)} steps, "
                f"{len(self.rules)} rules>")

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
