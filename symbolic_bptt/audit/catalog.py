"""The catalog of mistakes `check` and `verify` recognise, each a *rewritten step*: a derived step
of the tape (its op tree, `tape.trees`) rewritten the way people get BPTT wrong, for any cell.

The rewrites read only the shape of the derivation, never a cell's names: a local derivative
f'(...) taken at another time step or dropped, a path through one consumer left out of a sum,
a state of another time step, the loss's factor or sign changed. A Hypothesis is one systematic
mistake: the rewritten trees of the step kinds it touches. `check` applies it to a wrong claim,
and to every step of those kinds that the person did not write down, so a mistake hidden in
unclaimed steps still explains the numbers that were claimed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import sympy as sp

from ..model import model_loss, scaled
from ..model.cell import INPUT, TARGET
from ..tape import Rule, Step, Tape, rule_display
from ..tape.trees import Op, Ref, nodes, refs, transform, tree_rule


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
         "every derived step with a local derivative f'(...) in it"),
    Code("missing-activation-derivative",
         "phi' dropped, as for a linear RNN: dL/dh_t = W_hy^T dL/do_t + W_hh^T dL/dh_{t+1}; "
         "or dL/dz_t = dL/dh_t; or dL/dh_t in place of dL/dz_t in a weight gradient",
         "every derived step with a local derivative f'(...) in it, and its readers"),
    Code("state-off-by-one",
         "the state or input of the wrong time step: h_t in place of h_{t-1} in dL/dW_hh^(t), "
         "x_{t±1} in place of x_t in dL/dW_xh^(t), h_{t-1} in place of h_t in dL/dW_hy^(t); "
         "in a gated cell, f_t in place of f_{t+1} in dL/dc_t",
         "the weight gradients' terms dL/dW^(t), and gradients that read a later state"),
    Code("missing-path",
         "a path left out of the sum over the quantities that read q_t: dL/dh_t = W_hy^T "
         "dL/do_t without W_hh^T dL/dz_{t+1} (the gradient from the future), or without the "
         "output's own term; in an LSTM, dL/dc_t without f_{t+1} ⊙ dL/dc_{t+1}",
         "dL/dq_t of every quantity read in more than one place"),
    Code("loss-scale",
         "the loss's factor (1/2 or 1/T) dropped, doubled or halved, or another loss's factor used",
         "L, dL/do_t"),
    Code("sign-error",
         "(y_t - o_t) in place of (o_t - y_t): the output gradient with the wrong sign",
         "dL/do_t"),
)}


@dataclass(frozen=True)
class Rewrite:
    """A mistaken version of one kind of step: its op tree rewritten (None: the tape's own), and
    for the sums over t, whose inputs are named one by one, the name read in place of each."""

    tree: object = None
    names: Callable[[str], str] | None = None


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
        self._rules: dict[tuple[str, str, str], Rule] = {}

    def rewrite(self, h: Hypothesis, step: Step) -> tuple[Rule, tuple[str, ...]] | None:
        """The mistaken rule and its inputs for this step, or None when h leaves it alone."""
        rewrite = h.rewrites.get(step.kind)
        if rewrite is None:
            return None
        tree = self.tape.trees[step.kind] if rewrite.tree is None else rewrite.tree
        slots = refs(tree)
        if step.t is None:  # a sum over t: its inputs are named, in slot order
            inputs = [rewrite.names(n) if rewrite.names else n for n in step.inputs]
        else:
            inputs = [r.name(step.t) for r in slots]
        if any(n not in self.tape.quantities for n in inputs):
            return None
        if rewrite.tree is None and rewrite.names is not None:
            return self.tape.rules[step.kind], tuple(inputs)
        key = (h.code, h.label, step.kind)
        if key not in self._rules:
            self._rules[key] = tree_rule(f"{h.code} [{h.label}]: {step.kind}", tree, slots,
                                         [self.tape.quantities[n] for n in inputs],
                                         self.tape.model.is_scalar)
        return self._rules[key], tuple(inputs)


def instantiate(tape: Tape, rule: Rule, inputs: tuple[str, ...]):
    """The rule's display formula on the actual quantities `inputs`, as Tape.display writes the
    tape's own steps."""
    return rule_display(rule, [tape.quantities[n] for n in inputs], not tape.model.is_scalar)


# ---------------------------------------------------------------------------------------------
# Reading the derivation


def _at(offset: int) -> str:
    """A time index as labels write it: t, (t+1), (t-1)."""
    return "t" if offset == 0 else f"(t{offset:+d})"


def _grad(base: str) -> str | None:
    """The quantity whose gradient a Ref reads (`dL/dz` -> `z`), or None."""
    return base[4:] if base.startswith("dL/d") else None


@dataclass(frozen=True)
class _Kinds:
    """The tape's step kinds, sorted by what the catalog does with them."""

    backward: dict[str, str]  # kind of dL/dq_t (its full or its t = T version) -> q
    contributions: dict[str, str]  # kind of dL/dp^(t) -> p
    totals: list[str]  # kinds of dL/dp (sums over t)
    passes: dict[str, tuple[str, Op]]  # r -> (q, f'(...)) where dL/dr_t = dL/dq_t ⊙ f'(...)

    @staticmethod
    def of(tape: Tape) -> _Kinds:
        backward, contributions, totals = {}, {}, []
        for step in tape.steps:
            name, kind = step.name, step.kind
            if not name.startswith("dL/d") or kind in backward or kind in contributions:
                continue
            if step.t is None:
                if kind not in totals:
                    totals.append(kind)
            elif "^(" in name:
                contributions[kind] = name[4:name.index("^(")]
            else:
                backward[kind] = name[4:name.rindex("_")]
        passes = {}
        for kind, r in backward.items():
            tree = tape.trees[kind]
            if kind == f"dL/d{r}" and isinstance(tree, Op) and tree.op == "had":
                grad, local = tree.args
                if isinstance(grad, Ref) and grad.offset == 0 and _grad(grad.base) \
                        and isinstance(local, Op) and local.op == "prime":
                    passes[r] = (_grad(grad.base), local)
        return _Kinds(backward, contributions, totals, passes)


def _primes(tree) -> list[Op]:
    return [n for n in nodes(tree) if isinstance(n, Op) and n.op == "prime"]


def _offset(tree) -> int:
    """The time offset a local derivative is taken at (its latest time-indexed input)."""
    return max((r.offset for r in refs(tree) if r.offset is not None), default=0)


def _describe(prime: Op, by: int = 0) -> str:
    """f'(v_t) as a label writes it, read `by` steps later."""
    fn, arg = prime.args[2], prime.args[1]
    inner = [r for r in refs(arg) if r.offset is not None]
    where = _at(_offset(arg) + by)
    if len(inner) == 1:
        return f"{fn}'({inner[0].base}_{where})"
    return f"{fn}'(...) at {where}" if inner else f"{fn}'"


def _shift_prime(prime: Op, by: int) -> Op:
    """A local derivative read `by` steps later (its own function kept)."""
    return Op("prime", (prime.args[0], _shift_refs(prime.args[1], by), prime.args[2]))


def _shift_refs(tree, by: int):
    return transform(tree, lambda x: Ref(x.base, x.offset + by)
                     if isinstance(x, Ref) and x.offset is not None else x)


def _replace(tree, old, new):
    return transform(tree, lambda x: new if x == old else x)


def _gradient_refs(tree, r: str) -> list[Ref]:
    """Where a tree reads dL/dr, at any offset."""
    return [x for x in refs(tree) if x.base == f"dL/d{r}"]


# ---------------------------------------------------------------------------------------------
# The hypotheses, by code


def _hypotheses(tape: Tape) -> list[Hypothesis]:
    """Every hypothesis for this tape, one per mistake: the same mistake in a step's t = T
    version and in its general version is one hypothesis over both kinds."""
    k = _Kinds.of(tape)
    merged: dict[tuple[str, str], dict[str, Rewrite]] = {}
    for h in (*_derivative_index(tape, k), *_missing_derivative(tape, k), *_off_by_one(tape, k),
              *_missing_path(tape, k), *_loss_factor(tape, k)):
        if h.rewrites:
            merged.setdefault((h.code, h.label), {}).update(h.rewrites)
    return [Hypothesis(code, label, rewrites) for (code, label), rewrites in merged.items()]


def _derivative_index(tape: Tape, k: _Kinds) -> Iterator[Hypothesis]:
    trees = tape.trees
    # a later step's dL/dr read with its local derivative written out at this step
    for kind, s in k.backward.items():
        for r, (q, local) in k.passes.items():
            for ref in _gradient_refs(trees[kind], r):
                if ref.offset <= 0:
                    continue
                grad = Ref(f"dL/d{q}", ref.offset)
                wrong = _shift_prime(local, ref.offset - 1)
                right = _describe(local, ref.offset)
                yield Hypothesis("derivative-index",
                                 f"{_describe(wrong)} in place of {right} in dL/d{s}_t",
                                 {kind: Rewrite(_replace(trees[kind], ref, Op("had", (wrong, grad))))})
                if not tape.model.is_scalar:
                    outside = _outside(trees[kind], ref, grad, wrong)
                    if outside is not None:
                        tree, matrix = outside
                        yield Hypothesis("derivative-index",
                                         f"{_describe(wrong)} ⊙ ({matrix}^T dL/d{q}_{_at(ref.offset)})"
                                         f" in dL/d{s}_t", {kind: Rewrite(tree)})
    # a local derivative in the step itself, taken at another step
    for kind in [*k.backward, *k.contributions]:
        primes = _primes(trees[kind])
        if not primes:
            continue
        at = _offset(primes[0].args[1])
        if any(_offset(p.args[1]) != at for p in primes):
            continue
        shifts = (1, -1) if at == 0 else (-1 if at > 0 else 1,)
        whose = _whose(k, kind)
        for by in shifts:
            tree = transform(trees[kind], lambda x, b=by: _shift_prime(x, b)
                             if isinstance(x, Op) and x.op == "prime" else x)
            names = " and ".join(dict.fromkeys(_describe(p) for p in primes))
            wrong = " and ".join(dict.fromkeys(_describe(p, by) for p in primes))
            yield Hypothesis("derivative-index", f"{wrong} in place of {names} in {whose}",
                             {kind: Rewrite(tree)})


def _outside(tree, ref: Ref, grad: Ref, local: Op):
    """W^T dL/dr_(t+1) with the local derivative outside the product: f'(...) ⊙ (W^T dL/dq)."""
    for node in nodes(tree):
        if isinstance(node, Op) and node.op == "mm" and node.args[1] == ref:
            left = node.args[0]
            if isinstance(left, Op) and left.op == "tr" and isinstance(left.args[0], Ref):
                product = Op("mm", (left, grad))
                return _replace(tree, node, Op("had", (local, product))), left.args[0].base
    return None


def _whose(k: _Kinds, kind: str) -> str:
    if kind in k.contributions:
        return f"dL/d{k.contributions[kind]}^(t)"
    return f"dL/d{k.backward[kind]}_t"


def _missing_derivative(tape: Tape, k: _Kinds) -> Iterator[Hypothesis]:
    trees = tape.trees
    for r, (q, _local) in k.passes.items():
        # read by later steps as if dL/dr were dL/dq
        for kind, s in k.backward.items():
            found = [ref for ref in _gradient_refs(trees[kind], r) if ref.offset != 0 or s != r]
            for ref in found:
                yield Hypothesis("missing-activation-derivative",
                                 f"dL/d{q}_{_at(ref.offset)} in place of dL/d{r}_{_at(ref.offset)} "
                                 f"in dL/d{s}_t",
                                 {kind: Rewrite(_replace(trees[kind], ref, Ref(f"dL/d{q}", ref.offset)))})
        own = {kind: Rewrite(Ref(f"dL/d{q}", 0)) for kind, s in k.backward.items()
               if s == r and trees[kind] == Op("had", (Ref(f"dL/d{q}", 0), _local))}
        yield Hypothesis("missing-activation-derivative", f"dL/d{r}_t = dL/d{q}_t", own)
        # the weight gradients
        rewrites = {}
        for kind in k.contributions:
            found = _gradient_refs(trees[kind], r)
            tree = trees[kind]
            for ref in found:
                tree = _replace(tree, ref, Ref(f"dL/d{q}", ref.offset))
            if found:
                rewrites[kind] = Rewrite(tree)
        for kind in k.totals:
            step = next(s for s in tape.steps if s.kind == kind)
            if any(n.startswith(f"dL/d{r}_") for n in step.inputs):
                rewrites[kind] = Rewrite(names=lambda n, a=f"dL/d{r}_", b=f"dL/d{q}_":
                                         b + n[len(a):] if n.startswith(a) else n)
        if rewrites:
            yield Hypothesis("missing-activation-derivative",
                             f"dL/d{q}_t in place of dL/d{r}_t in the weight gradients", rewrites)
    # a local derivative written inside a step (no named argument) left out
    passing = {f"dL/d{r}" for r in k.passes}
    for kind in [*k.backward, *k.contributions]:
        if kind in passing or not _primes(trees[kind]):
            continue
        tree = transform(trees[kind], _drop_prime)
        names = " and ".join(dict.fromkeys(_describe(p) for p in _primes(trees[kind])))
        yield Hypothesis("missing-activation-derivative", f"{names} left out of {_whose(k, kind)}",
                         {kind: Rewrite(tree)})


def _drop_prime(x):
    if isinstance(x, Op) and x.op == "had":
        kept = [a for a in x.args if not (isinstance(a, Op) and a.op == "prime")]
        if len(kept) == 1:
            return kept[0]
    return x


def _off_by_one(tape: Tape, k: _Kinds) -> Iterator[Hypothesis]:
    trees = tape.trees
    for kind, p in k.contributions.items():
        for ref in _states(trees[kind]):
            if ref.base in (INPUT, TARGET):  # data: the step before or after
                targets = (ref.offset - 1, ref.offset + 1)
            else:  # a state: the step's own in place of the one before, or the other way round
                targets = {-1: (0,), 0: (-1,)}.get(ref.offset, ())
            for to in targets:
                moved = Ref(ref.base, to)
                yield Hypothesis("state-off-by-one",
                                 f"{ref.base}_{_at(to)} in place of {ref.base}_{_at(ref.offset)} "
                                 f"in dL/d{p}^(t)",
                                 {kind: Rewrite(_replace(trees[kind], ref, moved))})
    # a later step's state read at this step (f_(t+1) in dL/dc_t)
    for kind, s in k.backward.items():
        for ref in _states(trees[kind]):
            if ref.offset > 0:
                moved = Ref(ref.base, ref.offset - 1)
                yield Hypothesis("state-off-by-one",
                                 f"{ref.base}_{_at(moved.offset)} in place of "
                                 f"{ref.base}_{_at(ref.offset)} in dL/d{s}_t",
                                 {kind: Rewrite(_replace(trees[kind], ref, moved))})


def _states(tree) -> list[Ref]:
    """The forward quantities and data a tree reads at some t, outside local derivatives."""
    inside = {r for p in _primes(tree) for r in refs(p)}
    return [r for r in refs(tree) if r.offset is not None and not _grad(r.base) and r not in inside]


def _missing_path(tape: Tape, k: _Kinds) -> Iterator[Hypothesis]:
    trees = tape.trees
    by_quantity: dict[str, list[str]] = {}
    for kind, q in k.backward.items():
        by_quantity.setdefault(q, []).append(kind)
    for q, kinds in by_quantity.items():
        full = trees.get(f"dL/d{q}")
        paths: dict[str, list] = {}  # a reader -> its terms (one reader may send several)
        for term in _terms(full):
            paths.setdefault(_reader(term, tape), []).append(term)
        if len(paths) < 2:
            continue
        for where, dropped in paths.items():
            rewrites = {}
            for kind in kinds:
                terms = _terms(trees[kind])
                kept = [t for t in terms if t not in dropped]
                if kept and len(kept) < len(terms):
                    rewrites[kind] = Rewrite(kept[0] if len(kept) == 1 else Op("add", tuple(kept)))
            yield Hypothesis("missing-path", f"dL/d{q}_t without the path through {where}",
                             rewrites)


def _terms(tree) -> list:
    return list(tree.args) if isinstance(tree, Op) and tree.op == "add" else [tree]


def _reader(term, tape: Tape) -> str:
    """The quantity through which a term of dL/dq_t comes: z_(t+1), or the loss."""
    if any(isinstance(n, Op) and n.op == "loss" for n in nodes(term)):
        return "the loss l_t"
    for ref in refs(term):
        if _grad(ref.base):
            return f"{_grad(ref.base)}_{_at(ref.offset)}"
    return "another quantity"


def _loss_factor(tape: Tape, k: _Kinds) -> Iterator[Hypothesis]:
    m, output = tape.model, tape.problem.cell.output
    if m.loss == "given":
        return
    n = len(tape.problem.loss_steps)
    scale = model_loss(m.loss, m.reduction).scale(n)
    # the factor sits in L, or in each l_t (L is then their plain sum)
    carrier = "L" if m.loss_factor == "outside" else "l"
    other = "l" if carrier == "L" else "L"
    outputs = [kind for kind, q in k.backward.items() if q == output]

    def rescaled(ratio, where):
        change = _rescaled(ratio)

        def rewrite(x):
            if isinstance(x, Op) and x.op == "loss":
                fn = x.args[0]

                def wrapped(ops, *args, fn=fn):
                    out = fn(ops, *args)
                    return out.applyfunc(change) if isinstance(out, sp.MatrixBase) else change(out)
                return Op("loss", (wrapped, *x.args[1:]))
            return x
        return {kind: Rewrite(transform(tape.trees[kind], rewrite)) for kind in [where, *outputs]
                if any(isinstance(n, Op) and n.op == "loss" for n in nodes(tape.trees[kind]))}

    # first: where the gradients alone are seen, the common mistake names them
    if scale != 1:  # l_t written with the factor and L with it again: the other place rescaled
        yield Hypothesis("loss-scale", f"factor {scale * scale} in place of {scale} (the {scale} "
                                       f"counted in each l_t and again outside the sum)",
                         rescaled(scale, other))
    options = [sp.Integer(1), 2 * scale, scale / 2, sp.Rational(1, 2), sp.Rational(1, n),
               sp.Integer(2), sp.Rational(2, n)]
    for factor in dict.fromkeys(options):
        if factor != scale:
            yield Hypothesis("loss-scale", f"factor {factor} in place of {scale}",
                             rescaled(factor / scale, carrier))
    yield Hypothesis("sign-error", f"(y_t - {output}_t) in place of ({output}_t - y_t) in "
                                   f"dL/d{output}_t",
                     {kind: r for kind, r in rescaled(sp.Integer(-1), carrier).items()
                      if kind not in ("L", "l")})


def _rescaled(ratio: sp.Rational) -> Callable[[sp.Basic], sp.Basic]:
    """Multiply a formula written `scaled(c, rest)` by ratio, keeping one visible factor."""

    def change(expr):
        factors = expr.args if isinstance(expr, sp.Mul | sp.MatMul) else (expr,)
        kept = [f.args[0] for f in factors if isinstance(f, sp.UnevaluatedExpr)]
        rest = [f for f in factors if not isinstance(f, sp.UnevaluatedExpr)]
        coefficient = sp.Mul(*kept) if kept else sp.Integer(1)
        if ratio < 0:
            return scaled(-coefficient * ratio, -sp.Mul(*rest))
        return scaled(coefficient * ratio, sp.Mul(*rest))
    return change
