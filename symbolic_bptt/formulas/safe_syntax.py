"""Read SymPy syntax without running it: Python's `ast`, walked with a whitelist.

Only numbers, names from the caller's namespace, + - * / **, unary minus, calls of whitelisted
names with positional arguments, and tuples (as arguments, for Sum's limits) are read; every
other node (attributes, subscripts, keywords, lambdas, strings, None, comparisons, ...) is an
error naming it. Sizes are bounded before SymPy does any arithmetic, so `10**10**10` or a
5000-digit number is a one-line error, not a hang.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from decimal import Decimal

import sympy as sp

from ..errors import ProblemError, quoted
from ..inputs.limits import (
    MAX_EXPONENT,
    MAX_FORMULA_CHARS,
    MAX_FORMULA_DEPTH,
    MAX_FORMULA_NODES,
    MAX_NUMBER_DIGITS,
)

_BINARY: dict[type, Callable] = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
                                 ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b,
                                 ast.Pow: lambda a, b: a ** b}
_WHAT = {ast.Attribute: "attribute access (.)", ast.Subscript: "indexing ([])",
         ast.Lambda: "lambda", ast.Compare: "a comparison", ast.BoolOp: "and/or",
         ast.BitXor: "^ (write ** for a power)", ast.MatMult: "@ (write * for a product)"}


def read_expression(text: str, names: Mapping[str, object]) -> sp.Basic:
    """The SymPy expression `text` denotes, reading only whitelisted syntax and `names`."""
    if len(text) > MAX_FORMULA_CHARS:
        raise ProblemError(f"the formula has {len(text)} characters, more than the limit of "
                           f"{MAX_FORMULA_CHARS}")
    if any(ord(c) < 32 or ord(c) == 127 for c in text.replace("\t", " ")):
        raise ProblemError(f"the formula {quoted(text)} holds a control character")
    try:
        text = text.strip()
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ProblemError(f"cannot read the SymPy formula {quoted(text)}: "
                           f"{exc.msg} at position {exc.offset or 0}") from None
    except (RecursionError, MemoryError, ValueError):
        raise ProblemError(f"cannot read the SymPy formula: nested more than "
                           f"{MAX_FORMULA_DEPTH} levels deep") from None
    return _Reader(names, text).read(tree.body, 0)


class _Reader:
    """Builds SymPy objects from whitelisted AST nodes; anything else is a ProblemError."""

    def __init__(self, names: Mapping[str, object], source: str):
        self.names, self.source, self.count = names, source, 0

    def read(self, node: ast.AST, depth: int):
        self.count += 1
        if self.count > MAX_FORMULA_NODES:
            raise ProblemError(f"the SymPy formula has more than {MAX_FORMULA_NODES} parts "
                               "(the formula size limit)")
        if depth > MAX_FORMULA_DEPTH:
            raise ProblemError(f"the SymPy formula is nested more than {MAX_FORMULA_DEPTH} "
                               "levels deep")
        match node:
            case ast.Constant(value=value):
                return _number(value, ast.get_source_segment(self.source, node) or "")
            case ast.Name(id=name):
                if name not in self.names:
                    raise ProblemError(f"cannot read the SymPy formula: unknown name {quoted(name)}")
                return self.names[name]
            case ast.UnaryOp(op=ast.USub(), operand=arg):
                return -self.read(arg, depth + 1)
            case ast.UnaryOp(op=ast.UAdd(), operand=arg):
                return self.read(arg, depth + 1)
            case ast.BinOp(left=left, op=op, right=right) if type(op) in _BINARY:
                a, b = self.read(left, depth + 1), self.read(right, depth + 1)
                if isinstance(op, ast.Pow):
                    _check_power(a, b)
                return _defined(_BINARY[type(op)](a, b))
            case ast.Tuple(elts=items):
                return tuple(self.read(item, depth + 1) for item in items)
            case ast.Call(func=func) if not isinstance(func, ast.Name):
                raise ProblemError("cannot read the SymPy formula: only a name can be called, "
                                   "as in tanh(z(t))")
            case ast.Call(func=ast.Name(id=name), args=args, keywords=[]) \
                    if not any(isinstance(a, ast.Starred) for a in args):
                fn = self.names.get(name)
                if not callable(fn) or isinstance(fn, sp.Basic) and not isinstance(
                        fn, sp.FunctionClass):
                    raise ProblemError(f"cannot read the SymPy formula: {quoted(name)} is not "
                                       "a function it knows")
                values = [self.read(a, depth + 1) for a in args]
                try:
                    return _defined(fn(*values))
                except ProblemError:
                    raise
                except (TypeError, ValueError, AttributeError, sp.SympifyError) as exc:
                    raise ProblemError(f"cannot read {name}(...) in the SymPy formula: "
                                       f"{quoted(str(exc))}") from None
        what = _WHAT.get(type(getattr(node, "op", None)), None) or _WHAT.get(type(node)) or \
            type(node).__name__
        raise ProblemError(f"cannot read the SymPy formula: {what} is not allowed "
                           "(numbers, names, + - * / **, and calls only)")


def _number(value, literal: str) -> sp.Number:
    """An int or decimal literal as an exact SymPy number; every other literal is refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProblemError(f"cannot read the SymPy formula: the literal {quoted(repr(value))} "
                           "is not a number")
    if isinstance(value, int):
        if value.bit_length() > MAX_NUMBER_DIGITS * 3.33:
            raise ProblemError(f"a number in the SymPy formula has more than {MAX_NUMBER_DIGITS}"
                               " digits")
        return sp.Integer(value)
    exact = Decimal(literal or repr(value))
    if not exact.is_finite() or abs(exact.adjusted()) > MAX_NUMBER_DIGITS \
            or len(exact.as_tuple().digits) > MAX_NUMBER_DIGITS:
        raise ProblemError(f"a number in the SymPy formula has more than {MAX_NUMBER_DIGITS}"
                           " digits or an exponent beyond that")
    return sp.Rational(str(exact))  # 0.1 is 1/10, as in the LaTeX reader


def _check_power(base, exp) -> None:
    """Refuse a power whose result would be huge before SymPy computes it."""
    if not isinstance(exp, sp.Basic) or not exp.is_Number:
        return
    if not exp.is_Rational or abs(exp) > MAX_EXPONENT:
        raise ProblemError(f"an exponent in the SymPy formula is larger than {MAX_EXPONENT} "
                           "or not a whole number or fraction")
    if isinstance(base, sp.Basic) and base.is_Rational:
        bits = max(abs(base.p).bit_length(), abs(base.q).bit_length())
        if bits * abs(exp) > MAX_NUMBER_DIGITS * 3.33 * 10:
            raise ProblemError("a power in the SymPy formula is too large a number")


def _defined(value):
    """The value itself, or a ProblemError when it is undefined (x/0, log(0), 0**-1)."""
    if isinstance(value, sp.Basic) and value.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
        raise ProblemError("the SymPy formula is undefined (a division by zero or the log of 0)")
    return value
