"""Check a BPTT identity against a model, for every valid t and T = 1..N.

One pipeline, top to bottom in `verify`:

1. read the formula (latex_in) into a syntax tree;
2. instantiate it at each (T, t) on the tape's element symbols (h_2, W_hh, dL/dz_3[1], ...);
3. compare the sides symbolically: substitute the tape's own step definitions in stages
   (backward quantities down to dL/do_t, h_t and the weights; then the loss layer; then z_t and
   o_t; then everything down to parameters and data), expanding after each stage — a zero
   difference at any stage is a proof;
4. otherwise evaluate both sides at random parameters and data in 50-digit arithmetic, walking
   the tape: a clear difference is a counterexample;
5. explain a failure: each catalogued mistake is a rewritten tape step (the audit/catalog.py codes);
   if the formula holds in the world where the tape makes that mistake, that is its code.

Conventions (README, "verify"): formulas are read in column convention; a number added to a
vector is added to each entry and a vector's power is taken entrywise; a formula is checked at
every t where every quantity it names (outside sums) exists, so a recursion in dL/dh_{t+1} is
checked for t < T and its t = T case is its own formula; a sum with a literal upper bound (and
no T in the formula) states the identity for that T only; a bias that [model] bias = false
leaves out (b_h, b_y of the Elman cell) is zero. The names a formula may use are its cell's
(vocabulary.py): for an LSTM written as a custom cell, c_t, f_{t+1}, W_{hf}, dL/dc_t.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field
from itertools import pairwise

import sympy as sp

from ..errors import ProblemError
from ..inputs.limits import MAX_FUNCTION_NESTING, MAX_VERIFY_T
from ..inputs.problem import Model, Problem
from .formula_ast import (
    T_,
    VJP,
    Add,
    Apply,
    BigOp,
    Deriv,
    Div,
    Formula,
    Hadamard,
    IndexValue,
    Mul,
    Neg,
    Node,
    Norm,
    Outer,
    Pow,
    Ref,
    Transpose,
    t_,
)
from .instance import Instance, Missing, same_shapes
from .latex_in import read_block, read_latex
from .reading import Reading, make_reading
from .unrolled import DIGITS, Subject, Unrolled, subject_of

POINTS = 3
_UNROLLED: dict[tuple[Subject, int], Unrolled] = {}  # tapes kept for the process's next formulas


def unrolled(subject: Subject, T: int) -> Unrolled:
    """The subject's tape of length T, unrolled once per process (a batch of formulas, or a
    notebook checking one line after another, shares it and its random points' values)."""
    key = (subject, T)
    if key not in _UNROLLED:
        if len(_UNROLLED) > 64:
            _UNROLLED.clear()
        _UNROLLED[key] = Unrolled(subject, T)
    return _UNROLLED[key]
_TOLERANCE = sp.Float(10) ** -30
_SIZE_BUDGET = 8000
_HARD_BUDGET = 400
_HARD_ROUNDS = 3
_PROBE_ZERO = sp.Float(10) ** -12  # far above 30-digit rounding, far below a random value


@dataclass(frozen=True)
class Check:
    """One instance of the identity: sequence length T, time step t (None if t is not free)."""

    T: int
    t: int | None
    holds: bool
    method: str  # "symbolic" | "numeric"


@dataclass(frozen=True)
class Verdict:
    """The answer: holds or not, what was checked, a counterexample and a mistake code."""

    holds: bool
    checked: tuple[Check, ...]
    counterexample: dict | None
    code: str | None
    explanation: str
    notes: tuple[str, ...] = field(default=())

    def text(self) -> str:
        """A few lines for people: the verdict, the explanation, the counterexample's inputs."""
        head = ("holds" if self.holds else "fails") + (f" [{self.code}]" if self.code else "")
        lines = [head, self.explanation]
        if self.counterexample:
            point = ", ".join(f"{k} = {_short(v)}" for k, v in self.counterexample["point"].items())
            lines.append(f"counterexample inputs: {point}")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        """The --json object."""
        return {"holds": self.holds,
                "checked": [{"T": c.T, "t": c.t, "holds": c.holds, "method": c.method}
                            for c in self.checked],
                "counterexample": self.counterexample, "code": self.code,
                "explanation": self.explanation}


Checked = Model | Problem | Subject  # a model (Elman), or a problem of any cell


def verify_latex(model: Checked, source: str, max_T: int = 5) -> Verdict:
    """Read a LaTeX identity in the cell's names and verify it for the model (or a custom
    cell's problem); ProblemError if it cannot be read."""
    subject = subject_of(model)
    return verify(subject, read_latex(source, subject.vocab), max_T)


def reading_of(model: Checked, notation: str | None = None) -> Reading:
    """How the problem's source writes formulas: `notation` (a preset's name, as
    --notation gives it) or the problem's own `notation = NAME`, with its [symbols] over it."""
    preset = notation or getattr(model, "notation_preset", None)
    return make_reading(preset, getattr(model, "symbols", None) or None)


def verify_formula(model: Checked, latex: str | None = None, sympy: str | None = None,
                   max_T: int = 5, notation: str | None = None) -> Verdict:
    """Verify an identity given in LaTeX or in SymPy syntax (exactly one of them); a LaTeX
    chain or aligned block is checked formula by formula, member by member."""
    if (latex is None) == (sympy is None):
        raise ProblemError("give the formula once: --latex FORMULA or --sympy FORMULA")
    subject = subject_of(model)
    if sympy is not None:
        from .sympy_in import read_sympy

        return verify(subject, read_sympy(sympy, subject.vocab), max_T)
    formulas = read_block(latex, subject.vocab, reading_of(model, notation))
    if len(formulas) == 1:
        return verify(subject, formulas[0], max_T)
    verdicts = [verify(subject, f, max_T) for f in formulas]
    return _combined(formulas, verdicts)


def _combined(formulas, verdicts: list[Verdict]) -> Verdict:
    """One verdict for an aligned block: it holds if every formula does; otherwise the first
    failing formula's verdict, named."""
    checked = tuple(c for v in verdicts for c in v.checked)
    notes = tuple(dict.fromkeys(n for v in verdicts for n in v.notes))
    bad = next((k for k, v in enumerate(verdicts) if not v.holds), None)
    if bad is None:
        parts = "; ".join(f"({k + 1}) {v.explanation}" for k, v in enumerate(verdicts))
        return Verdict(True, checked, None, None,
                       f"all {len(verdicts)} formulas of the block hold: {parts}", notes)
    v = verdicts[bad]
    return Verdict(False, checked, v.counterexample, v.code,
                   f"formula {bad + 1} of the block's {len(verdicts)} ({formulas[bad]}) fails: "
                   f"{v.explanation}", notes)


def verify(model: Checked, formula: Formula, max_T: int = 5) -> Verdict:
    """Check `formula` for the model (or a custom cell's problem) at T = 1..max_T and every
    valid t."""
    subject = subject_of(model)
    if max_T < 1:
        raise ProblemError(f"--max-T must be at least 1, got {max_T}")
    if max_T > MAX_VERIFY_T:
        raise ProblemError(f"--max-T {max_T} is beyond the limit of {MAX_VERIFY_T} (an identity "
                           "that holds for T = 1..5 rarely fails later; the limit keeps a check "
                           "under a few minutes)")
    for side in formula.sides:
        if _nested_functions(side) > MAX_FUNCTION_NESTING:
            raise ProblemError(f"the formula nests functions (tanh, exp, ...) more than "
                               f"{MAX_FUNCTION_NESTING} deep, the limit (SymPy slows down "
                               "steeply beyond it)")
    notes = list(formula.notes)  # instances add theirs; kept once each, in order
    Ts = _sequence_lengths(formula, max_T, notes)
    free_t = any(t_ in _free(side) for side in formula.sides)
    cases: list[tuple[Unrolled, int | None, tuple[sp.Matrix, ...]]] = []
    missing: list[str] = []
    last_read = subject.model.loss_steps
    if isinstance(last_read, tuple) and max(last_read) > min(Ts):
        notes.append(f"checked from T = {max(last_read)}, the last step model.loss_steps reads")
        Ts = [T for T in Ts if T >= max(last_read)] or [max(last_read)]
    for T in Ts:
        u = unrolled(subject, T)
        for t in (range(1, T + 1) if free_t else [None]):
            try:
                instances = [Instance(u, t, notes) for _ in formula.sides]
                sides = tuple(i.side(s) for i, s in zip(instances, formula.sides))
            except Missing as exc:
                missing.append(f"{exc.name} at T = {T}")
                continue
            _defined(sides, T, t)
            cases.append((u, t, same_shapes(sides, formula, any(i.rows for i in instances))))
    if not cases:
        raise ProblemError(f"nothing to check: the formula names {missing[0]}, which does not "
                           f"exist for any T up to {max(Ts)} (raise --max-T?)")
    if missing:
        notes.append(f"skipped the (T, t) where a named quantity does not exist (such as "
                     f"{missing[0]}); BPTT's t = T case is a formula of its own")
    checks, counterexample = [], None
    for u, t, sides in cases:
        check, bad = _compare(u, t, sides)
        checks.append(check)
        if bad is not None and counterexample is None:
            counterexample = bad
    holds = counterexample is None
    explained = None
    if not holds:
        failing = {c.T for c in checks if not c.holds}
        explained = _explain(cases, failing, counterexample["T"])
    text = _explanation(subject, holds, checks, counterexample, explained, notes)
    if not holds:
        text = _members(formula, counterexample) + text[:-1] + f"; read as: {formula}."
    return Verdict(holds, tuple(checks), counterexample, explained.code if explained else None,
                   text, tuple(dict.fromkeys(notes)))


def _members(formula: Formula, counterexample: dict) -> str:
    """For a chain a = b = c, which claim fails: `member 2 = member 3 (W^T*g = ...) `."""
    if len(formula.sides) < 3:
        return ""
    k = counterexample.get("member", 1) - 1
    a, b = formula.sides[k], formula.sides[k + 1]
    return (f"in the chain of {len(formula.sides)} members, member {k + 1} = member {k + 2} "
            f"({a} = {b}) is the first that fails: ")


# ---------------------------------------------------------------------------------------------
# Which T and t


def _indices(node: Node):
    """Every index expression in a node, with the variables bound around it."""
    match node:
        case Ref(index=i) if i is not None:
            yield i, ()
        case IndexValue(expr=e):
            yield e, ()
        case Pow(base=b, exp=e):
            yield e, ()
            yield from _indices(b)
        case BigOp(var=v, lo=lo, hi=hi, body=b):
            yield lo, ()
            yield hi, ()
            for expr, bound in _indices(b):
                yield expr, bound + (v,)
        case Deriv(copy=c) if c is not None:
            yield c, ()
            for child in _children(node):
                yield from _indices(child)
        case _:
            for child in _children(node):
                yield from _indices(child)


def _children(node: Node) -> tuple[Node, ...]:
    match node:
        case Add(terms=ts):
            return ts
        case Mul(factors=fs) | Hadamard(factors=fs):
            return fs
        case Div(num=a, den=b):
            return (a, b)
        case Neg(arg=a) | Transpose(arg=a) | Apply(arg=a) | Norm(arg=a):
            return (a,)
        case Pow(base=b):
            return (b,)
        case BigOp(body=b):
            return (b,)
        case Deriv(of=a, wrt=b):
            return (a, b)
        case Outer(left=a, right=b):
            return (a, b)
        case VJP(grad=a, jacobian=b):
            return (a, b)
    return ()


def _nested_functions(node: Node) -> int:
    """How deep function applications nest in a node (tanh(exp(h_t)): 2)."""
    inner = max((_nested_functions(c) for c in _children(node)), default=0)
    return inner + isinstance(node, Apply | Norm)


def _free(node: Node) -> set[sp.Symbol]:
    return {s for expr, bound in _indices(node) for s in expr.free_symbols if s not in bound}


def _big_ops(node: Node):
    if isinstance(node, BigOp):
        yield node
    for child in _children(node):
        yield from _big_ops(child)


def _sequence_lengths(formula: Formula, max_T: int, notes: list[str]) -> list[int]:
    """T = 1..max_T, or the one T a literal sum bound such as \\sum_{t=1}^{3} states."""
    if any(T_ in _free(side) for side in formula.sides):
        return list(range(1, max_T + 1))
    literal = sorted({int(op.hi) for side in formula.sides for op in _big_ops(side)
                      if op.hi.is_Integer})
    if not literal:
        return list(range(1, max_T + 1))
    if len(literal) > 1:
        raise ProblemError(f"the formula's sums end at {' and '.join(map(str, literal))}: "
                           "write T for the sequence length")
    T = literal[0]
    if not 1 <= T <= 50:
        raise ProblemError(f"a sum up to {T} cannot be checked (T from 1 to 50)")
    notes.append(f"the sums run to {T} and the formula does not name T, so it states the "
                 f"identity for T = {T} only; that is the one T checked")
    return [T]


# ---------------------------------------------------------------------------------------------
# Comparing the sides


def _compare(u: Unrolled, t: int | None, sides: tuple[sp.Matrix, ...]):
    """(Check, counterexample or None) for one instance: one random point, then a proof, then
    (no proof found) the other points."""
    pairs = list(pairwise(sides))
    need = _atoms(sides)
    proved = None
    for k in range(POINTS):
        if k == 1:
            proved = all(_prove(u, a - b) for a, b in pairs)
            if proved:
                return Check(u.T, t, True, "symbolic"), None  # no need for more points
        values = u.values(k, need=need)
        for member, (a, b) in enumerate(pairs):
            va, vb = _numbers(a, values), _numbers(b, values)
            _defined((va, vb), u.T, t)
            if not _close(va, vb):
                found = _counterexample(u, t, k, va, vb)
                if len(sides) > 2:
                    found["member"] = member + 1  # the claim member = member + 1, from 1
                return Check(u.T, t, False, "numeric"), found
    if proved is None:
        proved = all(_prove(u, a - b) for a, b in pairs)
    return Check(u.T, t, True, "symbolic" if proved else "numeric"), None


def _atoms(sides) -> set[sp.Symbol]:
    """The element symbols the sides read (the tape steps a numeric test walks)."""
    return set().union(*(side.free_symbols for side in sides))


def _defined(sides, T: int, t: int | None) -> None:
    """Refuse a formula with an undefined value (x/0, log 0): it never `holds`."""
    undefined = (sp.zoo, sp.nan, sp.oo, -sp.oo)
    if any(e.has(*undefined) for side in sides for e in side):
        where = f"T = {T}" + (f", t = {t}" if t is not None else "")
        raise ProblemError(f"the formula is undefined at {where}: a division by zero, the log "
                           "of 0 or another value that does not exist")


def _prove(u: Unrolled, diff: sp.Matrix) -> bool:
    """True if `diff` is zero by the tape's definitions.

    Substitutes one quantity at a time, always the latest on the tape (so dL/dz_t goes before
    dL/dh_t, and the backward pass before the forward one), expanding and testing for zero after
    each. In the first rounds, where the formula's own quantities meet their definitions, it
    also tries rational simplification, alone and with h_t = phi(z_t) (so that phi'(z_t) meets
    1 - h_t^2). False means no proof within the size budget, not that the identity fails.
    """
    for rounds in range(len(u.tape.steps) + 1):
        if sum(_size(e, _SIZE_BUDGET) for e in diff) > _SIZE_BUDGET:
            return False
        diff = diff.applyfunc(sp.expand)
        if all(e == 0 for e in diff):
            return True
        if rounds < _HARD_ROUNDS and not all(e.is_polynomial() for e in diff) and (
                _rational_zero(diff) or _activated_zero(u, diff)):
            return True
        defined = {u.owner[s] for s in diff.free_symbols if s in u.owner}
        if not defined:
            return False
        diff = diff.xreplace(u.definition(max(defined)))
    return False


def _size(expr: sp.Expr, budget: int) -> int:
    """The number of nodes of `expr`, counting no further than budget + 1."""
    n = 0
    for _ in sp.preorder_traversal(expr):
        n += 1
        if n > budget:
            break
    return n


def _rational_zero(diff: sp.Matrix) -> bool:
    """Every entry is zero as a rational function of its atoms (small entries only)."""
    for e in diff:
        if e == 0:
            continue
        if _size(e, _HARD_BUDGET) > _HARD_BUDGET or _nonzero_somewhere(e) \
                or sp.cancel(sp.together(e)) != 0:
            return False
    return True


def _activated_zero(u: Unrolled, diff: sp.Matrix) -> bool:
    """_rational_zero of `diff` with h_t = phi(z_t) substituted (each quantity that is a function
    of another); the definitions are made only if no entry is clearly nonzero at the probe's
    point, where each such quantity takes its definition's value."""
    atoms = diff.free_symbols
    defined = u.activation_values(atoms, _probe)
    if not defined:
        return False  # nothing to substitute: _rational_zero(diff) has answered
    point = {s: _probe(s) for s in atoms} | defined
    if any(_clearly_nonzero(e.xreplace(point).evalf(30)) for e in diff):
        return False
    return _rational_zero(diff.xreplace(u.activation(atoms)))


def _nonzero_somewhere(e: sp.Expr) -> bool:
    """`e` is clearly not zero at the probe's point (30 digits), so no rational simplification
    can make it zero: the cheap half of _rational_zero's question."""
    return _clearly_nonzero(e.xreplace({s: _probe(s) for s in e.free_symbols}).evalf(30))


@functools.lru_cache(maxsize=4096)
def _probe(s: sp.Symbol) -> sp.Float:
    """The probe's value of a symbol: random, fixed by its name."""
    rng = random.Random(f"symbolic-bptt probe {s}")
    return sp.Float(rng.choice((-1, 1)) * rng.randint(200, 900) / 1000, 30)


def _clearly_nonzero(value: sp.Expr) -> bool:
    return bool(value.is_number and value.is_finite and abs(value) > _PROBE_ZERO)


def _numbers(m: sp.Matrix, values: dict) -> sp.Matrix:
    return m.xreplace(values).evalf(DIGITS)


def _close(a: sp.Matrix, b: sp.Matrix) -> bool:
    for x, y in zip(a, b):
        if not (x.is_number and y.is_number):
            return False
        scale = max(sp.Integer(1), abs(x), abs(y))
        if abs(x - y) > _TOLERANCE * scale:
            return False
    return True


def _plain(m: sp.Matrix):
    """A JSON value: a number for 1 x 1, a list for a column, nested rows for a matrix."""
    if m.shape == (1, 1):
        return float(m[0])
    if m.cols == 1:
        return [float(e) for e in m]
    return [[float(e) for e in m.row(i)] for i in range(m.rows)]


def _counterexample(u: Unrolled, t, k: int, lhs: sp.Matrix, rhs: sp.Matrix) -> dict:
    point = u.point(k)
    inputs = {name: _plain(q.elements.xreplace(point)) for name, q in u.tape.quantities.items()
              if q.role in ("param", "data")}
    return {"T": u.T, "t": t, "lhs": _plain(lhs), "rhs": _plain(rhs), "point": inputs}


# ---------------------------------------------------------------------------------------------
# Known mistakes: the catalog's hypotheses are rewritten tape steps (audit/catalog.py); a failing
# formula gets the code of a hypothesis under whose rewritten tape it holds


@dataclass(frozen=True)
class Explained:
    """A code that explains a failure, with the hypothesis that does at the counterexample's T."""

    code: str
    label: str


def _explain(cases, failing_Ts: set[int], first_T: int) -> Explained | None:
    """The first code whose hypotheses make the formula hold wherever it failed.

    Hypotheses of one code may differ with T (a factor 1/T is 1/3 at T = 3), so for every T
    where the formula fails, some hypothesis of the code must make it hold at every t checked.
    """
    by_T: dict[int, list] = {}
    for u, _, sides in cases:
        if u.T in failing_Ts:
            by_T.setdefault(u.T, []).append(sides)
    units = {u.T: u for u, _, _ in cases}
    codes = list(dict.fromkeys(h.code for h in units[first_T].catalog.hypotheses))
    need = {T: _atoms([m for sides in instances for m in sides]) for T, instances in by_T.items()}
    for code in codes:
        found = {}
        for T, instances in by_T.items():
            u = units[T]
            for h in u.catalog.hypotheses:
                if h.code == code and all(
                        _close(_numbers(a, u.values(k, h, need[T])),
                               _numbers(b, u.values(k, h, need[T])))
                        for sides in instances for a, b in pairwise(sides)
                        for k in range(2)):
                    found[T] = h
                    break
            else:
                break
        if len(found) == len(by_T):
            return Explained(code, found[first_T].label)
    return None


# ---------------------------------------------------------------------------------------------
# Words


def _explanation(subject: Subject, holds: bool, checks: list[Check], counterexample: dict | None,
                 explained: Explained | None, notes: list[str]) -> str:
    Ts = sorted({c.T for c in checks})
    span = f"T = {Ts[0]}" if len(Ts) == 1 else f"T = {Ts[0]}..{Ts[-1]}"
    if holds:
        symbolic = sum(c.method == "symbolic" for c in checks)
        how = "proved symbolically" if symbolic == len(checks) else \
            f"{symbolic} proved symbolically, {len(checks) - symbolic} at {POINTS} random " \
            f"points in {DIGITS}-digit arithmetic"
        count = f"{len(checks)} check" + ("s" if len(checks) > 1 else "")
        text = f"holds for {subject.text()} at {span}: {count}, {how}"
    else:
        c = counterexample
        where = f"T = {c['T']}" + (f", t = {c['t']}" if c["t"] is not None else "")
        text = (f"fails for {subject.text()}: at {where} the left side is {_short(c['lhs'])} "
                f"and the right side {_short(c['rhs'])} (random parameters and data, "
                f"{DIGITS}-digit arithmetic)")
        if explained is None:
            text += "; no catalogued mistake explains it"
        else:
            text += (f"; it holds where BPTT makes the mistake {explained.code}: "
                     f"{explained.label}")
    extra = [n for n in dict.fromkeys(notes)]
    return text + ("" if not extra else ". Notes: " + "; ".join(extra)) + "."


def _short(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "[" + ", ".join(_short(v) for v in value) + "]"
