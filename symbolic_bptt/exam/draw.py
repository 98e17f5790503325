"""Drawing one exam variant: its numbers from a seed, and its own problem file.

A variant is drawn with `random.Random(seed)`; the seeds come from one stream seeded by the run
seed, so variant k's seed does not depend on how many variants are asked for. The problem file
is written here (a small TOML writer for this flat structure) and read back with the project's
own parser, so the numbers the key is computed from are exactly the numbers in the file.
"""

from __future__ import annotations

import json
import random
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from ..inputs.problem import Problem, parse_problem, weight_shapes
from ..model.cell import bind, infer_shapes
from .spec import ExamSpec

SEED_LIMIT = 10**9  # variant seeds have at most 9 digits: easy to read out and type


@dataclass(frozen=True)
class Variant:
    """One version of the exam: its number, seed, problem file text and parsed problem."""

    number: int
    seed: int
    text: str
    problem: Problem

    @property
    def label(self) -> str:
        return f"{self.number:02d}"

    @property
    def numbers(self) -> str:
        """The drawn numbers alone (the [data] and [weights] tables), to spot duplicates."""
        return self.text[self.text.index("\n[data]\n"):self.text.index("\n[arithmetic]\n")]


def seed_stream(run_seed: int) -> Iterator[int]:
    """Candidate variant seeds, in order, from the run seed."""
    rng = random.Random(run_seed)
    while True:
        yield rng.randrange(SEED_LIMIT)


def draw_variant(spec: ExamSpec, seed: int, number: int,
                 source: str) -> tuple[Variant, random.Random]:
    """The variant drawn from `seed`, and its generator (later used to shuffle choices)."""
    rng = random.Random(seed)
    numbers = draw_numbers(spec, rng)
    text = problem_text(spec, numbers, seed, number, source)
    problem = parse_problem(tomllib.loads(text), name=f"{number:02d}")
    return Variant(number, seed, text, problem), rng


def draw_numbers(spec: ExamSpec, rng: random.Random) -> dict:
    """Every number of one variant, in a fixed order: T, x, y, h0, then the weights (a cell of
    its own: T, x, y, each state's initial value, then its parameters in the cell's order)."""
    if spec.cell is not None:
        return _cell_numbers(spec, rng)
    m, d = spec.model, spec.draws
    T = int(d["T"].sample(rng))

    def vector(key: str, size: int):
        values = [d[key].sample(rng) for _ in range(size)]
        return values[0] if size == 1 else values

    x = [vector("x", m.input_size) for _ in range(T)]
    read = len(m.steps_read(T))
    if m.loss == "cross_entropy":
        y = [int(d["y"].sample(rng)) for _ in range(read)]
    else:
        y = [vector("y", m.output_size) for _ in range(read)]
    h0 = vector("h0", m.hidden_size)
    weights = {}
    for name, (rows, cols) in weight_shapes(m).items():
        if name.startswith("b_"):
            weights[name] = vector(name, rows)
        elif rows == cols == 1:
            weights[name] = d[name].sample(rng)
        else:
            weights[name] = [[d[name].sample(rng) for _ in range(cols)] for _ in range(rows)]
    return {"x": x, "y": y, "h0": h0, "weights": weights}


def _cell_numbers(spec: ExamSpec, rng: random.Random) -> dict:
    d, shapes = spec.draws, spec.shapes
    T = int(d["T"].sample(rng))

    def value(key: str, shape: tuple[int, int], flat: bool):
        rows, cols = shape
        if rows == cols == 1:
            return d[key].sample(rng)
        if flat:
            return [d[key].sample(rng) for _ in range(rows)]
        return [[d[key].sample(rng) for _ in range(cols)] for _ in range(rows)]

    sizes = _cell_sizes(spec)
    out = sizes[spec.cell.output]
    x = [value("x", shapes["x"], True) for _ in range(T)]
    if spec.model.loss == "cross_entropy":
        y = [int(d["y"].sample(rng)) for _ in range(T)]
    else:
        y = [value("y", out, True) for _ in range(T)]
    initial = {f"{s}0": value(f"{s}0", sizes[s], True) for s in _bound(spec).states}
    weights = {p: value(p, shapes[p], p in spec.vectors) for p in _bound(spec).parameters}
    return {"x": x, "y": y, "initial": initial, "weights": weights}


def _bound(spec: ExamSpec):
    return bind(spec.cell, spec.model.activation, spec.model.bias)


def _cell_sizes(spec: ExamSpec) -> dict[str, tuple[int, int]]:
    params = {p: s for p, s in spec.shapes.items() if p != "x"}
    return infer_shapes(_bound(spec), params, spec.shapes["x"][0])


def problem_text(spec: ExamSpec, numbers: dict, seed: int, number: int, source: str) -> str:
    """The variant's problem file: valid input for solve, render and check."""
    if spec.cell is not None:
        return _cell_problem_text(spec, numbers, seed, number, source)
    m = spec.model
    lines = problem_text_head(spec, seed, number, source)
    lines += [
        "",
        "[model]",
        f"cell = {_string(m.cell)}",
        f"activation = {_string(m.activation)}",
        f"input_size = {m.input_size}",
        f"hidden_size = {m.hidden_size}",
        *([f"output_size = {m.output_size}"] if m.output == "linear" else []),
        f"bias = {_bias(m.bias)}",
        f"loss = {_string(m.loss)}",
        *layout_lines(m),
        "",
        "[data]",
        f"x = {_value(numbers['x'])}",
        f"y = {_value(numbers['y'])}",
        f"h0 = {_value(numbers['h0'])}",
        "",
        "[weights]",
        *(f"{name} = {_value(v)}" for name, v in numbers["weights"].items()),
        "",
        "[arithmetic]",
        f"mode = {_string(spec.mode)}",
        f"decimals = {spec.decimals}",
        "",
    ]
    return "\n".join(lines)


def _bias(bias: bool | str) -> str:
    return _string(bias) if isinstance(bias, str) else ("true" if bias else "false")


def layout_lines(m) -> list[str]:
    """The [model] keys of the loss layout that differ from the defaults (so a deck-layout
    variant's file reads as before)."""
    lines = []
    for key, default in (("output", "linear"), ("reduction", "mean"), ("loss_steps", "all"),
                         ("loss_factor", "outside")):
        value = getattr(m, key)
        if value != default:
            lines.append(f"{key} = {_string(value) if isinstance(value, str) else list(value)}")
    return lines


def _cell_problem_text(spec: ExamSpec, numbers: dict, seed: int, number: int,
                       source: str) -> str:
    """A variant of a cell of its own: the cell written out as a [cell] table, so that the file
    stands alone."""
    m, cell = spec.model, spec.cell
    head = problem_text_head(spec, seed, number, source)
    lines = [*head, "", "[model]", 'cell = "custom"', f"activation = {_string(m.activation)}",
             f"bias = {'true' if m.bias else 'false'}", f"loss = {_string(m.loss)}", "",
             "[cell]", f"output = {_string(cell.output)}", "equations = ["]
    lines += [f"  {_string(e.source)}," for e in cell.equations]
    lines.append("]")
    if cell.biases:
        lines.append(f"biases = [{', '.join(_string(b) for b in cell.biases)}]")
    if cell.description:
        lines.append(f"description = {_string(cell.description)}")
    lines += ["", "[data]", f"x = {_value(numbers['x'])}", f"y = {_value(numbers['y'])}",
              *(f"{k} = {_value(v)}" for k, v in numbers["initial"].items()),
              "", "[weights]", *(f"{name} = {_value(v)}" for name, v in numbers["weights"].items()),
              "", "[arithmetic]", f"mode = {_string(spec.mode)}", f"decimals = {spec.decimals}", ""]
    return "\n".join(lines)


def problem_text_head(spec: ExamSpec, seed: int, number: int, source: str) -> list[str]:
    """The comment lines and the title block of a variant's problem file."""
    title = f"{spec.title or 'Exam'}, version {number:02d}"
    lines = [
        (f"# Version {number:02d} of the exam {_comment(spec.title or spec.name)} ({source}), "
         f"drawn with seed {seed}."),
        f"# Regenerate it alone:  symbolic-bptt exam {source} --variant-seed {seed}",
        (f"# Re-derive or audit:   symbolic-bptt solve {number:02d}.toml; "
         f"symbolic-bptt check {number:02d}.toml CLAIMS.toml"),
        f"title = {_string(title)}",
    ]
    for key, value in (("author", spec.author), ("institute", spec.course), ("date", spec.date)):
        if value:
            lines.append(f"{key} = {_string(value)}")
    return lines


def _value(value) -> str:
    """A number exactly as drawn (0.5, -0.3, 2), or a list of them, in TOML."""
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, int):
        return str(value)
    return format(Decimal(value) + 0, "f")  # + 0: -0.0 is 0.0


def _string(text: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's, except DEL, which TOML wants escaped)."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _comment(text: str) -> str:
    """User text on one comment line."""
    return json.dumps(" ".join(text.split()), ensure_ascii=False)
