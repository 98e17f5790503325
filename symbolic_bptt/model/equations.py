"""Read one cell equation, written as lecture notes write it (`h_t = \\tanh(W_{hh} h_{t-1} + b_h)`),
into a small expression tree.

The project's own reader: pylatexenc's tokens (shared with `verify`) and a recursive descent over
them. It builds only the nodes below; nothing of the text is ever evaluated. Anything else is a
ProblemError naming the token and its position (counting characters from 1).

Symbols: a name with the time index t or t-1 (`h_t`, `h_{t-1}`, `x_t`) is a sequence quantity; a
name without one (`W_{hh}`, `b_h`, `u`, `\\alpha`) is a parameter. Names are spelled as users type
them in files and JSON: `W_{hh}` is `W_hh`, `\\tilde{c}` is `c~`, `\\hat{y}` is `y^`, `\\alpha` is
`alpha`.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..errors import ProblemError
from ..formulas.latex_in import Tok, tokenize
from ..inputs.limits import MAX_EXPONENT, MAX_NUMBER_DIGITS

FUNCTIONS = {"tanh": "tanh", "sigma": "sigmoid", "sigmoid": "sigmoid", "ReLU": "relu",
             "relu": "relu", "exp": "exp", "log": "log", "ln": "log", "phi": "phi"}
GREEK = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "kappa", "lambda",
         "mu", "nu", "xi", "pi", "rho", "tau", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda",
         "Omega"}
DECORATIONS = {"tilde": "~", "hat": "^", "bar": "-"}
_PRODUCTS = {"cdot", "times"}


class Node:
    """A node of a cell equation's right side."""


@dataclass(frozen=True)
class Num(Node):
    value: sp.Rational


@dataclass(frozen=True)
class Sym(Node):
    """A quantity read at t - lag (lag 0 or 1), or a parameter (lag None)."""

    name: str
    lag: int | None = None


@dataclass(frozen=True)
class Sum(Node):
    terms: tuple[Node, ...]


@dataclass(frozen=True)
class Neg(Node):
    arg: Node


@dataclass(frozen=True)
class Prod(Node):
    """A product as written (juxtaposition, \\cdot): matrix product; a 1 x 1 factor scales."""

    left: Node
    right: Node


@dataclass(frozen=True)
class Had(Node):
    """The entrywise product \\odot."""

    left: Node
    right: Node


@dataclass(frozen=True)
class Call(Node):
    """An entrywise function: tanh, sigmoid, relu, exp, log (phi: the model's activation)."""

    fn: str
    arg: Node


@dataclass(frozen=True)
class Pow(Node):
    """An entrywise whole power, as in (1 - h_t)^2."""

    base: Node
    exponent: int


@dataclass(frozen=True)
class Equation:
    """`lhs_t = rhs`, as read from `source`."""

    lhs: str
    rhs: Node
    source: str


def symbols(node: Node) -> list[Sym]:
    """Every symbol of a tree in the order written (with repeats)."""
    if isinstance(node, Sym):
        return [node]
    out: list[Sym] = []
    for child in children(node):
        out.extend(symbols(child))
    return out


def children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Sum):
        return node.terms
    if isinstance(node, Prod | Had):
        return (node.left, node.right)
    if isinstance(node, Neg | Call):
        return (node.arg,)
    if isinstance(node, Pow):
        return (node.base,)
    return ()


def name_latex(name: str) -> str:
    """How a name prints: `W_hh` -> `W_{hh}`, `c~` -> `\\tilde{c}`, `alpha` -> `\\alpha`."""
    base, _, sub = name.partition("_")
    mark = {v: k for k, v in DECORATIONS.items()}.get(base[-1:]) if len(base) > 1 else None
    if mark:
        base = base[:-1]
    tex = f"\\{base}" if base in GREEK else base
    if mark:
        tex = rf"\{mark}{{{tex}}}"
    return f"{tex}_{{{sub}}}" if sub else tex


def parse_equation(source: str) -> Equation:
    """One equation `q_t = expression`; raises ProblemError saying what and where."""
    if not isinstance(source, str) or not source.strip():
        raise ProblemError("an equation must be a non-empty string such as 'h_t = \\tanh(z_t)'")
    if any(ord(c) < 32 for c in source):
        raise ProblemError("an equation must be one line of text (no control characters)")
    reader = _Reader(tokenize(source), source)
    lhs = reader.symbol(reader.next())
    if lhs.lag != 0:
        raise ProblemError(f"the left side must be a quantity at step t, such as h_t, "
                           f"got {lhs.name if lhs.lag is None else lhs.name + '_{t-1}'}")
    reader.expect("op", "=", "'=' after the left side")
    rhs = reader.expression()
    if reader.peek().kind != "end":
        raise reader.error(reader.peek(), "unexpected")
    return Equation(lhs.name, rhs, source)


class _Reader:
    def __init__(self, tokens: tuple[Tok, ...], source: str):
        self.tokens = list(tokens) + [Tok("end", "", len(source))]
        self.k = 0
        self.source = source

    def error(self, tok: Tok, what: str) -> ProblemError:
        return ProblemError(f"{what} {tok.shown()!r} at position {tok.pos + 1}")

    def peek(self, ahead: int = 0) -> Tok:
        return self.tokens[min(self.k + ahead, len(self.tokens) - 1)]

    def next(self) -> Tok:
        tok = self.peek()
        self.k = min(self.k + 1, len(self.tokens) - 1)
        return tok

    def at(self, kind: str, text: str | None = None) -> bool:
        tok = self.peek()
        return tok.kind == kind and (text is None or tok.text == text)

    def expect(self, kind: str, text: str, what: str) -> Tok:
        if not self.at(kind, text):
            raise self.error(self.peek(), f"expected {what}, got")
        return self.next()

    def expression(self) -> Node:
        terms: list[Node] = []
        negative = False
        if self.at("op", "-") or self.at("op", "+"):
            negative = self.next().text == "-"
        while True:
            term = self.term()
            terms.append(Neg(term) if negative else term)
            if self.at("op", "+") or self.at("op", "-"):
                negative = self.next().text == "-"
                continue
            break
        return terms[0] if len(terms) == 1 else Sum(tuple(terms))

    def term(self) -> Node:
        """Products joined by \\odot: a matrix product binds tighter (W x_t \\odot U h_{t-1})."""
        node = self.product()
        while self.at("macro", "odot"):
            self.next()
            node = Had(node, self.product())
        return node

    def product(self) -> Node:
        node = self.power()
        while True:
            tok = self.peek()
            if tok.kind == "macro" and tok.text in _PRODUCTS:
                self.next()
                node = Prod(node, self.power())
            elif self.starts_factor(tok):
                node = Prod(node, self.power())
            else:
                return node

    @staticmethod
    def starts_factor(tok: Tok) -> bool:
        if tok.kind in ("letter", "num", "open", "name"):
            return tok.kind != "open" or tok.text == "("
        return tok.kind == "macro" and tok.text not in _PRODUCTS | {"odot"}

    def power(self) -> Node:
        node = self.atom()
        if self.at("op", "^"):
            hat = self.next()
            tok = self.next()
            text = tok.text if tok.kind == "num" else (
                tok.body[0].text if tok.kind == "group" and len(tok.body) == 1
                and tok.body[0].kind == "num" else None)
            if text is None or not text.isdigit() or not 1 <= int(text[:9]) <= MAX_EXPONENT \
                    or len(text) > 9:
                raise self.error(hat, f"only whole powers from ^1 to ^{MAX_EXPONENT} are read; "
                                      "got a power at")
            node = Pow(node, int(text))
        return node

    def atom(self) -> Node:
        tok = self.next()
        if tok.kind == "num":
            if len(tok.text) > MAX_NUMBER_DIGITS:
                raise self.error(tok, f"a number of more than {MAX_NUMBER_DIGITS} digits at")
            return Num(sp.Rational(tok.text))
        if tok.kind == "open" and tok.text == "(":
            inner = self.expression()
            self.expect("close", ")", "')'")
            return inner
        if tok.kind == "macro" and tok.text == "frac":
            return self.fraction(tok)
        fn = self.function_name(tok)
        if fn is not None:
            return Call(fn, self.argument(tok))
        if tok.kind in ("letter", "name", "macro"):
            return self.symbol(tok)
        raise self.error(tok, "expected a number, a symbol, a function or '(', got")

    def function_name(self, tok: Tok) -> str | None:
        word = tok.text if tok.kind in ("macro", "name") else None
        if word in FUNCTIONS and (word not in ("sigma", "phi") or self.peek().kind in
                                  ("open", "group")):
            return FUNCTIONS[word]
        if tok.kind == "macro" and tok.text == "operatorname" and tok.body:
            inner = "".join(t.text for t in tok.body[0].body)
            if inner in FUNCTIONS:
                return FUNCTIONS[inner]
            raise self.error(tok, f"unknown function {inner!r}:")
        return None

    def argument(self, fn: Tok) -> Node:
        tok = self.peek()
        if tok.kind == "open" and tok.text == "(":
            self.next()
            inner = self.expression()
            self.expect("close", ")", "')' closing the function's argument")
            return inner
        if tok.kind == "group":
            self.next()
            return _sub_reader(tok, self.source).whole()
        raise self.error(fn, "a function needs its argument in parentheses:")

    def fraction(self, tok: Tok) -> Node:
        if len(tok.body) != 2:
            raise self.error(tok, "\\frac needs two groups:")
        num, den = (_sub_reader(g, self.source).whole() for g in tok.body)
        if not (isinstance(num, Num) and isinstance(den, Num)) or den.value == 0:
            raise self.error(tok, "only a fraction of two numbers, such as \\frac{1}{2}, is read:")
        return Num(num.value / den.value)

    def symbol(self, tok: Tok) -> Sym:
        base = self.base_name(tok)
        sub: str | None = None
        lag: int | None = None
        if self.at("op", "_"):
            self.next()
            sub_tok = self.next()
            lag, sub = self.subscript(sub_tok)
        return Sym(f"{base}_{sub}" if sub else base, lag)

    def base_name(self, tok: Tok) -> str:
        if tok.kind == "letter" or tok.kind == "name":
            return tok.text
        if tok.kind == "macro" and tok.text in GREEK:
            return tok.text
        if tok.kind == "macro" and tok.text in DECORATIONS and len(tok.body) == 1:
            inner = tok.body[0].body
            if len(inner) == 1 and inner[0].kind == "letter":
                return inner[0].text + DECORATIONS[tok.text]
            if len(inner) == 1 and inner[0].kind == "macro" and inner[0].text in GREEK:
                return inner[0].text + DECORATIONS[tok.text]
        raise self.error(tok, "unknown symbol or command")

    def subscript(self, tok: Tok) -> tuple[int | None, str | None]:
        """(lag, None) for t and t-1; (None, text) for a parameter's subscript such as hh."""
        toks = list(tok.body) if tok.kind == "group" else [tok]
        if len(toks) == 1 and toks[0].kind == "macro" and toks[0].text in ("text", "textrm",
                                                                             "mathrm") \
                and toks[0].body:
            toks = list(toks[0].body[0].body)
        letters = [t.text for t in toks]
        if letters == ["t"]:
            return 0, None
        if letters == ["t", "-", "1"]:
            return 1, None
        if "t" in letters and any(t.kind in ("op", "num") for t in toks):
            raise self.error(tok, "a quantity is read at step t or t-1 only; got the index")
        if toks and all(t.kind in ("letter", "num", "name") for t in toks):
            return None, "".join(letters)
        raise self.error(tok, "cannot read the subscript")

    def whole(self) -> Node:
        node = self.expression()
        if self.peek().kind != "end":
            raise self.error(self.peek(), "unexpected")
        return node


def _sub_reader(group: Tok, source: str) -> _Reader:
    end = Tok("end", "", group.pos)
    reader = _Reader(group.body, source)
    reader.tokens[-1] = end
    return reader
