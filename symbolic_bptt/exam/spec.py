"""Read and validate an EXAM.toml: the model, how each number of a variant is drawn, the checks a
variant must pass, and the questions asked.

```toml
title = "Backpropagation Through Time"
course = "Deep Learning"
date = "Midterm, 14 March"
instructions = "Carry 4 decimals at every step."
seed = 2025                # the run seed (--seed overrides); variant seeds are drawn from it
variants = 3               # how many versions (--variants overrides)
[model]                    # as in a problem file
activation = "tanh"
[arithmetic]               # the key's arithmetic: rounded by hand, 4 decimals (the default)
mode = "rounded"
decimals = 4
[draw]                     # a number (fixed), a list (one of these), or a range:
T = [3, 4]                 #   {min = -1, max = 1, decimals = 1, nonzero = false}
W_hh = {min = 0.5, max = 0.9}
[reject]
saturation = 0.99          # reject a variant with a tanh state beyond +-0.99
max_tries = 1000           # give up when this many draws in a row are rejected
[[questions]]
kind = "forward"
points = 2
```

A cell of its own (`[model] cell = "custom"` with a `[cell]` table, or a cell file's path) also
needs `[shapes]` (custom_spec.py): the input's size and every parameter's shape; its draws name
the cell's parameters and initial states, its questions its quantities.

Every number is drawn on a decimal grid ("nice" numbers: one decimal in [-1, 1] by default,
zero excluded for weights), so a variant's problem file holds exactly the numbers drawn.
Every mistake in the file is a ProblemError naming the key.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..errors import ProblemError
from ..inputs.files import input_name, parse_toml, read_text
from ..inputs.limits import MAX_T_EXAM, MAX_TEXT_CHARS, MAX_TRIES, MAX_VARIANTS, check_text
from ..inputs.problem import Model, _show, elman_model, weight_shapes
from ..model.cell import Cell

KINDS = ("forward", "loss", "dL/do", "dL/dh", "dL/dW_hy", "dL/dW_hh", "dL/dW_xh", "dL/db_h",
         "dL/db_y", "formula", "vanishing")
CODES = ("derivative-index", "missing-activation-derivative", "state-off-by-one", "loss-scale",
         "sign-error")
TARGETS = ("dL/dh", "dL/dW_hh", "dL/do")
_TOP = {"title", "course", "date", "instructions", "author", "seed", "variants", "model",
        "arithmetic", "draw", "reject", "questions", "cell", "shapes"}
_DRAWN = ("T", "x", "y", "h0", "W_xh", "W_hh", "W_hy", "b_h", "b_y")
_QUESTION_KEYS = {"kind", "points", "t", "codes", "correct", "given"}
MAX_DECIMALS = 6
MAX_DRAWN = 1000  # the largest magnitude of a drawn or fixed number


@dataclass(frozen=True)
class Draw:
    """How one number is drawn: a fixed value, one of a list, or a decimal grid min..max."""

    where: str
    values: tuple[Decimal, ...] = ()  # fixed (one value) or a list to choose from
    lo: int = 0  # grid: min and max in units of 10^-decimals
    hi: int = 0
    decimals: int = 1
    nonzero: bool = False

    @property
    def grid(self) -> bool:
        return not self.values

    def count(self) -> int:
        """How many different numbers this draw can give."""
        if not self.grid:
            return len(set(self.values))
        n = self.hi - self.lo + 1
        return n - (1 if self.nonzero and self.lo <= 0 <= self.hi else 0)

    def sample(self, rng: random.Random) -> Decimal:
        """One number; a fixed value uses no randomness."""
        if len(self.values) == 1:
            return self.values[0]
        if self.values:
            return self.values[rng.randrange(len(self.values))]
        units = self.lo + rng.randrange(self.count())
        if self.nonzero and self.lo <= 0 <= units:
            units += 1
        return Decimal(units).scaleb(-self.decimals)

    def minimum(self) -> Decimal:
        return min(self.values) if self.values else Decimal(self.lo).scaleb(-self.decimals)


@dataclass(frozen=True)
class Question:
    """One question of the exam, as the file asks it."""

    number: int
    kind: str
    points: Decimal
    t: tuple[int, ...] | str  # time steps; negative count from T (-1 = T); "all"
    codes: tuple[str, ...] = CODES  # formula: the distractors' mistakes
    correct: str = "any"  # formula: which formula is the correct option (or drawn)
    given: bool = True  # dL/dh: print dL/do_t and dL/dz_(t+1) as given numbers
    quantities: tuple[str, ...] = ()  # a custom cell's forward or dL/d<q> question: what it asks

    def steps(self, T: int) -> list[int]:
        """The time steps this question asks about, for a sequence of length T."""
        if self.t == "all":
            return list(range(1, T + 1))
        return sorted({t if t > 0 else T + 1 + t for t in self.t})


@dataclass(frozen=True)
class ExamSpec:
    """A validated EXAM.toml."""

    name: str
    title: str
    course: str
    date: str
    instructions: str
    author: str
    seed: int
    variants: int
    model: Model
    model_table: dict
    mode: str
    decimals: int
    draws: dict[str, Draw]
    saturation: float | None
    max_tries: int
    questions: tuple[Question, ...]
    cell: Cell | None = None  # a cell of its own (None: the Elman cell of [model])
    shapes: dict[str, tuple[int, int]] | None = None  # its parameters' shapes, and x's as "x"
    vectors: frozenset[str] = frozenset()  # its parameters written as flat lists


def load_spec(path: str | Path) -> ExamSpec:
    """Read and validate an EXAM.toml; ProblemError with a one-line reason."""
    text = read_text(path, "an EXAM.toml file")
    shown, name = input_name(path)
    try:
        base = None if shown == "<stdin>" else Path(path).parent
        return parse_spec(parse_toml(text, parse_float=Decimal), name, base)
    except ProblemError as exc:
        raise ProblemError(f"{shown}: {exc}") from None


def parse_spec(raw: dict[str, Any], name: str = "exam", base: Path | None = None) -> ExamSpec:
    """Validate a parsed EXAM.toml (floats read as Decimal) into an ExamSpec (`base`: where a
    cell file's path starts)."""
    _known(raw, _TOP, "")
    text = {}
    for key in ("title", "course", "date", "instructions", "author"):
        value = raw.get(key, "")
        if not isinstance(value, str):
            raise ProblemError(f"{key} must be a string, got {_show(_plain(value))}")
        text[key] = check_text(value, key, 20 * MAX_TEXT_CHARS if key == "instructions"
                               else MAX_TEXT_CHARS)
    seed = _whole(raw.get("seed", 0), "seed", 0, 2**63)
    variants = _whole(raw.get("variants", 3), "variants", 1, MAX_VARIANTS)
    model_table = _table(raw, "model", "activation, loss and sizes, as in a problem file")
    if model_table.get("cell", "elman") != "elman":
        from .custom_spec import parse_custom_spec

        return parse_custom_spec(raw, name, base, common={**text, "seed": seed,
                                                          "variants": variants})
    for key in ("cell", "shapes"):
        if key in raw:
            raise ProblemError(f'[{key}] is for a cell of its own: it needs model.cell = "custom"'
                               ' (or a cell file)')
    model = elman_model({k: _plain(v) for k, v in model_table.items()})
    if model.loss == "given":
        raise ProblemError("model.loss = \"given\" is not for an exam: a variant draws targets "
                           "y, and the loss is part of what students compute")
    mode, decimals = arithmetic_of(raw)
    questions = _questions(raw.get("questions"), model)
    draws = _draws(_table(raw, "draw", "how each number is drawn"), model)
    _check_steps(questions, draws["T"])
    _check_loss_steps(model, draws["T"])
    saturation, max_tries = reject_of(raw)
    return ExamSpec(name=name, seed=seed, variants=variants, model=model,
                    model_table={k: _plain(v) for k, v in model_table.items()}, mode=mode,
                    decimals=decimals, draws=draws, saturation=saturation,
                    max_tries=max_tries, questions=questions, **text)


def arithmetic_of(raw: dict) -> tuple[str, int]:
    """[arithmetic]: the key's mode and decimals."""
    arithmetic = _table(raw, "arithmetic", "mode and decimals")
    _known(arithmetic, {"mode", "decimals"}, "arithmetic.")
    mode = arithmetic.get("mode", "rounded")
    if mode not in ("exact", "float", "rounded"):
        raise ProblemError(f"arithmetic.mode = {_show(_plain(mode))} is not known "
                           "(expected one of: exact, float, rounded)")
    return mode, _whole(arithmetic.get("decimals", 4), "arithmetic.decimals", 1, 10)


def reject_of(raw: dict) -> tuple[float | None, int]:
    """[reject]: the saturation bound (None: allowed) and max_tries."""
    reject = _table(raw, "reject", "saturation and max_tries")
    _known(reject, {"saturation", "max_tries"}, "reject.")
    saturation = reject.get("saturation", Decimal("0.99"))
    if saturation is False:
        saturation = None
    elif isinstance(saturation, bool) or not isinstance(saturation, int | Decimal) \
            or not Decimal(saturation).is_finite() or not 0 < saturation <= 1:
        raise ProblemError("reject.saturation must be a number in (0, 1] (or false to allow "
                           f"saturated states), got {_show(_plain(saturation))}")
    max_tries = _whole(reject.get("max_tries", 1000), "reject.max_tries", 1, MAX_TRIES)
    return (None if saturation is None else float(saturation)), max_tries


# ---------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """TOML values as inputs/problem.py expects them: Decimals become floats."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _known(table: dict, allowed: set[str], prefix: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ProblemError(f"unknown key {prefix}{unknown[0]} "
                           f"(expected one of: {', '.join(sorted(allowed))})")


def _table(raw: dict, key: str, what: str) -> dict:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ProblemError(f"{key} must be a table [{key}] ({what}), got {_show(_plain(value))}")
    return value


def _whole(value: Any, where: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ProblemError(f"{where} must be a whole number from {lo} to {hi}, "
                           f"got {_show(_plain(value))}")
    return value


def _number(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ProblemError(f"{where} must be a number, got {_show(_plain(value))}")
    d = Decimal(value)
    if not d.is_finite():
        raise ProblemError(f"{where} must be a finite number, got {value}")
    if abs(d) > MAX_DRAWN:
        raise ProblemError(f"{where} = {_show(_plain(value))} is beyond the limit of "
                           f"+-{MAX_DRAWN} for an exam's numbers")
    return d


def _draws(table: dict, model: Model) -> dict[str, Draw]:
    shapes = weight_shapes(model)
    allowed = {"T", "x", "y", "h0", *shapes}
    hint = "" if model.bias is True else " (b_h and b_y need model.bias = true)"
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ProblemError(f"unknown key draw.{unknown[0]} (expected one of: "
                           f"{', '.join(k for k in _DRAWN if k in allowed)}){hint}")
    one_decimal = {"min": Decimal(-1), "max": Decimal(1), "decimals": 1}
    defaults: dict[str, Any] = {"T": [3], "x": one_decimal, "y": one_decimal, "h0": 0}
    defaults |= {w: {**one_decimal, "nonzero": True} for w in shapes}
    if model.loss == "cross_entropy":
        defaults["y"] = list(range(model.output_size))
    if model.loss == "bce":
        defaults["y"] = {"min": Decimal(0), "max": Decimal(1), "decimals": 1}
    draws = {}
    for key in [k for k in _DRAWN if k in allowed]:
        draws[key] = _draw(table.get(key, defaults[key]), f"draw.{key}",
                           whole=key == "T" or (key == "y" and model.loss == "cross_entropy"))
    return checked_draws(draws, model)


def checked_draws(draws: dict[str, Draw], model) -> dict[str, Draw]:
    """The draws of any cell's exam, refused when T can be below 1 or beyond the exam limit, or
    when a cross-entropy exam could draw a class the output has not."""
    T = draws["T"]
    if T.minimum() < 1:
        raise ProblemError(f"draw.T must draw sequence lengths >= 1, got {T.minimum()}")
    longest = max(T.values) if T.values else Decimal(T.hi)
    if longest > MAX_T_EXAM:
        raise ProblemError(f"draw.T can draw T = {longest}, beyond the limit of {MAX_T_EXAM} "
                           "for an exam (the limits are in the README)")
    y = draws["y"]
    if model.loss == "bce":
        values = y.values or (y.minimum(), Decimal(y.hi).scaleb(-y.decimals))
        if min(values) < 0 or max(values) > 1:
            raise ProblemError("draw.y must draw targets in [0, 1] for model.loss = \"bce\"")
    if model.loss == "cross_entropy":
        values = y.values or (Decimal(y.lo), Decimal(y.hi))
        if min(values) < 0 or max(values) >= model.output_size:
            raise ProblemError(f"draw.y must draw class indices 0..{model.output_size - 1} for "
                               "model.loss = \"cross_entropy\"")
    return draws


def _draw(spec: Any, where: str, whole: bool) -> Draw:
    if isinstance(spec, list):
        if not spec:
            raise ProblemError(f"{where} = []: an empty list has nothing to draw from")
        values = tuple(_number(v, f"{where}[{i}]") for i, v in enumerate(spec))
        if whole and any(v != v.to_integral_value() for v in values):
            raise ProblemError(f"{where} must list whole numbers, got {_show(_plain(spec))}")
        return Draw(where, tuple(Decimal(int(v)) if whole else v for v in values))
    if isinstance(spec, dict):
        _known(spec, {"min", "max", "decimals", "nonzero"}, f"{where}.")
        for key in ("min", "max"):
            if key not in spec:
                raise ProblemError(
                    f"{where} needs min and max (a range), got {_show(_plain(spec))}")
        lo, hi = _number(spec["min"], f"{where}.min"), _number(spec["max"], f"{where}.max")
        decimals = 0 if whole else _whole(spec.get("decimals", 1), f"{where}.decimals", 0,
                                          MAX_DECIMALS)
        if whole and "decimals" in spec and spec["decimals"] != 0:
            raise ProblemError(f"{where}.decimals must be 0: it draws whole numbers")
        nonzero = spec.get("nonzero", False)
        if not isinstance(nonzero, bool):
            raise ProblemError(
                f"{where}.nonzero must be true or false, got {_show(_plain(nonzero))}")
        if lo > hi:
            raise ProblemError(f"{where}: min = {lo} > max = {hi}, the range is empty")
        step = Decimal(1).scaleb(-decimals)
        units_lo, units_hi = math.ceil(lo / step), math.floor(hi / step)
        draw = Draw(where, (), units_lo, units_hi, decimals, nonzero)
        if draw.count() < 1:
            what = f"{decimals} decimal{'s' * (decimals != 1)}" if not whole else "whole numbers"
            extra = " other than 0" if nonzero else ""
            raise ProblemError(f"{where}: no number with {what}{extra} lies in [{lo}, {hi}]")
        return draw
    return Draw(where, (_number(spec, where) if not whole else _whole_decimal(spec, where),))


def _whole_decimal(value: Any, where: str) -> Decimal:
    d = _number(value, where)
    if d != d.to_integral_value():
        raise ProblemError(f"{where} must be a whole number, got {value}")
    return Decimal(int(d))


def _questions(raw: Any, model: Model) -> tuple[Question, ...]:
    if raw is None:
        raise ProblemError("missing [[questions]]: the exam asks nothing (add e.g. "
                           "[[questions]] kind = \"forward\")")
    if not isinstance(raw, list) or not raw or not all(isinstance(q, dict) for q in raw):
        raise ProblemError("questions must be a list of tables [[questions]] (kind, points, ...)")
    out = []
    for i, q in enumerate(raw):
        where = f"questions[{i}]"
        _known(q, _QUESTION_KEYS, f"{where}.")
        kind = q.get("kind")
        if kind not in KINDS:
            raise ProblemError(f"{where}.kind = {_show(_plain(kind))} is not a question kind "
                               f"(expected one of: {', '.join(KINDS)})")
        if kind == "dL/db_h" and model.bias not in (True, "hidden"):
            raise ProblemError(f"{where}.kind = \"{kind}\" needs model.bias = true (or "
                               "\"hidden\")")
        if kind == "dL/db_y" and (model.bias not in (True, "output") or model.output == "none"):
            raise ProblemError(f"{where}.kind = \"{kind}\" needs model.bias = true (or "
                               "\"output\") and an output layer")
        if kind in ("dL/do", "dL/dW_hy") and model.output == "none":
            raise ProblemError(f"{where}.kind = \"{kind}\" needs an output layer (model.output ="
                               " \"none\" has no o_t and no W_hy)")
        if kind == "formula" and not model.deck_layout:
            raise ProblemError(f"{where}.kind = \"formula\" is written for the deck's loss layout"
                               " (a linear output and a loss at every step, its factor outside)")
        points = _number(q.get("points", 1), f"{where}.points")
        if points <= 0:
            raise ProblemError(f"{where}.points must be > 0, got {points}")
        default_t = {"dL/dh": -2, "forward": "all", "dL/do": "all"}.get(kind)
        t = _steps(q.get("t", default_t), f"{where}.t") if kind in ("forward", "dL/do", "dL/dh") \
            else ()
        if "t" in q and kind not in ("forward", "dL/do", "dL/dh"):
            raise ProblemError(f"{where}.t: a {kind} question has no time step")
        if kind == "dL/dh" and (t == "all" or len(t) != 1):
            raise ProblemError(f"{where}.t must be one time step for a dL/dh question "
                               "(one step of the recursion)")
        codes, correct = CODES, "any"
        if kind == "formula":
            codes = _codes(q.get("codes", list(CODES)), f"{where}.codes", model)
            correct = q.get("correct", "any")
            if correct != "any" and correct not in TARGETS:
                raise ProblemError(f"{where}.correct = {_show(_plain(correct))} is not known "
                                   f"(expected one of: any, {', '.join(TARGETS)})")
        elif "codes" in q or "correct" in q:
            raise ProblemError(f"{where}: codes and correct belong to a formula question")
        given = q.get("given", True)
        if not isinstance(given, bool):
            raise ProblemError(f"{where}.given must be true or false, got {_show(_plain(given))}")
        out.append(Question(i + 1, kind, points, t, codes, correct, given))
    return tuple(out)


def _steps(value: Any, where: str) -> tuple[int, ...] | str:
    if value == "all":
        return "all"
    if value == "last":
        return (-1,)
    items = value if isinstance(value, list) else [value]
    if not items or any(isinstance(v, bool) or not isinstance(v, int) or v == 0 for v in items):
        raise ProblemError(f"{where} must be \"all\", \"last\", a time step or a list of them "
                           f"(1 = first, -1 = last), got {_show(_plain(value))}")
    return tuple(items)


def _codes(value: Any, where: str, model: Model) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ProblemError(f"{where} must be a list of mistake codes ({', '.join(CODES)})")
    for c in value:
        if c not in CODES:
            raise ProblemError(f"{where}: {_show(_plain(c))} is not a mistake code "
                               f"(expected one of: {', '.join(CODES)})")
    codes = tuple(dict.fromkeys(value))
    if model.activation == "identity":
        # phi' = 1: "phi' at the wrong step" and "phi' dropped" give the correct formula.
        codes = tuple(c for c in codes if c not in ("derivative-index",
                                                    "missing-activation-derivative"))
        if not codes:
            raise ProblemError(f"{where}: with the identity activation, derivative-index and "
                               "missing-activation-derivative are not mistakes; add other codes")
    return codes


def _check_loss_steps(model: Model, T: Draw) -> None:
    """model.loss_steps must lie within the shortest sequence drawn."""
    if isinstance(model.loss_steps, tuple) and max(model.loss_steps) > T.minimum():
        raise ProblemError(f"model.loss_steps reads step {max(model.loss_steps)}, but draw.T "
                           f"can draw T = {T.minimum()}")


def _check_steps(questions: tuple[Question, ...], T: Draw) -> None:
    """Every asked time step must exist for the shortest sequence drawn."""
    shortest = int(T.minimum())
    for q in questions:
        where = f"questions[{q.number - 1}]"
        need = 2 if q.kind in ("dL/dh", "vanishing") else 1
        if shortest < need:
            raise ProblemError(f"{where}: a {q.kind} question needs T >= 2, but draw.T can "
                               f"draw T = {shortest}")
        if q.t == "all":
            continue
        for t in q.t:
            step = t if t > 0 else shortest + 1 + t
            top = shortest - 1 if q.kind == "dL/dh" else shortest
            if not 1 <= step <= top:
                what = "1..T-1 (the recursion needs step t+1)" if q.kind == "dL/dh" else "1..T"
                raise ProblemError(f"{where}.t = {t} is outside {what} for T = {shortest}")
