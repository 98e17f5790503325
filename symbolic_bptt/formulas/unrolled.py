"""The model `verify` checks formulas against: its cell's vocabulary, and its tape unrolled for one
sequence length with explicit formulas for every step and values at random points.

A Subject is a model (the Elman cell, sizes from [model]) or, for any other cell, a problem:
its cell and the shapes its [weights] give; the problem's numbers are never used.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING

import sympy as sp

from ..evaluate.walk import Walker, precise
from ..inputs.problem import Model, Problem
from ..model import ACTIVATIONS, model_loss
from ..model.cell import Cell, load_cell
from ..model.equations import Call, Sym, symbols
from ..tape import Tape, unroll
from ..tape.named import without_intermediates
from .vocabulary import Vocabulary, vocabulary_of

if TYPE_CHECKING:
    from ..audit.catalog import Catalog, Hypothesis

DIGITS = 50


@dataclass(frozen=True)
class Subject:
    """What formulas are checked against: a model, with the problem that shapes a custom cell."""

    model: Model
    problem: Problem | None = field(default=None, hash=False)  # None: the shipped model.cell

    @cached_property
    def cell(self) -> Cell:
        """The cell as written (before [model] bias = false drops its biases)."""
        if self.problem is not None and self.problem.custom_cell is not None:
            return self.problem.custom_cell
        return load_cell(self.model.cell)

    @cached_property
    def vocab(self) -> Vocabulary:
        return vocabulary_of(self.model, None if self.problem is None else self.cell)

    def text(self) -> str:
        """How explanations name the model: `the tanh model (half_sse loss)`."""
        m = self.model
        if self.problem is None:
            sizes = "" if m.is_scalar else \
                f", sizes x {m.input_size}, h {m.hidden_size}, o {m.output_size}"
            bias = {True: ", with biases", "hidden": ", a bias on the hidden layer only",
                    "output": ", a bias on the output layer only"}.get(m.bias, "")
            if m.output == "none":
                bias += ", no output layer"
            where = "" if m.loss_steps == "all" else " on the last step" \
                if m.loss_steps == "last" else f" on steps {list(m.loss_steps)}"
            return f"the {m.activation} model ({m.loss} loss{where}{sizes}{bias})"
        name = f"the custom cell of {self.problem.name!r}" if self.cell.name == "custom" \
            else f"the cell {self.cell.name!r}"
        return f"{name} ({m.loss} loss)"


def subject_of(model: Model | Problem | Subject) -> Subject:
    """A Subject from a model, a problem (its model alone for the Elman cell) or a Subject."""
    if isinstance(model, Subject):
        return model
    if isinstance(model, Problem):
        return Subject(model.model, model if model.custom_cell is not None else None)
    return Subject(model)


def blank_problem(subject: Subject, T: int) -> Problem:
    """A problem of length T for the subject; its numbers are never used."""
    m = subject.model
    read = len(m.steps_read(T))
    x = ((0,) * m.input_size,) * T
    y, upstream = ((0,) * m.output_size,) * read, ()
    if m.loss == "given":
        y, upstream = (), y
    if subject.problem is not None:
        return replace(subject.problem, x=x, y=y, upstream=upstream)
    return Problem(model=m, x=x, y=y, h0=(0,) * m.hidden_size, weights={}, upstream=upstream)


# A step's explicit formula, shared by the tapes of every T that have the step with the same rule
# (tape/trees.py shares rules): (id(rule), its inputs and their shapes) -> (rule, formula).
_EXPLICIT: dict[tuple, tuple] = {}


def _explicit(tape: Tape, step) -> sp.Matrix:
    """tape.explicit(step), evaluated, made once per process for each rule and inputs."""
    rule = tape.rules[step.kind]
    inputs = tuple((n, tape.quantities[n].shape, tape.quantities[n].indexing)
                   for n in step.inputs)
    key = (id(rule), inputs)
    known = _EXPLICIT.get(key)
    if known is None or known[0] is not rule:
        if len(_EXPLICIT) > 4096:
            _EXPLICIT.clear()
        known = _EXPLICIT[key] = (rule, tape.explicit(step).doit())
    return known[1]


class Unrolled:
    """The tape of one sequence length, with its steps' explicit formulas."""

    def __init__(self, subject: Subject, T: int):
        self.subject, self.model, self.T = subject, subject.model, T
        self.vocab = subject.vocab
        self.act = ACTIVATIONS[self.model.activation]
        self.loss = None if self.model.loss == "given" else \
            model_loss(self.model.loss, self.model.reduction)
        with without_intermediates():  # no formula names them: derivatives.py differentiates
            self.tape: Tape = unroll(blank_problem(subject, T))
        self._exprs: dict[str, sp.Matrix] = {}  # a step's explicit formula, made when needed
        self._values: dict[tuple, dict] = {}  # (point, mistake) -> element symbol -> value
        self._walked: dict[tuple, dict] = {}  # (point, mistake) -> step name -> its values

    def elements(self, name: str) -> sp.Matrix:
        return self.tape.quantities[name].elements

    @cached_property
    def owner(self) -> dict[sp.Symbol, int]:
        """Element symbol -> the position of the step that defines it."""
        return {e: k for k, step in enumerate(self.tape.steps) for e in self.elements(step.name)}

    def definition(self, k: int) -> dict:
        """The elements of step k -> their formulas in the step's inputs."""
        step = self.tape.steps[k]
        if step.name not in self._exprs:
            self._exprs[step.name] = _explicit(self.tape, step)
        return dict(zip(self.elements(step.name), self._exprs[step.name]))

    def activation(self, atoms) -> dict:
        """Each of `atoms` that is a function of another quantity (h_t -> phi(z_t),
        f_t -> sigma(...)) -> its definition."""
        steps = self.tape.steps
        out = {}
        for k in {self.owner[s] for s in atoms if s in self.owner}:
            if steps[k].kind in self.functions and steps[k].t is not None:
                out.update(self.definition(k))
        return out

    def activation_values(self, atoms, value) -> dict:
        """Each of `atoms` that activation() replaces -> its definition's value where every
        symbol s is value(s) (evaluated by the step's rule, not by building the definition)."""
        steps = self.tape.steps
        out = {}
        for k in {self.owner[s] for s in atoms if s in self.owner}:
            step = steps[k]
            if step.kind in self.functions and step.t is not None:
                inputs = {n: tuple(value(e) for e in self.elements(n)) for n in step.inputs}
                out.update(zip(self.elements(step.name), self.walker.step(step, inputs)))
        return out

    @cached_property
    def functions(self) -> frozenset[str]:
        """The quantities the cell defines as a function of another (h = tanh(z))."""
        return frozenset(e.lhs for e in self.tape.problem.cell.equations
                         if isinstance(e.rhs, Call | Sym))

    @cached_property
    def dropped(self) -> dict[str, tuple[int, int]]:
        """The biases a model without biases leaves out -> their shape (that of the quantity
        whose equation adds them); a formula may still write them, as zero."""
        kept = set(self.tape.problem.cell.parameters)
        out = {}
        for e in self.subject.cell.equations:
            for s in symbols(e.rhs):
                if s.lag is None and s.name not in kept and s.name in self.subject.cell.biases:
                    out.setdefault(s.name, self.tape.quantities[f"{e.lhs}_1"].shape)
        return out

    def first_step(self, base: str) -> int:
        """The first time step a quantity exists at: 0 for a state, else 1."""
        return 0 if base in self.vocab.states else 1

    def point(self, k: int) -> dict:
        """Parameters and data at random point k (reproducible), as 50-digit Floats."""
        rng = random.Random(f"symbolic-bptt verify {self.T} {k}")
        values = {}
        for name, q in self.tape.quantities.items():
            if q.role not in ("param", "data"):
                continue
            if name.startswith("y_") and self.model.loss == "cross_entropy":
                hot = rng.randrange(q.shape[0])
                values.update({s: sp.Integer(int(i == hot)) for i, s in enumerate(q.elements)})
                continue
            for s in q.elements:
                values[s] = sp.Float(rng.choice((-1, 1)) * rng.randint(100, 900) / 1000, DIGITS)
        return values

    @cached_property
    def catalog(self) -> Catalog:
        """The catalog's mistakes for this tape (imported here: only a failure needs them)."""
        from ..audit.catalog import Catalog

        return Catalog(self.tape)

    def values(self, k: int, mistake: Hypothesis | None = None, need=None) -> dict:
        """Element symbols' values at point k, walking the tape (with a mistake's steps
        rewritten): those of `need` (symbols; None: every step) and what they are made of.
        Only the steps they depend on are walked, each once per point and mistake."""
        key = (k, mistake.label if mistake else None)
        if key not in self._values:
            point = self.point(k)
            self._walked[key] = {name: tuple(point[s] for s in q.elements)
                                 for name, q in self.tape.quantities.items()
                                 if q.role in ("param", "data")}
            self._values[key] = dict(point)
        walked, values = self._walked[key], self._values[key]
        steps = self.tape.steps
        wanted = range(len(steps)) if need is None else \
            {self.owner[s] for s in need if s in self.owner}
        todo, stack = set(), [j for j in wanted if steps[j].name not in walked]
        while stack:
            j = stack.pop()
            if j in todo:
                continue
            todo.add(j)
            for name in self._inputs(steps[j], mistake):
                if name not in walked:
                    stack.append(self.position[name])
        for j in sorted(todo):
            step = self.tape.steps[j]
            found = self.catalog.rewrite(mistake, step) if mistake else None
            if found is None:
                out = self.walker.step(step, walked)
            else:
                out = self.walker.apply(found[0], walked, found[1], name=step.name)
            walked[step.name] = tuple(out)
            values.update(zip(self.elements(step.name), out))
        return values

    def _inputs(self, step, mistake: Hypothesis | None) -> tuple[str, ...]:
        """The names a step reads, in the world of a mistake (which may read others)."""
        found = self.catalog.rewrite(mistake, step) if mistake else None
        return step.inputs if found is None else tuple(found[1])

    @cached_property
    def position(self) -> dict[str, int]:
        """Step name -> its position on the tape."""
        return {step.name: k for k, step in enumerate(self.tape.steps)}

    @cached_property
    def walker(self) -> Walker:
        return Walker(self.tape, precise(DIGITS))

    def value_of(self, name: str, values: dict) -> sp.Matrix:
        return self.elements(name).xreplace(values)
