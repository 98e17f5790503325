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
    """Every number of one variant, in a fixed order: T, x, y, h0, then the weights."""
    m, d = spec.model, spec.draws
    T = int(d["T"].sample(rng))

    def vector(key: str, size: int):
        values = [d[key].sample(rng) for _ in range(size)]
        return values[0] if size == 1 else values

    x = [vector("x", m.input_size) for _ in range(T)]
    if m.loss == "cross_entropy":
        y = [int(d["y"].sample(rng)) for _ in range(T)]
    else:
        y = [vector("y", m.output_size) for _ in range(T)]
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


def problem_text(spec: ExamSpec, numbers: dict, seed: int, number: int, source: str) -> str:
    """The variant's problem file: valid input for solve, render and check."""
    m = spec.model
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
    lines += [
        "",
        "[model]",
        f"cell = {_string(m.cell)}",
        f"activation = {_string(m.activation)}",
        f"input_size = {m.input_size}",
        f"hidden_size = {m.hidden_size}",
        f"output_size = {m.output_size}",
        f"bias = {'true' if m.bias else 'false'}",
        f"loss = {_string(m.loss)}",
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
