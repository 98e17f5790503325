"""Read and validate a TOML problem file into frozen dataclasses.

Every mistake a user can make in the file becomes a ProblemError naming the key and what was
expected; nothing here raises anything else for bad input.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ProblemError

ACTIVATIONS = ("tanh", "sigmoid", "relu", "identity")
LOSSES = ("half_sse", "sse", "mse", "cross_entropy")
CELLS = ("elman",)
MODES = ("exact", "float", "rounded")

Number = int | float
Vector = tuple[Number, ...]
Matrix = tuple[tuple[Number, ...], ...]


@dataclass(frozen=True)
class Model:
    """The network: cell, activation, loss and sizes."""

    cell: str = "elman"
    activation: str = "tanh"
    input_size: int = 1
    hidden_size: int = 1
    output_size: int = 1
    bias: bool = False
    loss: str = "half_sse"

    @property
    def is_scalar(self) -> bool:
        """True when every size is 1, so all quantities are numbers."""
        return self.input_size == self.hidden_size == self.output_size == 1


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

    @property
    def T(self) -> int:
        """Sequence length."""
        return len(self.x)


_TOP_KEYS = {"title", "author", "institute", "date", "model", "data", "weights",
             "arithmetic", "notation"}
_MODEL_KEYS = {"cell", "activation", "input_size", "hidden_size", "output_size", "bias", "loss"}
_DATA_KEYS = {"x", "y", "h0"}
_ARITH_KEYS = {"mode", "decimals"}


def weight_shapes(model: Model) -> dict[str, tuple[int, int]]:
    """The shape (rows, cols) of every parameter, in the column convention."""
    h, i, o = model.hidden_size, model.input_size, model.output_size
    shapes = {"W_xh": (h, i), "W_hh": (h, h), "W_hy": (o, h)}
    if model.bias:
        shapes |= {"b_h": (h, 1), "b_y": (o, 1)}
    return shapes


def load_problem(path: str | Path) -> Problem:
    """Read and validate a problem file; raises ProblemError with a one-line reason."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProblemError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ProblemError(f"{path}: is a directory, expected a .toml problem file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProblemError(f"{path}: cannot be read ({exc})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProblemError(f"{path}: not valid TOML ({exc})") from None
    try:
        return parse_problem(raw, name=path.stem)
    except ProblemError as exc:
        raise ProblemError(f"{path}: {exc}") from None


def parse_problem(raw: dict[str, Any], name: str = "problem") -> Problem:
    """Validate a parsed TOML table into a Problem."""
    _no_unknown(raw, _TOP_KEYS, "")
    for key in ("model", "data", "weights"):
        if key not in raw:
            raise ProblemError(f"missing table [{key}]")
        if not isinstance(raw[key], dict):
            raise ProblemError(f"[{key}] must be a table")
    model = _parse_model(raw["model"])
    data = raw["data"]
    _no_unknown(data, _DATA_KEYS, "data.")
    for key in ("x", "y"):
        if key not in data:
            raise ProblemError(f"missing key data.{key}")
    x_raw, y_raw = data["x"], data["y"]
    if not isinstance(x_raw, list):
        raise ProblemError("data.x must be a list of T inputs")
    if not isinstance(y_raw, list):
        raise ProblemError("data.y must be a list of T targets")
    if len(x_raw) == 0:
        raise ProblemError("data.x is empty: the sequence needs T >= 1 steps")
    if len(x_raw) != len(y_raw):
        raise ProblemError(
            f"data.x has {len(x_raw)} entries but data.y has {len(y_raw)}: need one target per input")
    x = tuple(_vector(v, model.input_size, f"data.x[{t}]") for t, v in enumerate(x_raw))
    if model.loss == "cross_entropy":
        y = tuple(_class_index(v, model.output_size, f"data.y[{t}]") for t, v in enumerate(y_raw))
    else:
        y = tuple(_vector(v, model.output_size, f"data.y[{t}]") for t, v in enumerate(y_raw))
    h0 = _vector(data.get("h0", 0.0), model.hidden_size, "data.h0", broadcast=True)
    weights = _parse_weights(raw["weights"], model)
    arithmetic = _parse_arithmetic(raw.get("arithmetic", {}))
    text = {}
    for key in ("title", "author", "institute", "date"):
        value = raw.get(key, "")
        if not isinstance(value, str):
            raise ProblemError(f"{key} must be a string")
        text[key] = value
    notation = raw.get("notation", {})
    if not isinstance(notation, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in notation.items()):
        raise ProblemError("[notation] must be a table of strings (symbol = \"LaTeX\")")
    return Problem(model=model, x=x, y=y, h0=h0, weights=weights, arithmetic=arithmetic,
                   name=name, notation=dict(notation), **text)


def _no_unknown(table: dict[str, Any], allowed: set[str], prefix: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ProblemError(
            f"unknown key {prefix}{unknown[0]} (expected one of: {', '.join(sorted(allowed))})")


def _parse_model(table: dict[str, Any]) -> Model:
    _no_unknown(table, _MODEL_KEYS, "model.")
    values: dict[str, Any] = {}
    for key, choices in (("cell", CELLS), ("activation", ACTIVATIONS), ("loss", LOSSES)):
        if key in table:
            value = table[key]
            if value not in choices:
                raise ProblemError(
                    f"model.{key} = {value!r} is not known (expected one of: {', '.join(choices)})")
            values[key] = value
    for key in ("input_size", "hidden_size", "output_size"):
        if key in table:
            value = table[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ProblemError(f"model.{key} must be a whole number >= 1, got {value!r}")
            values[key] = value
    if "bias" in table:
        if not isinstance(table["bias"], bool):
            raise ProblemError(f"model.bias must be true or false, got {table['bias']!r}")
        values["bias"] = table["bias"]
    model = Model(**values)
    if model.loss == "cross_entropy" and model.output_size < 2:
        raise ProblemError("model.loss = 'cross_entropy' needs output_size >= 2 (one score per class)")
    return model


def _number(value: Any, where: str) -> Number:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProblemError(f"{where} must be a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ProblemError(f"{where} must be a finite number, got {value}")
    return value


def _vector(value: Any, size: int, where: str, broadcast: bool = False) -> Vector:
    if not isinstance(value, list):
        if size == 1 or broadcast:
            return (_number(value, where),) * size
        raise ProblemError(f"{where} must be a list of {size} numbers, got {value!r}")
    if len(value) != size:
        raise ProblemError(f"{where} must have {size} entries, got {len(value)}")
    return tuple(_number(v, f"{where}[{i}]") for i, v in enumerate(value))


def _class_index(value: Any, classes: int, where: str) -> Vector:
    """A class index becomes its one-hot target vector."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProblemError(f"{where} must be a class index (a whole number), got {value!r}")
    if not 0 <= value < classes:
        raise ProblemError(f"{where} = {value} is out of range: classes are 0..{classes - 1}")
    return tuple(1 if k == value else 0 for k in range(classes))


def _parse_weights(table: dict[str, Any], model: Model) -> dict[str, Matrix]:
    shapes = weight_shapes(model)
    _no_unknown(table, set(shapes), "weights.")
    weights: dict[str, Matrix] = {}
    for name, (rows, cols) in shapes.items():
        where = f"weights.{name}"
        if name not in table:
            hint = " (model.bias = true needs b_h and b_y)" if name.startswith("b_") else ""
            raise ProblemError(f"missing key {where}{hint}")
        value = table[name]
        if rows == cols == 1 and not isinstance(value, list):
            weights[name] = ((_number(value, where),),)
            continue
        if name.startswith("b_"):
            weights[name] = tuple((v,) for v in _vector(value, rows, where))
            continue
        if not isinstance(value, list) or not all(isinstance(r, list) for r in value):
            raise ProblemError(f"{where} must be a {rows} x {cols} matrix (a list of {rows} rows)")
        if len(value) != rows or any(len(r) != cols for r in value):
            got = f"{len(value)} x {'/'.join(str(len(r)) for r in value)}"
            raise ProblemError(f"{where} must be {rows} x {cols}, got {got}")
        weights[name] = tuple(
            tuple(_number(v, f"{where}[{i}][{j}]") for j, v in enumerate(r)) for i, r in enumerate(value))
    return weights


def _parse_arithmetic(table: Any) -> Arithmetic:
    if not isinstance(table, dict):
        raise ProblemError("[arithmetic] must be a table")
    _no_unknown(table, _ARITH_KEYS, "arithmetic.")
    mode = table.get("mode", "float")
    if mode not in MODES:
        raise ProblemError(f"arithmetic.mode = {mode!r} is not known (expected one of: {', '.join(MODES)})")
    decimals = table.get("decimals", 4)
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 30:
        raise ProblemError(f"arithmetic.decimals must be a whole number from 0 to 30, got {decimals!r}")
    return Arithmetic(mode=mode, decimals=decimals)
