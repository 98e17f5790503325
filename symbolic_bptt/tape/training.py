"""Tape steps for one step of training after the gradients ([training]): the global gradient
norm |g|, the clipped gradients, the SGD update W' = W - lr g and the loss L' after it.

Clipping is torch.nn.utils.clip_grad_norm_'s: every parameter's gradient scaled together by
min(1, clip_norm / |g|), |g| the 2-norm of all gradients' entries at once (PyTorch adds 1e-6
to |g| in the quotient; the tape computes the exact formula). The update is torch.optim.SGD's
plain step. L' is the forward pass and loss again, every parameter primed.
"""

from __future__ import annotations

import sympy as sp

from ..inputs.training import Training
from .display_exprs import SquaredNorm
from .rules import ExplicitOps, ScalarDisplayOps
from .trees import Op, Ref


def _number(value) -> sp.Rational:
    """A number of the problem file, exactly as written (0.1 is 1/10)."""
    return sp.Rational(str(value))


def _shown(r: sp.Rational) -> sp.Expr:
    """A number as the file wrote it, for displayed formulas (0.1, not 1/10)."""
    return sp.Integer(r) if r.q == 1 else sp.Float(repr(float(r)))


def norm_rule(how: str = "2-norm"):
    """|g| over all gradients' entries: the 2-norm; or, as the catalog's mistakes, the sum of
    each gradient's own norm ("sum") or the squared norm ("square")."""
    def rule(ops, *grads):
        if ops is ExplicitOps:
            if how == "sum":
                return sp.Matrix([[sp.Add(*(sp.sqrt(sp.Add(*(e ** 2 for e in g))) for g in grads))]])
            total = sp.Add(*(e ** 2 for g in grads for e in g))
            return sp.Matrix([[total if how == "square" else sp.sqrt(total)]])
        with sp.evaluate(False):
            squares = [g ** 2 if ops is ScalarDisplayOps else SquaredNorm(g) for g in grads]
            if how == "sum":
                return sp.Add(*(sp.sqrt(x) for x in squares))
            return sp.Add(*squares) if how == "square" else sp.sqrt(sp.Add(*squares))
    rule.how = how
    return rule


def clip_rule(c: sp.Rational, own: bool = False):
    """g min(1, c / |g|); with `own`, |g| is this gradient's own norm (a mistake)."""
    def rule(ops, g, norm):
        if ops is ExplicitOps:
            n = sp.sqrt(sp.Add(*(e ** 2 for e in g))) if own else norm[0, 0]
            return g.applyfunc(lambda e: e * c / sp.Max(n, c))
        if own:
            n = sp.sqrt(g ** 2 if ops is ScalarDisplayOps else SquaredNorm(g), evaluate=False)
        else:
            n = _scalar(norm)
        factor = sp.Min(1, sp.Mul(_shown(c), sp.Pow(n, -1, evaluate=False), evaluate=False),
                        evaluate=False)
        if ops is ScalarDisplayOps or g.shape == (1, 1):  # a 1 x 1 gradient reads as a number
            return sp.Mul(factor, _scalar(g), evaluate=False)
        return ops.scale(factor, g)
    rule.clip = c
    return rule


def _scalar(x):
    return sp.Symbol(x.name) if isinstance(x, sp.MatrixSymbol) else x


def update_rule(lr: sp.Rational):
    """W - lr g (lr < 0: the catalog's flipped sign, W + |lr| g)."""
    def rule(ops, w, g):
        if ops is ExplicitOps:
            return w - lr * g
        rate = _shown(abs(lr))
        if ops is ScalarDisplayOps or w.shape == (1, 1):  # a 1 x 1 parameter reads as a number
            w, g = _scalar(w), _scalar(g)
            step = sp.Mul(sp.UnevaluatedExpr(rate), g, evaluate=False)
            return sp.Add(w, sp.Mul(-1, step, evaluate=False) if lr > 0 else step,
                          evaluate=False)
        return sp.MatAdd(w, sp.MatMul(-rate if lr > 0 else rate, g))
    rule.rate = lr
    return rule


def training_steps(b, params: list[str], training: Training | None) -> None:
    """|g|, the clipped gradients, W' and the forward pass and loss after the update, as
    [training] asks."""
    if training is None:
        return
    grads = [f"dL/d{p}" for p in params]
    used = grads
    if training.clip_norm is not None:
        parts = tuple(Ref(f"@{i}") for i in range(len(grads)))
        b.step("|g|", "|g|", None, Op("loss", (norm_rule(), *parts)), "training", names=grads)
        clip = clip_rule(_number(training.clip_norm))
        tree = Op("loss", (clip, Ref("@0"), Ref("@1")))
        used = []
        for p, g in zip(params, grads):
            name = f"clipped {g}"
            b.step(name, name, None, tree, "training", b.quantities[p].indexing,
                   names=[g, "|g|"])
            used.append(name)
    if training.learning_rate is None:
        return
    tree = Op("loss", (update_rule(_number(training.learning_rate)), Ref("@0"), Ref("@1")))
    for p, g in zip(params, used):
        b.step(f"{p}'", f"{p}'", None, tree, "training", b.quantities[p].indexing,
               names=[p, g])
    if training.after_update:
        after_update(b)


def after_update(b) -> None:
    """The forward pass and the loss once more with every parameter updated: z_1', ..., L'."""
    forward = [s for s in b.steps if b.quantities[s.name].role == "forward" and "/" not in s.name
               and not s.name.endswith("'")]
    primed = {}
    for s in forward:
        names = []
        for n in s.inputs:
            role = b.quantities[n].role
            names.append(primed.get(n, f"{n}'" if role == "param" else n))
        primed[s.name] = f"{s.name}'"
        b.step(f"{s.name}'", s.kind, s.t, b.trees[s.kind], "forward",
               b.quantities[s.name].indexing, names=names)
