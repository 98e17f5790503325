"""Float arithmetic on whole vectors: a rule's op tree (tape/trees.py) compiled to NumPy
statements, one per distinct subtree (W_hf h_{t-1} is a matrix product, not 16 sums of 16
products).

For a cell of hidden size 16 this is what makes a long solve fast: the tree is compiled as it
was derived, so SymPy never builds the rule's explicit matrices, and a step is a few array
operations. The values are those of the entrywise code (walk.floats) up to the last bits of a
sum's order. A rule with no tree (a loss, a sum over t, a catalog's rule) is computed by the
entrywise code on the same values.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import sympy as sp

from ..errors import ProblemError
from ..tape import Tape
from ..tape.rules import SumRule
from ..tape.trees import Op, Ref, TreeRule, explicit_functions
from .float_code import float_function

# A Lambda of an entrywise function -> its NumPy form, once per process.
_FUNCTIONS: dict[sp.Lambda, Callable] = {}


class Unsupported(Exception):
    """A node this compiler does not know: the rule is computed entrywise instead."""


def _maximum(*xs):
    return functools.reduce(np.maximum, xs)


def _minimum(*xs):
    return functools.reduce(np.minimum, xs)


_NUMPY = {"exp": np.exp, "log": np.log, "tanh": np.tanh, "sinh": np.sinh, "cosh": np.cosh,
          "sin": np.sin, "cos": np.cos, "tan": np.tan, "atan": np.arctan, "pow": np.power,
          "abs": np.abs, "max": _maximum, "min": _minimum}


def _heaviside(v, h0=0.0):
    return np.heaviside(v, h0)


def _function(fn: sp.Lambda) -> Callable:
    """An entrywise function (tanh, sigma, a derivative in the function's value) on arrays."""
    known = _FUNCTIONS.get(fn)
    if known is None:
        (x,), body = fn.variables, explicit_functions(fn.expr)
        if not body.free_symbols:
            value = float(body)
            known = lambda a: np.full(a.shape, value)  # noqa: E731 (a constant derivative)
        else:
            code = float_function([body], [x], _heaviside, _NUMPY)
            if code is None:
                raise Unsupported(body)
            known = lambda a: code([a])[0]  # noqa: E731
        _FUNCTIONS[fn] = known
    return known


def compile_tree(rule: TreeRule) -> Callable[..., np.ndarray]:
    """A function of the slots' values (2-D arrays shaped like their explicit matrices) that
    returns the rule's value as such an array."""
    slot_of = {ref: i for i, ref in enumerate(rule.inputs)}
    names: dict = {}
    lines: list[str] = []
    namespace: dict[str, object] = {"np": np}

    def constant(value) -> str:
        name = f"k{len(namespace)}"
        namespace[name] = value
        return name

    def emit(tree) -> str:
        known = names.get(tree)
        if known is not None:
            return known
        if isinstance(tree, Ref):
            return f"s{slot_of[tree]}"
        if not isinstance(tree, Op):
            raise Unsupported(tree)
        a = tree.args
        if tree.op == "num":
            text = constant(np.array([[float(a[0])]]))
        elif tree.op == "fill":
            text = f"np.full({tuple(a[1])!r}, {emit(a[0])}[0, 0])"
        elif tree.op in ("fn", "prime"):
            text = f"{constant(_function(a[0]))}({emit(a[1])})"
        elif tree.op == "add":
            text = " + ".join(emit(x) for x in a)
        elif tree.op == "neg":
            text = f"-{emit(a[0])}"
        elif tree.op == "mm":
            text = f"{emit(a[0])} @ {emit(a[1])}"
        elif tree.op == "tr":
            text = f"{emit(a[0])}.T"
        elif tree.op in ("had", "scale"):
            text = f"{emit(a[0])} * {emit(a[1])}"
        elif tree.op == "sum":
            text = f"{emit(a[0])}.sum(keepdims=True)"
        else:  # a loss: its formula is SymPy's
            raise Unsupported(tree.op)
        name = names[tree] = f"v{len(lines)}"
        lines.append(f"    {name} = {text}")
        return name

    result = emit(rule.tree)
    args = ", ".join(f"s{i}" for i in range(len(rule.inputs)))
    source = (f"def rule({args}):\n" + "\n".join(lines)
              + f"\n    return {result}\n")
    exec(compile(source, f"<vector rule {rule.kind}>", "exec"), namespace)
    return namespace["rule"]


VECTOR_ENTRIES = 16  # a 4 x 4 weight: below, Python floats entry by entry are faster


def pays(tape: Tape) -> bool:
    """Whether a tape is worth computing on arrays: it has a quantity of VECTOR_ENTRIES
    entries or more. A smaller one's steps cost less as a few Python floats than as array
    operations, and its explicit rules are quick to derive (benchmarks/bench_gated.py)."""
    return any(q.shape[0] * q.shape[1] >= VECTOR_ENTRIES for q in tape.quantities.values())


# (id(rule)) -> (rule, compiled or None): rules are shared by every tape (tape/trees.py)
_COMPILED: dict[int, tuple] = {}


def _compiled(rule) -> Callable | None:
    known = _COMPILED.get(id(rule))
    if known is not None and known[0] is rule:
        return known[1]
    fn = None
    if isinstance(rule, TreeRule):
        try:
            fn = compile_tree(rule)
        except Unsupported:
            fn = None
    if len(_COMPILED) >= 4096:
        _COMPILED.clear()
    _COMPILED[id(rule)] = (rule, fn)
    return fn


def run(tape: Tape, start: dict[str, tuple], entrywise: Callable,
        failure: str = "cannot be computed",
        progress: Callable[[str, int, int], None] | None = None) -> dict[str, tuple]:
    """Every step of the tape in float arithmetic from `start` (the parameters and data, flat);
    `entrywise(rule)` compiles a rule that has no tree. The values come back flat, as the
    entrywise walker gives them."""
    quantities = tape.quantities
    arrays: dict[str, np.ndarray] = {}
    flats: dict[str, tuple] = dict(start)

    def array(name: str) -> np.ndarray:
        a = arrays.get(name)
        if a is None:
            a = arrays[name] = np.array(flats[name], dtype=float).reshape(
                quantities[name].element_shape)
        return a

    def flat(name: str) -> tuple:
        f = flats.get(name)
        if f is None:
            f = flats[name] = tuple(arrays[name].ravel().tolist())
        return f

    total = len(tape.steps)
    every = max(1, total // 100) if progress is not None else 0
    fallbacks: dict[int, Callable] = {}
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        for done, step in enumerate(tape.steps, 1):
            rule = tape.rules[step.kind]
            fn = _compiled(rule)
            try:
                if fn is not None:
                    arrays[step.name] = fn(*[array(n) for n in step.inputs])
                elif isinstance(rule, SumRule):
                    parts = [array(n) for n in reversed(step.inputs)]  # t = T down to 1
                    out = parts[0]
                    for part in parts[1:]:
                        out = out + part
                    arrays[step.name] = out
                else:
                    code = fallbacks.get(id(rule))
                    if code is None:
                        code = fallbacks[id(rule)] = entrywise(rule)
                    flats[step.name] = tuple(code([v for n in step.inputs for v in flat(n)]))
            except (ArithmeticError, ValueError) as exc:
                raise ProblemError(f"{step.name} {failure} ({type(exc).__name__}: {exc})") \
                    from None
            if every and (done % every == 0 or done == total):
                progress("solving", done, total)
    out = dict(start)  # in the entrywise walker's order: the data, then the tape's steps
    for step in tape.steps:
        out[step.name] = flat(step.name)
    return out
