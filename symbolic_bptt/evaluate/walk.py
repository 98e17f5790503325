"""The one walker of the tape: each step's rule, compiled once per kind for one arithmetic (a
backend), applied in tape order to the values of the names the step reads.

Every stage that needs numbers walks the tape through here: `solve` and the documents (exact,
float, rounded by hand, and exact mode's 40-digit twin), the audit (intervals: the truth, and
the person's own numbers with their claims and a mistake's rewritten rules put in by a hook),
exam keys and `verify`'s numeric test.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import mpmath
import sympy as sp

from ..errors import ProblemError
from ..tape import Rule, Step, Tape

Values = dict[str, tuple]
# hook(step, values) -> the step's value, or None to compute the tape's own rule
Hook = Callable[[Step, Values], "tuple | None"]


@dataclass(frozen=True)
class Backend:
    """An arithmetic: how a problem's numbers enter it, and how a rule is compiled for it."""

    name: str
    convert: Callable[[object], object]
    compile: Callable[[Rule], Callable]


def exact() -> Backend:
    """Rationals and closed forms (SymPy)."""
    from .arithmetic import compile_rule, to_rational
    return Backend("exact", to_rational, lambda rule: compile_rule(rule, "exact", 0))


def floats() -> Backend:
    """IEEE double precision."""
    from .arithmetic import compile_rule
    return Backend("float", float, lambda rule: compile_rule(rule, "float", 0))


def rounded(decimals: int) -> Backend:
    """Decimals rounded half up at every node, as a person carries them on paper."""
    from .arithmetic import compile_rule, to_decimal
    return Backend(f"rounded({decimals})", to_decimal,
                   lambda rule: compile_rule(rule, "rounded", decimals))


def digits(n: int = 40) -> Backend:
    """mpmath numbers of n significant digits."""
    from .arithmetic import to_rational

    def convert(value):
        q = to_rational(value)
        with mpmath.workdps(n):
            return mpmath.mpf(str(q.p)) / mpmath.mpf(str(q.q))

    return Backend(f"digits({n})", convert, lambda rule: _compile_mp(rule, n))


def precise(n: int) -> Backend:
    """SymPy Floats of n digits, each rule's closed form evaluated at them (verify's numbers:
    an undefined value stays visible as zoo or nan). Computed in mpmath where every value is a
    finite real number (mp_tree), by SymPy's evalf otherwise."""
    from . import mp_tree

    prec = mpmath.libmp.dps_to_prec(n)

    def compile(rule: Rule) -> Callable[[Sequence], list]:
        outputs = [e.doit() for e in rule.explicit]
        symbols = rule.slot_symbols

        def by_sympy(args: Sequence) -> list:
            return [e.xreplace(dict(zip(symbols, args))).evalf(n) for e in outputs]

        try:
            fast = mp_tree.compile_exprs(outputs, symbols, prec)
        except mp_tree.Unsupported:
            return by_sympy

        def run(args: Sequence) -> list:
            try:
                return fast(args)
            except (ArithmeticError, AttributeError, TypeError, ValueError):
                return by_sympy(args)

        return run

    return Backend(f"precise({n})", lambda v: sp.Float(v, n), compile)


def intervals() -> Backend:
    """Intervals enclosing every value a person may have carried; the compiled rule takes the
    precision carried as a second argument (None: exact enclosures)."""
    from .arithmetic import to_decimal
    from .intervals import Interval, compile_rule
    return Backend("intervals", lambda v: Interval.point(to_decimal(v)),
                   lambda rule: compile_rule(list(rule.explicit), rule.slot_symbols))


def _compile_mp(rule: Rule, n: int) -> Callable[[Sequence], list]:
    outputs = [e.doit() for e in rule.explicit]
    fn = sp.lambdify(rule.slot_symbols, outputs,
                     modules=[{"Heaviside": lambda x, h0=0: mpmath.mpf(1 if x > 0 else 0),
                               "Max": max}, "mpmath"])

    def run(args: Sequence) -> list:
        with mpmath.workdps(n):
            return [mpmath.mpf(v) for v in fn(*args)]
    return run


# Rules are shared by every tape that has them (tape/trees.py), so their compiled forms are too:
# (backend name, id(rule)) -> (rule, compiled); the rule is kept so that its id stays its own.
_COMPILED: dict[tuple[str, int], tuple[Rule, Callable]] = {}


def _compiled(backend: Backend, rule: Rule) -> Callable:
    """The rule compiled for the backend, once per process."""
    key = (backend.name, id(rule))
    known = _COMPILED.get(key)
    if known is not None and known[0] is rule:
        return known[1]
    if len(_COMPILED) >= 4096:
        _COMPILED.clear()
    fn = backend.compile(rule)
    _COMPILED[key] = (rule, fn)
    return fn


class Walker:
    """A tape under one backend: rules compiled on first use, once per kind."""

    def __init__(self, tape: Tape, backend: Backend, failure: str = "cannot be computed"):
        self.tape = tape
        self.backend = backend
        self.failure = failure  # how an error at a step is worded: "h_3 cannot be computed (...)"
        self._compiled: dict[str, Callable] = {}

    def start(self) -> Values:
        """The problem's parameters and data in this arithmetic, flat row-major."""
        from .arithmetic import parameter_values
        return parameter_values(self.tape, self.backend.convert)

    def apply(self, rule: Rule, values: Values, inputs: Sequence[str], *extra, name: str = ""):
        """A rule on the values of `inputs` (its slots, in order); `extra` goes to the compiled
        rule (the intervals' precision)."""
        fn = self._compiled.get(rule.kind)
        if fn is None:
            fn = self._compiled[rule.kind] = _compiled(self.backend, rule)
        args = [v for n in inputs for v in values[n]]
        try:
            return fn(args, *extra)
        except (ArithmeticError, ValueError) as exc:
            raise ProblemError(f"{name or rule.kind} {self.failure} "
                               f"({type(exc).__name__}: {exc})") from None

    def step(self, step: Step, values: Values, *extra) -> tuple:
        """The tape's own rule at one step."""
        return tuple(self.apply(self.tape.rules[step.kind], values, step.inputs, *extra,
                                name=step.name))

    def run(self, values: Values | None = None, hook: Hook | None = None,
            progress: Callable[[str, int, int], None] | None = None) -> Values:
        """Every step in tape order, from `values` (the parameters and data by default); a hook
        may give a step's value instead of the tape's own rule; `progress` hears
        ("solving", done, total) a hundred times along the way."""
        values = self.start() if values is None else values
        total = len(self.tape.steps)
        every = max(1, total // 100) if progress is not None else 0
        for done, step in enumerate(self.tape.steps, 1):
            out = hook(step, values) if hook is not None else None
            values[step.name] = self.step(step, values) if out is None else out
            if every and (done % every == 0 or done == total):
                progress("solving", done, total)
        return values

