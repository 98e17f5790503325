"""Check a BPTT identity against a model, for every valid t and T = 1..N.

One pipeline, top to bottom in `verify`:

1. read the formula (latex_in) into a syntax tree;
2. instantiate it at each (T, t) on the tape's element symbols (h_2, W_hh, dL/dz_3[1], ...);
3. compare the sides symbolically: substitute the tape's own step definitions in stages
   (backward quantities down to dL/do_t, h_t and the weights; then the loss layer; then z_t and
   o_t; then everything down to parameters and data), expanding after each stage — a zero
   difference at any stage is a proof;
4. otherwise evaluate both sides at random parameters and data in 50-digit arithmetic, walking
   the tape: a clear difference is a counterexample;
5. explain a failure: each catalogued mistake is a rewritten tape step (the audit/catalog.py codes);
   if the formula holds in the world where the tape makes that mistake, that is its code.

Conventions (README, "verify"): formulas are read in column convention; a number added to a
vector is added to each entry and a vector's power is taken entrywise; a formula is checked at
every t where every quantity it names (outside sums) exists, so a recursion in dL/dh_{t+1} is
checked for t < T and its t = T case is its own formula; a sum with a literal upper bound (and
no T in the formula) states the identity for that T only; b_h, b_y are zero in a model without
biases.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from itertools import pairwise

import sympy as sp

from ..audit.catalog import Catalog, Hypothesis
from ..errors import ProblemError
from ..inputs.limits import MAX_EXPONENT, MAX_FUNCTION_NESTING, MAX_VERIFY_T
from ..inputs.problem import Model, Problem
from ..model import ACTIVATIONS, LOSSES
from ..tape import Tape, unroll
from .formula_ast import (
    T_,
    Add,
    Apply,
    BigOp,
    Div,
    Formula,
    Hadamard,
    IndexValue,
    Mul,
    Neg,
    Node,
    Norm,
    Num,
    Pow,
    Ref,
    Transpose,
    show,
    t_,
)
from .latex_in import read_latex
from .sympy_in import read_sympy

DIGITS = 50
POINTS = 3
_TOLERANCE = sp.Float(10) ** -30
_SIZE_BUDGET = 8000
_HARD_BUDGET = 400
_HARD_ROUNDS = 3
_WORK_BUDGET = 20_000  # formula nodes evaluated for one (T, t): sums written out


@dataclass(frozen=True)
class Check:
    """One instance of the identity: sequence length T, time step t (None if t is not free)."""

    T: int
    t: int | None
    holds: bool
    method: str  # "symbolic" | "numeric"


@dataclass(frozen=True)
class Verdict:
    """The answer: holds or not, what was checked, a counterexample and a mistake code."""

    holds: bool
    checked: tuple[Check, ...]
    counterexample: dict | None
    code: str | None
    explanation: str
    notes: tuple[str, ...] = field(default=())

    def text(self) -> str:
        """A few lines for people: the verdict, the explanation, the counterexample's inputs."""
        head = ("holds" if self.holds else "fails") + (f" [{self.code}]" if self.code else "")
        lines = [head, self.explanation]
        if self.counterexample:
            point = ", ".join(f"{k} = {_short(v)}" for k, v in self.counterexample["point"].items())
            lines.append(f"counterexample inputs: {point}")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        """The --json object."""
        return {"holds": self.holds,
                "checked": [{"T": c.T, "t": c.t, "holds": c.holds, "method": c.method}
                            for c in self.checked],
                "counterexample": self.counterexample, "code": self.code,
                "explanation": self.explanation}


def verify_latex(model: Model, source: str, max_T: int = 5) -> Verdict:
    """Read a LaTeX identity and verify it for the model; ProblemError if it cannot be read."""
    return verify(model, read_latex(source), max_T)


def verify_formula(model: Model, latex: str | None = None, sympy: str | None = None,
                   max_T: int = 5) -> Verdict:
    """Verify an identity given in LaTeX or in SymPy syntax (exactly one of them)."""
    if (latex is None) == (sympy is None):
        raise ProblemError("give the formula once: --latex FORMULA or --sympy FORMULA")
    return verify(model, read_latex(latex) if latex is not None else read_sympy(sympy), max_T)


def verify(model: Model, formula: Formula, max_T: int = 5) -> Verdict:
    """Check `formula` for the model at T = 1..max_T and every valid t."""
    if max_T < 1:
        raise ProblemError(f"--max-T must be at least 1, got {max_T}")
    if max_T > MAX_VERIFY_T:
        raise ProblemError(f"--max-T {max_T} is beyond the limit of {MAX_VERIFY_T} (an identity "
                           "that holds for T = 1..5 rarely fails later; the limit keeps a check "
                           "under a few minutes)")
    for side in formula.sides:
        if _nested_functions(side) > MAX_FUNCTION_NESTING:
            raise ProblemError(f"the formula nests functions (tanh, exp, ...) more than "
                               f"{MAX_FUNCTION_NESTING} deep, the limit (SymPy slows down "
                               "steeply beyond it)")
    notes = list(formula.notes)  # instances add theirs; kept once each, in order
    Ts = _sequence_lengths(formula, max_T, notes)
    free_t = any(t_ in _free(side) for side in formula.sides)
    cases: list[tuple[_Unrolled, int | None, tuple[sp.Matrix, ...]]] = []
    missing: list[str] = []
    for T in Ts:
        u = _Unrolled(model, T)
        for t in (range(1, T + 1) if free_t else [None]):
            try:
                sides = tuple(_Instance(u, t, notes).side(s) for s in formula.sides)
            except _Missing as exc:
                missing.append(f"{exc.name} at T = {T}")
                continue
            _defined(sides, T, t)
            cases.append((u, t, _same_shapes(sides, formula)))
    if not cases:
        raise ProblemError(f"nothing to check: the formula names {missing[0]}, which does not "
                           f"exist for any T up to {max(Ts)} (raise --max-T?)")
    if missing:
        notes.append(f"skipped the (T, t) where a named quantity does not exist (such as "
                     f"{missing[0]}); BPTT's t = T case is a formula of its own")
    checks, counterexample = [], None
    for u, t, sides in cases:
        check, bad = _compare(u, t, sides)
        checks.append(check)
        if bad is not None and counterexample is None:
            counterexample = bad
    holds = counterexample is None
    explained = None
    if not holds:
        failing = {c.T for c in checks if not c.holds}
        explained = _explain(cases, failing, counterexample["T"])
    return Verdict(holds, tuple(checks), counterexample, explained.code if explained else None,
                   _explanation(model, holds, checks, counterexample, explained, notes),
                   tuple(dict.fromkeys(notes)))


# ---------------------------------------------------------------------------------------------
# Which T and t


def _indices(node: Node):
    """Every index expression in a node, with the variables bound around it."""
    match node:
        case Ref(index=i) if i is not None:
            yield i, ()
        case IndexValue(expr=e):
            yield e, ()
        case Pow(base=b, exp=e):
            yield e, ()
            yield from _indices(b)
        case BigOp(var=v, lo=lo, hi=hi, body=b):
            yield lo, ()
            yield hi, ()
            for expr, bound in _indices(b):
                yield expr, bound + (v,)
        case _:
            for child in _children(node):
                yield from _indices(child)


def _children(node: Node) -> tuple[Node, ...]:
    match node:
        case Add(terms=ts):
            return ts
        case Mul(factors=fs) | Hadamard(factors=fs):
            return fs
        case Div(num=a, den=b):
            return (a, b)
        case Neg(arg=a) | Transpose(arg=a) | Apply(arg=a) | Norm(arg=a):
            return (a,)
        case Pow(base=b):
            return (b,)
        case BigOp(body=b):
            return (b,)
    return ()


def _nested_functions(node: Node) -> int:
    """How deep function applications nest in a node (tanh(exp(h_t)): 2)."""
    inner = max((_nested_functions(c) for c in _children(node)), default=0)
    return inner + isinstance(node, Apply | Norm)


def _free(node: Node) -> set[sp.Symbol]:
    return {s for expr, bound in _indices(node) for s in expr.free_symbols if s not in bound}


def _big_ops(node: Node):
    if isinstance(node, BigOp):
        yield node
    for child in _children(node):
        yield from _big_ops(child)


def _sequence_lengths(formula: Formula, max_T: int, notes: list[str]) -> list[int]:
    """T = 1..max_T, or the one T a literal sum bound such as \\sum_{t=1}^{3} states."""
    if any(T_ in _free(side) for side in formula.sides):
        return list(range(1, max_T + 1))
    literal = sorted({int(op.hi) for side in formula.sides for op in _big_ops(side)
                      if op.hi.is_Integer})
    if not literal:
        return list(range(1, max_T + 1))
    if len(literal) > 1:
        raise ProblemError(f"the formula's sums end at {' and '.join(map(str, literal))}: "
                           "write T for the sequence length")
    T = literal[0]
    if not 1 <= T <= 50:
        raise ProblemError(f"a sum up to {T} cannot be checked (T from 1 to 50)")
    notes.append(f"the sums run to {T} and the formula does not name T, so it states the "
                 f"identity for T = {T} only; that is the one T checked")
    return [T]


# ---------------------------------------------------------------------------------------------
# The tape of one T, its definitions in stages, and its values at random points


class _Unrolled:
    """The tape of one sequence length, with its steps' explicit formulas."""

    def __init__(self, model: Model, T: int):
        self.model, self.T = model, T
        self.act = ACTIVATIONS[model.activation]
        self.loss = LOSSES[model.loss]
        self.tape: Tape = unroll(_blank_problem(model, T))
        self.exprs = {s.name: self.tape.explicit(s).doit() for s in self.tape.steps}
        self._values: dict[tuple, dict] = {}

    def elements(self, name: str) -> sp.Matrix:
        return self.tape.quantities[name].elements

    @cached_property
    def owner(self) -> dict[sp.Symbol, int]:
        """Element symbol -> the position of the step that defines it."""
        return {e: k for k, step in enumerate(self.tape.steps) for e in self.elements(step.name)}

    def definition(self, k: int) -> dict:
        """The elements of step k -> their formulas in the step's inputs."""
        step = self.tape.steps[k]
        return dict(zip(self.elements(step.name), self.exprs[step.name]))

    @cached_property
    def activation(self) -> dict:
        """h_t -> phi(z_t) for every t (z_t kept whole)."""
        return {e: v for k, step in enumerate(self.tape.steps) if step.kind == "h"
                for e, v in self.definition(k).items()}

    def point(self, k: int) -> dict:
        """Parameters and data at random point k (reproducible), as 50-digit Floats."""
        rng = random.Random(f"symbolic-bptt verify {self.T} {k}")
        values = {}
        for name, q in self.tape.quantities.items():
            if q.role not in ("param", "data"):
                continue
            if name.startswith("y_") and self.model.loss == "cross_entropy":
                hot = rng.randrange(q.shape[0])
                values.update({s: sp.Integer(int(i == hot)) for i, s in enumerate(q.elements)})
                continue
            for s in q.elements:
                values[s] = sp.Float(rng.choice((-1, 1)) * rng.randint(100, 900) / 1000, DIGITS)
        return values

    @cached_property
    def catalog(self) -> Catalog:
        return Catalog(self.tape)

    def values(self, k: int, mistake: Hypothesis | None = None) -> dict:
        """Every element symbol's value at point k, walking the tape (with a mistake's steps
        rewritten)."""
        key = (k, mistake.label if mistake else None)
        if key not in self._values:
            values = dict(self.point(k))
            for step in self.tape.steps:
                rewritten = self.catalog.rewrite(mistake, step) if mistake else None
                if rewritten is None:
                    matrix = self.exprs[step.name].xreplace(values)
                else:
                    rule, inputs = rewritten
                    slots = {slot: self.elements(name).xreplace(values)
                             for slot, name in zip(rule.slots, inputs, strict=True)}
                    matrix = rule.explicit.xreplace(
                        {e: v for slot, m in slots.items() for e, v in zip(slot.elements, m)})
                    matrix = matrix.doit()
                values.update(zip(self.elements(step.name), matrix.evalf(DIGITS)))
            self._values[key] = values
        return self._values[key]

    def value_of(self, name: str, values: dict) -> sp.Matrix:
        return self.elements(name).xreplace(values)


def _blank_problem(model: Model, T: int) -> Problem:
    """A problem of length T for the model; its numbers are never used."""
    return Problem(model=model, x=((0,) * model.input_size,) * T,
                   y=((0,) * model.output_size,) * T, h0=(0,) * model.hidden_size, weights={})


# ---------------------------------------------------------------------------------------------
# Instantiating a formula at (T, t)


class _Missing(Exception):
    """A quantity outside the tape, such as dL/dh_{T+1}."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


class _Empty:
    """The value of an empty sum (zero) or product (one), whatever its shape."""

    def __init__(self, op: str):
        self.op = op


_FIRST_STEP = {"h": 0}
_FUNCTIONS: dict[str, Callable[[sp.Expr], sp.Expr]] = {"exp": sp.exp, "log": sp.log}


class _Instance:
    """Evaluates formula nodes at one (T, t) into explicit matrices of tape element symbols.

    Dispatch is by node class (`_<ClassName>`); a node without a method is not supported.
    """

    def __init__(self, u: _Unrolled, t: int | None, notes: list[str]):
        self.u, self.notes = u, notes
        self.env: dict[sp.Symbol, sp.Integer] = {T_: sp.Integer(u.T)}
        if t is not None:
            self.env[t_] = sp.Integer(t)
        self.depth = 0
        self.work = 0

    def side(self, node: Node) -> sp.Matrix:
        value = self.eval(node)
        return sp.Matrix([[int(value.op == "prod")]]) if isinstance(value, _Empty) else value

    def eval(self, node: Node):
        self.work += 1
        if self.work > _WORK_BUDGET:
            raise ProblemError(f"the formula is too large to check at T = {self.u.T}: more than "
                               f"{_WORK_BUDGET:,} terms once its sums and products are written out")
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise ProblemError(f"{show(node)}: {type(node).__name__} is not supported by verify")
        return method(node)

    def index(self, expr: sp.Expr) -> int:
        value = expr.xreplace(self.env)
        if not value.is_Integer:
            raise ProblemError(f"the index {expr} is not a whole number here")
        return int(value)

    # leaves

    def _Num(self, node: Num):
        return sp.Matrix([[node.value]])

    def _IndexValue(self, node: IndexValue):
        return sp.Matrix([[self.index(node.expr)]])

    def _Ref(self, node: Ref):
        u = self.u
        if node.index is None:
            if node.name in u.tape.quantities:
                return u.elements(node.name)
            if node.name in ("b_h", "b_y"):
                self.notes.append(f"the model has no biases, so {node.name} is read as zero")
                size = u.model.hidden_size if node.name == "b_h" else u.model.output_size
                return sp.zeros(size, 1)
            if node.name.startswith("dL/db"):
                raise ProblemError(f"{node.name}: the model has no biases (model.bias = false)")
            raise ProblemError(f"{node.name} is not a quantity of this model")
        k = self.index(node.index)
        base = node.name.removesuffix("^()")
        name = f"{base}^({k})" if node.name.endswith("^()") else f"{base}_{k}"
        if not _FIRST_STEP.get(base, 1) <= k <= u.T:
            if self.depth:
                raise ProblemError(f"inside a sum or product the formula names {name}, which "
                                   f"does not exist for T = {u.T}")
            raise _Missing(name)
        if base == "dl/do":
            o, y = u.elements(f"o_{k}"), u.elements(f"y_{k}")
            loss = u.loss.per_step(o, y)
            return sp.Matrix([sp.diff(loss, oi) for oi in o])
        return u.elements(name)

    # operators

    def _Neg(self, node: Neg):
        value = self.eval(node.arg)
        return value if isinstance(value, _Empty) and value.op == "sum" else -self.plain(value)

    def _Add(self, node: Add):
        total = None
        for term in node.terms:
            value = self.eval(term)
            if isinstance(value, _Empty) and value.op == "sum":
                continue
            value = self.plain(value)
            total = value if total is None else _add(total, value, node)
        return _Empty("sum") if total is None else total

    def _Mul(self, node: Mul):
        return self.chain(node.factors, _matmul, node)

    def _Hadamard(self, node: Hadamard):
        return self.chain(node.factors, _hadamard, node)

    def chain(self, factors, op, node):
        out = None
        for factor in factors:
            value = self.eval(factor)
            if isinstance(value, _Empty):
                if value.op == "sum":
                    return _Empty("sum")
                continue
            out = value if out is None else op(out, value, node)
        return _Empty("prod") if out is None else out

    def _Div(self, node: Div):
        num, den = self.plain(self.eval(node.num)), self.plain(self.eval(node.den))
        if den.shape != (1, 1):
            raise ProblemError(f"{show(node)}: cannot divide by {show(node.den)}, which has "
                               f"shape {_shape(den)}")
        return num / den[0]

    def _Pow(self, node: Pow):
        base = self.plain(self.eval(node.base))
        k = self.index(node.exp)
        if abs(k) > MAX_EXPONENT:
            raise ProblemError(f"{show(node)}: the exponent {k} is beyond the limit of "
                               f"{MAX_EXPONENT}")
        rows, cols = base.shape
        if (rows, cols) == (1, 1):
            return sp.Matrix([[base[0] ** k]])
        if cols == 1:
            return base.applyfunc(lambda e: e ** k)
        if rows == cols and k >= 0:
            return base ** k if k else sp.eye(rows)
        raise ProblemError(f"{show(node)}: cannot raise a {_shape(base)} matrix to the power {k}")

    def _Transpose(self, node: Transpose):
        return self.plain(self.eval(node.arg)).T

    def _BigOp(self, node: BigOp):
        lo, hi = self.index(node.lo), self.index(node.hi)
        if hi - lo >= _WORK_BUDGET:
            raise ProblemError(f"{show(node)}: a sum or product of {hi - lo + 1:,} terms at "
                               f"T = {self.u.T} is too large to check")
        self.depth += 1
        try:
            parts = []
            for k in range(lo, hi + 1):
                self.env[node.var] = sp.Integer(k)
                parts.append(self.eval(node.body))
        finally:
            self.depth -= 1
            self.env.pop(node.var, None)
        op = _add if node.op == "sum" else _matmul
        out = None
        for part in parts:
            if isinstance(part, _Empty):
                if part.op == "sum" and node.op == "prod":
                    return _Empty("sum")
                continue
            out = part if out is None else op(out, part, node)
        return _Empty(node.op) if out is None else out

    def _Apply(self, node: Apply):
        arg = self.plain(self.eval(node.arg))
        if node.fn == "softmax":
            if node.prime:
                raise ProblemError(f"{show(node)}: the derivative of softmax is not supported")
            exps = arg.applyfunc(sp.exp)
            return exps / sum(exps)
        act = self.u.act if node.fn == "phi" else ACTIVATIONS.get(node.fn)
        if node.prime and act is not None:
            # the model's own derivative convention (relu'(0) = 0, tanh' = 1 - tanh^2)
            if act.prime_of == "h":
                return arg.applyfunc(lambda e: act.prime(act.phi(e)))
            return arg.applyfunc(act.prime)
        fn = act.phi if act is not None else _FUNCTIONS[node.fn]
        if node.prime:
            d = sp.Dummy("d")
            derivative = sp.diff(fn(d), d)
            return arg.applyfunc(lambda e: derivative.xreplace({d: e}))
        return arg.applyfunc(fn)

    def _Norm(self, node: Norm):
        arg = self.plain(self.eval(node.arg))
        return sp.Matrix([[sp.sqrt(sum(e ** 2 for e in arg))]])

    def plain(self, value):
        """An empty sum or product where a value is needed: a number (0 or 1)."""
        if isinstance(value, _Empty):
            return sp.Matrix([[int(value.op == "prod")]])
        return value


def _shape(m: sp.Matrix) -> str:
    return f"{m.rows}x{m.cols}"


_COLUMNS = ("verify reads formulas in column convention (z_t = W_hh h_{t-1} + W_xh x_t + b_h, "
            "o_t = W_hy h_t + b_y)")


def _matmul(a: sp.Matrix, b: sp.Matrix, node: Node) -> sp.Matrix:
    if a.shape == (1, 1):
        return a[0] * b
    if b.shape == (1, 1):
        return a * b[0]
    if a.cols == b.rows:
        return a * b
    raise ProblemError(f"{show(node)}: cannot multiply a {_shape(a)} by a {_shape(b)} matrix; "
                       f"{_COLUMNS}; use \\odot for an entrywise product")


def _hadamard(a: sp.Matrix, b: sp.Matrix, node: Node) -> sp.Matrix:
    if a.shape == (1, 1) or b.shape == (1, 1):
        return _matmul(a, b, node)
    if a.shape == b.shape:
        return a.multiply_elementwise(b)
    raise ProblemError(f"{show(node)}: an entrywise product of a {_shape(a)} and a {_shape(b)} "
                       f"matrix; {_COLUMNS}")


def _add(a: sp.Matrix, b: sp.Matrix, node: Node) -> sp.Matrix:
    if a.shape == b.shape:
        return a + b
    for one, other in ((a, b), (b, a)):
        if one.shape == (1, 1) and not one[0].free_symbols and other.cols == 1:
            return other + sp.ones(*other.shape) * one[0] if one is b else \
                sp.ones(*other.shape) * one[0] + other
    raise ProblemError(f"{show(node)}: cannot add a {_shape(a)} and a {_shape(b)} matrix; "
                       f"{_COLUMNS}")


def _same_shapes(sides: tuple[sp.Matrix, ...], formula: Formula) -> tuple[sp.Matrix, ...]:
    shapes = {s.shape for s in sides}
    if len(shapes) > 1:
        raise ProblemError(f"the sides of {formula} have shapes "
                           f"{' and '.join(_shape(s) for s in sides)}; {_COLUMNS}")
    return sides


# ---------------------------------------------------------------------------------------------
# Comparing the sides


def _compare(u: _Unrolled, t: int | None, sides: tuple[sp.Matrix, ...]):
    """(Check, counterexample or None) for one instance: numbers first, then a proof."""
    pairs = list(pairwise(sides))
    for k in range(POINTS):
        values = u.values(k)
        for a, b in pairs:
            va, vb = _numbers(a, values), _numbers(b, values)
            _defined((va, vb), u.T, t)
            if not _close(va, vb):
                return Check(u.T, t, False, "numeric"), _counterexample(u, t, k, va, vb)
    if all(_prove(u, a - b) for a, b in pairs):
        return Check(u.T, t, True, "symbolic"), None
    return Check(u.T, t, True, "numeric"), None


def _defined(sides, T: int, t: int | None) -> None:
    """Refuse a formula with an undefined value (x/0, log 0): it never `holds`."""
    undefined = (sp.zoo, sp.nan, sp.oo, -sp.oo)
    if any(e.has(*undefined) for side in sides for e in side):
        where = f"T = {T}" + (f", t = {t}" if t is not None else "")
        raise ProblemError(f"the formula is undefined at {where}: a division by zero, the log "
                           "of 0 or another value that does not exist")


def _prove(u: _Unrolled, diff: sp.Matrix) -> bool:
    """True if `diff` is zero by the tape's definitions.

    Substitutes one quantity at a time, always the latest on the tape (so dL/dz_t goes before
    dL/dh_t, and the backward pass before the forward one), expanding and testing for zero after
    each. In the first rounds, where the formula's own quantities meet their definitions, it
    also tries rational simplification, alone and with h_t = phi(z_t) (so that phi'(z_t) meets
    1 - h_t^2). False means no proof within the size budget, not that the identity fails.
    """
    for rounds in range(len(u.tape.steps) + 1):
        if sum(_size(e, _SIZE_BUDGET) for e in diff) > _SIZE_BUDGET:
            return False
        diff = diff.applyfunc(sp.expand)
        if all(e == 0 for e in diff):
            return True
        if rounds < _HARD_ROUNDS and not all(e.is_polynomial() for e in diff) and (
                _rational_zero(diff) or _rational_zero(diff.xreplace(u.activation))):
            return True
        defined = {u.owner[s] for s in diff.free_symbols if s in u.owner}
        if not defined:
            return False
        diff = diff.xreplace(u.definition(max(defined)))
    return False


def _size(expr: sp.Expr, budget: int) -> int:
    """The number of nodes of `expr`, counting no further than budget + 1."""
    n = 0
    for _ in sp.preorder_traversal(expr):
        n += 1
        if n > budget:
            break
    return n


def _rational_zero(diff: sp.Matrix) -> bool:
    """Every entry is zero as a rational function of its atoms (small entries only)."""
    for e in diff:
        if e == 0:
            continue
        if _size(e, _HARD_BUDGET) > _HARD_BUDGET or sp.cancel(sp.together(e)) != 0:
            return False
    return True


def _numbers(m: sp.Matrix, values: dict) -> sp.Matrix:
    return m.xreplace(values).evalf(DIGITS)


def _close(a: sp.Matrix, b: sp.Matrix) -> bool:
    for x, y in zip(a, b):
        if not (x.is_number and y.is_number):
            return False
        scale = max(sp.Integer(1), abs(x), abs(y))
        if abs(x - y) > _TOLERANCE * scale:
            return False
    return True


def _plain(m: sp.Matrix):
    """A JSON value: a number for 1 x 1, a list for a column, nested rows for a matrix."""
    if m.shape == (1, 1):
        return float(m[0])
    if m.cols == 1:
        return [float(e) for e in m]
    return [[float(e) for e in m.row(i)] for i in range(m.rows)]


def _counterexample(u: _Unrolled, t, k: int, lhs: sp.Matrix, rhs: sp.Matrix) -> dict:
    point = u.point(k)
    inputs = {name: _plain(q.elements.xreplace(point)) for name, q in u.tape.quantities.items()
              if q.role in ("param", "data")}
    return {"T": u.T, "t": t, "lhs": _plain(lhs), "rhs": _plain(rhs), "point": inputs}


# ---------------------------------------------------------------------------------------------
# Known mistakes: the catalog's hypotheses are rewritten tape steps (audit/catalog.py); a failing
# formula gets the code of a hypothesis under whose rewritten tape it holds


@dataclass(frozen=True)
class Explained:
    """A code that explains a failure, with the hypothesis that does at the counterexample's T."""

    code: str
    label: str


def _explain(cases, failing_Ts: set[int], first_T: int) -> Explained | None:
    """The first code whose hypotheses make the formula hold wherever it failed.

    Hypotheses of one code may differ with T (a factor 1/T is 1/3 at T = 3), so for every T
    where the formula fails, some hypothesis of the code must make it hold at every t checked.
    """
    by_T: dict[int, list] = {}
    for u, _, sides in cases:
        if u.T in failing_Ts:
            by_T.setdefault(u.T, []).append(sides)
    units = {u.T: u for u, _, _ in cases}
    codes = list(dict.fromkeys(h.code for h in units[first_T].catalog.hypotheses))
    for code in codes:
        found = {}
        for T, instances in by_T.items():
            u = units[T]
            for h in u.catalog.hypotheses:
                if h.code == code and all(
                        _close(_numbers(a, u.values(k, h)), _numbers(b, u.values(k, h)))
                        for sides in instances for a, b in pairwise(sides)
                        for k in range(2)):
                    found[T] = h
                    break
            else:
                break
        if len(found) == len(by_T):
            return Explained(code, found[first_T].label)
    return None


# ---------------------------------------------------------------------------------------------
# Words


def _model_text(model: Model) -> str:
    sizes = "" if model.is_scalar else \
        f", sizes x {model.input_size}, h {model.hidden_size}, o {model.output_size}"
    bias = ", with biases" if model.bias else ""
    return f"the {model.activation} model ({model.loss} loss{sizes}{bias})"


def _explanation(model: Model, holds: bool, checks: list[Check], counterexample: dict | None,
                 explained: Explained | None, notes: list[str]) -> str:
    Ts = sorted({c.T for c in checks})
    span = f"T = {Ts[0]}" if len(Ts) == 1 else f"T = {Ts[0]}..{Ts[-1]}"
    if holds:
        symbolic = sum(c.method == "symbolic" for c in checks)
        how = "proved symbolically" if symbolic == len(checks) else \
            f"{symbolic} proved symbolically, {len(checks) - symbolic} at {POINTS} random " \
            f"points in {DIGITS}-digit arithmetic"
        count = f"{len(checks)} check" + ("s" if len(checks) > 1 else "")
        text = f"holds for {_model_text(model)} at {span}: {count}, {how}"
    else:
        c = counterexample
        where = f"T = {c['T']}" + (f", t = {c['t']}" if c["t"] is not None else "")
        text = (f"fails for {_model_text(model)}: at {where} the left side is {_short(c['lhs'])} "
                f"and the right side {_short(c['rhs'])} (random parameters and data, "
                f"{DIGITS}-digit arithmetic)")
        if explained is None:
            text += "; no catalogued mistake explains it"
        else:
            text += (f"; it holds where BPTT makes the mistake {explained.code}: "
                     f"{explained.label}")
    extra = [n for n in dict.fromkeys(notes)]
    return text + ("" if not extra else ". Notes: " + "; ".join(extra)) + "."


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "[" + ", ".join(_short(v) for v in value) + "]"
