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


class BinaryCrossEntropy(sp.Expr):
    """Binary cross-entropy of sigma(o) against y, summed over the entries."""

    is_commutative = True

    def _latex(self, printer):
        o, y = (printer._print(a) for a in self.args)
        s = rf"\sigma\left({o}\right)"
        return (rf"-\sum \left[{y} \odot \log {s} + \left(1 - {y}\right) \odot "
                rf"\log\left(1 - {s}\right)\right]")


class SigmoidOf(sp.MatrixExpr):
    """sigma(o) of a column vector, entry by entry."""

    @property
    def shape(self):
        return self.args[0].shape

    def _latex(self, printer):
        return rf"\sigma\left({printer._print(self.args[0])}\right)"


def _parens(tex: str) -> str:
    return tex if tex.startswith(r"\begin") or " " not in tex else rf"\left({tex}\right)"


class Filled(sp.MatrixExpr):
    """A number broadcast to a vector's shape: the 1 in 1 - z_t, printed as the number."""

    @property
    def shape(self):
        return self.args[1], self.args[2]

    def _latex(self, printer):
        return printer._print(self.args[0])


class SumEntries(sp.MatrixExpr):
    """The sum of a vector's entries, 1^T v (the gradient of a number broadcast to a vector)."""

    @property
    def shape(self):
        return (1, 1)

    def _latex(self, printer):
        return rf"\mathbf{{1}}^{{\top}} {printer.parenthesize(self.args[0], 60)}"


class Sigmoid(sp.Function):
    """sigma(x), kept by name while deriving: sigma' = sigma (1 - sigma)."""

    def fdiff(self, argindex=1):
        return Sigmoid(self.args[0]) * (1 - Sigmoid(self.args[0]))

    def _latex(self, printer, exp=None):
        tex = rf"\sigma\left({printer._print(self.args[0])}\right)"
        return tex if exp is None else rf"{tex}^{{{exp}}}"


class ReLU(sp.Function):
    """ReLU(x), kept by name while deriving; ReLU'(0) = 0 as in PyTorch."""

    def fdiff(self, argindex=1):
        return sp.Heaviside(self.args[0], 0)

    def _latex(self, printer, exp=None):
        tex = rf"\operatorname{{ReLU}}\left({printer._print(self.args[0])}\right)"
        return tex if exp is None else rf"{tex}^{{{exp}}}"
