"""Losses as SymPy expressions: L = scale(n) * sum_t l(o_t, y_t) over the n steps the loss reads,
and dL/do_t by sympy.diff (or, where notes write it shorter, as they write it: sigma(o) - y)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import sympy as sp


@dataclass(frozen=True)
class Loss:
    """L = scale(n) * sum_t l(o_t, y_t); `per_step` is l on explicit column matrices.

    `scale` takes the number of steps the loss reads, a whole number (giving a Rational) or a
    symbolic T (for the general-T forms). `gradient`, when set, is dl/do as notes write it (tests
    hold it equal to sympy.diff of `per_step`).
    """

    name: str
    per_step: Callable[[sp.Matrix, sp.Matrix], sp.Expr]
    scale: Callable[[int | sp.Expr], sp.Expr]
    description: str
    gradient: Callable[[sp.Matrix, sp.Matrix], sp.Matrix] | None = None


def _squared_error(o: sp.Matrix, y: sp.Matrix) -> sp.Expr:
    return sum(((oi - yi) ** 2 for oi, yi in zip(o, y)), sp.Integer(0))


def _cross_entropy(o: sp.Matrix, y: sp.Matrix) -> sp.Expr:
    """-log softmax(o)[class] with y the one-hot target: -y . o + log sum exp(o)."""
    return -sum((yi * oi for oi, yi in zip(o, y)), sp.Integer(0)) + sp.log(
        sum((sp.exp(oi) for oi in o), sp.Integer(0)))


def _sigmoid(o: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-o))


def _binary_cross_entropy(o: sp.Matrix, y: sp.Matrix) -> sp.Expr:
    """-[y log sigma(o) + (1 - y) log(1 - sigma(o))], entry by entry, written as
    log(1 + e^o) - y o (the same function; torch's binary_cross_entropy_with_logits)."""
    return sum((sp.log(1 + sp.exp(oi)) - yi * oi for oi, yi in zip(o, y)), sp.Integer(0))


LOSSES: dict[str, Loss] = {
    "half_sse": Loss("half_sse", _squared_error, lambda T: sp.Rational(1, 2),
                     r"L = \frac{1}{2}\sum_{t=1}^{T} \lVert o_t - y_t \rVert^2"),
    "sse": Loss("sse", _squared_error, lambda T: sp.Integer(1),
                r"L = \sum_{t=1}^{T} \lVert o_t - y_t \rVert^2"),
    "mse": Loss("mse", _squared_error, lambda T: sp.S.One / T,
                r"L = \frac{1}{T}\sum_{t=1}^{T} \lVert o_t - y_t \rVert^2"),
    "cross_entropy": Loss("cross_entropy", _cross_entropy, lambda T: sp.S.One / T,
                          r"L = \frac{1}{T}\sum_{t=1}^{T} -\log \operatorname{softmax}(o_t)_{y_t}"),
    "bce": Loss("bce", _binary_cross_entropy, lambda T: sp.S.One / T,
                r"L = \frac{1}{T}\sum_{t=1}^{T} -\left[y_t \log \sigma(o_t)"
                r" + (1 - y_t) \log (1 - \sigma(o_t))\right]",
                lambda o, y: sp.Matrix(len(o), 1, [_sigmoid(oi) - yi for oi, yi in zip(o, y)])),
}
REDUCED = ("cross_entropy", "bce")  # the losses [model] reduction applies to


def model_loss(name: str, reduction: str = "mean") -> Loss:
    """The loss a model names; reduction = "sum" drops the 1/n of a mean (cross_entropy, bce)."""
    loss = LOSSES[name]
    if reduction == "sum" and name in REDUCED:
        return replace(loss, scale=lambda T: sp.Integer(1),
                       description=loss.description.replace(r"\frac{1}{T}", ""))
    return loss


def scaled(coefficient: sp.Expr, expr):
    """coefficient * expr without SymPy distributing the number over a sum (1/2 (a + b) stays so)."""
    if coefficient == 1:
        return expr
    if coefficient == -1:
        return -expr
    return sp.Mul(sp.UnevaluatedExpr(coefficient), expr)


def loss_gradient(loss: Loss, o: sp.Matrix, y: sp.Matrix, T: int) -> sp.Matrix:
    """dL/do_t = scale * dl/do_t, derived with sympy.diff; a common number is kept as a factor."""
    if loss.gradient is not None:
        return sp.Matrix(len(o), 1, [scaled(loss.scale(T), g) for g in loss.gradient(o, y)])
    grad = []
    for oi in o:
        content, primitive = sp.diff(loss.per_step(o, y), oi).as_content_primitive()
        grad.append(scaled(loss.scale(T) * content, primitive))
    return sp.Matrix(len(grad), 1, grad)
