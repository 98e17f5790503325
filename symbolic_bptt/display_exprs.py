"""Display-only SymPy nodes for vector formulas that SymPy has no node for.

They appear only in display formulas (never in the explicit matrices that are evaluated), and
they print themselves, so substituting numbers for their arguments works like for any node.
"""

from __future__ import annotations

import sympy as sp


class Softmax(sp.MatrixExpr):
    """softmax(o) of a column vector."""

    @property
    def shape(self):
        return self.args[0].shape

    def _latex(self, printer):
        return rf"\operatorname{{softmax}}\left({printer._print(self.args[0])}\right)"


class SquaredNorm(sp.Expr):
    """||v||^2 of a vector expression."""

    is_commutative = True

    def _latex(self, printer):
        return rf"\left\lVert {printer._print(self.args[0])} \right\rVert^{{2}}"


class CrossEntropy(sp.Expr):
    """-y^T log softmax(o) for a one-hot target y: -log of the target class's probability."""

    is_commutative = True

    def _latex(self, printer):
        o, y = (printer._print(a) for a in self.args)
        return rf"-{_parens(y)}^{{\top}} \log \operatorname{{softmax}}\left({o}\right)"


def _parens(tex: str) -> str:
    return tex if tex.startswith(r"\begin") or " " not in tex else rf"\left({tex}\right)"
