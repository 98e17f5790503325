"""Read a BPTT formula written in SymPy syntax (verify --sympy) into the shared syntax tree.

h(t), dL_dh(t+1), W_hh, transpose(W_hh), hadamard(a, b), Sum(body, (i, t, T)); products of
quantities keep their order. The names are the cell's (its vocabulary, vocabulary.py), each
written as a Python name: c(t), dL_dc(t), W_hf, dL_dW_hf, dL_dW_hf_t(t) for one step's
contribution; `delta(t)` is the deck's dL/dz_t for the Elman cell. The text is read by
`safe_syntax` (Python's `ast` walked with a whitelist), never run, so formulas from anyone are
safe to read.
"""

from __future__ import annotations

import sympy as sp

from ..errors import ProblemError, quoted
from .formula_ast import (
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
    index_symbol,
)
from .safe_syntax import read_expression

_SYMPY_FUNCTIONS = {"tanh": ("tanh", False), "sigmoid": ("sigmoid", False),
                    "phi": ("phi", False), "dphi": ("phi", True), "exp": ("exp", False),
                    "log": ("log", False), "softmax": ("softmax", False), "relu": ("relu", False)}
_SYMPY_OTHER = ("transpose", "hadamard", "norm")


def _names(vocab) -> tuple[dict[str, str], dict[str, str]]:
    """(functions of a time step, symbols): each Python name -> the tree's name."""
    def ok(name: str) -> bool:
        return name.isidentifier()

    indexed = {n: n for n in (*sorted(vocab.indexed), "l") if ok(n)}
    indexed |= {f"dL_d{q}": f"dL/d{q}" for q in vocab.quantities if ok(q)}
    if ok(vocab.output):
        indexed[f"dl_d{vocab.output}"] = f"dl/d{vocab.output}"
    if vocab.delta is not None:
        indexed["delta"] = f"dL/d{vocab.delta}"
    indexed |= {f"dL_d{p}_t": f"dL/d{p}^()" for p in vocab.own_parameters if ok(p)}
    symbols = {w: p for w, p in vocab.parameters.items() if ok(w)}
    symbols |= {f"dL_d{w}": "dL/d" + p for w, p in vocab.parameters.items() if ok(w)}
    return indexed, symbols | {"L": "L"}


def read_sympy(source: str, vocab=None) -> Formula:
    """`lhs = rhs` (or Eq(lhs, rhs)) in SymPy syntax as a syntax tree, in the names of `vocab`
    (the Elman cell's by default); ProblemError if unread.

    The text is read, never run: only numbers, the names below, arithmetic and calls.
    """
    from .vocabulary import elman_vocabulary

    vocab = vocab or elman_vocabulary()
    indexed, parameters = _names(vocab)
    local: dict = {n: index_symbol(n) for n in ("t", "T", "i", "j", "k", "s", "tau")}
    for name in (*indexed, *_SYMPY_FUNCTIONS, *_SYMPY_OTHER):
        local[name] = sp.Function(name, commutative=False)
    for name in parameters:
        local[name] = sp.Symbol(name, commutative=False)
    local.update(Sum=sp.Sum, Product=sp.Product, Eq=sp.Eq, Rational=sp.Rational,
                 Integer=sp.Integer)
    notes: list[str] = []
    text = source.strip()
    pieces = _split_equals(text)
    exprs = [read_expression(p, local) for p in pieces]
    if len(exprs) == 1 and isinstance(exprs[0], sp.Equality):
        exprs = list(exprs[0].args)
    if len(exprs) < 2:
        raise ProblemError("the SymPy formula has no '=': write lhs = rhs or Eq(lhs, rhs)")
    convert = _SympyConverter(parameters, indexed, notes)
    return Formula(tuple(convert(e) for e in exprs), tuple(dict.fromkeys(notes)), source)


def _split_equals(text: str) -> list[str]:
    """Split at single '=' signs (not ==, <=, >=, != or keyword arguments inside brackets)."""
    pieces, depth, start = [], 0, 0
    for k, c in enumerate(text):
        depth += c in "([" and 1 or c in ")]" and -1 or 0
        if c == "=" and depth == 0 and text[k - 1:k] not in ("=", "<", ">", "!") \
                and text[k + 1:k + 2] != "=":
            pieces.append(text[start:k])
            start = k + 1
    pieces.append(text[start:])
    return pieces


class _SympyConverter:
    """SymPy expression -> formula nodes, by the expression's class."""

    def __init__(self, parameters: dict[str, str], indexed: dict[str, str], notes: list[str]):
        self.parameters, self.indexed, self.notes = parameters, indexed, notes

    def __call__(self, e: sp.Basic) -> Node:
        if e.is_Number:
            return Num(sp.Rational(e))
        if isinstance(e, sp.Symbol):
            if e.name in self.parameters:
                name = self.parameters[e.name]
                if not e.name.startswith("dL_d") and name != e.name:
                    self.notes.append(f"{e.name} read as {name}")
                return Ref(name)
            if e.is_integer:
                return IndexValue(e)
        if isinstance(e, sp.Add):
            return Add(tuple(self(a) for a in e.args))
        if isinstance(e, sp.Mul):
            return self.product(e)
        if isinstance(e, sp.Pow):
            if e.base.is_integer or e.base.is_Number:
                if e.exp == -1:
                    return Div(Num(sp.Integer(1)), self(e.base))
            elif e.exp.is_integer:
                return Pow(self(e.base), e.exp)
        if isinstance(e, sp.Sum | sp.Product) and len(e.limits) == 1:
            var, lo, hi = e.limits[0]
            return BigOp("sum" if isinstance(e, sp.Sum) else "prod", var, lo, hi, self(e.function))
        if isinstance(e, sp.core.function.AppliedUndef):
            return self.applied(e)
        raise ProblemError(f"cannot read {quoted(e)} in the SymPy formula: not supported by verify")

    def product(self, e: sp.Mul) -> Node:
        coefficient, factors = e.as_coeff_mul()
        nodes = [self(f) for f in factors]
        node = nodes[0] if len(nodes) == 1 else Mul(tuple(nodes))
        if coefficient == -1:
            return Neg(node)
        if coefficient != 1:
            return Mul((Num(sp.Rational(coefficient)), *nodes))
        return node

    def applied(self, e) -> Node:
        name, args = e.func.__name__, e.args
        if name in self.indexed:
            if len(args) != 1 or not args[0].is_integer:
                raise ProblemError(f"cannot read {quoted(e)} in the SymPy formula: {name}(...) takes one "
                                   "time step such as t or t+1")
            return Ref(self.indexed[name], args[0])
        nodes = [self(a) for a in args]
        if name in _SYMPY_FUNCTIONS and len(nodes) == 1:
            fn, prime = _SYMPY_FUNCTIONS[name]
            return Apply(fn, nodes[0], prime)
        if name == "transpose" and len(nodes) == 1:
            return Transpose(nodes[0])
        if name == "norm" and len(nodes) == 1:
            return Norm(nodes[0])
        if name == "hadamard" and len(nodes) >= 2:
            return Hadamard(tuple(nodes))
        raise ProblemError(f"cannot read {quoted(e)} in the SymPy formula: not supported by verify")
