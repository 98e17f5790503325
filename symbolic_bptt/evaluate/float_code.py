"""A rule compiled for floats straight from its expression tree: one Python statement per
distinct subexpression, reading the flat slot values by position.

lambdify renamed the slots, ran SymPy's cse and printed the result, each pass rebuilding
expressions (SymPy re-evaluates exp(-a) in every sigmoid): most of the time of an LSTM of
hidden size 16. Equal subtrees are found here by hashing, and nothing is rebuilt. A rule with
a node this printer does not know returns None (lambdify then compiles it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import sympy as sp

_FUNCTIONS = {sp.exp: "exp", sp.log: "log", sp.tanh: "tanh", sp.sinh: "sinh", sp.cosh: "cosh",
              sp.sin: "sin", sp.cos: "cos", sp.tan: "tan", sp.atan: "atan", sp.Abs: "abs",
              sp.Max: "max", sp.Min: "min", sp.Heaviside: "heaviside"}


class _Unknown(Exception):
    pass


MATH = {"exp": math.exp, "log": math.log, "tanh": math.tanh, "sinh": math.sinh,
        "cosh": math.cosh, "sin": math.sin, "cos": math.cos, "tan": math.tan, "atan": math.atan,
        "pow": math.pow, "abs": abs, "max": max, "min": min}


def float_function(outputs: Sequence, symbols: Sequence, heaviside: Callable,
                   functions: dict[str, Callable] = MATH) -> Callable[[Sequence], list] | None:
    """A function from the flat slot values to the outputs' values, or None; `functions` gives
    the names the code calls (math's by default; NumPy's make it work entrywise on arrays)."""
    index = {s: i for i, s in enumerate(symbols)}
    lines: list[str] = []
    names: dict = {}

    def emit(e) -> str:
        known = names.get(e)
        if known is not None:
            return known
        if e in index:
            return f"a[{index[e]}]"
        if isinstance(e, sp.UnevaluatedExpr):
            return emit(e.args[0])
        if e.is_Number or isinstance(e, sp.NumberSymbol):
            try:
                value = float(e)
            except (TypeError, ValueError):  # zoo, nan: lambdify says what they are
                raise _Unknown from None
            if not math.isfinite(value):
                raise _Unknown
            return repr(value)
        if isinstance(e, sp.Add):
            text = " + ".join(emit(x) for x in e.args)
        elif isinstance(e, sp.Mul):
            text = " * ".join(emit(x) for x in e.args)
        elif isinstance(e, sp.Pow):
            base, power = emit(e.base), e.exp
            if power.is_Integer:
                text = f"1.0 / {base}" if power == -1 else f"{base} ** ({int(power)})"
            else:  # math.pow raises ValueError for a negative base, as lambdify's sqrt did
                text = f"pow({base}, {emit(power)})"
        elif e.func in _FUNCTIONS and not (e.func is sp.log and len(e.args) != 1):
            text = f"{_FUNCTIONS[e.func]}({', '.join(emit(x) for x in e.args)})"
        else:
            raise _Unknown
        name = names[e] = f"v{len(lines)}"
        lines.append(f"    {name} = {text}")
        return name

    try:
        results = [emit(e) for e in outputs]
    except _Unknown:
        return None
    source = "def rule(a):\n" + "\n".join(lines) + f"\n    return [{', '.join(results)}]\n"
    namespace = {**functions, "heaviside": heaviside}
    exec(compile(source, "<float rule>", "exec"), namespace)
    return namespace["rule"]
