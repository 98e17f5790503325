"""Audit a person's claimed numbers against the tape: `symbolic-bptt check PROBLEM CLAIMS`.

Every claim gets one verdict, decided in this order:

- `ok`: the claim is the exact value rounded half up to the claim's precision;
- `rounding`: the correct formula, applied to the person's own earlier numbers, gives the claim
  when every number carried is off by up to half a unit in its last place (interval arithmetic:
  see intervals.py);
- `carried`: the same holds, but those earlier numbers include wrong ones, so the claim is
  wrong only through them (it names them);
- `wrong`: none of these. A code from the catalog (audit/catalog.py) says why: a mistaken formula
  that reproduces the claim on the same numbers, else `arithmetic` (a slip near the formula's
  value) or `method` (far from it: the person computed something else; the explanation shows
  which value of each number read would give the claim).

The person's numbers are a walk of the tape: a claimed value where claimed, else the formula
applied to the walk's earlier values (carried at the claims' precision). So an input nobody
claimed is the correct value when everything before it is right, and it carries errors forward
when not. A mistake is tried the same way: its rewritten formula at the claim, and at every
unclaimed step of the kinds it rewrites.

The result is plain data (Audit, Verdict, Formula) for the terminal, JSON and LaTeX reports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Context, Decimal, localcontext
from functools import cached_property

import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter

from ..errors import ProblemError
from ..evaluate.arithmetic import round_half_up
from ..evaluate.intervals import Interval, carried
from ..evaluate.solution import shaped
from ..evaluate.walk import Walker, intervals
from ..inputs.claims import Claim, Claims
from ..inputs.problem import Problem
from ..tape import Rule, Step, Tape
from .catalog import Catalog, Hypothesis, instantiate

VERDICTS = ("ok", "rounding", "carried", "wrong")
NEAR_UNITS = 10  # a mistake is "nearly reproduced" within this many units in the last place ...
NEAR_RATIO = 4  # ... and this many times closer than the correct formula
METHOD_UNITS = 100  # a claim further than this many units in the last place from the formula ...
METHOD_RATIO = Decimal("0.05")  # ... and this fraction of its value: another method, not a slip


@dataclass(frozen=True)
class Reading:
    """One number a formula reads: where it came from and its value (shaped like the quantity)."""

    name: str
    value: object
    source: str  # "claimed" | "problem" | "not claimed"


@dataclass(frozen=True)
class Formula:
    """A formula applied to the person's numbers: the numbers read, the result (shaped
    Decimals), plain-text renderings, and (`equation`) the SymPy equation in the tape's
    whole-quantity symbols, as Tape.display writes the tape's own steps."""

    readings: tuple[Reading, ...]
    value: object
    symbolic: str  # plain text: "W_hy·h_3"
    numeric: str  # with the numbers in place of the symbols ("0.8·0.4775"); "" for matrices
    label: str = ""  # for a mistaken formula: what was changed
    tape: Tape | None = field(default=None, repr=False, compare=False)
    rule: Rule | None = field(default=None, repr=False, compare=False)
    inputs: tuple[str, ...] = ()
    quantity: str = ""

    @property
    def text(self) -> str:
        """Symbols, then numbers when every quantity is a number."""
        return f"{self.symbolic} = {self.numeric}" if self.numeric else self.symbolic

    @cached_property
    def equation(self) -> sp.Eq:
        """quantity = formula, in the symbols documents print (built on first use: it is slow)."""
        display = instantiate(self.tape, self.rule, self.inputs)
        lhs = self.tape.quantities[self.quantity].display(not self.tape.model.is_scalar)
        return sp.Eq(lhs, display, evaluate=False)


@dataclass(frozen=True)
class Verdict:
    """The audit of one claim."""

    name: str  # the claim's key: "h_2", "h_2[1]", "dL/dW_hh[0,1]"
    quantity: str
    t: int | None
    claimed: object  # Decimals as written, shaped as the claim (number, list, rows)
    correct: object  # the exact value rounded to the claim's precision, same shape
    exact: object  # the exact value to 12 significant digits, same shape
    decimals: object
    verdict: str
    code: str | None
    explanation: str
    needed: Formula  # the correct formula on the person's numbers
    used: Formula | None = None  # the mistaken formula that (nearly) reproduces a wrong claim
    slip: Decimal | None = None  # claim minus what the formula used gives, when not within rounding
    inherits: tuple[str, ...] = ()  # carried: the earlier wrong claims it inherits from
    note: str = ""
    would_need: tuple[str, ...] = ()  # `method`: "z_2 = 0.5123 (yours: 0.3222)", one per input


@dataclass(frozen=True)
class RootCause:
    """A wrong claim and the claims its error reached."""

    name: str
    code: str
    slip: Decimal | None
    affected: tuple[str, ...]


@dataclass(frozen=True)
class Audit:
    """Every verdict, in tape order, and the root causes of what is wrong."""

    problem: Problem
    claims: Claims
    verdicts: tuple[Verdict, ...]
    roots: tuple[RootCause, ...] = field(default=())

    def __repr__(self) -> str:
        wrong = sum(v.verdict == "wrong" for v in self.verdicts)
        return f"<Audit {self.problem.name!r}: {len(self.verdicts)} claims, {wrong} wrong>"

    @property
    def exit_code(self) -> int:
        """1 when some claim is wrong, else 0."""
        return 1 if any(v.verdict == "wrong" for v in self.verdicts) else 0

    def as_json(self) -> dict:
        """The `check --json` object."""
        return {
            "verdicts": [{"name": v.name, "claimed": _json(v.claimed), "correct": _json(v.correct),
                          "verdict": v.verdict, "code": v.code, "explanation": v.explanation,
                          "inherits": list(v.inherits)} for v in self.verdicts],
            "summary": [{"name": r.name, "code": r.code, "affected": list(r.affected)}
                        for r in self.roots],
        }


def _json(value):
    if isinstance(value, list):
        return [_json(v) for v in value]
    return float(value) + 0.0  # + 0.0: no -0.0


def check(tape: Tape, claims: Claims, shared: Shared | None = None) -> Audit:
    """Audit the claims against the tape (`shared`: what audits of this tape can reuse, when
    many people's claims are audited against one tape, as `grade` does)."""
    return _Auditor(tape, claims, shared if shared is not None else Shared(tape)).run()


class Shared:
    """What every audit of one tape reuses: the catalog (its rewritten rules built once), the
    compiled interval walker, the parameters and the exact values."""

    def __init__(self, tape: Tape):
        self.tape = tape
        self.catalog = Catalog(tape)
        self.walker = Walker(tape, intervals(), "cannot be computed from the claimed numbers")
        self.params = {k: list(vs) for k, vs in self.walker.start().items()}

    @cached_property
    def truth(self) -> dict[str, list[Interval]]:
        """Tight enclosures of the exact value of every quantity."""
        return self.walker.run(dict(self.params))


# ---------------------------------------------------------------------------------------------


class _Auditor:
    def __init__(self, tape: Tape, claims: Claims, shared: Shared):
        if shared.tape is not tape:
            raise ValueError("check: `shared` belongs to another tape")
        self.tape = tape
        self.claims = claims
        self.d0 = claims.carried_decimals
        self.shared = shared
        self.catalog = shared.catalog
        self.found: set[str] = set()  # the catalog codes of the wrong claims judged so far
        self.by_step: dict[str, list[Claim]] = {}
        self.claimed: dict[str, dict[int, tuple[Decimal, int]]] = {}
        for c in claims.claims:
            self.by_step.setdefault(c.quantity, []).append(c)
            self.claimed.setdefault(c.quantity, {}).update(
                zip(c.elements, zip(c.values, c.decimals)))
        self.walker = shared.walker
        self.params = shared.params
        self._templates: dict[str, str] = {}
        self._walks: dict[str, _Walk] = {}

    def template(self, rule: Rule) -> str:
        """The rule's display formula as text with a numbered token for each slot."""
        text = self._templates.get(rule.kind)
        if text is None:
            tokens = {slot.name: f"\x00{i}\x00" for i, slot in enumerate(rule.slots)}
            text = self._templates[rule.kind] = plain(rule.display, tokens)
        return text

    def places(self, name: str) -> list[int]:
        """The precision of each entry of a quantity: as claimed, else the carried precision."""
        claimed = self.claimed.get(name, {})
        size = len(self.tape.quantities[name].elements)
        return [claimed[e][1] if e in claimed else self.d0 for e in range(size)]

    def resolve(self, step: Step, h: Hypothesis | None) -> tuple[Rule, tuple[str, ...], bool]:
        """The rule a walk uses at this step: rewritten by the hypothesis, or the correct one."""
        if h is not None:
            rewritten = self.catalog.rewrite(h, step)
            if rewritten is not None:
                return rewritten[0], rewritten[1], True
        return self.tape.rules[step.kind], step.inputs, False

    def apply(self, rule: Rule, values: dict, inputs, decimals: int | None, name: str):
        return self.walker.apply(rule, values, inputs, decimals, name=name)

    @property
    def truth(self) -> dict[str, list[Interval]]:
        return self.shared.truth

    def walk(self, h: Hypothesis | None = None) -> _Walk:
        key = "" if h is None else f"{h.code}|{h.label}"
        if key not in self._walks:
            self._walks[key] = _Walk(self, h, None if h is None else self.walk())
        return self._walks[key]

    def run(self) -> Audit:
        taint: dict[str, frozenset[str]] = {}
        verdicts: list[Verdict] = []
        for step in self.tape.steps:
            inherited = frozenset().union(*(taint.get(n, frozenset()) for n in step.inputs))
            mine: set[str] = set()
            for c in self.by_step.get(step.name, []):
                v = _Judge(self, step, c, taint).verdict()
                verdicts.append(v)
                if v.verdict == "wrong":
                    mine.add(c.key)
                    self.found.add(v.code)
                elif v.verdict == "carried":
                    mine.update(v.inherits)
            size = len(self.tape.quantities[step.name].elements)
            unclaimed = len(self.claimed.get(step.name, {})) < size
            taint[step.name] = frozenset(mine | (inherited if unclaimed else set()))
        roots = []
        for v in verdicts:
            if v.verdict == "wrong":
                affected = tuple(w.name for w in verdicts if w is not v and v.name in w.inherits)
                roots.append(RootCause(v.name, v.code, v.slip, affected))
        return Audit(self.tape.problem, self.claims, tuple(verdicts), tuple(roots))


class _Walk:
    """The person's numbers for every quantity: claimed values where claimed, else the formula
    (correct, or rewritten by a hypothesis) on earlier values, carried at the claims' precision.
    Intervals (`iv`) for the rounding test, points (`pt`) for the numbers an explanation shows."""

    def __init__(self, auditor: _Auditor, h: Hypothesis | None, base: _Walk | None):
        self.a, self.h, self.base = auditor, h, base
        self.pt = dict(auditor.params)
        self.changed: set[str] = set()
        self.iv = auditor.walker.run(dict(auditor.params), hook=self.person)

    def person(self, step: Step, iv: dict) -> list:
        """The person's number at one step (an interval), its point value kept in `pt`."""
        a, d0 = self.a, self.a.d0
        claimed = a.claimed.get(step.name, {})
        rule, inputs, rewritten = a.resolve(step, self.h)
        size = len(a.tape.quantities[step.name].elements)
        if self.base is not None and (len(claimed) == size or not (
                rewritten or self.changed.intersection(inputs))):
            self.pt[step.name] = self.base.pt[step.name]
            return self.base.iv[step.name]
        if len(claimed) == size:
            self.pt[step.name] = [Interval.point(claimed[e][0]) for e in range(size)]
            return [Interval.around(*claimed[e]) for e in range(size)]
        R = a.apply(rule, iv, inputs, d0, step.name)
        P = a.apply(rule, self.pt, inputs, None, step.name)
        out, pt = [], []
        for e in range(size):
            if e in claimed:
                value, d = claimed[e]
                out.append(Interval.around(value, d))
                pt.append(Interval.point(value))
            else:
                try:
                    out.append(carried(R[e], d0))
                except ArithmeticError as exc:  # a value too large to carry at d0 places
                    raise ProblemError(f"{step.name} {a.walker.failure} "
                                       f"({type(exc).__name__}: {exc})") from None
                pt.append(Interval.point(round_half_up(P[e].mid, d0)))
        self.pt[step.name] = pt
        self.changed.add(step.name)
        return out


@dataclass(frozen=True)
class _Try:
    """One hypothesis tried on a wrong claim."""

    rank: tuple
    h: Hypothesis
    walk: _Walk
    rule: Rule
    inputs: tuple[str, ...]
    got: list[Decimal]
    meets: bool


class _Judge:
    """The verdict on one claim."""

    def __init__(self, auditor: _Auditor, step: Step, claim: Claim, taint: dict):
        self.a = auditor
        self.step = step
        self.claim = claim
        self.taint = taint
        self.d = max(claim.decimals)
        self.q = auditor.tape.quantities[step.name]
        self.own = auditor.walk()

    def tainted(self, inputs) -> tuple[str, ...]:
        """The wrong claims behind these inputs."""
        return tuple(sorted(frozenset().union(*(self.taint.get(n, frozenset()) for n in inputs))))

    def meets(self, R: list[Interval]) -> bool:
        """Whether every claimed entry is within rounding of the interval computed for it."""
        return all(R[e].meets(Interval.around(v, d))
                   for e, v, d in zip(self.claim.elements, self.claim.values, self.claim.decimals))

    def outcome(self, walk: _Walk, rule: Rule, inputs) -> tuple[bool, list[Decimal]]:
        """Whether the formula on the walk's numbers reproduces the claim within rounding, and
        its value (at high precision) on the numbers as written."""
        R = self.a.apply(rule, walk.iv, inputs, self.d, self.step.name)
        P = self.a.apply(rule, walk.pt, inputs, None, self.step.name)
        return self.meets(R), [P[e].mid for e in self.claim.elements]

    @cached_property
    def correct_inputs_meet(self) -> bool:
        """Whether the claim is within rounding of the correct formula on the correct inputs,
        each carried at its claimed precision (or the carried precision, when not claimed)."""
        values = dict(self.a.params)
        for n in self.step.inputs:
            if n not in values:
                values[n] = [Interval.around(round_half_up(t.mid, d), d)
                             for t, d in zip(self.a.truth[n], self.a.places(n))]
        R = self.a.apply(self.a.tape.rules[self.step.kind], values, self.step.inputs, self.d,
                         self.step.name)
        return self.meets(R)

    def formula(self, walk: _Walk, rule: Rule, inputs, value: list[Decimal], label="") -> Formula:
        scalar = self.a.tape.model.is_scalar
        readings, numbers = [], []
        for n in inputs:
            flat = [p.mid for p in walk.pt[n]]
            if n in self.a.params:
                source = "problem"
            elif len(self.a.claimed.get(n, {})) == len(flat):
                source = "claimed"
            else:
                source = "not claimed"
            readings.append(Reading(n, shaped(self.a.tape.quantities[n], flat), source))
            numbers.append(number_text(flat[0]))
        template = self.a.template(rule)
        return Formula(tuple({r.name: r for r in readings}.values()), self._shape(value),
                       fill(template, inputs), fill(template, numbers) if scalar else "", label,
                       self.a.tape, rule, tuple(inputs), self.step.name)

    def verdict(self) -> Verdict:
        c, a = self.claim, self.a
        truth = [a.truth[self.step.name][e] for e in c.elements]
        correct = [unsigned(round_half_up(t.mid, d)) for t, d in zip(truth, c.decimals)]
        # a float64 printout (claims.FLOAT_DIGITS) has more digits than it is judged at
        ok = all(round_half_up(v, d) in (round_half_up(t.lo, d), round_half_up(t.hi, d))
                 for v, t, d in zip(c.values, truth, c.decimals))
        rule = a.tape.rules[self.step.kind]
        meets, value = self.outcome(self.own, rule, self.step.inputs)
        needed = self.formula(self.own, rule, self.step.inputs, value)
        inherited = self.tainted(self.step.inputs)
        base = {"name": c.key, "quantity": self.step.name, "t": self.step.t,
                "claimed": self._shape(list(c.values)), "correct": self._shape(correct),
                "exact": self._shape([unsigned(Decimal(f"{t.mid:.12g}")) for t in truth]),
                "decimals": self._shape(list(c.decimals)), "needed": needed}
        exact = self._values([t.mid for t in truth], extra=2)
        mine = f"{needed.numeric or needed.symbolic} = {self._values(value)}"
        if ok:
            note = ""
            if not meets:
                why = (f"the errors in {', '.join(inherited)} and in this step cancel" if inherited
                       else "a slip that lands on the exact value")
                note = f"your own numbers give {mine}: {why}"
            text = f"the exact value {exact}, at {self.d} decimals" + (f"; but {note}" if note else "")
            return Verdict(**base, verdict="ok", code=None, explanation=text, note=note)
        if meets and inherited:  # computed from a carried value: carried, on every path
            return Verdict(**base, verdict="carried", code=None, inherits=inherited,
                           explanation=f"right method on wrong numbers: {mine}; inherits from "
                                       f"{', '.join(inherited)}; exact value {exact}")
        if meets:
            return Verdict(**base, verdict="rounding", code=None,
                           explanation=f"{mine} from your numbers, within the rounding of the "
                                       f"numbers carried; exact value {exact}")
        if self.correct_inputs_meet:
            return Verdict(**base, verdict="rounding", code=None,
                           explanation=f"within rounding of the exact value {exact}, though your "
                                       f"own numbers give {mine}")
        return self.wrong(base, value, exact, inherited)

    def wrong(self, base: dict, value: list[Decimal], exact: str, inherited) -> Verdict:
        """A wrong claim: the catalog mistake that reproduces it (or nearly), else arithmetic."""
        c = self.claim
        tries = []
        for h in self.a.catalog.hypotheses:
            walk = self.a.walk(h)
            rule, inputs, rewritten = self.a.resolve(self.step, h)
            if rewritten or walk.changed.intersection(inputs):
                meets, got = self.outcome(walk, rule, inputs)
                gap = max(abs(v - p) for v, p in zip(c.values, got))
                # within rounding first, a mistake made at this very step before one made in
                # unclaimed steps before it, then a mistake this person made at an earlier claim
                # (one misconception, not two), then the closest
                rank = (not meets, meets and not rewritten,
                        not (meets and h.code in self.a.found), gap)
                tries.append(_Try(rank, h, walk, rule, tuple(inputs), got, meets))
        if tries:
            best = min(tries, key=lambda x: x.rank)
            gap, gap_correct = best.rank[-1], max(abs(v - p) for v, p in zip(c.values, value))
            unit = Decimal(1).scaleb(-self.d)
            if best.meets or (gap <= NEAR_UNITS * unit and NEAR_RATIO * gap <= gap_correct):
                also = sorted({x.h.code for x in tries if x.meets} - {best.h.code})
                return self.mistake(base, value, exact, best, also)
        gap = max(abs(v - p) for v, p in zip(c.values, value))
        size = max(abs(p) for p in value)
        far = gap > METHOD_UNITS * Decimal(1).scaleb(-self.d) and gap > METHOD_RATIO * size
        claimed = self._values(list(c.values), written=True)
        text = (f"the formula needed, on your numbers: {self.step.name} = {base['needed'].text} = "
                f"{self._values(value)}, not {claimed}")
        need = self.would_need(base["needed"], value) if far else []
        if far:
            text = f"the method differs: {text}, far beyond rounding"
            if need:
                text += f"; your {claimed} would need {' or '.join(need)}"
        text += f"; exact value {exact}"
        if inherited:
            text += f" (it also inherits from {', '.join(inherited)})"
        return Verdict(**base, verdict="wrong", code="method" if far else "arithmetic",
                       explanation=text, slip=self._slip(value), inherits=inherited,
                       would_need=tuple(need))

    def would_need(self, needed: Formula, value: list[Decimal]) -> list[str]:
        """For a number (scalar) claim: each number the formula reads, solved for the value that
        makes the formula give the claim, the others as the person has them ("z_2 = 0.5123
        (yours: 0.3222)"). Secant steps in 40-digit arithmetic; no solution, no entry."""
        if not self.a.tape.model.is_scalar or not self.claim.whole:
            return []
        walk, rule, inputs = self.own, self.a.tape.rules[self.step.kind], self.step.inputs
        target = self.claim.values[0]
        out = []
        # the person's own numbers first, then the problem's
        for r in sorted(needed.readings, key=lambda r: r.source == "problem"):
            x0 = walk.pt[r.name][0].mid

            def f(x, name=r.name):
                values = dict(walk.pt)
                values[name] = [Interval.point(x)]
                try:
                    return self.a.apply(rule, values, inputs, None, self.step.name)[0].mid - target
                except ProblemError:
                    return None

            x = _secant(f, x0, value[0] - target)
            if x is not None and abs(x - x0) > Decimal(1).scaleb(-self.d):
                out.append(f"{r.name} = {number_text(round_half_up(x, self.d))} "
                           f"(yours: {number_text(x0)})")
        return out[:4]

    def mistake(self, base, value, exact, best: _Try, also: list[str]) -> Verdict:
        h, walk = best.h, best.walk
        used = self.formula(walk, best.rule, best.inputs, best.got, label=h.label)
        slip = None if best.meets else self._slip(best.got)
        lhs = self.step.name
        text = f"formula used: {lhs} = {used.text} = {self._values(best.got)}"
        if slip is not None:
            text += f", plus a slip of {abs(slip)}"
        hidden = [n for n in best.inputs if n in walk.changed and n not in self.a.claimed]
        if hidden:
            text += f" (with {h.label} in the unclaimed {', '.join(hidden)})"
        text += (f"; formula needed: {lhs} = {base['needed'].text} = {self._values(value)}; "
                 f"exact value {exact}")
        if also:
            text += f"; also reproduced by: {', '.join(also)}"
        return Verdict(**base, verdict="wrong", code=h.code, explanation=text, used=used,
                       slip=slip, inherits=self.tainted(best.inputs))

    def _slip(self, value: list[Decimal]) -> Decimal:
        """The claim minus the rounded value of a formula (the largest, for several entries)."""
        return max((v - round_half_up(p, d) for v, p, d in
                    zip(self.claim.values, value, self.claim.decimals)), key=abs)

    def _shape(self, flat: list):
        if not self.claim.whole:
            return flat[0]
        return shaped(self.q, flat)

    def _values(self, flat: list[Decimal], written: bool = False, extra: int = 2) -> str:
        shown = [number_text(v) if written else show(v, d, extra)
                 for v, d in zip(flat, self.claim.decimals)]
        return _cell(self._shape(shown))


def _secant(f, x0: Decimal, f0: Decimal, steps: int = 40) -> Decimal | None:
    """A root of f near x0 (f(x0) = f0), or None when the secant steps do not settle on one."""
    with localcontext(Context(prec=40)):
        x1 = x0 * Decimal("1.01") + Decimal("0.001")
        f1 = f(x1)
        for _ in range(steps):
            if f1 is None or not f1.is_finite() or f1 == f0:
                return None
            x0, f0, x1 = x1, f1, x1 - f1 * (x1 - x0) / (f1 - f0)
            if not x1.is_finite() or abs(x1) > 10 ** 12:
                return None
            f1 = f(x1)
            if f1 is not None and abs(f1) < Decimal("1e-20"):
                return x1
    return None


def unsigned(x: Decimal) -> Decimal:
    """A zero without its sign (rounding -0.00004 gives -0.000, shown as 0.000)."""
    return x.copy_abs() if x.is_zero() else x


def number_text(x: Decimal) -> str:
    """A number as people write it: positional (never 1E-7) and no -0."""
    return format(unsigned(x), "f")


def show(x: Decimal, decimals: int, extra: int = 2) -> str:
    """A computed number: exact when it has at most decimals + extra places (written with at
    least `decimals`), else rounded to decimals + extra places, with '…'."""
    rounded = unsigned(round_half_up(x, decimals + extra))
    if rounded != x:
        return f"{number_text(rounded)}…"
    text = format(x.normalize(), "f")
    places = len(text.partition(".")[2])
    return format(x.quantize(Decimal(1).scaleb(-max(places, decimals))), "f")


# ---------------------------------------------------------------------------------------------
# Text


class _Plain(StrPrinter):
    """Formulas as people type them: W_hh^T, ⊙, (1 - h_2^2); numbers in place of symbols."""

    def __init__(self, numbers: dict[str, str] | None):
        super().__init__()
        self.numbers = numbers or {}

    def _print_Symbol(self, expr):
        text = self.numbers.get(expr.name, expr.name)
        return f"({text})" if text.startswith("-") else text

    def _print_MatrixSymbol(self, expr):
        return self.numbers.get(expr.name, expr.name)

    def _print_Transpose(self, expr):
        return f"{self.parenthesize(expr.arg, PRECEDENCE['Pow'])}^T"

    def _print_HadamardProduct(self, expr):
        return " ⊙ ".join(self.parenthesize(a, PRECEDENCE["Mul"]) for a in expr.args)

    def _print_ElementwiseApplyFunction(self, expr):
        (var,), body = expr.function.variables, expr.function.expr
        name = getattr(expr.expr, "name", None)
        if name is None:  # a function of a compound argument: sigma(W_io·x_1 + ...)
            inner = self._print(expr.expr)
            if isinstance(body, sp.Function) and body.args == (var,):
                fname = {"Sigmoid": "sigma", "ReLU": "relu"}.get(type(body).__name__,
                                                                 type(body).__name__)
                return f"{fname}({inner})"
            # tanh'(c_t) = 1 - tanh(c_t)^2; a sum inside keeps its parentheses
            plain = isinstance(expr.expr, sp.Function | sp.Symbol | sp.MatrixSymbol
                               | ElementwiseApplyFunction)
            body = body.xreplace({var: sp.Symbol(inner if plain else f"({inner})")})
        else:
            body = body.xreplace({var: sp.Symbol(name)})
        return f"({self._print(body)})" if isinstance(body, sp.Add) else self._print(body)

    # display-only nodes of the tape's vector formulas (symbolic_bptt.display_exprs)
    def _print_SquaredNorm(self, expr):
        return f"||{self._print(expr.args[0])}||^2"

    def _print_Filled(self, expr):
        return self._print(expr.args[0])

    def _print_SumEntries(self, expr):
        return f"sum({self._print(expr.args[0])})"

    def _print_Softmax(self, expr):
        return f"softmax({self._print(expr.args[0])})"

    def _print_CrossEntropy(self, expr):
        o, y = (self._print(a) for a in expr.args)
        return f"-{y}^T·log softmax({o})"


_TOKEN = re.compile("\x00(\\d+)\x00")


def fill(template: str, words: list[str]) -> str:
    """A template from `_Auditor.template` with its slots filled (a negative number in brackets)."""

    def word(match: re.Match) -> str:
        w = words[int(match[1])]
        return f"({w})" if w.startswith("-") else w

    return _TOKEN.sub(word, template)


def plain(expr, numbers: dict[str, str] | None = None) -> str:
    """A display formula as plain text, each quantity replaced by its number when given."""
    return _Plain(numbers).doprint(expr).replace("**", "^").replace("*", "·")


def _cell(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_cell(v) for v in value) + "]"
    return number_text(value) if isinstance(value, Decimal) else str(value)


def precision(claims: Claims) -> str:
    """The precision the audit assumes, as the header says it."""
    if claims.decimals is not None:
        return f"{claims.decimals} decimals carried"
    return (f"each claim at the decimals it is written with; numbers not claimed carried at "
            f"{claims.carried_decimals}")


def format_audit(audit: Audit) -> str:
    """The terminal report: a table of verdicts, each non-ok one explained, then the summary."""
    p = audit.problem
    rows = [("quantity", "claimed", "correct", "verdict", "code")]
    notes = {}
    for v in audit.verdicts:
        code = v.code or ""
        if v.slip is not None and v.code not in (None, "arithmetic", "method"):
            code += f", plus a slip of {abs(v.slip)}"
        rows.append((v.name, _cell(v.claimed), _cell(v.correct), v.verdict, code))
        if v.verdict != "ok" or v.note:
            notes[len(rows) - 1] = v.explanation if v.verdict != "ok" else v.note
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    title = p.title or p.name
    heading = (f"{title}: {len(audit.verdicts)} claims checked against the exact values "
               f"({precision(audit.claims)})")
    lines = [heading]
    for i, r in enumerate(rows):
        lines.append(("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[4]).rstrip())
        if i in notes:
            lines.append(" " * (widths[0] + 4) + "↳ " + notes[i])
    lines.append("")
    counts = {k: sum(v.verdict == k for v in audit.verdicts) for k in VERDICTS}
    tally = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    if not audit.roots:
        lines.append(f"Summary: nothing is wrong ({tally}).")
        return "\n".join(lines)
    lines.append(f"Summary: {tally}. Root causes (the wrong claims) and what they affected:")
    for r in audit.roots:
        code = r.code + (f", plus a slip of {abs(r.slip)}"
                         if r.slip is not None and r.code not in ("arithmetic", "method") else "")
        reach = ", ".join(r.affected) if r.affected else "nothing else claimed"
        lines.append(f"  {r.name} ({code}) → {reach}")
    return "\n".join(lines)
