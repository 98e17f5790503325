"""Two derivations to check the tape against: the reference diff and the general-T forms.

- The **reference**: the forward steps composed into L as one expression in parameters and data,
  then plain `sympy.diff` (no recursion, no intermediate symbols; practical for small T only).
- The **general-T forms** of the scalar model: the BPTT recursion and its closed forms over a
  symbolic sequence length T, with Sum and Product over indexed sequences h_t, z_t, x_t, ...,
  for the model's own activation and loss. `instantiate` sets T (and t) and names every term
  the way the tape does, so an instantiated form compares with the tape directly.
- For vector sizes, the same closed form at a concrete T as explicit matrices: dL/dh_t as a sum
  over products of Jacobians W_hh^T diag(phi'(z_k)).

The deck's section-2 expansion, sum_i (W_hh^T)^(T-i) W_hy^T dL/do_(T+t-i), has no phi' in it: it
holds for a linear hidden layer only. `deck_hidden_gradient` states it so tests can show where.
"""

from __future__ import annotations

from collections.abc import Iterable

import sympy as sp

from ..inputs.problem import Model, weight_shapes
from ..tape import Tape
from . import ACTIVATIONS, LOSSES, Activation, loss_gradient, scaled

# The symbolic sequence length and the time indices of the general forms.
T = sp.Symbol("T", integer=True, positive=True)
t, i, k = sp.symbols("t i k", integer=True, positive=True)

# Sequences indexed by time, named as the tape names their terms (h[2] is the tape's h_2).
h, z, x, y, o = (sp.IndexedBase(name) for name in ("h", "z", "x", "y", "o"))
dL_do, dL_dh, dL_dz = (sp.IndexedBase(name) for name in ("dL/do", "dL/dh", "dL/dz"))

# Scalar parameters, named as the tape's element symbols of a scalar model.
W_xh, W_hh, W_hy, b_h, b_y = sp.symbols("W_xh W_hh W_hy b_h b_y")

Form = tuple[sp.Expr, sp.Expr]


# ---------------------------------------------------------------------------------------------
# The reference: direct differentiation of the fully substituted loss


def substituted(tape: Tape, name: str, keep: Iterable[str] = ()) -> sp.Matrix:
    """Quantity `name` expressed in parameters and data only, by composing the tape's steps.

    Each step's explicit formula has the expressions of its inputs put in place of their symbols
    (xreplace), in tape order. Quantities named in `keep` are left as their own symbols, so
    `keep` = the forward quantities gives a gradient in terms of h_t, z_t, o_t.
    """
    keep = set(keep) - {name}
    needed: set[str] = set()
    pending = [name]
    while pending:
        current = pending.pop()
        if current in needed or current in keep or current not in tape.by_name:
            continue
        needed.add(current)
        pending.extend(tape.by_name[current].inputs)
    env: dict[sp.Symbol, sp.Expr] = {}
    for step in tape.steps:
        if step.name not in needed:
            continue
        # doit() drops the UnevaluatedExpr around loss scales, so expressions simplify.
        value = tape.explicit(step).doit().xreplace(env)
        env.update(zip(tape.quantities[step.name].elements, value))
    return tape.quantities[name].elements.xreplace(env)


def heaviside_0_at_0(expr: sp.Expr) -> sp.Expr:
    """expr with every Heaviside step at 0 set to 0: relu'(0) = 0, as the tape and PyTorch take it."""
    return expr.replace(lambda e: isinstance(e, sp.Heaviside), lambda e: sp.Heaviside(e.args[0], 0))


def reference_gradients(tape: Tape) -> dict[str, sp.Matrix]:
    """dL/dW_xh, dL/dW_hh, dL/dW_hy (and dL/db_h, dL/db_y): sympy.diff of the substituted L.

    Each is a Matrix shaped like its parameter. Expression swell makes this slow beyond T ~ 10.
    """
    total = substituted(tape, "L")[0]
    gradients = {}
    for name in weight_shapes(tape.model):
        elements = tape.quantities[name].elements
        gradients[f"dL/d{name}"] = elements.applyfunc(lambda e: heaviside_0_at_0(sp.diff(total, e)))
    return gradients


def is_zero(expr: sp.Expr) -> bool:
    """True when expr is identically 0 as a rational function of its symbols and function atoms.

    Every non-rational node (tanh(...), exp(...), Max, Heaviside, ...) becomes an unknown, equal
    nodes the same unknown, from the inside out; the rest is evaluated in a sparse polynomial
    ring as numerator over a factored denominator, and the numerator must vanish. This proves the
    identities between two derivations of one network in seconds where sp.simplify or
    together-then-expand take minutes. False means "not shown"; the unknowns are treated as
    independent, so for these identities it means a real difference. Sums and products must be
    written out first (`instantiate` does that); UnevaluatedExpr counts as its content.
    """
    atomized = _atomized(sp.sympify(expr))
    numerator, _ = _rational(atomized)
    return numerator == 0


def _is_rational_operation(node: sp.Basic) -> bool:
    return isinstance(node, sp.Add | sp.Mul) or (isinstance(node, sp.Pow) and node.exp.is_Integer)


def _atomized(expr: sp.Expr) -> sp.Expr:
    """expr with each non-rational subexpression (its arguments atomized first) as a Dummy."""
    memo: dict[sp.Basic, sp.Expr] = {}
    atoms: dict[tuple, sp.Dummy] = {}

    def walk(node: sp.Basic) -> sp.Expr:
        done = memo.get(node)
        if done is not None:
            return done
        if node.is_Symbol or node.is_Rational:
            out = node
        elif isinstance(node, sp.UnevaluatedExpr):
            out = walk(node.args[0])
        else:
            args = tuple(walk(a) for a in node.args)
            if _is_rational_operation(node):
                out = node if args == node.args else node.func(*args)
            else:
                # Keyed, not rebuilt: constructing Max or Heaviside of a large argument asks
                # SymPy's assumptions about its sign, which is slow. A leaf (a Float, pi) is
                # its own key.
                key = (node.func, args) if args else node
                out = atoms.setdefault(key, sp.Dummy())
        memo[node] = out
        return out

    return walk(expr)


def _rational(expr: sp.Expr):
    """expr (Symbols, Rationals, +, *, integer powers) as (numerator, {monic base: power})."""
    symbols = sorted(expr.free_symbols, key=sp.default_sort_key)
    ring, *gens = sp.polys.rings.ring(symbols, sp.QQ)
    generator = dict(zip(symbols, gens))
    memo: dict = {}

    def walk(node: sp.Basic):
        if node in memo:
            return memo[node]
        if node.is_Symbol:
            out = (generator[node], {})
        elif node.is_Rational:
            out = (ring(sp.QQ(int(node.p), int(node.q))), {})
        elif isinstance(node, sp.Add):
            parts = [walk(a) for a in node.args]
            common: dict = {}
            for _, den in parts:
                for base, power in den.items():
                    common[base] = max(common.get(base, 0), power)
            numerator = ring.zero
            for num, den in parts:
                for base, power in common.items():
                    if power > den.get(base, 0):
                        num = num * base ** (power - den.get(base, 0))
                numerator += num
            out = (numerator, common)
        elif isinstance(node, sp.Mul):
            numerator, common = ring.one, {}
            for num, den in map(walk, node.args):
                numerator *= num
                for base, power in den.items():
                    common[base] = common.get(base, 0) + power
            out = (numerator, common)
        else:  # an integer power, by _atomized
            num, den = walk(node.base)
            n = int(node.exp)
            if n >= 0:
                out = (num**n, {base: power * n for base, power in den.items()})
            else:
                numerator = ring.one
                for base, power in den.items():
                    numerator *= base ** (power * -n)
                scale = ring(1 / num.LC) ** -n
                out = ((numerator * scale, {}) if num.is_ground
                       else (numerator * scale, {num.monic(): -n}))
        memo[node] = out
        return out

    return walk(expr)


# ---------------------------------------------------------------------------------------------
# General-T forms of the scalar model


def phi_prime(act: Activation, index: sp.Expr) -> sp.Expr:
    """phi'(z_index), written the way the tape writes it: in h_index (tanh: 1 - h^2) or in z_index."""
    return act.prime(h[index] if act.prime_of == "h" else z[index])


def hidden_gradient_expansion(act: Activation) -> sp.Expr:
    """dL/dh_t = sum_{i=t}^{T} (prod_{k=t+1}^{i} W_hh phi'(z_k)) W_hy dL/do_i (scalar model)."""
    return sp.Sum(sp.Product(W_hh * phi_prime(act, k), (k, t + 1, i)) * W_hy * dL_do[i], (i, t, T))


def deck_hidden_gradient() -> sp.Expr:
    """The deck's section-2 expansion sum_{i=t}^{T} W_hh^(T-i) W_hy dL/do_(T+t-i), scalar model.

    It has no phi': it equals dL/dh_t for the identity activation only.
    """
    return sp.Sum(W_hh ** (T - i) * W_hy * dL_do[T + t - i], (i, t, T))


def general_forms(model: Model) -> dict[str, Form]:
    """The named general-T forms (lhs, rhs) of the scalar model, in the order one derives them.

    Names: z_t, h_t, o_t, L, dL/do_t, dL/dh_T, dL/dh_t (the recursion, t < T), dL/dz_t, their
    closed forms "dL/dh_t (expanded)" and "dL/dz_t (expanded)", then dL/dW_hy, dL/dW_hh, dL/dW_xh
    (sums over t), "dL/dW_hh (expanded)", "dL/dW_xh (expanded)", and dL/db_h, dL/db_y with bias.
    """
    if not model.is_scalar:
        raise ValueError("the general-T forms are for the scalar model (every size 1); "
                         "use jacobian_expansion for vectors")
    act = ACTIVATIONS[model.activation]
    loss = LOSSES[model.loss]
    bias_h = b_h if model.bias else sp.Integer(0)
    bias_y = b_y if model.bias else sp.Integer(0)
    per_step = loss.per_step(sp.Matrix([o[t]]), sp.Matrix([y[t]]))
    expansion = hidden_gradient_expansion(act)
    delta_expanded = phi_prime(act, t) * expansion
    forms: dict[str, Form] = {
        "z_t": (z[t], W_hh * h[t - 1] + W_xh * x[t] + bias_h),
        "h_t": (h[t], act.phi(z[t])),
        "o_t": (o[t], W_hy * h[t] + bias_y),
        "L": (sp.Symbol("L"), scaled(loss.scale(T), sp.Sum(per_step, (t, 1, T)))),
        "dL/do_t": (dL_do[t], loss_gradient(loss, sp.Matrix([o[t]]), sp.Matrix([y[t]]), T)[0]),
        "dL/dh_T": (dL_dh[T], W_hy * dL_do[T]),
        "dL/dh_t": (dL_dh[t], W_hy * dL_do[t] + W_hh * dL_dz[t + 1]),
        "dL/dz_t": (dL_dz[t], phi_prime(act, t) * dL_dh[t]),
        "dL/dh_t (expanded)": (dL_dh[t], expansion),
        "dL/dz_t (expanded)": (dL_dz[t], delta_expanded),
        "dL/dW_hy": (sp.Symbol("dL/dW_hy"), sp.Sum(dL_do[t] * h[t], (t, 1, T))),
        "dL/dW_hh": (sp.Symbol("dL/dW_hh"), sp.Sum(dL_dz[t] * h[t - 1], (t, 1, T))),
        "dL/dW_xh": (sp.Symbol("dL/dW_xh"), sp.Sum(dL_dz[t] * x[t], (t, 1, T))),
        "dL/dW_hh (expanded)": (sp.Symbol("dL/dW_hh"),
                                sp.Sum(delta_expanded * h[t - 1], (t, 1, T))),
        "dL/dW_xh (expanded)": (sp.Symbol("dL/dW_xh"), sp.Sum(delta_expanded * x[t], (t, 1, T))),
    }
    if model.bias:
        forms["dL/db_h"] = (sp.Symbol("dL/db_h"), sp.Sum(dL_dz[t], (t, 1, T)))
        forms["dL/db_y"] = (sp.Symbol("dL/db_y"), sp.Sum(dL_do[t], (t, 1, T)))
    return forms


def instantiate(expr: sp.Expr, T_value: int, t_value: int | None = None) -> sp.Expr:
    """A general form at T = T_value (and t = t_value): sums and products written out, every
    indexed term renamed as the tape names it (h[2] -> h_2, dL/dz[3] -> dL/dz_3)."""
    values = {T: T_value} if t_value is None else {T: T_value, t: t_value}
    # subs, not xreplace: a t bound by a Sum stays the summation index.
    expanded = sp.sympify(expr).subs(values).doit()

    def tape_symbol(term: sp.Indexed) -> sp.Symbol:
        (index,) = term.indices
        if not index.is_Integer:
            raise ValueError(f"{term} has no whole-number index; give t_value")
        return sp.Symbol(f"{term.base.label}_{index}")

    return expanded.replace(lambda e: isinstance(e, sp.Indexed), tape_symbol)


# ---------------------------------------------------------------------------------------------
# The Jacobian-product expansion for vectors, at the tape's T


def jacobian_expansion(tape: Tape, t_value: int) -> sp.Matrix:
    """dL/dh_t = sum_{i=t}^{T} (prod_{k=t+1}^{i} W_hh^T diag(phi'(z_k))) W_hy^T dL/do_i.

    Explicit matrices over the tape's element symbols (W_hh[0,1], h_2[1], dL/do_3[0], ...); the
    product runs left to right from k = t+1, as the chain rule meets the steps going forward.
    """
    act = ACTIVATIONS[tape.model.activation]
    q = tape.quantities
    w_hh_t, w_hy_t = q["W_hh"].elements.T, q["W_hy"].elements.T

    def jacobian(step: int) -> sp.Matrix:
        arg = q[f"h_{step}" if act.prime_of == "h" else f"z_{step}"].elements
        return w_hh_t * sp.diag(*[act.prime(e) for e in arg])

    total = sp.zeros(tape.model.hidden_size, 1)
    chain = sp.eye(tape.model.hidden_size)
    for step in range(t_value, tape.T + 1):
        if step > t_value:
            chain = chain * jacobian(step)
        total += chain * w_hy_t * q[f"dL/do_{step}"].elements
    return total
