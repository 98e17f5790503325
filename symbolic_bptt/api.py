"""The Python API: the command line's stages for scripts and notebooks.

    import symbolic_bptt as sb
    p = sb.load("examples/deck.toml")          # a path, or the text of a problem file
    sol = p.solve(mode="rounded", decimals=4)   # values by the `solve --json` names
    sol["dL/dW_hh"], sol.steps[0]               # each step: formula, numbers, result
    p.render("beamer", out="slides/", pdf=True) # the documents `render` writes
    p.check({"h_1": 0.2913, "dL/dW_hh": 0.1128})
    sb.verify(p, latex=r"\\delta_t = \\delta h_t (1 - h_t^2)")

Every object here wraps the stage data the CLI prints (an Evaluation, an Audit, a Verdict) and
adds short reprs and Jupyter's rich display; none of it computes anything the stages do not.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

from .audit import check as _check
from .documents import display
from .documents.document import Line, Options
from .errors import ProblemError
from .evaluate.arithmetic import Evaluation, evaluate
from .evaluate.solution import quantities
from .formulas import verify as _verify
from .inputs import problem as _problem
from .inputs.claims import claims_from_table, load_claims
from .inputs.files import parse_toml
from .tape import Tape, unroll

__all__ = ["Audit", "Problem", "Solution", "Step", "Verified", "load", "problem", "verify"]


def load(source: str | Path) -> Problem:
    """A problem from a file path, or from the text of a problem file (any string holding a
    line break is read as TOML text; a path never does). ProblemError on bad input."""
    if isinstance(source, str) and "\n" in source:
        return Problem(_problem.parse_problem(parse_toml(source), name="problem"))
    return Problem(_problem.load_problem(source), Path(source))


def problem(model: Mapping | None = None, data: Mapping | None = None,
            weights: Mapping | None = None, *, name: str = "problem", **tables: Any) -> Problem:
    """A problem from Python values, table by table as a problem file writes them:
    `sb.problem(model={"activation": "tanh"}, data={"x": [...], "y": [...]},
    weights={"W_hh": 0.9, ...}, arithmetic={"mode": "rounded", "decimals": 4}, title="...")`.
    NumPy arrays are taken as nested lists."""
    raw = {"model": model or {}, "data": data or {}, "weights": weights or {}, **tables}
    return Problem(_problem.parse_problem(_plain(raw), name=name))


def _plain(value: Any) -> Any:
    """Mappings, sequences and NumPy values as the dicts, lists and numbers TOML gives."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True, repr=False)
class Problem:
    """A validated problem (`spec`) and the file it came from, if any."""

    spec: _problem.Problem
    path: Path | None = None

    @cached_property
    def tape(self) -> Tape:
        """The unrolled tape: forward steps and the derived BPTT steps (built once)."""
        return unroll(self.spec)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def T(self) -> int:
        return self.spec.T

    def solve(self, mode: str | None = None, decimals: int | None = None) -> Solution:
        """Every quantity, in `mode` (exact | float | rounded; default: the problem's) carrying
        `decimals` places when rounded; values by the names of `solve --json`."""
        return Solution(evaluate(self.tape, mode, decimals))

    def render(self, kind: str = "article", out: str | Path | None = None, pdf: bool = False, *,
               mode: str | None = None, decimals: int | None = None, notation: str = "deck",
               all_steps: bool = False, row_convention: bool = False, figures: bool = True,
               reveal: bool = False, handout: bool = False,
               theme: str = "") -> str | list[Path]:
        """The document `render` writes (kind: article | beamer). Without `out` and `pdf`, its
        LaTeX source; else the files written into `out` (default output/<name>/): the .tex, and
        with pdf=True the PDF (CompileError when pdflatex fails; nothing is replaced then).
        reveal, handout and theme are the slides' options of `render` (beamer only)."""
        from .documents.render import problem_tex, publish, render_command

        options = Options(notation=notation, all_steps=all_steps, row_convention=row_convention,
                          figures=figures, reveal=reveal, handout=handout, theme=theme)
        source = str(self.path) if self.path else f"{self.name}.toml"
        text = problem_tex(self.spec, kind, mode, decimals, options,
                           render_command(source, kind, mode, decimals, options))
        if out is None and not pdf:
            return text
        folder = Path(out) if out is not None else Path("output") / self.name
        return publish(text, folder / f"{kind}.tex", pdf)

    def check(self, claims: Mapping[str, Any] | str | Path, decimals: int | None = None) -> Audit:
        """Audit a hand calculation: a mapping {name: number} (names of `solve --json`; an
        entry as "h_2[1]"), or a claims file. A float's precision is the digits Python prints
        (0.1 has 1 place): pass strings ("0.1000") or `decimals` to state it."""
        if isinstance(claims, Mapping):
            table: dict[str, Any] = {"claims": {k: _claim_number(v) for k, v in claims.items()}}
            if decimals is not None:
                table["decimals"] = decimals
            parsed = claims_from_table(table, self.tape)
        else:
            if decimals is not None:
                raise ProblemError("decimals goes in the claims file, not beside it")
            parsed = load_claims(claims, self.tape)
        return Audit(_check.check(self.tape, parsed), self.tape)

    def verify(self, latex: str | None = None, sympy: str | None = None,
               max_T: int = 5) -> Verified:
        """Whether a BPTT identity holds for this problem's model (see `sb.verify`)."""
        return verify(self, latex=latex, sympy=sympy, max_T=max_T)

    def __repr__(self) -> str:
        m = self.spec.model
        cell = "custom cell" if self.spec.custom_cell is not None else f"{m.cell} {m.activation}"
        return f"<Problem {self.name!r}: {cell}, T = {self.T}, loss {m.loss}>"


def _claim_number(value: Any) -> Any:
    """A claimed number as the claims reader takes it: Decimals keep the digits written."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float | str):
        try:
            return Decimal(repr(value) if isinstance(value, float) else value)
        except ArithmeticError:
            return value  # the reader names it
    if isinstance(value, list | tuple):
        return [_claim_number(v) for v in value]
    return _plain(value) if hasattr(value, "tolist") else value


@dataclass(frozen=True)
class Forms:
    """One step written three ways: the formula, the numbers substituted, the result."""

    formula: str
    substituted: str | None
    result: str


@dataclass(frozen=True, repr=False)
class Step:
    """One step of the solution, in LaTeX (the documents' notation) and in plain text."""

    name: str
    t: int | None
    latex: Forms
    text: Forms
    line: Line = field(repr=False)

    def __str__(self) -> str:
        parts = [self.text.formula, self.text.substituted, self.text.result]
        return f"{self.name} = " + " = ".join(dict.fromkeys(p for p in parts if p))

    def __repr__(self) -> str:
        text = str(self)
        return f"<Step {text if len(text) <= 120 else text[:117] + '...'}>"

    def _repr_latex_(self) -> str:
        return display.aligned([self.line])


@dataclass(frozen=True, repr=False)
class Solution(Mapping):
    """The solved problem: a mapping from `solve --json` names to values, and its steps."""

    evaluation: Evaluation

    @cached_property
    def values(self) -> dict[str, object]:
        """The `quantities` object of `solve --json`."""
        return quantities(self.evaluation)

    def __getitem__(self, name: str) -> object:
        try:
            return self.values[name]
        except KeyError:
            raise KeyError(f"{name!r} is not a quantity of this problem (names are those of "
                           "`solve --json`: h_1, dL/dW_hh, ...)") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)

    @cached_property
    def steps(self) -> tuple[Step, ...]:
        """Every step in tape order: forward pass, loss, BPTT, parameter gradients."""
        ev = self.evaluation
        printed = display.lines(ev, display.notation_for(ev.tape))
        out = []
        for step, ln in zip(ev.tape.steps, printed, strict=True):
            text = Forms(*display.text_forms(ev, step))
            out.append(Step(step.name, step.t, Forms(ln.formula, ln.substituted, ln.result),
                            text, ln))
        return tuple(out)

    def step(self, name: str) -> Step:
        """The step that computes `name`."""
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    def __repr__(self) -> str:
        ev = self.evaluation
        mode = ev.mode + (f", {ev.decimals} decimals" if ev.mode == "rounded" else "")
        params = [n for n, q in ev.tape.quantities.items() if q.role == "param"]
        shown = ", ".join(f"{n} = {display.short(self.values[n])}"
                          for n in ["L", *(f"dL/d{p}" for p in params[:3])])
        return f"<Solution {ev.tape.problem.name!r} ({mode}): {len(self)} quantities; {shown}>"

    def _repr_latex_(self) -> str:
        return display.aligned([s.line for s in self.steps])


@dataclass(frozen=True, repr=False)
class Audit:
    """A hand calculation audited: one verdict per claim and the root causes (as `check`)."""

    result: _check.Audit
    tape: Tape = field(compare=False)

    @property
    def verdicts(self) -> tuple[_check.Verdict, ...]:
        return self.result.verdicts

    @property
    def roots(self) -> tuple[_check.RootCause, ...]:
        return self.result.roots

    @property
    def ok(self) -> bool:
        """True when no claim is wrong."""
        return self.result.exit_code == 0

    def verdict(self, name: str) -> _check.Verdict:
        """The verdict of the claim `name`."""
        for v in self.verdicts:
            if v.name == name:
                return v
        raise KeyError(name)

    def as_json(self) -> dict:
        """The `check --json` object."""
        return self.result.as_json()

    def report(self, out: str | Path, pdf: bool = True) -> list[Path]:
        """Write out/audit.tex (and audit.pdf): what `check --report` writes."""
        from .audit.report import audit_document
        from .documents.render import publish, render_tex

        command = "symbolic_bptt: Problem.check(...).report(...) in Python"
        return publish(render_tex("article", audit_document(self.result, self.tape), command),
                       Path(out) / "audit.tex", pdf)

    def __str__(self) -> str:
        return _check.format_audit(self.result)

    def __repr__(self) -> str:
        counts = {k: sum(v.verdict == k for v in self.verdicts) for k in _check.VERDICTS}
        tally = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
        roots = ", ".join(r.name for r in self.roots) or "none"
        return f"<Audit of {len(self.verdicts)} claims: {tally}; root causes: {roots}>"

    def _repr_html_(self) -> str:
        return display.audit_html(self.result, display.notation_for(self.tape))


@dataclass(frozen=True, repr=False)
class Verified:
    """A verify verdict: whether the identity holds, a counterexample, a mistake code."""

    result: _verify.Verdict
    formula: str

    @property
    def holds(self) -> bool:
        return self.result.holds

    @property
    def code(self) -> str | None:
        """The `check` catalog's code of the mistake the formula makes, if it is one."""
        return self.result.code

    @property
    def explanation(self) -> str:
        return self.result.explanation

    def as_dict(self) -> dict:
        """The `verify --json` object."""
        return self.result.as_dict()

    def __str__(self) -> str:
        return self.result.text()

    def __repr__(self) -> str:
        head = "holds" if self.holds else "fails" + (f" [{self.code}]" if self.code else "")
        return f"<Verified {head}: {self.formula[:60]}{'...' * (len(self.formula) > 60)}>"

    def _repr_markdown_(self) -> str:
        return display.verdict_markdown(self.result, self.formula)


def verify(problem: Problem, latex: str | None = None, sympy: str | None = None,
           max_T: int = 5, notation: str | None = None) -> Verified:
    """Whether an identity of BPTT, in LaTeX (or SymPy syntax), holds for the problem's model
    for T = 1..max_T and every valid t; otherwise a counterexample and, when the formula is a
    known mistake, its code. Only the model (and a custom cell's shapes) is used, not the
    problem's numbers; the formula is read in the names of the problem's cell, and in the
    symbols of `notation` (a preset: goodfellow, britz, cs224n, d2l, deck) or of the problem's
    own `notation = NAME` and [symbols]."""
    spec = problem.spec if isinstance(problem, Problem) else problem
    result = _verify.verify_formula(spec, latex, sympy, max_T, notation)
    return Verified(result, latex if latex is not None else sympy or "")
