"""sympy.diff and Matrix.jacobian for the tape's formulas: the same results, term for term, at a
fraction of the cost.

sympy.diff goes through sympy.Derivative at every level of a formula, and Derivative asks of each
partial result whether it is zero. For 1 - tanh(a)^2 times anything that question asks whether
tanh(a) is real, which reduces Im(a) modulo pi by polynomial gcds: a minute for the Jacobian of a
GRU of hidden size 16. Here each class's own rule (its `_eval_derivative`, repeated below) is
applied directly, with each node's free symbols found once; a Jacobian differentiates an entry
only by the symbols it contains, and is kept sparse: {(row, column): entry}, zeros left out.
"""

from __future__ import annotations

from functools import reduce

import sympy as sp
from sympy.core.function import ArgumentIndexError, Function
from sympy.functions.elementary.miscellaneous import MinMaxBase

Sparse = dict[tuple[int, int], sp.Expr]

_FUNCTION_RULES = (Function._eval_derivative, MinMaxBase._eval_derivative)


class _Derivatives:
    """d(expr)/d(symbol) by the rules SymPy applies, memoised for one formula's many entries."""

    def __init__(self):
        self._free: dict[sp.Basic, frozenset] = {}
        self._done: dict[tuple[sp.Basic, sp.Symbol], sp.Expr] = {}

    def free(self, expr: sp.Basic) -> frozenset:
        out = self._free.get(expr)
        if out is None:
            if expr.is_Symbol:
                out = frozenset((expr,))
            elif not expr.args:
                out = frozenset(expr.free_symbols)
            else:
                out = frozenset().union(*(self.free(a) for a in expr.args))
            self._free[expr] = out
        return out

    def __call__(self, expr: sp.Basic, s: sp.Symbol) -> sp.Expr:
        if s not in self.free(expr):
            return sp.S.Zero
        key = (expr, s)
        out = self._done.get(key)
        if out is None:
            out = self._done[key] = self._rule(expr, s)
        return out

    def _rule(self, expr: sp.Basic, s: sp.Symbol) -> sp.Expr:
        if expr == s:
            return sp.S.One
        if expr.is_Add:  # Add._eval_derivative
            return expr.func(*[self(a, s) for a in expr.args])
        if expr.is_Mul:  # Mul._eval_derivative
            args = list(expr.args)
            terms = []
            for i in range(len(args)):
                d = self(args[i], s)
                if d:
                    terms.append(reduce(lambda x, y: x * y, args[:i] + [d] + args[i + 1:],
                                        sp.S.One))
            return sp.Add.fromiter(terms)
        if expr.is_Pow:  # Pow._eval_derivative
            dbase, dexp = self(expr.base, s), self(expr.exp, s)
            return expr * (dexp * sp.log(expr.base) + dbase * expr.exp / expr.base)
        if getattr(type(expr), "_eval_derivative", None) in _FUNCTION_RULES:
            terms = []
            for i, a in enumerate(expr.args, 1):
                da = self(a, s)
                if da.is_zero:
                    continue
                try:
                    df = expr.fdiff(i)
                except ArgumentIndexError:
                    return expr.diff(s)
                terms.append(df * da)
            return sp.Add(*terms)
        return expr.diff(s)


def jacobian(entries, symbols, named: dict | None = None) -> Sparse:
    """The Jacobian of a column of formulas by `symbols`, each entry with `named` put in (as
    Matrix.jacobian(...).xreplace(named) would give it), zeros left out."""
    d = _Derivatives()
    column = {s: j for j, s in enumerate(symbols)}
    out: Sparse = {}
    for i, e in enumerate(entries):
        for s in sorted(d.free(e) & column.keys(), key=column.__getitem__):
            value = d(e, s)
            if named:
                value = value.xreplace(named)
            if value != 0:
                out[i, column[s]] = value
    return out


def matmul(a: Sparse, b: Sparse) -> Sparse:
    """a b for sparse matrices, each entry one Add of its products (as SymPy's Matrix product
    of expressions forms it)."""
    rows: dict[int, dict[int, sp.Expr]] = {}
    for (k, j), v in b.items():
        rows.setdefault(k, {})[j] = v
    terms: dict[tuple[int, int], list] = {}
    for (i, k), u in sorted(a.items()):
        for j, v in rows.get(k, {}).items():
            terms.setdefault((i, j), []).append(u * v)
    out: Sparse = {}
    for key, products in terms.items():
        value = sp.Add(*products)
        if value != 0:
            out[key] = value
    return out


def add_into(total: Sparse, other: Sparse) -> None:
    """total += other, entry by entry (total[k] + other[k], as Matrix addition forms it)."""
    for key, v in other.items():
        value = total[key] + v if key in total else v
        if value != 0:
            total[key] = value
        else:
            total.pop(key, None)


def dense(m: Sparse, rows: int, cols: int) -> sp.Matrix:
    """The sparse matrix as a SymPy Matrix."""
    return sp.Matrix(rows, cols, lambda i, j: m.get((i, j), sp.S.Zero))
