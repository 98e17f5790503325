"""The syntax tree of a BPTT formula, shared by the LaTeX and SymPy-syntax readers.

Indices (t, t+1, T+t-i, a literal 3) are integer SymPy expressions; `verify` instantiates them.
Names are the tape's, as the reader's vocabulary (vocabulary.py) resolved them from the cell.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp


def index_symbol(name: str) -> sp.Symbol:
    """The integer symbol of a time index (t, T, or a summation variable)."""
    return sp.Symbol(name, integer=True)


t_ = index_symbol("t")
T_ = index_symbol("T")


class Node:
    """A node of a formula; `str()` prints it compactly (the reader's tests compare these)."""

    def __str__(self) -> str:
        return show(self)


@dataclass(frozen=True, eq=True)
class Num(Node):
    value: sp.Rational


@dataclass(frozen=True, eq=True)
class IndexValue(Node):
    """An index used as a number, as in 1/T."""

    expr: sp.Expr


@dataclass(frozen=True, eq=True)
class Ref(Node):
    """A quantity of the tape: `name` as the tape spells it, `index` its time step (or None).

    Names: the cell's quantities, x, y and l (indexed), L, its parameters (W_hh, b_f, u),
    dL/d<quantity> (indexed), dl/d<output> (the per-step loss gradient, indexed),
    dL/d<parameter>, and dL/d<parameter>^() for the contribution of one step (indexed).
    """

    name: str
    index: sp.Expr | None = None


@dataclass(frozen=True, eq=True)
class Neg(Node):
    arg: Node


@dataclass(frozen=True, eq=True)
class Add(Node):
    terms: tuple[Node, ...]


@dataclass(frozen=True, eq=True)
class Mul(Node):
    """A product as written left to right (\\cdot, \\times or juxtaposition): matrix product,
    with 1 x 1 factors acting as numbers."""

    factors: tuple[Node, ...]


@dataclass(frozen=True, eq=True)
class Hadamard(Node):
    factors: tuple[Node, ...]


@dataclass(frozen=True, eq=True)
class Div(Node):
    num: Node
    den: Node


@dataclass(frozen=True, eq=True)
class Pow(Node):
    base: Node
    exp: sp.Expr


@dataclass(frozen=True, eq=True)
class Transpose(Node):
    arg: Node


@dataclass(frozen=True, eq=True)
class BigOp(Node):
    """\\sum or \\prod (left to right in increasing index) of `body` for var = lo..hi."""

    op: str
    var: sp.Symbol
    lo: sp.Expr
    hi: sp.Expr
    body: Node


@dataclass(frozen=True, eq=True)
class Apply(Node):
    """fn in tanh, sigmoid, phi (the model's activation), exp, log, softmax; `prime` for fn'."""

    fn: str
    arg: Node
    prime: bool = False


@dataclass(frozen=True, eq=True)
class Norm(Node):
    arg: Node


@dataclass(frozen=True, eq=True)
class Deriv(Node):
    """The derivative of `of` by `wrt` as a source writes it: a gradient (of a number), a
    Jacobian (of a vector by a vector, numerator layout) or, by a matrix, a third-order tensor
    usable only in a product with a gradient. `mode`: "total" (through every step), "immediate"
    (through the step of `of` alone, earlier states held fixed) or None (undeclared: both
    readings are computed and must agree). `copy`: the step whose copy of a parameter `wrt`
    is (Goodfellow's W^(t)), or None."""

    of: Node
    wrt: Node
    mode: str | None = None
    copy: sp.Expr | None = None


@dataclass(frozen=True, eq=True)
class Outer(Node):
    r"""a \otimes b: the outer product a b^T of two columns."""

    left: Node
    right: Node


@dataclass(frozen=True, eq=True)
class VJP(Node):
    """d2l's prod(g, J): the gradient g carried back through the derivative J."""

    grad: Node
    jacobian: Node


# Component indices (o_i^{(t)}, h_{t+1,i}, w_{ij}, \sum_i): nodes that are Applys to the walkers
# that know only the core nodes (their one child is `arg`); formulas/components.py evaluates them.


@dataclass(frozen=True, eq=True)
class Entry(Apply):
    """Entry `row` (and `col`) of the vector or matrix `arg`, counted from 1: o_i^{(t)}, w_{ij}."""

    fn: str = "entry"
    arg: Node | None = None
    prime: bool = False
    row: sp.Expr | None = None
    col: sp.Expr | None = None


@dataclass(frozen=True, eq=True)
class EntrySum(Apply):
    """\\sum_i without bounds: `arg` summed over i = 1..n, n the length of what i indexes."""

    fn: str = "sum_entries"
    arg: Node | None = None
    prime: bool = False
    var: sp.Symbol | None = None


@dataclass(frozen=True, eq=True)
class Each(Apply):
    """A side of a formula with free component indices: `arg` for every i (and j), stacked
    into a column (a matrix for two), so that the identity is checked for every entry.
    `probes`: the formula's Entry nodes of each index, which tell its range."""

    fn: str = "each"
    arg: Node | None = None
    prime: bool = False
    vars: tuple[sp.Symbol, ...] = ()
    probes: tuple[Entry, ...] = ()


@dataclass(frozen=True)
class Formula:
    """An identity `sides[0] = sides[1] (= ...)`, with notes on how names were read."""

    sides: tuple[Node, ...]
    notes: tuple[str, ...] = ()
    source: str = ""

    def __str__(self) -> str:
        return " = ".join(show(s) for s in self.sides)


def show(node: Node) -> str:
    """A compact plain-text form of a node: dL/dh[t + 1], W_hh^T*dL/do[t], Sum[i=t..T](...)."""
    match node:
        case Num(value=v):
            return str(v)
        case IndexValue(expr=e):
            return str(e)
        case Ref(name=n, index=None):
            return n
        case Ref(name=n, index=i) if n.endswith("^()"):
            return f"{n[:-3]}^({i})"
        case Ref(name=n, index=i):
            return f"{n}[{i}]"
        case Neg(arg=a):
            return f"-{_wrap(a, Add)}"
        case Add(terms=ts):
            out = show(ts[0])
            for term in ts[1:]:
                out += f" - {_wrap(term.arg, Add)}" if isinstance(term, Neg) else f" + {show(term)}"
            return out
        case Mul(factors=fs):
            return "*".join(_wrap(f, (Add, Neg, Hadamard, Div)) for f in fs)
        case Hadamard(factors=fs):
            return " (.) ".join(_wrap(f, (Add, Neg)) for f in fs)
        case Div(num=a, den=b):
            return f"{_wrap(a, (Add, Neg, Mul, Hadamard))}/{_wrap(b, (Add, Neg, Mul, Hadamard, Div))}"
        case Pow(base=b, exp=e):
            exp = str(e) if e.is_Atom else f"({e})"
            return f"{_wrap(b, (Add, Neg, Mul, Hadamard, Div, Pow, Transpose))}^{exp}"
        case Transpose(arg=a):
            return f"{_wrap(a, (Add, Neg, Mul, Hadamard, Div, Pow))}^T"
        case BigOp(op=op, var=v, lo=lo, hi=hi, body=b):
            return f"{op.capitalize()}[{v}={lo}..{hi}]({show(b)})"
        case Entry(arg=a, row=r, col=c):
            return f"{_wrap(a, (Add, Neg, Mul, Hadamard, Div, Pow, Transpose))}_" + (
                f"({r})" if c is None else f"({r},{c})")
        case EntrySum(arg=a, var=v):
            return f"Sum[{v}]({show(a)})"
        case Each(arg=a):
            return show(a)
        case Apply(fn=fn, arg=a, prime=p):
            return f"{fn}{chr(39) if p else ''}({show(a)})"
        case Norm(arg=a):
            return f"||{show(a)}||"
        case Deriv(of=a, wrt=b, mode=m, copy=c):
            wrt = show(b) + (f"^({c})" if c is not None else "")
            return f"d{_wrap(a, (Add, Neg, Mul, Hadamard, Div))}/d{wrt}" + (f" [{m}]" if m else "")
        case Outer(left=a, right=b):
            return f"{_wrap(a, (Add, Neg))} (x) {_wrap(b, (Add, Neg))}"
        case VJP(grad=g, jacobian=j):
            return f"prod({show(g)}, {show(j)})"
    raise TypeError(f"not a formula node: {node!r}")


def _wrap(node: Node, kinds) -> str:
    text = show(node)
    return f"({text})" if isinstance(node, kinds) else text
