"""A recurrent cell as data: its equations in order of computation, and what follows from them.

A quantity read at t-1 is a state (its initial value is `<name>0` in [data]); a symbol without
a time index is a parameter (its value in [weights] gives its shape); `x` is the input and `y`
the target. Shipped cells are files of the same format in `cells/`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache, cached_property
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import ProblemError
from ..inputs.files import parse_toml, read_text
from .equations import (
    Call,
    Equation,
    Had,
    Neg,
    Node,
    Num,
    Pow,
    Prod,
    Sum,
    Sym,
    children,
    parse_equation,
    symbols,
)

INPUT, TARGET = "x", "y"
UPSTREAM = "dL_do"  # loss = "given": the upstream gradient of a step, [data] dL_do
CELL_KEYS = {"output", "equations", "biases", "description", "hidden", "stacked"}
Shape = tuple[int, int]


@dataclass(frozen=True)
class Cell:
    """Equations over named quantities; `output` is the quantity the loss compares with y_t."""

    name: str
    equations: tuple[Equation, ...]
    output: str
    biases: tuple[str, ...] = ()  # parameters that [model] bias = false leaves out
    description: str = ""
    hidden: str | None = None  # what the loss reads under [model] output = "none"
    # [weights] keys that hold several parameters stacked by rows (torch's weight_ih_l0 ...)
    stacked: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @cached_property
    def output_biases(self) -> tuple[str, ...]:
        """The biases of the output layer (read by the equation defining `output`) when the cell
        has one apart (a `hidden` quantity); [model] bias = "output" keeps only these."""
        if self.hidden is None:
            return ()
        read = {s.name for s in symbols(self.equation(self.output).rhs)}
        return tuple(b for b in self.biases if b in read)

    @cached_property
    def quantities(self) -> tuple[str, ...]:
        """The left sides, in order of computation."""
        return tuple(e.lhs for e in self.equations)

    @cached_property
    def states(self) -> tuple[str, ...]:
        """Quantities read at t-1, in the order first read."""
        seen: dict[str, None] = {}
        for e in self.equations:
            for s in symbols(e.rhs):
                if s.lag == 1:
                    seen.setdefault(s.name)
        return tuple(seen)

    @cached_property
    def parameters(self) -> tuple[str, ...]:
        """Symbols without a time index, in the order first written."""
        seen: dict[str, None] = {}
        for e in self.equations:
            for s in symbols(e.rhs):
                if s.lag is None:
                    seen.setdefault(s.name)
        return tuple(seen)

    def equation(self, name: str) -> Equation:
        return self.equations[self.quantities.index(name)]


@cache
def shipped_cells() -> tuple[str, ...]:
    """The names of the cell definitions that come with the package."""
    folder = resources.files(__package__) / "cells"
    return tuple(sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml")))


def load_cell(spec: str, table: Any = None, base: Path | None = None) -> Cell:
    """The cell a problem names: a shipped name, "custom" (its [cell] table), or a .toml path."""
    if spec == "custom":
        if table is None:
            raise ProblemError('model.cell = "custom" needs a [cell] table (output, equations)')
        return parse_cell(table, "custom", "cell.")
    if table is not None:
        raise ProblemError(f'a [cell] table needs model.cell = "custom" (model.cell is {spec!r})')
    if spec in shipped_cells():
        return _shipped(spec)
    if spec.endswith(".toml"):
        path = Path(spec) if base is None or Path(spec).is_absolute() else base / spec
        raw = parse_toml(read_text(path, "a .toml cell file"))
        return _cell_file(raw, path.stem, str(path))
    raise ProblemError(f"model.cell = {spec!r} is not known (expected one of: "
                       f"{', '.join(shipped_cells())}, custom, or a path to a .toml cell file)")


@cache
def _shipped(spec: str) -> Cell:
    """A shipped cell, read once per process (every tape of a problem asks for it)."""
    text = (resources.files(__package__) / "cells" / f"{spec}.toml").read_text("utf-8")
    return _cell_file(parse_toml(text), spec, f"the shipped cell {spec!r}")


def _cell_file(raw: dict, name: str, where: str) -> Cell:
    if set(raw) != {"cell"} or not isinstance(raw["cell"], dict):
        raise ProblemError(f"{where}: a cell file holds one table [cell] (output, equations)")
    try:
        return parse_cell(raw["cell"], name, "cell.")
    except ProblemError as exc:
        raise ProblemError(f"{where}: {exc}") from None


def parse_cell(table: Any, name: str, prefix: str) -> Cell:
    """Validate a [cell] table: equations read, every name defined once and before it is used."""
    if not isinstance(table, dict):
        raise ProblemError(f"{prefix[:-1]} must be a table (output, equations)")
    unknown = sorted(set(table) - CELL_KEYS)
    if unknown:
        raise ProblemError(f"unknown key {prefix}{unknown[0]} (expected one of: "
                           f"{', '.join(sorted(CELL_KEYS))})")
    raw = table.get("equations")
    if not isinstance(raw, list) or not raw:
        raise ProblemError(f"{prefix}equations must be a list of equations such as "
                           "'h_t = \\tanh(W_{hh} h_{t-1} + W_{xh} x_t)'")
    equations = []
    for k, text in enumerate(raw):
        try:
            equations.append(parse_equation(text))
        except ProblemError as exc:
            raise ProblemError(f"{prefix}equations[{k}] {_quote(text)}: {exc}") from None
    output = table.get("output")
    if not isinstance(output, str):
        raise ProblemError(f"{prefix}output must name the quantity the loss reads, such as \"o\"")
    biases = table.get("biases", [])
    if not isinstance(biases, list) or not all(isinstance(b, str) for b in biases):
        raise ProblemError(f"{prefix}biases must be a list of parameter names")
    description = table.get("description", "")
    if not isinstance(description, str):
        raise ProblemError(f"{prefix}description must be a string")
    hidden = table.get("hidden")
    if hidden is not None and not isinstance(hidden, str):
        raise ProblemError(f"{prefix}hidden must name the quantity the loss reads without an "
                           "output layer, such as \"h\"")
    cell = Cell(name, tuple(equations), output, tuple(biases), description, hidden,
                _stacked(table.get("stacked", {}), prefix))
    _check_names(cell, prefix)
    return cell


def _stacked(table: Any, prefix: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """[cell.stacked]: a [weights] key -> the parameters stacked in it, top rows first."""
    if not isinstance(table, dict) or not all(
            isinstance(v, list) and v and all(isinstance(p, str) for p in v)
            for v in table.values()):
        raise ProblemError(f"{prefix}stacked must be a table of lists of parameter names "
                           "(weight_ih_l0 = [\"W_ii\", \"W_if\", ...])")
    return tuple((k, tuple(v)) for k, v in table.items())


def _quote(text: Any) -> str:
    text = str(text)
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _check_names(cell: Cell, prefix: str) -> None:
    defined: set[str] = set()
    quantities = set(cell.quantities)
    for k, e in enumerate(cell.equations):
        where = f"{prefix}equations[{k}] {_quote(e.source)}"
        if e.lhs in (INPUT, TARGET):
            raise ProblemError(f"{where}: {e.lhs} is the {'input' if e.lhs == INPUT else 'target'}"
                               f" and cannot be defined; name the quantity another letter")
        if e.lhs in defined:
            raise ProblemError(f"{where}: {e.lhs}_t is defined twice")
        if e.lhs in ("l", "L"):
            raise ProblemError(f"{where}: {e.lhs} names the loss; name the quantity another letter")
        for s in symbols(e.rhs):
            if s.lag is None and (s.name in quantities or s.name in (INPUT, TARGET)):
                raise ProblemError(f"{where}: {s.name} needs a time index ({s.name}_t or "
                                   f"{s.name}_{{t-1}})")
            if s.lag is not None and s.name == TARGET:
                raise ProblemError(f"{where}: the target y_t is read by the loss, not the cell")
            if s.lag is not None and s.name == INPUT:
                if s.lag != 0:
                    raise ProblemError(f"{where}: the input is read at step t only (x_t)")
                continue
            if s.lag is not None and s.name not in quantities:
                raise ProblemError(f"{where}: {s.name}_t is not defined by any equation")
            if s.lag == 0 and s.name not in defined:
                what = "itself" if s.name == e.lhs else f"{s.name}_t, defined later"
                raise ProblemError(f"{where}: reads {what}; equations go in order of computation "
                                   f"(a cycle within one step cannot be computed)")
        defined.add(e.lhs)
    for p in cell.parameters:
        base, _, index = p.rpartition("_")
        if index.isdigit() and base in quantities | {INPUT, TARGET, "l"}:
            raise ProblemError(f"{prefix}equations: the parameter {p} would have the name of "
                               f"{base} at step {index}; name it another way")
    if cell.output not in quantities:
        raise ProblemError(f"{prefix}output = {cell.output!r} is not a quantity of the equations "
                           f"(expected one of: {', '.join(cell.quantities)})")
    unknown = [b for b in cell.biases if b not in cell.parameters]
    if unknown:
        raise ProblemError(f"{prefix}biases: {unknown[0]!r} is not a parameter of the equations")
    if cell.hidden is not None:
        if cell.hidden not in quantities or cell.hidden == cell.output:
            raise ProblemError(f"{prefix}hidden = {cell.hidden!r} must be a quantity of the "
                               f"equations other than the output {cell.output!r}")
        if any(Sym(cell.output, lag) in symbols(e.rhs) for e in cell.equations for lag in (0, 1)):
            raise ProblemError(f"{prefix}hidden: the output {cell.output} is read by the cell, "
                               "so it cannot be left out")
    seen: set[str] = set()
    for key, parts in cell.stacked:
        where = f"{prefix}stacked.{key}"
        if key in cell.parameters:
            raise ProblemError(f"{where}: {key} is a parameter of the equations; name the stack "
                               "another way")
        for p in parts:
            if p not in cell.parameters:
                raise ProblemError(f"{where}: {p!r} is not a parameter of the equations")
            if p in seen:
                raise ProblemError(f"{where}: {p!r} is in two stacks")
            seen.add(p)


BIAS_MODES = (True, False, "hidden", "output")
OUTPUTS = ("linear", "none")


def bind(cell: Cell, activation: str, bias: bool | str, output: str = "linear") -> Cell:
    """The cell a model runs: phi is the model's activation; the biases [model] bias leaves out
    dropped (true: all, false: none, "hidden"/"output": the other layer's); with output = "none"
    the output layer's equation is dropped and the loss reads the cell's `hidden` quantity."""
    kept = {True: set(cell.biases), False: set(),
            "hidden": set(cell.biases) - set(cell.output_biases),
            "output": set(cell.output_biases)}[bias]
    dropped = set(cell.biases) - kept
    equations = tuple(replace(e, rhs=_bind(e.rhs, activation, dropped)) for e in cell.equations)
    bound = replace(cell, equations=equations, biases=tuple(b for b in cell.biases if b in kept))
    if output == "none":
        if cell.hidden is None:
            raise ProblemError(f"model.output = \"none\" needs a cell with an output layer "
                               f"apart; for cell {cell.name!r}, name the quantity the loss reads "
                               f"with [cell] output")
        bound = replace(bound, equations=tuple(e for e in equations if e.lhs != cell.output),
                        output=cell.hidden, hidden=None,
                        biases=tuple(b for b in bound.biases if b not in cell.output_biases))
    return bound


def _bind(node: Node, activation: str, dropped: set[str]) -> Node:
    if isinstance(node, Call):
        arg = _bind(node.arg, activation, dropped)
        if node.fn != "phi":
            return Call(node.fn, arg)
        return arg if activation == "identity" else Call(f"phi:{activation}", arg)
    if isinstance(node, Sum):
        terms = tuple(_bind(t, activation, dropped) for t in node.terms
                      if not (isinstance(t, Sym) and t.name in dropped))
        return terms[0] if len(terms) == 1 else Sum(terms)
    if isinstance(node, Neg):
        return Neg(_bind(node.arg, activation, dropped))
    if isinstance(node, Prod | Had):
        return type(node)(_bind(node.left, activation, dropped),
                          _bind(node.right, activation, dropped))
    if isinstance(node, Pow):
        return Pow(_bind(node.base, activation, dropped), node.exponent)
    return node


# ---------------------------------------------------------------------------------------------
# Shapes


def infer_shapes(cell: Cell, params: dict[str, Shape], input_size: int,
                 given: dict[str, int] | None = None) -> dict[str, Shape]:
    """The shape of every quantity (column vectors), from the parameters' shapes and the input's
    size; a product that does not fit is a ProblemError naming the equation."""
    missing = [p for p in cell.parameters if p not in params]
    if missing:
        raise ProblemError(f"the cell's parameter {missing[0]} is missing from [weights]")
    sizes: dict[str, int] = {INPUT: input_size} | dict(given or {})
    if input_size == 1 and all(s == (1, 1) for s in params.values()):
        for state in cell.states:  # all numbers: a state that nothing sizes is a number too
            sizes.setdefault(state, 1)
    for _ in range(len(cell.equations) + 1):  # a state's size may come from a later equation
        changed = False
        for e in cell.equations:
            shape = _Shapes(sizes, params, None).of(e.rhs)
            if shape is not None and e.lhs not in sizes:
                sizes[e.lhs] = shape[0]
                changed = True
        if not changed:
            break
    for k, e in enumerate(cell.equations):
        where = f"cell.equations[{k}] {_quote(e.source)}"
        shape = _Shapes(sizes, params, where).of(e.rhs)
        if shape is None:
            state = next(s.name for s in symbols(e.rhs) if s.lag is not None
                         and s.name not in sizes)
            raise ProblemError(f"{where}: cannot tell the size of {state}; give {state}0 in [data]")
        if e.lhs in sizes and shape != (sizes[e.lhs], 1) and shape != (1, 1):
            raise ProblemError(f"{where}: the right side is {_dims(shape)} but {e.lhs} is a "
                               f"vector of {sizes[e.lhs]}")
        if shape[1] != 1:
            raise ProblemError(f"{where}: the right side is a {_dims(shape)} matrix; every "
                               "quantity is a column vector")
    return {q: (sizes[q], 1) for q in cell.quantities}


def _dims(shape: Shape) -> str:
    return f"{shape[0]} x {shape[1]}"


class _Shapes:
    """Shapes of subtrees; None while a state's size is still unknown (first passes)."""

    def __init__(self, sizes: dict[str, int], params: dict[str, Shape], where: str | None):
        self.sizes, self.params, self.where = sizes, params, where

    def fail(self, message: str) -> ProblemError:
        return ProblemError(f"{self.where}: {message}")

    def learn(self, nodes: list[Node], shape: Shape) -> None:
        """A state read where a vector of `shape` is needed has that size."""
        for n in nodes:
            if isinstance(n, Sym) and n.lag is not None and shape[1] == 1:
                self.sizes.setdefault(n.name, shape[0])

    def of(self, node: Node) -> Shape | None:
        if isinstance(node, Num):
            return (1, 1)
        if isinstance(node, Sym):
            if node.lag is None:
                return self.params[node.name]
            size = self.sizes.get(node.name)
            return None if size is None else (size, 1)
        if isinstance(node, Neg | Call | Pow):
            return self.of(children(node)[0])
        if isinstance(node, Sum):
            shapes = [self.of(t) for t in node.terms]
            known = {s for s in shapes if s is not None and s != (1, 1)}
            if len(known) > 1 and self.where:
                a, b = sorted(known)[:2]
                raise self.fail(f"cannot add a {_dims(a)} and a {_dims(b)}")
            if None in shapes:
                if len(known) != 1:
                    return None
                self.learn([t for t, s in zip(node.terms, shapes) if s is None], next(iter(known)))
                return next(iter(known))  # the unknown terms must match it (checked at the end)
            return known.pop() if known else (1, 1)
        if isinstance(node, Had):
            a, b = self.of(node.left), self.of(node.right)
            if a is None or b is None:
                shape = a if b is None else b
                if shape is None or shape == (1, 1):
                    return None
                self.learn([node.left if a is None else node.right], shape)
                return shape
            if a != b and (1, 1) not in (a, b):
                if self.where:
                    raise self.fail(f"\\odot needs equal shapes, got {_dims(a)} and {_dims(b)}")
                return None
            return b if a == (1, 1) else a
        if isinstance(node, Prod):
            a, b = self.of(node.left), self.of(node.right)
            if a == (1, 1) or b == (1, 1):
                return b if a == (1, 1) else a
            if a is None or b is None:
                if a is not None and isinstance(node.right, Sym) and node.right.lag is not None:
                    self.sizes.setdefault(node.right.name, a[1])
                return None
            if a[1] != b[0]:
                if self.where:
                    raise self.fail(f"the product of a {_dims(a)} and a {_dims(b)} does not fit "
                                    f"({a[1]} columns against {b[0]} rows)")
                return None
            return (a[0], b[1])
        raise TypeError(node)
