"""The catalog of mistakes `check` recognises, each a *rewritten step*: a mistaken formula for one
kind of tape step, tried on the person's own numbers.

A Hypothesis is one systematic mistake (say, phi' taken at h_t in dL/dh_t): the rewritten
formulas for the step kinds it touches. `check` applies it to a wrong claim, and to every step
of those kinds that the person did not write down, so a mistake hidden in unclaimed steps still
explains the numbers that were claimed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import sympy as sp

from ..model import ACTIVATIONS, LOSSES, scaled
from ..tape import Rule, Step, Tape, make_rule, rule_display


@dataclass(frozen=True)
class Code:
    """One entry of the catalog: what the person did, and which steps it is tried on."""

    code: str
    mistake: str
    steps: str


CODES: dict[str, Code] = {c.code: c for c in (
    Code("arithmetic",
         "the correct formula, applied to the claimed inputs, gives another number "
         "(and no mistake of this catalog reproduces the claim)",
         "any step"),
    Code("derivative-index",
         "phi' taken at the wrong time step: dL/dh_t = W_hy^T dL/do_t + W_hh^T (phi'(h_t) ⊙ "
         "dL/dh_{t+1}) where the chain rule needs phi'(h_{t+1}) (that is, dL/dz_{t+1}); or "
         "dL/dz_t = phi'(h_{t±1}) ⊙ dL/dh_t",
         "dL/dh_t (t < T), dL/dz_t"),
    Code("missing-activation-derivative",
         "phi' dropped, as for a linear RNN: dL/dh_t = W_hy^T dL/do_t + W_hh^T dL/dh_{t+1}; "
         "or dL/dz_t = dL/dh_t; or dL/dh_t in place of dL/dz_t in a weight gradient",
         "dL/dh_t, dL/dz_t, dL/dW_hh^(t), dL/dW_xh^(t), dL/db_h"),
    Code("state-off-by-one",
         "the state or input of the wrong time step: h_t in place of h_{t-1} in dL/dW_hh^(t), "
         "x_{t±1} in place of x_t in dL/dW_xh^(t), h_{t-1} in place of h_t in dL/dW_hy^(t)",
         "dL/dW_hh^(t), dL/dW_xh^(t), dL/dW_hy^(t)"),
    Code("loss-scale",
         "the loss's factor (1/2 or 1/T) dropped, doubled or halved, or another loss's factor used",
         "L, dL/do_t"),
    Code("sign-error",
         "(y_t - o_t) in place of (o_t - y_t): the output gradient with the wrong sign",
         "dL/do_t"),
)}


@dataclass(frozen=True)
class Rewrite:
    """A mistaken formula for one step kind. Either `formula` over the names `inputs` reads at a
    step (None: not applicable there), written with the tape's ops like the tape's own rules;
    or `transform`, applied to every formula of the tape's own rule (same inputs)."""

    inputs: Callable[[Step], list[str] | None] | None = None
    formula: Callable | None = None
    transform: Callable[[sp.Basic], sp.Basic] | None = None


@dataclass(frozen=True)
class Hypothesis:
    """One systematic mistake: a catalog code, a short description, the rewritten step kinds."""

    code: str
    label: str
    rewrites: dict[str, Rewrite] = field(hash=False)


class Catalog:
    """The hypotheses that make sense for one tape, and their rewritten rules (built once)."""

    def __init__(self, tape: Tape):
        self.tape = tape
        self.hypotheses = _hypotheses(tape)
        self._rules: dict[tuple[str, str], Rule] = {}

    def rewrite(self, h: Hypothesis, step: Step) -> tuple[Rule, tuple[str, ...]] | None:
        """The mistaken rule and its inputs for this step, or None when h leaves it alone."""
        rewrite = h.rewrites.get(step.kind)
        if rewrite is None:
            return None
        inputs = step.inputs if rewrite.transform else rewrite.inputs(step)
        if inputs is None or any(n not in self.tape.quantities for n in inputs):
            return None
        key = (h.label, step.kind)
        if key not in self._rules:
            kind = f"{h.code} [{h.label}]: {step.kind}"
            if rewrite.transform:
                own = self.tape.rules[step.kind]
                self._rules[key] = Rule(kind, own.slots, own.explicit.applyfunc(rewrite.transform),
                                        rewrite.transform(own.display))
            else:
                self._rules[key] = build_rule(self.tape, kind, list(inputs), rewrite.formula)
        return self._rules[key], tuple(inputs)


def build_rule(tape: Tape, kind: str, inputs: list[str], formula) -> Rule:
    """A Rule over placeholder slots shaped like `inputs`, as the tape builds its own."""
    return make_rule(kind, [tape.quantities[n] for n in inputs], formula, tape.model.is_scalar)


def instantiate(tape: Tape, rule: Rule, inputs: tuple[str, ...]):
    """The rule's display formula on the actual quantities `inputs`, as Tape.display writes the
    tape's own steps."""
    return rule_display(rule, [tape.quantities[n] for n in inputs], not tape.model.is_scalar)


# ---------------------------------------------------------------------------------------------
# The hypotheses


def _hypotheses(tape: Tape) -> list[Hypothesis]:
    if tape.problem.custom_cell is not None:  # the catalog below is written for Elman's steps
        return []
    m, T = tape.model, tape.T
    act = ACTIVATIONS[m.activation]
    loss = LOSSES[m.loss]
    v = "h" if act.prime_of == "h" else "z"

    def at(name: str, t: int) -> str | None:
        return f"{name}_{t}" if f"{name}_{t}" in tape.quantities else None

    def need(*names):
        return None if any(n is None for n in names) else list(names)

    def prime(ops, x):
        return ops.elementwise(act.prime, x)

    def outer(ops, g, x):
        return ops.mm(g, ops.tr(x))

    def dh_phi_inside(ops, W_hy, g_o, W_hh, g_next, x):
        return ops.add(ops.mm(ops.tr(W_hy), g_o), ops.mm(ops.tr(W_hh), ops.had(prime(ops, x), g_next)))

    def dh_phi_outside(ops, W_hy, g_o, W_hh, g_next, x):
        return ops.add(ops.mm(ops.tr(W_hy), g_o), ops.had(prime(ops, x), ops.mm(ops.tr(W_hh), g_next)))

    def dh_linear(ops, W_hy, g_o, W_hh, g_next):
        return ops.add(ops.mm(ops.tr(W_hy), g_o), ops.mm(ops.tr(W_hh), g_next))

    def dz_rule(ops, x, g_h):
        return ops.had(g_h, prime(ops, x))

    def dh_inputs(s: Step):
        return ["W_hy", f"dL/do_{s.t}", "W_hh", f"dL/dh_{s.t + 1}", f"{v}_{s.t}"]

    def shifted(name: str, shift: int, grad: str):
        return lambda s: need(f"{grad}_{s.t}", at(name, s.t + shift))

    out: list[Hypothesis] = []
    if act.name != "identity":
        out.append(Hypothesis("derivative-index", f"phi'({v}_t) in place of phi'({v}_(t+1)) in dL/dh_t",
                              {"dL/dh": Rewrite(dh_inputs, dh_phi_inside)}))
        if not m.is_scalar:
            out.append(Hypothesis("derivative-index",
                                  f"phi'({v}_t) ⊙ (W_hh^T dL/dh_(t+1)) in dL/dh_t",
                                  {"dL/dh": Rewrite(dh_inputs, dh_phi_outside)}))
        for shift, word in ((1, "t+1"), (-1, "t-1")):
            out.append(Hypothesis("derivative-index", f"phi'({v}_({word})) in place of phi'({v}_t) in dL/dz_t",
                                  {"dL/dz": Rewrite(lambda s, k=shift: need(at(v, s.t + k), f"dL/dh_{s.t}"),
                                                    dz_rule)}))
        out.append(Hypothesis("missing-activation-derivative", "dL/dh_(t+1) in place of dL/dz_(t+1) in dL/dh_t",
                              {"dL/dh": Rewrite(lambda s: dh_inputs(s)[:4], dh_linear)}))
        out.append(Hypothesis("missing-activation-derivative", "dL/dz_t = dL/dh_t",
                              {"dL/dz": Rewrite(lambda s: [f"dL/dh_{s.t}"], lambda ops, g: g)}))
        grads = {"dL/dW_hh^(t)": Rewrite(lambda s: [f"dL/dh_{s.t}", f"h_{s.t - 1}"], outer),
                 "dL/dW_xh^(t)": Rewrite(lambda s: [f"dL/dh_{s.t}", f"x_{s.t}"], outer)}
        if m.bias:
            grads["dL/db_h"] = Rewrite(lambda s: [f"dL/dh_{t}" for t in range(1, T + 1)],
                                       lambda ops, *g: ops.add(*g))
        out.append(Hypothesis("missing-activation-derivative",
                              "dL/dh_t in place of dL/dz_t in the weight gradients", grads))
    out += [
        Hypothesis("state-off-by-one", "h_t in place of h_(t-1) in dL/dW_hh^(t)",
                   {"dL/dW_hh^(t)": Rewrite(shifted("h", 0, "dL/dz"), outer)}),
        Hypothesis("state-off-by-one", "x_(t-1) in place of x_t in dL/dW_xh^(t)",
                   {"dL/dW_xh^(t)": Rewrite(shifted("x", -1, "dL/dz"), outer)}),
        Hypothesis("state-off-by-one", "x_(t+1) in place of x_t in dL/dW_xh^(t)",
                   {"dL/dW_xh^(t)": Rewrite(shifted("x", 1, "dL/dz"), outer)}),
        Hypothesis("state-off-by-one", "h_(t-1) in place of h_t in dL/dW_hy^(t)",
                   {"dL/dW_hy^(t)": Rewrite(shifted("h", -1, "dL/do"), outer)}),
    ]
    scale = loss.scale(T)
    options = [sp.Integer(1), 2 * scale, scale / 2, sp.Rational(1, 2), sp.Rational(1, T),
               sp.Integer(2), sp.Rational(2, T)]
    for factor in dict.fromkeys(options):
        if factor != scale:
            change = Rewrite(transform=_rescaled(factor / scale))
            out.append(Hypothesis("loss-scale", f"factor {factor} in place of {scale}",
                                  {"L": change, "dL/do": change}))
    out.append(Hypothesis("sign-error", "(y_t - o_t) in place of (o_t - y_t) in dL/do_t",
                          {"dL/do": Rewrite(transform=_rescaled(sp.Integer(-1)))}))
    return out


def _rescaled(ratio: sp.Rational) -> Callable[[sp.Basic], sp.Basic]:
    """Multiply a formula written `scaled(c, rest)` by ratio, keeping one visible factor."""

    def transform(expr):
        factors = expr.args if isinstance(expr, sp.Mul | sp.MatMul) else (expr,)
        kept = [f.args[0] for f in factors if isinstance(f, sp.UnevaluatedExpr)]
        rest = [f for f in factors if not isinstance(f, sp.UnevaluatedExpr)]
        coefficient = sp.Mul(*kept) if kept else sp.Integer(1)
        if ratio < 0:
            return scaled(-coefficient * ratio, -sp.Mul(*rest))
        return scaled(coefficient * ratio, sp.Mul(*rest))
    return transform
