"""A formula's nodes evaluated at one (T, t) into explicit matrices of the tape's element symbols.

Shapes follow the column convention of the cell's equations: a matrix times a column vector, a
1 x 1 factor acting as a number, a number added to a vector entrywise, a vector's power taken
entrywise. A quantity outside the tape (dL/dh_{T+1}) is `Missing`: verify skips that (T, t).
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from ..errors import ProblemError
from ..inputs.limits import MAX_EXPONENT
from ..model import ACTIVATIONS
from .formula_ast import (
    T_,
    VJP,
    Add,
    Apply,
    BigOp,
    Deriv,
    Div,
    Formula,
    Hadamard,
    IndexValue,
    Mul,
    Neg,
    Node,
    Norm,
    Num,
    Outer,
    Pow,
    Ref,
    Transpose,
    show,
    t_,
)
from .unrolled import Unrolled


class Missing(Exception):
    """A quantity outside the tape, such as dL/dh_{T+1}."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


class Tensor:
    """The derivative of a vector by a matrix: one matrix (shaped like the matrix) per entry of
    the vector. It is only multiplied by a gradient on its left (a vector-Jacobian product)."""

    def __init__(self, parts: list[sp.Matrix]):
        self.parts = parts

    @property
    def shape(self):
        return (len(self.parts), "matrix")


class _Empty:
    """The value of an empty sum (zero) or product (one), whatever its shape."""

    def __init__(self, op: str):
        self.op = op


_FUNCTIONS: dict[str, Callable[[sp.Expr], sp.Expr]] = {"exp": sp.exp, "log": sp.log}
WORK_BUDGET = 20_000  # formula nodes evaluated for one (T, t): sums written out


class Instance:
    """Evaluates formula nodes at one (T, t) into explicit matrices of tape element symbols.

    Dispatch is by node class (`_<ClassName>`); a node without a method is not supported.
    """

    def __init__(self, u: Unrolled, t: int | None, notes: list[str]):
        self.u, self.notes = u, notes
        self.env: dict[sp.Symbol, sp.Integer] = {T_: sp.Integer(u.T)}
        if t is not None:
            self.env[t_] = sp.Integer(t)
        self.depth = 0
        self.work = 0
        self.rows = False  # a gradient was read as a row (a chain of Jacobians)

    def side(self, node: Node) -> sp.Matrix:
        value = self.eval(node)
        return sp.Matrix([[int(value.op == "prod")]]) if isinstance(value, _Empty) else value

    def eval(self, node: Node):
        self.work += 1
        if self.work > WORK_BUDGET:
            raise ProblemError(f"the formula is too large to check at T = {self.u.T}: more than "
                               f"{WORK_BUDGET:,} terms once its sums and products are written out")
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
            if node.name in u.dropped:
                self.notes.append(f"the model has no biases, so {node.name} is read as zero")
                return sp.zeros(*u.dropped[node.name])
            if node.name.removeprefix("dL/d") in u.dropped:
                raise ProblemError(f"{node.name}: the model has no biases (model.bias = false)")
            raise ProblemError(f"{node.name} is not a quantity of this model")
        k = self.index(node.index)
        base = node.name.removesuffix("^()")
        name = f"{base}^({k})" if node.name.endswith("^()") else f"{base}_{k}"
        if not u.first_step(base) <= k <= u.T:
            if self.depth:
                raise ProblemError(f"inside a sum or product the formula names {name}, which "
                                   f"does not exist for T = {u.T}")
            raise Missing(name)
        if base.startswith("dl/d"):  # the per-step loss by the output of the same step
            if u.loss is None or f"y_{k}" not in u.tape.quantities:
                raise Missing(name)  # no loss, or none at step k
            o, y = u.elements(f"{base[4:]}_{k}"), u.elements(f"y_{k}")
            loss = u.loss.per_step(o, y)
            return sp.Matrix([sp.diff(loss, oi) for oi in o])
        if name not in u.tape.quantities and any(
                f"{base}_{j}" in u.tape.quantities for j in range(u.T + 1)):
            raise Missing(name)  # a quantity the layout computes at other steps only (o_T)
        if name not in u.tape.quantities:
            raise ProblemError(f"{name} is not a step of this model's BPTT (a parameter whose "
                               "gradient is a sum of other steps has no per-step "
                               "contributions)")
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
        if any(_derivative(f) for f in node.factors):
            return self.chain(node.factors, self._chain_product, node)
        return self.chain(node.factors, _matmul, node)

    def _chain_product(self, a, b, node):
        """A product in a chain of derivatives: a gradient left of a Jacobian is a row, as
        sources write dE/dy dy/ds ds/dW; a gradient times a tensor is its vector-Jacobian
        product."""
        if isinstance(b, Tensor):
            return _vjp(a, b, node)
        if isinstance(a, Tensor):
            raise ProblemError(f"{show(node)}: a derivative by a matrix must come last in a "
                               "product, after the gradient it multiplies")
        if a.shape == (1, 1) or b.shape == (1, 1) or a.cols == b.rows:
            return _matmul(a, b, node)
        if a.cols == 1 and a.rows == b.rows:
            self.rows = True
            self.notes.append("a gradient before a Jacobian read as a row (dE/dy dy/ds)")
            return a.T * b
        return _matmul(a, b, node)

    def _Outer(self, node: Outer):
        a, b = self.plain(self.eval(node.left)), self.plain(self.eval(node.right))
        if a.cols != 1 or b.cols != 1:
            raise ProblemError(f"{show(node)}: \\otimes is read as the outer product of two "
                               "column vectors")
        return a * b.T

    def _VJP(self, node: VJP):
        grad = self.plain(self.eval(node.grad))
        jac = self.eval(node.jacobian)
        if isinstance(jac, Tensor):
            return _vjp(grad, jac, node)
        jac = self.plain(jac)
        if grad.shape == (1, 1):
            return jac.T * grad[0]
        if jac.rows == len(grad):
            return jac.T * sp.Matrix(list(grad))
        raise ProblemError(f"{show(node)}: the gradient has {len(grad)} entries and the "
                           f"derivative {jac.rows} rows")

    def _Deriv(self, node: Deriv):
        from .derivatives import derivative

        return derivative(self, node)

    def _Entry(self, node):
        from .components import entry

        return entry(self, node)

    def _EntrySum(self, node):
        from .components import entry_sum

        return entry_sum(self, node)

    def _Each(self, node):
        from .components import each

        return each(self, node)

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
        value = self.eval(node.arg)
        if isinstance(value, Tensor):
            raise ProblemError(f"{show(node)}: the derivative of a vector by a matrix has no "
                               "transpose verify reads")
        return self.plain(value).T

    def _BigOp(self, node: BigOp):
        lo, hi = self.index(node.lo), self.index(node.hi)
        if hi - lo >= WORK_BUDGET:
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
        if node.fn == "diag":
            if arg.cols != 1:
                raise ProblemError(f"{show(node)}: diag takes a column vector")
            return sp.diag(*arg)
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
        if isinstance(value, Tensor):
            raise ProblemError("the derivative of a vector by a matrix is read only times a "
                               "gradient on its left, as in dE/dy dy/dW")
        if isinstance(value, _Empty):
            return sp.Matrix([[int(value.op == "prod")]])
        return value


def _derivative(node: Node) -> bool:
    """A factor that is a derivative (or its transpose): its product reads chain-rule style."""
    while isinstance(node, Transpose):
        node = node.arg
    return isinstance(node, Deriv | VJP)


def _vjp(g: sp.Matrix, tensor: Tensor, node: Node) -> sp.Matrix:
    """sum_i g_i d q_i / d W for a gradient g with one entry per entry of q."""
    if isinstance(g, Tensor) or len(g) != len(tensor.parts):
        raise ProblemError(f"{show(node)}: a gradient of {len(g)} entries times the derivative "
                           f"of a vector of {len(tensor.parts)} entries by a matrix")
    out = g[0] * tensor.parts[0]
    for gi, part in zip(list(g)[1:], tensor.parts[1:]):
        out += gi * part
    return out


def _shape(m: sp.Matrix) -> str:
    return f"{m.rows}x{m.cols}"


_COLUMNS = ("verify reads formulas in column convention (a matrix times a column vector, as "
            "the cell's equations are written)")


def _matmul(a: sp.Matrix, b: sp.Matrix, node: Node) -> sp.Matrix:
    if a.shape == (1, 1):
        return a[0] * b
    if b.shape == (1, 1):
        return a * b[0]
    if a.cols == b.rows:
        return a * b
    raise ProblemError(f"{show(node)}: cannot multiply a {_shape(a)} by a {_shape(b)} matrix; "
                       f"{_COLUMNS}; use \\odot for an entrywise product (a problem file's "
                       f'[symbols] cdot = "elementwise" reads \\cdot as one)')


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
        if one.shape == (1, 1) and not one[0].free_symbols and 1 in other.shape:
            return other + sp.ones(*other.shape) * one[0] if one is b else \
                sp.ones(*other.shape) * one[0] + other
    raise ProblemError(f"{show(node)}: cannot add a {_shape(a)} and a {_shape(b)} matrix; "
                       f"{_COLUMNS}")


def same_shapes(sides: tuple[sp.Matrix, ...], formula: Formula,
                rows: bool = False) -> tuple[sp.Matrix, ...]:
    """The sides, all of one shape (`rows`: a chain of Jacobians made a row of a column)."""
    if any(isinstance(s, Tensor) for s in sides):
        raise ProblemError(f"{formula}: a side is the derivative of a vector by a matrix, which "
                           "verify reads only times a gradient")
    if rows and any(s.cols == 1 for s in sides):
        sides = tuple(s.T if s.rows == 1 and s.cols > 1 else s for s in sides)
    shapes = {s.shape for s in sides}
    if len(shapes) > 1:
        raise ProblemError(f"the sides of {formula} have shapes "
                           f"{' and '.join(_shape(s) for s in sides)}; {_COLUMNS}")
    return sides
