"""The catalog's entries for what hand calculations get wrong around the recursion and the
training step: a local derivative applied twice, the update's sign flipped, clipping by the
wrong norm or parameter by parameter, and a truncation that cuts at the wrong step.

Each is a Hypothesis of audit/catalog.py: rewritten op trees of step kinds, or of single steps
(a key "@name": truncation cuts steps of one kind at some t and not at others).
"""

from __future__ import annotations

from collections.abc import Iterator

from ..tape import Tape
from ..tape.training import clip_rule, norm_rule, update_rule
from ..tape.trees import Op, Ref


def training_hypotheses(tape: Tape, k, Hypothesis, Rewrite, helpers) -> Iterator:
    """Every hypothesis of this module that makes sense for the tape."""
    yield from _twice(tape, k, Hypothesis, Rewrite, helpers)
    yield from _update_sign(tape, Hypothesis, Rewrite)
    yield from _clip_norm(tape, Hypothesis, Rewrite)
    yield from _truncation(tape, Hypothesis, Rewrite)


def _twice(tape: Tape, k, Hypothesis, Rewrite, helpers) -> Iterator:
    """phi'(z_{t+1}) applied a second time: to dL/dz_{t+1} (which has it) inside dL/dh_t, or
    to dL/dh_t in dL/dz_t = dL/dh_t ⊙ phi'(z_{t+1}) (a published walkthrough's tanh'(z_3) in
    both dL/dh_2 and dL/dz_2)."""
    trees = tape.trees
    shift_prime, describe, gradient_refs, replace = helpers
    for kind, s in k.backward.items():
        for r, (_q, local) in k.passes.items():
            for ref in gradient_refs(trees[kind], r):
                if ref.offset <= 0:
                    continue
                again = shift_prime(local, ref.offset)
                yield Hypothesis("derivative-twice",
                                 f"{describe(again)} applied again to dL/d{r}_(t{ref.offset:+d}) "
                                 f"in dL/d{s}_t", {kind: Rewrite(replace(
                                     trees[kind], ref, Op("had", (ref, again))))})
    for r, (q, local) in k.passes.items():
        kind = f"dL/d{r}"
        if kind not in trees or trees[kind] != Op("had", (Ref(f"dL/d{q}", 0), local)):
            continue
        later = shift_prime(local, 1)
        rewrites = {kd: Rewrite(Op("had", (Ref(f"dL/d{q}", 0), later)))
                    for kd, s in k.backward.items() if s == r and trees[kd] == trees[kind]}
        yield Hypothesis("derivative-twice",
                         f"{describe(later)} in place of {describe(local)} in dL/d{r}_t "
                         f"(it is in dL/d{q}_t already)", rewrites)


def _update_sign(tape: Tape, Hypothesis, Rewrite) -> Iterator:
    rewrites = {}
    for kind, tree in tape.trees.items():
        rate = getattr(tree.args[0], "rate", None) if isinstance(tree, Op) else None
        if rate is not None:
            rewrites[kind] = Rewrite(Op("loss", (update_rule(-rate), *tree.args[1:])))
    if rewrites:
        yield Hypothesis("update-sign", "W' = W + learning_rate g (the sign flipped)", rewrites)


def _clip_norm(tape: Tape, Hypothesis, Rewrite) -> Iterator:
    trees = tape.trees
    if "|g|" not in trees:
        return
    clipped = {kind: tree for kind, tree in trees.items()
               if getattr(tree, "args", None) and getattr(tree.args[0], "clip", None) is not None}
    if clipped:
        c = next(iter(clipped.values())).args[0].clip
        yield Hypothesis("clip-norm", "each gradient clipped by its own norm, not all together",
                         {kind: Rewrite(Op("loss", (clip_rule(c, own=True), *tree.args[1:])))
                          for kind, tree in clipped.items()})
    parts = trees["|g|"].args[1:]
    for label, how in (("|g| as the sum of each gradient's norm", "sum"),
                       ("|g|^2 (no square root) as the norm", "square")):
        yield Hypothesis("clip-norm", label,
                         {"|g|": Rewrite(Op("loss", (norm_rule(how), *parts)))})


def _truncation(tape: Tape, Hypothesis, Rewrite) -> Iterator:
    """Chunks cut one step early, one step late, or not at all."""
    tr = tape.problem.training
    if tr is None or tr.truncate is None:
        return
    k, T = tr.truncate, tape.T
    right = {t for t in range(1, T) if t % k == 0}
    wrongs = {"one step early": {t for t in range(1, T) if (t + 1) % k == 0},
              "one step late": {t for t in range(1, T) if t % k == 1 % k and t > 1},
              "not at all": set()}
    quantities = tape.problem.cell.quantities
    for label, cuts in wrongs.items():
        if cuts == right:
            continue
        rewrites = {}
        for t in sorted(cuts ^ right):
            for q in quantities:
                full, last = tape.trees.get(f"dL/d{q}"), tape.trees.get(f"dL/d{q}_T")
                if full is None or last is None or full == last:
                    continue
                rewrites[f"@dL/d{q}_{t}"] = Rewrite(last if t in cuts else full)
        if rewrites:
            shown = ", ".join(map(str, sorted(cuts))) or "nowhere"
            yield Hypothesis("truncate-step",
                             f"the state detached after t = {shown} (truncation {label})",
                             rewrites)
