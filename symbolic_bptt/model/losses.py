"""Losses as SymPy expressions: L = scale(T) * sum_t l(o_t, y_t), and dL/do_t by sympy.diff."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp


@dataclass(frozen=True)
class Loss:
    """L = scale(T) * sum_t l(o_t, y_t); `per_step` is l on explicit column matrices.

    `scale` takes a whole number (giving a Rational) or a symbolic T (for the general-T forms).
    """

    name: str
    per_step: Callable[[sp.Matrix, sp.Matrix], sp.Expr]
    scale: Callable[[int | sp.Expr], sp.Expr]
    description: str


def _squared_error(o: sp.Matrix, y: sp.Matrix) -> sp.Expr:
    return sum(((oi - yi) ** 2 for oi, yi in zip(o, y)), sp.Integer(0))


def _cross_entropy(o: sp.Matrix, y: sp.Matrix) -> sp.Expr:
    """-log softmax(o)[class] with y the one-hot target: -y . o + log sum exp(o)."""
    return -sum((yi * oi for oi, yi in zip(o, y)), sp.Integer(0)) + sp.log(
        sum((sp.exp(oi) for oi in o), sp.Integer(0)))


LOSSES: dict[str, Loss] = {
    "half_sse": Loss("half_sse", _squared_error, lambda T: sp.Rational(1, 2),
                     r"L = \frac{1}{2}\sum_{t=1}^{T} \lVert o_t - y_t \rVert^2"),
    "sse": Loss("sse", _squared_error, lambda T: sp.Integer(1),
                r"L = \sum_{t=1}^{T} \lVert o_t - y_t \rVert^2"),
    "mse": Loss("mse", _squared_error, lambda T: sp.S.One / T,
                r"L = \frac{1}{T}\sum_{t=1}^{T} \lVert o_t - y_t \rVert^2"),
    "cross_entropy": Loss("cross_entropy", _cross_entropy, lambda T: sp.S.One / T,
                          r"L = \frac{1}{T}\sum_{t=1}^{T} -\log \operatorname{softmax}(o_t)_{y_t}"),
}


def scaled(coefficient: sp.Expr, expr):
    """coefficient * expr without SymPy distributing the number over a sum (1/2 (a + b) stays so)."""
    if coefficient == 1:
        return expr
    if coefficient == -1:
        return -expr
    return sp.Mul(sp.UnevaluatedExpr(coefficient), expr)


def loss_gradient(loss: Loss, o: sp.Matrix, y: sp.Matrix, T: int) -> sp.Matrix:
    """dL/do_t = scale * dl/do_t, derived with sympy.diff; a common number is kept as a factor."""
    grad = []
    for oi in o:
        content, primitive = sp.diff(loss.per_step(o, y), oi).as_content_primitive()
        grad.append(scaled(loss.scale(T) * content, primitive))
    return sp.Matrix(len(grad), 1, grad)
