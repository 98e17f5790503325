"""The "which of these formulas is correct" question: one correct BPTT formula and one wrong
formula per code of the mistake catalog (audit/catalog.py), so every distractor is a misconception
`check` recognises in hand calculations.

The correct option is one of three formulas (the recursion dL/dh_t, the gradient dL/dW_hh, the
output gradient dL/do_t), drawn by the variant's seed unless the exam fixes it; the wrong options
are, whatever the target, one per code:

    derivative-index               dL/dh_t with phi' at step t in place of t+1
    missing-activation-derivative  dL/dh_t without phi'
    state-off-by-one               dL/dW_hh = sum_t delta_t h_t^T
    loss-scale                     dL/do_t with the loss's factor dropped (or the 2 of the square)
    sign-error                     dL/do_t with (y_t - o_t)

so the correct formula always has look-alikes among the options. The options are shuffled by
the variant's own random generator: the same seed gives the same letters.

A cell of its own (an LSTM, a GRU, ...) asks for one gradient's formula at a general t
(`cell_formula_choices`): the distractors are the catalog's own rewrites of that step, one per
code (for the LSTM's dL/dc_t: tanh'(c) at another step or dropped, f_t for f_{t+1}, a path
left out, tanh' in sigma's form), written in the cell's names.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import sympy as sp

from ..audit.catalog import CODES as CATALOG
from ..documents import latex_out
from ..inputs.problem import Model
from ..model import ACTIVATIONS
from ..model.notation import Notation
from .spec import TARGETS


@dataclass(frozen=True)
class Choice:
    """One option: its letter, formula (math LaTeX), and the mistake it embodies (None: correct)."""

    letter: str
    latex: str
    correct: bool
    code: str | None
    label: str  # LaTeX text for the key: what the option gets wrong, or why it is right
    misconception: str  # the catalog's description of the mistake ("" for the correct option)


def cell_formula_choices(tape, n: Notation, target: str, codes: tuple[str, ...],
                         rng: random.Random) -> tuple[Choice, ...]:
    """The shuffled options for dL/dq_t at a general t (`target` the step kind "dL/dq"): the
    tape's rule, and the first rewrite of each catalog code that changes it."""
    from ..audit.catalog import Catalog
    from ..documents.cell_document import general_formula
    from ..documents.document import escape_text
    from ..errors import ProblemError

    step = next((s for s in tape.steps if s.kind == target), None)
    if step is None:
        raise ProblemError(f"the formula question asks for {target}_t, which this cell does not "
                           f"have at a general step t (T >= 2)")

    def written(rule, inputs) -> str:
        lhs, expr = general_formula(tape, n, rule, inputs, step)
        return f"{lhs} = {latex_out.formula(expr, n)}"
    correct = written(tape.rules[step.kind], step.inputs)
    options = [(correct, None, "the correct formula: every path of the chain rule, each "
                               "factor at its own time step")]
    catalog = Catalog(tape)
    for h in catalog.hypotheses:
        if h.code in {code for _, code, _ in options} or (codes and h.code not in codes):
            continue
        found = catalog.rewrite(h, step)
        if found is None:
            continue
        tex = written(*found)
        if tex not in {o[0] for o in options}:
            options.append((tex, h.code, escape_text(h.label.replace("⊙", "*"))))
    if len(options) < 2:
        raise ProblemError(f"no mistake of the catalog{' among the codes asked' if codes else ''}"
                           f" rewrites {target}_t: the formula question needs distractors")
    rng.shuffle(options)
    return tuple(Choice(chr(ord("A") + i), tex, code is None, code, label,
                        CATALOG[code].mistake if code else "")
                 for i, (tex, code, label) in enumerate(options))


def formula_choices(model: Model, n: Notation, codes: tuple[str, ...], target: str,
                    rng: random.Random) -> tuple[tuple[Choice, ...], str]:
    """The shuffled options and the target quantity of the correct one."""
    if target == "any":
        target = TARGETS[rng.randrange(len(TARGETS))]
    f = _Formulas(model, n)
    options = [(f.correct(target), None, f"the correct {f.what(target)}")]
    options += [(f.mistake(code), code, f.label(code)) for code in codes]
    rng.shuffle(options)
    choices = tuple(Choice(chr(ord("A") + i), tex, code is None, code, label,
                           CATALOG[code].mistake if code else "")
                    for i, (tex, code, label) in enumerate(options))
    return choices, target


class _Formulas:
    """BPTT formulas in the exam's notation, right and wrong, for this activation and loss."""

    def __init__(self, model: Model, n: Notation):
        self.m = model
        self.n = n
        self.act = ACTIVATIONS[model.activation]
        self.vector = not model.is_scalar
        self.top = r"^{\top}" if self.vector else ""
        self.v = "h" if self.act.prime_of == "h" else "z"

    def s(self, name: str) -> str:
        return self.n.symbol(name)

    def prime(self, step: str) -> str:
        return latex_out.formula(self.act.prime(sp.Symbol(f"{self.v}_{step}")), self.n)

    def what(self, target: str) -> str:
        return {"dL/dh": "recursion", "dL/dW_hh": r"gradient of $W_{hh}$",
                "dL/do": "output gradient"}[target]

    def recursion(self, step: str | None) -> str:
        """dh_t = W_hy^T do_t + W_hh^T (phi'(v_step) * dh_(t+1)); step None drops phi'."""
        s = self.s
        head = f"{s('dL/dh_t')} = {s('W_hy')}{self.top} {s('dL/do_t')} + {s('W_hh')}{self.top}"
        if step is None or self.act.name == "identity":
            return rf"{head} {s('dL/dh_t+1')}"
        if self.vector:
            return rf"{head} \left({s('dL/dh_t+1')} \odot \left({self.prime(step)}\right)\right)"
        return rf"{head} {s('dL/dh_t+1')} \left({self.prime(step)}\right)"

    def w_hh(self, state: str) -> str:
        s = self.s
        return (rf"\frac{{\partial L}}{{\partial {s('W_hh')}}} = \sum_{{t=1}}^{{T}} "
                rf"{s('dL/dz_t')} {s(state)}{self.top}")

    def output(self, factor: str, sign: int = 1) -> str:
        s = self.s
        o, y = s("o_t"), s("y_t")
        if self.m.loss == "cross_entropy":
            o = rf"\operatorname{{softmax}}\left({o}\right)"
        diff = f"{o} - {y}" if sign > 0 else f"{y} - {o}"
        body = rf"\left({diff}\right)" if factor else diff
        return f"{s('dL/do_t')} = {factor} {body}".replace("=  ", "= ")

    def scale(self) -> tuple[str, str, str]:
        """The output gradient's factor, the mistaken one, and what the mistake is."""
        return {
            "half_sse": ("", "2", r"the $\frac{1}{2}$ of the loss dropped"),
            "sse": ("2", "", r"the factor 2 of $\partial (o_t - y_t)^2 / \partial o_t$ dropped"),
            "mse": (r"\frac{2}{T}", "2", r"the $\frac{1}{T}$ of the loss dropped"),
            "cross_entropy": (r"\frac{1}{T}", "", r"the $\frac{1}{T}$ of the loss dropped"),
        }[self.m.loss]

    def correct(self, target: str) -> str:
        if target == "dL/dh":
            return self.recursion("t+1")
        if target == "dL/dW_hh":
            return self.w_hh("h_t-1")
        return self.output(self.scale()[0])

    def mistake(self, code: str) -> str:
        if code == "derivative-index":
            return self.recursion("t")
        if code == "missing-activation-derivative":
            return self.recursion(None)
        if code == "state-off-by-one":
            return self.w_hh("h_t")
        if code == "loss-scale":
            return self.output(self.scale()[1])
        return self.output(self.scale()[0], sign=-1)

    def label(self, code: str) -> str:
        s = self.s
        return {
            "derivative-index": (f"the activation's derivative taken at ${self.v}_t$ instead "
                                 f"of ${self.v}_{{t+1}}$"),
            "missing-activation-derivative": ("the activation's derivative dropped, as for a "
                                              "linear RNN"),
            "state-off-by-one": (rf"${s('h_t')}$ in place of ${s('h_t-1')}$: the state of the "
                                 "wrong time step"),
            "loss-scale": self.scale()[2],
            "sign-error": (rf"$({s('y_t')} - {s('o_t')})$ in place of $({s('o_t')} - {s('y_t')})$:"
                           " the wrong sign"),
        }[code]
