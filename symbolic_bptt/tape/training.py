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


def _norm(ops, *grads):
    if ops is ExplicitOps:
        return sp.Matrix([[sp.sqrt(sp.Add(*(e ** 2 for g in grads for e in g)))]])
    with sp.evaluate(False):
        if ops is ScalarDisplayOps:
            return sp.sqrt(sp.Add(*(g ** 2 for g in grads)))
        return sp.sqrt(sp.Add(*(SquaredNorm(g) for g in grads)))


def _clip(c):
    def rule(ops, g, norm):
        if ops is ExplicitOps:
            n = norm[0, 0]
            return g.applyfunc(lambda e: e * c / sp.Max(n, c))
        factor = sp.Min(1, sp.Mul(_shown(c), sp.Pow(_scalar(norm), -1, evaluate=False),
                                  evaluate=False), evaluate=False)
        return ops.scale(factor, g) if ops is not ScalarDisplayOps else sp.Mul(
            factor, g, evaluate=False)
    return rule


def _scalar(x):
    return sp.Symbol(x.name) if isinstance(x, sp.MatrixSymbol) else x


def _update(lr):
    def rule(ops, w, g):
        if ops is ExplicitOps:
            return w - lr * g
        rate = sp.UnevaluatedExpr(_shown(lr))
        if ops is ScalarDisplayOps:
            return sp.Add(w, sp.Mul(-1, rate, g, evaluate=False), evaluate=False)
        return sp.MatAdd(w, sp.MatMul(-_shown(lr), g))
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
        b.step("|g|", "|g|", None, Op("loss", (_norm, *parts)), "training", names=grads)
        clip = _clip(_number(training.clip_norm))
        tree = Op("loss", (clip, Ref("@0"), Ref("@1")))
        used = []
        for p, g in zip(params, grads):
            name = f"clipped {g}"
            b.step(name, name, None, tree, "training", b.quantities[p].indexing,
                   names=[g, "|g|"])
            used.append(name)
    if training.learning_rate is None:
        return
    tree = Op("loss", (_update(_number(training.learning_rate)), Ref("@0"), Ref("@1")))
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
