"""Read a BPTT formula written the way lecture notes write it (LaTeX) into a small syntax tree.

One pipeline: pylatexenc's walker -> flat tokens with positions -> recursive descent -> nodes.
The reader knows this domain only: the quantities and parameters of the model's cell (its
vocabulary, vocabulary.py: for an LSTM c_t, f_{t+1}, W_{hf}, b_f; for the Elman cell h_t, z_t,
o_t and the weights under their usual names), x_t, y_t, l_t, L, derivatives of the loss written
as fractions or with delta shorthands, products, transposes, powers, sums and products over
time, and a few functions. Anything else is a ProblemError that names the token and its position
(counting characters from 1); the reader never guesses.

The tree (formula_ast.py) is shared with the SymPy-syntax reader (sympy_in.py).
"""

from __future__ import annotations

import sympy as sp

from ..errors import ProblemError, quoted
from ..inputs.limits import MAX_FORMULA_CHARS, MAX_FORMULA_DEPTH, MAX_NUMBER_DIGITS
from .formula_ast import (
    T_,
    Add,
    Apply,
    BigOp,
    Deriv,
    Div,
    Entry,
    EntrySum,
    Formula,
    Hadamard,
    IndexValue,
    Mul,
    Neg,
    Node,
    Norm,
    Num,
    Outer,
    Pow,
    Ref,
    Transpose,
    index_symbol,
)
from .latex_derivatives import Derivatives, total_partials
from .latex_names import _FUNCTIONS, _NAMED_FUNCTIONS, _PRODUCT_OPS, _TRANSPOSE
from .printed import Concat, PrintedNotation, joined
from .reading import Reading, make_reading, signature
from .tokens import Tok, token_error, tokenize

# Tok and tokenize: for the cell-equation reader
__all__ = ["Tok", "read_block", "read_latex", "tokenize"]

# ---------------------------------------------------------------------------------------------
# The parser

_STOP_OPS = {"+", "-", "=", ",", ".", "/"}


class _Parser(PrintedNotation, Derivatives):
    """Recursive descent over one token list (a group's tokens get their own parser)."""

    def __init__(self, tokens, source: str, end: int, vocab, bound: tuple[sp.Symbol, ...] = (),
                 notes: list[str] | None = None, reading: Reading | None = None):
        self.vocab = vocab  # vocabulary.Vocabulary: the names of the model's cell
        self.reading = reading or Reading()  # the source's symbols and conventions
        self.toks = list(tokens)
        self.k = 0
        self.source = source
        self.end = end
        self.bound = bound
        self.notes = notes if notes is not None else []
        self.step_allowed = False  # W_{hh}^{(t)} only in the denominator of a derivative
        self.pending = None  # the component indices a subscript named, for the next apply_sup
        self.flags: set[str] = set()  # shared with sub-parsers: "step" (d2l's f(...) was read)
        self.step_args: list | None = None  # the arguments of the last f(...) this parser read

    def sub(self, tokens, end: int) -> _Parser:
        p = _Parser(tokens, self.source, end, self.vocab, self.bound, self.notes, self.reading)
        p.flags = self.flags
        return p

    # token helpers

    def peek(self, ahead: int = 0) -> Tok:
        k = self.k + ahead
        return self.toks[k] if k < len(self.toks) else Tok("end", "", self.end)

    def take(self) -> Tok:
        tok = self.peek()
        self.k += 1
        return tok

    def at(self, kind: str, text: str | None = None, ahead: int = 0) -> bool:
        tok = self.peek(ahead)
        return tok.kind == kind and (text is None or tok.text == text)

    def fail(self, tok: Tok, reason: str) -> ProblemError:
        return token_error(tok, reason, self.source)

    def expect_end(self, what: str) -> None:
        if self.peek().kind != "end":
            raise self.fail(self.peek(), f"unexpected here ({what})")

    def script(self) -> tuple[list[Tok], int]:
        """The argument of ^ or _ just taken: a {group}'s tokens or one token (one digit)."""
        tok = self.take()
        if tok.kind == "group":
            return list(tok.body), tok.pos
        if tok.kind == "end":
            raise self.fail(tok, "expected a subscript or superscript")
        if tok.kind == "num" and len(tok.text) > 1:
            self.toks[self.k:self.k] = [Tok("num", tok.text[1:], tok.pos + 1)]
            tok = Tok("num", tok.text[0], tok.pos)
        return [tok], tok.pos

    # grammar

    def formula(self, chain: bool = False) -> Formula:
        """The identity of the tokens (in a block, `chain`: a row may have one side, completed
        by the rows that continue it)."""
        sides = [self.expr()]
        while self.at("op", "="):
            self.take()
            sides.append(self.expr())
        if self.at("op", ".") or self.at("op", ","):
            self.take()
        if self.at("macro", "in"):  # "... \in \mathbb{R}^q": a statement of shape, not checked
            self.k = len(self.toks)
        if self.peek().kind != "end":
            raise self.fail(self.peek(), "expected an operator, '=' or the end of the formula")
        if len(sides) < 2 and not chain:
            raise ProblemError("the formula has no '=': write an identity such as "
                               r"\delta h_t = W_{hy}^\top \delta o_t + ...")
        if "step" in self.flags and self.reading.partial is None:
            sides = [total_partials(s) for s in sides]
            self.notes.append(r"\partial h_t read as the total derivative: the source writes "
                              r"the immediate one as \partial f(...)")
        return Formula(tuple(sides), tuple(dict.fromkeys(self.notes)), self.source)

    def expr(self) -> Node:
        terms: list[Node] = []
        sign = 1
        if self.at("op", "+") or self.at("op", "-"):
            sign = -1 if self.take().text == "-" else 1
        while True:
            term = self.hadamard()
            terms.append(Neg(term) if sign < 0 else term)
            if self.at("op", "+") or self.at("op", "-"):
                sign = -1 if self.take().text == "-" else 1
                continue
            break
        if len(terms) == 1:
            return terms[0]
        return Add(tuple(terms))

    def hadamard(self) -> Node:
        factors = [self.product()]
        while self.at("macro", "odot") or self.at("macro", "circ") or (
                self.reading.star == "elementwise" and self.at("op", "*")) or (
                self.reading.cdot == "elementwise" and self.at("macro", "cdot")):
            self.take()
            factors.append(self.product())
        return factors[0] if len(factors) == 1 else Hadamard(tuple(factors))

    def product(self) -> Node:
        factors = [self.postfix()]
        while True:
            tok = self.peek()
            if tok.kind == "macro" and tok.text == "cdot" and self.reading.cdot == "elementwise":
                break
            if tok.kind == "op" and tok.text == "*" and self.reading.star != "elementwise":
                if self.reading.star is None:
                    raise self.fail(tok, "* has two readings: the entrywise product (colah's f_t "
                                         "* C_{t-1}) or a matrix product; declare the source's: "
                                         '[symbols] star = "elementwise" or star = "product"')
                self.take()
                factors.append(self.postfix())
                continue
            if tok.kind == "macro" and tok.text in _PRODUCT_OPS:
                self.take()
                factors.append(self.postfix())
            elif tok.kind == "op" and tok.text == "/":
                self.take()
                den = self.postfix()
                factors = [Div(factors[0] if len(factors) == 1 else Mul(tuple(factors)), den)]
            elif tok.kind == "macro" and tok.text in ("otimes", "bigotimes"):
                self.take()
                right = self.postfix()
                factors = [Outer(factors[0] if len(factors) == 1 else Mul(tuple(factors)), right)]
            elif self.starts_factor(tok):
                factors.append(self.postfix())
            else:
                break
        factors = joined(factors)
        return factors[0] if len(factors) == 1 else Mul(tuple(factors))

    def starts_factor(self, tok: Tok) -> bool:
        if tok.kind in ("letter", "num", "open", "group", "name"):
            return True
        if tok.kind == "norm":
            return False
        return tok.kind == "macro" and tok.text not in _PRODUCT_OPS | {
            "odot", "circ", "otimes", "bigotimes", "in"}

    def postfix(self) -> Node:
        node = self.primary()
        while True:
            if isinstance(node, Deriv) and self.at("op", "|") and self.at("op", "_", 1):
                node = self.restricted(node)
            elif self.at("op", "^"):
                self.take()
                node = self.superscript(node, *self.script())
            elif self.at("op", "_"):
                node = self.component(node)
            elif self.at("op", "'"):
                raise self.fail(self.peek(), "a prime here belongs to no function")
            else:
                return node

    def superscript(self, node: Node, toks: list[Tok], pos: int) -> Node:
        if len(toks) == 1 and (toks[0].kind in ("macro", "letter", "name")
                               and toks[0].text in _TRANSPOSE):
            return Transpose(node)
        if toks and toks[0].kind == "open":
            raise ProblemError(f"cannot read ^({{...}}) at position {pos + 1} of the formula: "
                               r"a step superscript such as W_{hh}^{(t)} is read only inside "
                               r"\frac{\partial L}{\partial W_{hh}^{(t)}}")
        if len(toks) == 1 and toks[0].kind == "macro" and toks[0].text == "prime":
            raise self.fail(toks[0], "a prime here belongs to no function")
        return Pow(node, self.index(toks, pos, "an exponent"))

    def primary(self) -> Node:
        tok = self.take()
        if tok.kind in ("letter", "name", "macro") and self.reading.symbols:
            node = self.declared(tok)
            if node is not None:
                return node
        if tok.kind == "num":
            return Num(sp.Rational(tok.text))
        if tok.kind == "open" and tok.text in ".|":
            return self.left_dot(tok)
        if tok.kind == "open":
            inner = self.expr()
            if tok.text == "[" and self.at("op", ","):  # [h_{t-1}, x_t]
                parts = [inner]
                while self.at("op", ","):
                    self.take()
                    parts.append(self.expr())
                inner = Concat(tuple(parts))
            close = self.take()
            want = ")" if tok.text == "(" else "]"
            if close.kind != "close" or close.text != want:
                raise self.fail(close, f"expected {want!r} to close the {tok.text!r} "
                                       f"at position {tok.pos + 1}")
            return inner
        if tok.kind == "group" and len(tok.body) == 1 and tok.body[0].kind != "group":
            self.toks.insert(self.k, tok.body[0])  # {\\hat{y}}^{(t)}: the braces group nothing
            return self.primary()
        if tok.kind == "group":
            inner = self.sub(tok.body, tok.pos + 1)
            node = inner.expr()
            inner.expect_end("inside {...}")
            return node
        if tok.kind == "norm":
            inner = self.expr()
            close = self.take()
            if close.kind != "norm":
                raise self.fail(close, f"expected \\| to close the norm at position {tok.pos + 1}")
            return Norm(inner)
        if tok.kind == "letter":
            return self.letter(tok)
        if tok.kind == "name":
            if tok.text == "prod" and self.at("open", "("):
                return self.vjp(tok)
            if tok.text in _NAMED_FUNCTIONS:
                return self.function(_NAMED_FUNCTIONS[tok.text], tok)
            if self.vocab.is_name(tok.text):
                return self.letter(tok)
            raise self.fail(tok, "not a function verify knows "
                                 f"({', '.join(sorted(_NAMED_FUNCTIONS))})")
        if tok.kind == "macro":
            return self.macro(tok)
        if tok.kind == "end":
            raise self.fail(tok, "expected a quantity, a number or '('")
        raise self.fail(tok, "expected a quantity, a number or '('")

    def left_dot(self, tok: Tok) -> Node:
        r"""\left. A \right|_{(i)}: A restricted to step i (as A|_{(i)}); \left. A \right. is A."""
        if tok.text == "|":
            raise self.fail(tok, r"\left| ... \right| (an absolute value) is not read")
        inner = self.expr()
        close = self.take()
        if close.kind != "close" or close.text not in ".|":
            raise self.fail(close, rf"expected \right| or \right. to close the \left. at "
                                   f"position {tok.pos + 1}")
        if close.text == "|":
            if not (isinstance(inner, Deriv) and self.at("op", "_")):
                raise self.fail(close, r"\left. ... \right|_{(i)} restricts a derivative by a "
                                       "parameter to step i's copy")
            self.toks.insert(self.k, Tok("op", "|", close.pos))
        return inner

    def macro(self, tok: Tok) -> Node:
        name = tok.text
        if name == "frac" or name in ("dfrac", "tfrac"):
            return self.fraction(tok)
        if name == "delta" and not self.vocab.is_name("delta"):
            return self.delta(tok)
        if name in ("sum", "prod"):
            return self.big_op(tok)
        if name == "nabla":
            return self.nabla(tok)
        if name == "ell":
            return self.letter(Tok("letter", "l", tok.pos))
        if name == "tau" and index_symbol("tau") not in self.bound:
            self.notes.append(r"\tau read as T, the last step")
            return IndexValue(T_)
        if self.vocab.is_name(base_of(tok)) and not (name in _FUNCTIONS and self.at("open")):
            return self.letter(tok)  # \alpha, \tilde{c}, \hat{y}: a name of the cell
        if name in _FUNCTIONS:
            return self.function(_FUNCTIONS[name], tok)
        if name == "partial" and self.at("op", "_"):
            return self.partial_by(tok)
        if name == "partial":
            raise self.fail(tok, r"write derivatives as \frac{\partial L}{\partial h_t}")
        if name == "text" or name == "mbox":
            raise self.fail(tok, "words are not mathematics verify can check")
        if name in _PRODUCT_OPS | {"odot", "circ"}:
            raise self.fail(tok, "a product sign needs a factor on its left")
        if name == "tau" and index_symbol("tau") in self.bound:
            return IndexValue(index_symbol("tau"))
        raise self.fail(tok, "notation verify does not know")

    def letter(self, tok: Tok) -> Node:
        """A name of the vocabulary (a letter, \\alpha, \\tilde{c}, a bold word), or an index."""
        c = base_of(tok)
        v = self.vocab
        if c == "L":
            return self.loss_symbol(tok, "l")
        if c == "l":
            if self.at("open", "("):
                return self.step_loss(tok)
            sup = self.sup_before_sub()
            sub, flip = self.time_index()
            if sub is None:
                raise self.fail(tok, "the loss of step t is l_t")
            return self.flipped(self.apply_sup(Ref("l", sub), sup), flip)
        if c in v.indexed:
            sup = self.sup_before_sub()
            sub, flip = self.time_index()
            if sub is None:
                raise self.fail(tok, f"{c} needs a time step, as in {c}_t")
            return self.flipped(self.apply_sup(Ref(c, sub), sup), flip)
        if c in v.parameter_bases or c in v.parameters:
            return self.parameter(tok, c)
        if tok.kind == "letter":
            symbol = index_symbol(c)
            if c in ("t", "T") or symbol in self.bound:
                return IndexValue(symbol)
        raise self.fail(tok, f"not a quantity of the model ({v.listing()}) nor an index")

    def sup_before_sub(self):
        """h^2_t: a superscript written before the subscript, kept for after it."""
        if self.at("op", "^") and self.at("op", "_", 2):
            self.take()
            return self.script()
        return None

    def apply_sup(self, node: Node, sup) -> Node:
        """The superscript written before the subscript, after a component the subscript
        named (h_{t,i}, o_i^{(t)})."""
        letters, self.pending = self.pending, None
        if letters:
            node = Entry(arg=node, row=letters[0], col=letters[1] if len(letters) > 1 else None)
        return node if sup is None else self.superscript(node, *sup)

    def subscript(self, tok: Tok, hint: str) -> sp.Expr:
        if not self.at("op", "_"):
            raise self.fail(tok, hint)
        self.take()
        return self.index(*self.script(), "a time step")

    def parameter(self, tok: Tok, base: str) -> Node:
        """A parameter: W_{hh} (or another name of it, noted), b_h, u, \\alpha; W_{hh}^{(t)}
        (one step's contribution) inside a derivative's denominator."""
        v = self.vocab
        sup = self.sup_before_sub()
        if not self.at("op", "_"):
            if base not in v.parameters:
                raise self.fail(tok, "name the weight, as in "
                                     f"{', '.join(v.written(base, own=True))}")
            name = written = base
        else:
            self.take()
            toks, _ = self.script()
            inner = None
            if len(toks) > 2 and toks[-2].kind == "op" and toks[-2].text == "_":
                inner = self.component_letters(toks[-1:])  # b_{y_i}: entry i of b_y
                toks = toks[:-2] if inner else toks
            letters = "".join(t.text for t in toks)
            if not all(t.kind in ("letter", "name", "num") for t in toks):
                letters = ""
            written = f"{base}_{letters}"
            if written not in v.parameters:
                known = v.written(base) or [base]
                raise ProblemError(
                    f"cannot read {base}_{{{letters or '...'}}} at position {tok.pos + 1} of the "
                    f"formula: known names are {', '.join(known)}")
            name = v.parameters[written]
            if name != written:
                self.notes.append(f"{base}_{{{letters}}} read as {name}")
            if inner:
                return self.apply_sup(Entry(arg=Ref(name), row=inner[0]), sup)
        if sup is None and self.at("op", "^") and self.at("group", ahead=1) and \
                self.peek(1).body and self.peek(1).body[0].kind == "open":
            self.take()
            sup = self.script()
        if sup is not None and sup[0] and sup[0][0].kind == "open":
            if not self.step_allowed:
                raise ProblemError(
                    f"cannot read ^({{...}}) at position {sup[1] + 1} of the formula: a step "
                    r"superscript such as W_{hh}^{(t)} is read only inside "
                    r"\frac{\partial L}{\partial W_{hh}^{(t)}}")
            return Ref(name + "^()", self.step_superscript(*sup))
        return self.apply_sup(Ref(name), sup)

    def parameter_tail(self, name: str) -> Node:
        """A parameter's node after its name: W^{(t)} (one step's copy) where allowed."""
        if self.at("op", "^") and self.at("group", ahead=1) and self.peek(1).body and \
                self.peek(1).body[0].kind == "open":
            self.take()
            sup = self.script()
            if not self.step_allowed:
                raise ProblemError(
                    f"cannot read ^({{...}}) at position {sup[1] + 1} of the formula: a step "
                    r"superscript such as W_{hh}^{(t)} is read only inside a derivative's "
                    "denominator")
            return Ref(name + "^()", self.step_superscript(*sup))
        if self.at("op", "_"):
            return self.component(Ref(name))  # w_{ij}
        return Ref(name)

    def step_superscript(self, toks: list[Tok], pos: int) -> sp.Expr:
        if len(toks) < 3 or toks[0].kind != "open" or toks[-1].kind != "close":
            raise ProblemError(f"cannot read the superscript at position {pos + 1} of the "
                               "formula: expected a step such as ^{(t)}")
        return self.index(toks[1:-1], toks[1].pos, "a time step")

    def step_loss(self, tok: Tok) -> Node:
        """l(o_t, y_t) or l(y_t, o_t): the loss of one step."""
        self.take()
        first = self.expr()
        comma = self.take()
        if comma.kind != "op" or comma.text != ",":
            raise self.fail(comma, "expected ',' between the arguments of l(o_t, y_t)")
        second = self.expr()
        close = self.take()
        if close.kind != "close" or close.text != ")":
            raise self.fail(close, "expected ')' after l(o_t, y_t)")
        names = {getattr(first, "name", None), getattr(second, "name", None)}
        out = self.vocab.output
        if names != {out, "y"} or first.index != second.index:
            raise self.fail(tok, f"l(...) takes {out}_t and y_t of the same step")
        return Ref("l", first.index)

    def index(self, toks: list[Tok], pos: int, what: str) -> sp.Expr:
        """An integer index expression: t, t+1, T+t-i, 3, 2t."""
        p = self.sub(toks, pos)
        total = sp.Integer(0)
        sign = 1
        if p.at("op", "-") or p.at("op", "+"):
            sign = -1 if p.take().text == "-" else 1
        while True:
            total += sign * p.index_term(what)
            if p.at("op", "+") or p.at("op", "-"):
                sign = -1 if p.take().text == "-" else 1
                continue
            break
        if p.peek().kind != "end":
            raise p.fail(p.peek(), f"expected {what} such as t, t+1 or T-i")
        return total

    def index_term(self, what: str) -> sp.Expr:
        tok = self.take()
        coefficient = sp.Integer(1)
        if tok.kind == "num":
            if "." in tok.text:
                raise self.fail(tok, f"expected {what}: a whole number or an index")
            coefficient = sp.Integer(tok.text)
            if not (self.at("letter") or self.at("macro", "tau")):
                return coefficient
            tok = self.take()
        if tok.kind == "macro" and tok.text == "tau" and index_symbol("tau") not in self.bound:
            self.notes.append(r"\tau read as T, the last step")
            return coefficient * T_
        if tok.kind == "letter" and not self.vocab.is_name(tok.text) \
                or tok.kind == "macro" and tok.text == "tau":
            symbol = index_symbol(tok.text)
            if tok.text not in ("t", "T") and symbol not in self.bound:
                raise self.fail(tok, f"the index {tok.text} is neither t, T nor bound by a "
                                     "\\sum or \\prod")
            return coefficient * symbol
        if tok.kind == "open" and tok.text == "(":
            inner = []
            depth = 1
            while depth:
                nxt = self.take()
                if nxt.kind == "end":
                    raise self.fail(nxt, "expected ')'")
                depth += {"open": 1, "close": -1}.get(nxt.kind, 0)
                if depth:
                    inner.append(nxt)
            return coefficient * self.index(inner, tok.pos + 1, what)
        raise self.fail(tok, f"expected {what} such as t, t+1 or T-i")

    def fraction(self, tok: Tok) -> Node:
        if len(tok.body) != 2:
            raise self.fail(tok, r"\frac needs two arguments")
        num, den = tok.body
        if num.body and (num.body[0].kind == "macro" and num.body[0].text == "partial"
                         or num.body[0].kind == "letter" and num.body[0].text == "d"
                         and len(num.body) > 1):
            return self.derivative(tok, num, den)
        top = self.sub(num.body, num.pos + 1)
        a = top.expr()
        top.expect_end("in the numerator")
        bottom = self.sub(den.body, den.pos + 1)
        b = bottom.expr()
        bottom.expect_end("in the denominator")
        return Div(a, b)

    def names_symbol(self, tok: Tok) -> bool:
        """True if `tok` starts a quantity or parameter of the cell (not the loss)."""
        base = base_of(tok)
        return self.vocab.is_name(base) and base not in ("L", "l")

    def delta(self, tok: Tok) -> Node:
        r"""\delta h_t, \delta_{o_t}, \delta W_{hh}: dL/d(the quantity); \delta_t alone is the
        deck's dL/dz_t for the Elman cell (the vocabulary's `delta`)."""
        if self.at("op", "_"):
            self.take()
            toks, pos = self.script()
            if len(toks) > 1 and self.names_symbol(toks[0]):
                inner = self.sub(toks, pos)
                ref = inner.postfix()
                inner.expect_end(r"in the subscript of \delta")
                return self.gradient_of(tok, ref)
            meaning = self.delta_meaning(tok)
            what = rf"a time step (\delta_t is {meaning}_t)"
            return Ref(meaning, self.index(toks, pos, what))
        nxt = self.peek()
        if self.names_symbol(nxt):
            self.take()
            return self.gradient_of(tok, self.letter(nxt))
        raise self.fail(tok, r"expected \delta q_t or \delta_{q_t} for a quantity q of the cell"
                             + (r", or \delta_t" if self.vocab.delta else ""))

    def delta_meaning(self, tok: Tok) -> str:
        """What a bare delta_t means: the declared [symbols] delta, else the cell's own (the
        deck's dL/dz_t for the Elman cell) when no notation is declared; ProblemError naming the
        readings otherwise."""
        r, v = self.reading, self.vocab
        meaning = r.delta if r.delta else (None if r.declared else
                                           v.delta and "dL/d" + v.delta)
        if meaning is None:
            readings = ", ".join(f"dL/d{q}_t" for q in reversed(v.quantities))
            raise self.fail(tok, f"a bare \\delta_t has several readings ({readings}); "
                                 'declare yours: [symbols] delta = "dL/dh"')
        if not (meaning.startswith("dL/d") and v.has_gradient(meaning[4:])):
            raise self.fail(tok, f"symbols.delta = {meaning!r} is not a gradient of this cell "
                                 f"({v.gradients_text()})")
        return meaning

    def gradient_of(self, tok: Tok, ref: Node) -> Node:
        base = ref.base if isinstance(ref, Pow | Transpose) else ref
        if not isinstance(base, Ref):
            raise self.fail(tok, r"\delta takes a quantity such as h_t or o_t")
        if not self.vocab.has_gradient(base.name):
            raise self.fail(tok, f"\\delta {base.name} is not a quantity of BPTT verify knows")
        grad = Ref("dL/d" + base.name, base.index)
        if isinstance(ref, Pow):
            return Pow(grad, ref.exp)
        if isinstance(ref, Transpose):
            return Transpose(grad)
        return grad

    def big_op(self, tok: Tok) -> Node:
        lower = upper = None
        for _ in range(2):
            if self.at("op", "_") and lower is None:
                self.take()
                lower = self.script()
            elif self.at("op", "^") and upper is None:
                self.take()
                upper = self.script()
        if lower is not None and upper is None and len(lower[0]) == 1 and \
                lower[0][0].kind == "letter" and lower[0][0].text in ("t", "k"):
            var = lower[0][0].text  # \sum_t: over every step
            self.notes.append(f"\\sum_{var} read as \\sum_{{{var}=1}}^{{T}}")
            lower = ([lower[0][0], Tok("op", "=", lower[1]), Tok("num", "1", lower[1])], lower[1])
            upper = ([Tok("letter", "T", lower[1])], lower[1])
        if tok.text == "sum" and upper is None and lower is not None and \
                self.component_letters(lower[0]) is not None and len(lower[0]) == 1:
            return self.entry_sum(tok, lower[0][0])
        if lower is None or upper is None:
            raise self.fail(tok, "needs bounds, as in \\sum_{t=1}^{T}, or a component index "
                                 "of the sum's terms, as in \\sum_i a_i b_i")
        toks, pos = lower
        eq = [k for k, x in enumerate(toks) if x.kind == "op" and x.text == "="]
        if len(eq) != 1 or eq[0] != 1 or not (toks[0].kind == "letter" or
                                               toks[0].kind == "macro" and toks[0].text == "tau"):
            raise ProblemError(f"cannot read the lower bound at position {pos + 1} of the "
                               "formula: expected a variable and its start, as in t=1 or i=t")
        var = index_symbol(toks[0].text)
        if self.vocab.is_name(toks[0].text):
            raise self.fail(toks[0], "a quantity's letter cannot be a summation variable")
        lo = self.index(toks[2:], toks[1].pos + 1, "a lower bound")
        hi = self.index(*upper, "an upper bound")
        outer = self.bound
        self.bound = outer + (var,)
        try:
            negative = self.at("op", "-")
            if negative:
                self.take()
            body = self.hadamard()
            body = Neg(body) if negative else body
        finally:
            self.bound = outer
        return BigOp(tok.text, var, lo, hi, body)

    def entry_sum(self, tok: Tok, var_tok: Tok) -> Node:
        """\\sum_i over the entries that i indexes in the terms (\\sum_i g_i \\nabla_V o_i)."""
        from .components import entries

        var = index_symbol(var_tok.text)
        negative = self.at("op", "-")
        if negative:
            self.take()
        body = self.hadamard()
        body = Neg(body) if negative else body
        if not any(var in (e.row, e.col) for e, _ in entries(body)):
            raise self.fail(tok, f"\\sum_{var_tok.text} without bounds: {var_tok.text} indexes "
                                 "no vector's entries in the sum's terms (write the bounds, as "
                                 "in \\sum_{t=1}^{T})")
        self.notes.append(f"\\sum_{var_tok.text} read as the sum over the entries "
                          f"{var_tok.text} indexes")
        return EntrySum(arg=body, var=var)

    def function(self, fn: str, tok: Tok) -> Node:
        prime = False
        power = None
        if self.at("op", "'"):
            self.take()
            prime = True
        elif self.at("op", "''"):
            raise self.fail(self.peek(), "second derivatives are not read")
        elif self.at("op", "^"):
            self.take()
            toks, pos = self.script()
            if len(toks) == 1 and toks[0].kind == "macro" and toks[0].text == "prime":
                prime = True
            else:
                power = self.index(toks, pos, "an exponent")
        if self.at("open") or self.at("group"):
            arg = self.primary()
        elif self.peek().kind in ("letter", "macro", "name"):
            arg = self.postfix()
        else:
            raise self.fail(self.peek(), f"expected the argument of {tok.shown()}")
        node: Node = Apply(fn, arg, prime)
        return Pow(node, power) if power is not None else node


def read_latex(source: str, vocab=None, reading: Reading | None = None) -> Formula:
    """The formula in `source` (with or without $...$) as a syntax tree, in the names of
    `vocab` (a vocabulary.Vocabulary; by default the Elman cell's); ProblemError if unread.
    An aligned block must hold one formula here (read_block reads several)."""
    formulas = read_block(source, vocab, reading)
    if len(formulas) > 1:
        raise ProblemError(f"the block holds {len(formulas)} formulas; verify checks them one "
                           "by one")
    return formulas[0]


def read_block(source: str, vocab=None, reading: Reading | None = None
               ) -> tuple[Formula, ...]:
    """The formulas of `source`: one, a chain a = b = c (one formula of several sides), or an
    aligned block whose rows are formulas or continue the row above (`&= ...`)."""
    from .vocabulary import elman_vocabulary

    if not source.strip():
        raise ProblemError("the formula is empty")
    check_formula_text(source)
    vocab = vocab or elman_vocabulary()
    reading = (reading or make_reading()).for_cell(vocab.cell)
    try:
        tokens = tokenize(source)
        for tok in _flat(tokens):
            if tok.kind == "num" and len(tok.text) > MAX_NUMBER_DIGITS:
                raise ProblemError(f"a number in the formula has more than {MAX_NUMBER_DIGITS} "
                                   f"digits (at position {tok.pos + 1})")
        rows: list[list[Tok]] = [[]]
        for tok in tokens:
            if tok.kind == "row":
                rows.append([])
            else:
                rows[-1].append(tok)
        formulas: list[Formula] = []
        for row in rows:
            if not row:
                continue
            end = row[-1].pos + 1
            if row[0].kind == "op" and row[0].text == "=" and formulas:
                more = _Parser(row[1:], source, end, vocab, reading=reading).formula(chain=True)
                last = formulas[-1]
                formulas[-1] = Formula(last.sides + more.sides,
                                       tuple(dict.fromkeys(last.notes + more.notes)), source)
            else:
                formulas.append(_Parser(row, source, end, vocab, reading=reading).formula(
                    chain=len(rows) > 1))
        from .components import with_components

        formulas = [with_components(f) for f in formulas]
        for f in formulas:
            if len(f.sides) < 2:
                raise ProblemError("the formula has no '=': write an identity such as "
                                   r"\delta h_t = W_{hy}^\top \delta o_t + ...")
        return tuple(formulas)
    except RecursionError:
        raise ProblemError(f"the formula is nested too deeply (limit: {MAX_FORMULA_DEPTH} "
                           "levels)") from None
    except ProblemError as exc:
        unknown = unknown_tokens(tokens if "tokens" in locals() else (), vocab, reading)
        if len(unknown) == 1 and str(exc).startswith(
                f"cannot read {unknown[0][0]} at position {unknown[0][1]}"):
            raise ProblemError(f"{exc}; if it is the source's symbol, declare what it means in "
                               '[symbols] (such as E = "l") or choose the source\'s notation '
                               '(notation = "goodfellow")') from None
        if len(unknown) > 1:
            where: dict[str, list[str]] = {}
            for text, pos in unknown:
                where.setdefault(text, []).append(str(pos))
            listed = ", ".join(f"{text} (position{'s' if len(p) > 1 else ''} {', '.join(p)})"
                               for text, p in where.items())
            raise ProblemError(
                f"cannot read the formula: {len(where)} unknown symbol"
                f"{'s' if len(where) > 1 else ''}: {listed}; declare what each means in "
                '[symbols] (such as E = "l", s = "h", U = "W_xh") or choose the source\'s '
                'notation (notation = "goodfellow", "britz", "cs224n", "d2l")') from None
        raise


_KNOWN_MACROS = {
    "frac", "dfrac", "tfrac", "partial", "sum", "prod", "delta", "nabla", "ell", "tau",
    "sigma", "tanh", "phi", "varphi", "exp", "log", "ln", "top", "intercal", "odot", "circ",
    "cdot", "times", "ast", "otimes", "bigotimes", "hat", "tilde", "bar", "prime", "in",
    "ldots", "dots", "cdots", "theta"}
_INDEX_LETTERS = set("tTijkmnd")


def unknown_tokens(tokens, vocab, reading: Reading) -> list[tuple[str, int]]:
    """Every symbol of the formula that is neither the cell's, declared, an index, nor
    notation the reader knows: (as written, position from 1)."""
    from .vocabulary import base_of

    declared = {s.base for s in reading.symbols}
    out: list[tuple[str, int]] = []
    for tok in _outside_subscripts(tokens):
        sig = signature(tok) if tok.kind in ("letter", "name", "macro") else None
        if sig is None or sig in declared:
            continue
        if tok.kind == "macro":
            known = tok.text in _KNOWN_MACROS or vocab.is_name(base_of(tok))
        elif tok.kind == "name":
            known = tok.text in _NAMED_FUNCTIONS or tok.text == "prod" or vocab.is_name(tok.text)
        else:
            known = tok.text in _INDEX_LETTERS or vocab.is_name(tok.text)
        if not known and (tok.shown(), tok.pos + 1) not in out:
            out.append((tok.shown(), tok.pos + 1))
    return out


def check_formula_text(source: str) -> None:
    """Refuse, before any parsing, a formula too long, too deep or with control characters."""
    if len(source) > MAX_FORMULA_CHARS:
        raise ProblemError(f"the formula has {len(source)} characters, more than the limit of "
                           f"{MAX_FORMULA_CHARS}")
    bad = next((c for c in source if ord(c) < 32 and c not in "\t\n" or ord(c) == 127), None)
    if bad is not None:
        raise ProblemError(f"the formula holds the control character {quoted(bad)}")
    depth = deepest = 0
    for k, c in enumerate(source):
        if c in "({[":
            depth += 1
        elif c in ")}]":
            depth -= 1
        deepest = max(deepest, depth)
    if deepest > MAX_FORMULA_DEPTH:
        raise ProblemError(f"the formula is nested {deepest} levels deep, more than the limit "
                           f"of {MAX_FORMULA_DEPTH}")


def _outside_subscripts(tokens):
    """Every token, in groups too, except subscripts (W_{zz}: names and indices)."""
    after_bar = False
    for tok in tokens:
        if not after_bar:
            yield tok
            yield from _outside_subscripts(tok.body or ())
        after_bar = tok.kind == "op" and tok.text == "_"


def _flat(tokens):
    for tok in tokens:
        yield tok
        yield from _flat(tok.body or ())


def base_of(tok: Tok) -> str | None:
    """The name a token starts (vocabulary.base_of, imported late: the cell reader imports
    this module's tokenizer)."""
    from .vocabulary import base_of as base

    return base(tok)
