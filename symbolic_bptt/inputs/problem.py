"""Read and validate a TOML problem file into frozen dataclasses.

Every mistake a user can make in the file becomes a ProblemError naming the key and what was
expected; nothing here raises anything else for bad input.
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from ..errors import ProblemError, quoted
from ..model.cell import BIAS_MODES, INPUT, OUTPUTS, Cell, bind, infer_shapes, load_cell
from ..model.notation import BASES, check_notation
from .files import input_name, parse_toml, read_text
from .limits import check_sequence, check_sizes, check_text
from .training import Training, parse_training

ACTIVATIONS = ("tanh", "sigmoid", "relu", "identity")
LOSSES = ("half_sse", "sse", "mse", "cross_entropy", "bce", "given")
REDUCTIONS = ("mean", "sum")
LOSS_FACTORS = ("outside", "per_step")
MODES = ("exact", "float", "rounded")

Number = int | float
Vector = tuple[Number, ...]
Matrix = tuple[tuple[Number, ...], ...]


@dataclass(frozen=True)
class Model:
    """The network: cell, activation, loss and sizes (a custom cell's sizes are inferred:
    hidden_size is its largest quantity or parameter dimension)."""

    cell: str = "elman"
    activation: str = "tanh"
    input_size: int = 1
    hidden_size: int = 1
    output_size: int = 1
    bias: bool | str = False  # true | false | "hidden" (b_h only) | "output" (b_y only)
    loss: str = "half_sse"
    output: str = "linear"  # "none": no output layer, the loss reads h_t
    reduction: str = "mean"  # cross_entropy and bce: "mean" or "sum" over the steps read
    loss_steps: str | tuple[int, ...] = "all"  # "all" | "last" | the steps, e.g. (2, 3)
    loss_factor: str = "outside"  # "per_step": the loss's factor inside each l_t

    @property
    def is_scalar(self) -> bool:
        """True when every size is 1, so all quantities are numbers."""
        return self.input_size == self.hidden_size == self.output_size == 1

    @property
    def deck_layout(self) -> bool:
        """True for the loss layout of the deck (every step, the factor outside, a linear
        output, a target per step): the layout the Elman documents and formulas are written for."""
        return (self.output == "linear" and self.loss_steps == "all" and self.bias in (True, False)
                and self.loss_factor == "outside" and self.loss not in ("bce", "given")
                and self.reduction == "mean")

    def steps_read(self, T: int) -> tuple[int, ...]:
        """The time steps whose output the loss reads."""
        if self.loss_steps == "all":
            return tuple(range(1, T + 1))
        if self.loss_steps == "last":
            return (T,)
        return self.loss_steps


@dataclass(frozen=True)
class Arithmetic:
    """How numbers are carried: exact, float, or rounded to `decimals` at every step."""

    mode: str = "float"
    decimals: int = 4


@dataclass(frozen=True)
class Problem:
    """One worked example: model, data (x_t, y_t, h_0) and weights as the file wrote them."""

    model: Model
    x: tuple[Vector, ...]
    y: tuple[Vector, ...]
    h0: Vector
    weights: dict[str, Matrix] = field(hash=False)
    arithmetic: Arithmetic = Arithmetic()
    title: str = ""
    author: str = ""
    institute: str = ""
    date: str = ""
    name: str = "problem"
    notation: dict[str, str] = field(default_factory=dict, hash=False)
    custom_cell: Cell | None = field(default=None, hash=False)  # None: the shipped model.cell
    initial: dict[str, Vector] | None = field(default=None, hash=False)  # state -> value at t=0
    vectors: frozenset[str] = frozenset()  # parameters written as flat lists (a custom cell)
    upstream: tuple[Vector, ...] = ()  # loss = "given": dL/do_t of each step read ([data] dL_do)
    training: Training | None = None  # [training]: clipping, the update, truncation
    notation_preset: str | None = None  # `notation = "NAME"`: the source whose symbols it uses
    symbols: dict[str, str] = field(default_factory=dict, hash=False)  # [symbols]: as written

    @property
    def T(self) -> int:
        """Sequence length."""
        return len(self.x)

    @property
    def loss_steps(self) -> tuple[int, ...]:
        """The steps the loss reads; y (or dL_do) holds one entry for each, in this order."""
        return self.model.steps_read(self.T)

    def __repr__(self) -> str:  # the default printed every number of the data and weights
        cell = "custom" if self.custom_cell is not None else self.model.cell
        return (f"<problem {self.name!r}: {cell} cell, {self.model.activation}, T = {self.T}, "
                f"loss {self.model.loss}>")

    @cached_property
    def cell(self) -> Cell:
        """The cell this problem runs, with phi and the biases bound by [model]."""
        cell = self.custom_cell or load_cell(self.model.cell)
        return bind(cell, self.model.activation, self.model.bias, self.model.output)

    @cached_property
    def shapes(self) -> dict[str, tuple[int, int]]:
        """The shape of every parameter, the input, and every quantity of the cell."""
        params = {n: (len(w), len(w[0])) for n, w in self.weights.items()}
        if not params and self.custom_cell is None:  # a problem made for its shapes only
            params = weight_shapes(self.model)
        shapes = {n: s for n, s in params.items() if n in self.cell.parameters}
        given = {n: len(v) for n, v in self.initial_values.items()}
        return shapes | {INPUT: (self.model.input_size, 1)} | infer_shapes(
            self.cell, shapes, self.model.input_size, given)

    @property
    def initial_values(self) -> dict[str, Vector]:
        """The value of every state at t = 0 (h_0 of the Elman cell)."""
        if self.initial is not None:
            return self.initial
        return {"h": self.h0} if self.h0 else {}

    def indexing(self, param: str) -> str:
        """How a parameter's entries are named: a matrix (W_hh[0,1]) or a vector (b_h[0])."""
        if self.custom_cell is None:
            return "matrix" if param.startswith("W") else "vector"
        return "vector" if param in self.vectors else "matrix"


_TOP_KEYS = {"title", "author", "institute", "date", "model", "data", "weights", "training",
             "arithmetic", "notation", "symbols", "cell"}
_MODEL_KEYS = {"cell", "activation", "input_size", "hidden_size", "output_size", "bias", "loss",
               "output", "reduction", "loss_steps", "loss_factor"}
_DATA_KEYS = {"x", "y", "h0", "dL_do"}
_ARITH_KEYS = {"mode", "decimals"}


def weight_shapes(model: Model) -> dict[str, tuple[int, int]]:
    """The shape (rows, cols) of every parameter, in the column convention."""
    h, i, o = model.hidden_size, model.input_size, model.output_size
    linear = model.output == "linear"
    shapes = {"W_xh": (h, i), "W_hh": (h, h)} | ({"W_hy": (o, h)} if linear else {})
    if model.bias in (True, "hidden"):
        shapes["b_h"] = (h, 1)
    if model.bias in (True, "output") and linear:
        shapes["b_y"] = (o, 1)
    return shapes


def load_problem(path: str | Path) -> Problem:
    """Read and validate a problem file; raises ProblemError with a one-line reason."""
    path = Path(path)
    text = read_text(path, "a .toml problem file")
    shown, name = input_name(path)
    try:
        raw = parse_toml(text)
    except ProblemError as exc:
        raise ProblemError(f"{shown}: {exc}") from None
    try:
        return parse_problem(raw, name=name, base=path.parent)
    except ProblemError as exc:
        raise ProblemError(f"{shown}: {exc}") from None


def parse_problem(raw: dict[str, Any], name: str = "problem", base: Path | None = None) -> Problem:
    """Validate a parsed TOML table into a Problem (`base`: where a cell file's path starts)."""
    _no_unknown(raw, _TOP_KEYS, "")
    for key in ("model", "data", "weights"):
        if key not in raw:
            raise ProblemError(f"missing table [{key}] ({_TABLES[key]})")
        if not isinstance(raw[key], dict):
            raise ProblemError(
                f"{key} must be a table [{key}] ({_TABLES[key]}), got {_show(raw[key])}")
    cell_spec = raw["model"].get("cell", "elman")
    if not isinstance(cell_spec, str):
        raise ProblemError(f"model.cell must be a string (a shipped cell, \"custom\", or a path"
                           f" to a .toml cell file), got {_show(cell_spec)}")
    if cell_spec != "elman":
        from .custom_problem import parse_custom
        return parse_custom(raw, name, load_cell(cell_spec, raw.get("cell"), base))
    if "cell" in raw:
        raise ProblemError('a [cell] table needs model.cell = "custom" (the default is "elman")')
    model = elman_model(raw["model"])
    data = raw["data"]
    _no_unknown(data, _DATA_KEYS, "data.")
    x_raw, y_raw = sequences(data, model)
    check_sizes(len(x_raw), max(model.input_size, model.hidden_size, model.output_size))
    x = tuple(_vector(v, model.input_size, f"data.x[{t}]") for t, v in enumerate(x_raw))
    y, upstream = loss_data(data, y_raw, model, len(x_raw), model.output_size)
    # The weights before h0: a number broadcast to a huge hidden_size is never built for a file
    # whose W_hh could not match it anyway.
    weights = _parse_weights(raw["weights"], model)
    h0 = _vector(data.get("h0", 0.0), model.hidden_size, "data.h0", broadcast=True)
    return Problem(model=model, x=x, y=y, h0=h0, weights=weights, name=name, upstream=upstream,
                   **_common(raw))


def _common(raw: dict[str, Any], symbols: tuple[str, ...] = BASES) -> dict[str, Any]:
    """The keys every problem file shares: arithmetic, title and the like, notation (whose
    keys are `symbols`, its values checked here once for solve, check and render alike)."""
    arithmetic = _parse_arithmetic(raw.get("arithmetic", {}))
    text = {}
    for key in ("title", "author", "institute", "date"):
        value = raw.get(key, "")
        if not isinstance(value, str):
            raise ProblemError(f"{key} must be a string, got {_show(value)}")
        text[key] = check_text(value, key)
    notation = raw.get("notation", {})
    reading = {"notation_preset": None, "symbols": {}}
    if isinstance(notation, str):  # a preset's name: the source whose symbols the file uses
        from ..formulas.reading import preset

        preset(notation)
        reading["notation_preset"], notation = notation, {}
    if "symbols" in raw:
        from ..formulas.reading import check_symbols

        reading["symbols"] = check_symbols(raw["symbols"])
    if not isinstance(notation, dict):
        raise ProblemError("notation must be a preset's name (notation = \"goodfellow\") or a "
                           "table [notation] of strings (symbol = \"LaTeX\"), "
                           f"got {_show(notation)}")
    for k, v in notation.items():
        if not isinstance(v, str):
            raise ProblemError(f"notation.{_key(k)} must be a string (LaTeX), got {_show(v)}")
    return {"arithmetic": arithmetic, "notation": check_notation(notation, symbols), **reading,
            "training": parse_training(raw.get("training")), **text}


def _key(key: str) -> str:
    """A key for a message: as written when plain, quoted (one line, cut) otherwise."""
    return key if key.replace("/", "").replace("_", "").isalnum() and len(key) < 40 \
        else quoted(key)


def sequences(data: dict[str, Any], model: Model | None = None) -> tuple[list, list]:
    """data.x, and data.y (or data.dL_do for loss = "given"): lists, x nonempty, and one entry
    of y for every step the loss reads."""
    given = model is not None and model.loss == "given"
    read, absent = ("dL_do", "y") if given else ("y", "dL_do")
    if absent in data:
        raise ProblemError(f"data.{absent} is for model.loss = \"given\""
                           if absent == "dL_do" else
                           "data.y does not apply with model.loss = \"given\" (data.dL_do holds "
                           "the upstream gradients)")
    steps = "all" if model is None else model.loss_steps
    per = "per step" if steps == "all" else "per step the loss reads"
    for key, what in (("x", "a list of T inputs"),
                      (read, f"a list of {'targets' if read == 'y' else 'gradients dL/do_t'} "
                       f"(one {per})")):
        if key not in data:
            raise ProblemError(f"missing key data.{key} ({what})")
        if not isinstance(data[key], list):
            raise ProblemError(f"data.{key} must be {what}, got {_show(data[key])}")
    x_raw, y_raw = data["x"], data[read]
    check_sequence(len(x_raw))
    if len(x_raw) == 0:
        raise ProblemError("data.x is empty: the sequence needs T >= 1 steps")
    if steps == "all" and len(x_raw) != len(y_raw):
        raise ProblemError(f"data.x has {len(x_raw)} entries but data.{read} has {len(y_raw)}: "
                           f"need one {'target' if read == 'y' else 'gradient'} per input")
    if steps != "all":
        wanted = model.steps_read(len(x_raw))
        if any(t > len(x_raw) for t in wanted):
            raise ProblemError(f"model.loss_steps = {_show(list(wanted))} reads a step after the "
                               f"last one (T = {len(x_raw)})")
        if len(y_raw) != len(wanted):
            which = "the last step" if steps == "last" else f"steps {_show(list(wanted))}"
            raise ProblemError(f"data.{read} has {len(y_raw)} entries but the loss reads "
                               f"{which} (model.loss_steps): need one entry for each")
    return x_raw, y_raw


def loss_data(data: dict[str, Any], raw: list, model: Model, T: int,
              size: int) -> tuple[tuple[Vector, ...], tuple[Vector, ...]]:
    """(targets, upstream gradients) of the steps the loss reads, one of them empty."""
    if model.loss == "given":
        return (), tuple(_vector(v, size, f"data.dL_do[{k}]") for k, v in enumerate(raw))
    y = targets(raw, model.loss, size)
    if model.loss == "bce":
        for k, v in enumerate(y):
            for i, value in enumerate(v):
                if not 0 <= value <= 1:
                    where = f"data.y[{k}]" + (f"[{i}]" if size > 1 else "")
                    raise ProblemError(f"{where} = {value} is not in [0, 1] (model.loss = "
                                       "\"bce\" compares a probability sigma(o_t) with it)")
    return y, ()


def targets(y_raw: list, loss: str, size: int) -> tuple[Vector, ...]:
    """The targets: vectors of `size`, or class indices made one-hot for cross-entropy."""
    if loss == "cross_entropy":
        return tuple(_class_index(v, size, f"data.y[{t}]") for t, v in enumerate(y_raw))
    return tuple(_vector(v, size, f"data.y[{t}]") for t, v in enumerate(y_raw))


_TABLES = {
    "model": "activation, loss and sizes",
    "data": "x and y, one entry per time step",
    "weights": "W_xh, W_hh, W_hy",
}


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _show(value: Any, limit: int = 60) -> str:
    """A value as the file wrote it, on one short line: true, "tanh", [1, 2]."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        text = str(value)
    text = _one_line(text)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _no_unknown(table: dict[str, Any], allowed: set[str], prefix: str, hint: str = "") -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        expected = ", ".join(sorted(allowed)) if allowed else "none"
        raise ProblemError(f"unknown key {prefix}{unknown[0]}{_did_you_mean(unknown[0], allowed)}"
                           f" (expected one of: {expected}){hint}")


def _did_you_mean(word: Any, choices) -> str:
    if not isinstance(word, str):
        return ""
    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.75)
    return f" (did you mean {lowered[close[0]]}?)" if close else ""


def _choices(table: dict[str, Any], keys, values: dict[str, Any]) -> None:
    """[model] keys whose value is one of a few names: checked, with a did-you-mean."""
    for key, choices in keys:
        if key in table:
            value = table[key]
            if not isinstance(value, str) or value not in choices:
                raise ProblemError(
                    f"model.{key} = {_show(value)} is not known{_did_you_mean(value, choices)}"
                    f" (expected one of: {', '.join(choices)})")
            values[key] = value


def _parse_model(table: dict[str, Any]) -> Model:
    _no_unknown(table, _MODEL_KEYS, "model.")
    values: dict[str, Any] = {}
    _choices(table, (("activation", ACTIVATIONS), ("loss", LOSSES)), values)
    for key in ("input_size", "hidden_size", "output_size"):
        if key in table:
            value = table[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ProblemError(f"model.{key} must be a whole number >= 1, got {_show(value)}")
            check_sizes(1, value)
            values[key] = value
    if "cell" in table:
        values["cell"] = table["cell"]
    if "bias" in table:
        if table["bias"] not in BIAS_MODES or table["bias"] in (0, 1) and not isinstance(
                table["bias"], bool):
            raise ProblemError(f"model.bias must be true, false, \"hidden\" or \"output\", got "
                               f"{_show(table['bias'])}")
        values["bias"] = table["bias"]
    _choices(table, (("output", OUTPUTS), ("reduction", REDUCTIONS),
                     ("loss_factor", LOSS_FACTORS)), values)
    if "reduction" in table and values.get("loss", "half_sse") not in ("cross_entropy", "bce"):
        raise ProblemError("model.reduction applies to model.loss = \"cross_entropy\" and "
                           "\"bce\" (the other losses say their factor in their name)")
    if "loss_steps" in table:
        values["loss_steps"] = _loss_steps(table["loss_steps"])
    if values.get("loss") == "given" and "loss_factor" in table:
        raise ProblemError("model.loss_factor does not apply with model.loss = \"given\"")
    model = Model(**values)
    if model.loss == "cross_entropy" and model.output_size < 2 and model.output == "linear":
        raise ProblemError(f"model.output_size must be >= 2 for model.loss = \"cross_entropy\""
                           f" (one score per class), got {model.output_size}")
    return model


def _loss_steps(value: Any) -> str | tuple[int, ...]:
    """"all", "last", or a list of distinct steps >= 1 in increasing order."""
    what = "\"all\", \"last\" or a list of steps such as [2, 3]"
    if isinstance(value, str):
        if value not in ("all", "last"):
            raise ProblemError(f"model.loss_steps = {_show(value)} is not known (expected {what})")
        return value
    if not isinstance(value, list) or not value or not all(
            isinstance(t, int) and not isinstance(t, bool) for t in value):
        raise ProblemError(f"model.loss_steps must be {what}, got {_show(value)}")
    if any(t < 1 for t in value) or list(value) != sorted(set(value)):
        raise ProblemError(f"model.loss_steps = {_show(value)}: steps are counted from 1, each "
                           "once, in increasing order")
    check_sequence(max(value))
    return tuple(value)


def elman_model(table: dict[str, Any]) -> Model:
    """[model] of the Elman cell: without an output layer the loss reads h_t, so the output's
    size is hidden_size."""
    model = _parse_model(table)
    if model.output == "linear":
        return model
    if "output_size" in table:
        raise ProblemError("model.output_size does not apply with model.output = \"none\""
                           " (the loss reads h_t, of hidden_size)")
    if model.loss == "cross_entropy" and model.hidden_size < 2:
        raise ProblemError("model.hidden_size must be >= 2 for model.loss = \"cross_entropy\""
                           " with model.output = \"none\" (h_t holds one score per class)")
    return replace(model, output_size=model.hidden_size)


def _number(value: Any, where: str) -> Number:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProblemError(f"{where} must be a number, got {_show(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ProblemError(f"{where} must be a finite number, got {value}")
    if isinstance(value, int):
        try:
            float(value)
        except OverflowError:
            raise ProblemError(f"{where} must be a finite number, got an integer of "
                               f"{len(str(abs(value)))} digits (too large for a float)") from None
    return value


def _vector(value: Any, size: int, where: str, broadcast: bool = False) -> Vector:
    if size == 1:
        what = "a number or a list of 1 number"
    elif broadcast:
        what = f"a number (for every entry) or a list of {size} numbers"
    else:
        what = f"a list of {size} numbers"
    if not isinstance(value, list):
        if size == 1 or broadcast:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ProblemError(f"{where} must be {what}, got {_show(value)}")
            return (_number(value, where),) * size
        raise ProblemError(f"{where} must be {what}, got {_show(value)}")
    if len(value) != size:
        entries = "1 entry" if len(value) == 1 else f"{len(value)} entries"
        raise ProblemError(f"{where} must be {what}, got {entries}: {_show(value)}")
    return tuple(_number(v, f"{where}[{i}]") for i, v in enumerate(value))


def _class_index(value: Any, classes: int, where: str) -> Vector:
    """A class index becomes its one-hot target vector."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProblemError(
            f"{where} must be a class index (a whole number 0..{classes - 1}), got {_show(value)}")
    if not 0 <= value < classes:
        raise ProblemError(f"{where} = {value} is out of range: classes are 0..{classes - 1}")
    return tuple(1 if k == value else 0 for k in range(classes))


def _parse_weights(table: dict[str, Any], model: Model) -> dict[str, Matrix]:
    shapes = weight_shapes(model)
    hint = "" if model.bias is True else "; b_h and b_y need model.bias = true"
    if model.output == "none":
        hint += "; W_hy and b_y need model.output = \"linear\""
    _no_unknown(table, set(shapes), "weights.", hint)
    weights: dict[str, Matrix] = {}
    for name, (rows, cols) in shapes.items():
        where = f"weights.{name}"
        if name not in table:
            if name.startswith("b_"):
                hint = f"a list of {rows} numbers" if rows > 1 else "a number"
                hint += {True: "; model.bias = true needs b_h and b_y",
                         "hidden": "; model.bias = \"hidden\" needs b_h",
                         "output": "; model.bias = \"output\" needs b_y"}[model.bias]
            else:
                hint = _matrix_shape(rows, cols)
            raise ProblemError(f"missing key {where} ({hint})")
        value = table[name]
        if rows == cols == 1 and not isinstance(value, list):
            weights[name] = ((_number(value, where),),)
            continue
        if name.startswith("b_"):
            weights[name] = tuple((v,) for v in _vector(value, rows, where))
            continue
        expected = _matrix_shape(rows, cols)
        if not isinstance(value, list) or not all(isinstance(r, list) for r in value):
            raise ProblemError(f"{where} must be {expected}, got {_show(value)}")
        if len(value) != rows or any(len(r) != cols for r in value):
            lengths = sorted({len(r) for r in value})
            got = (f"{len(value)} row{'s' * (len(value) != 1)}" if not value else
                   f"{len(value)} x {'/'.join(map(str, lengths))}")
            raise ProblemError(f"{where} must be {expected}, got {got}: {_show(value)}")
        weights[name] = tuple(tuple(_number(v, f"{where}[{i}][{j}]") for j, v in enumerate(r))
                              for i, r in enumerate(value))
    return weights


def _matrix_shape(rows: int, cols: int) -> str:
    """What a rows x cols weight must look like in the file."""
    if rows == cols == 1:
        return "a 1 x 1 matrix: a number (or [[number]])"
    row = "1 number" if cols == 1 else f"{cols} numbers"
    return f"a {rows} x {cols} matrix: a list of {rows} row{'s' * (rows != 1)} of {row} each"


def _parse_arithmetic(table: Any) -> Arithmetic:
    if not isinstance(table, dict):
        raise ProblemError(
            f"arithmetic must be a table [arithmetic] (mode, decimals), got {_show(table)}")
    _no_unknown(table, _ARITH_KEYS, "arithmetic.")
    mode = table.get("mode", "float")
    if not isinstance(mode, str) or mode not in MODES:
        raise ProblemError(
            f"arithmetic.mode = {_show(mode)} is not known{_did_you_mean(mode, MODES)}"
            f" (expected one of: {', '.join(MODES)})")
    decimals = table.get("decimals", 4)
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 30:
        raise ProblemError(
            f"arithmetic.decimals must be a whole number from 0 to 30, got {_show(decimals)}")
    return Arithmetic(mode=mode, decimals=decimals)
