"""How sources print their formulas, for the LaTeX reader (a mixin of latex_in._Parser): the
time index after a name (h_t, h^{(t)}, h^t with time = "superscript"), losses with a time index
(L_t, E_t, J^{(t)}) and their arguments, and the symbols a problem's [symbols] or notation
preset declares (formulas/reading.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sympy as sp

from ..errors import ProblemError
from .formula_ast import (
    T_,
    Add,
    Apply,
    Deriv,
    Entry,
    IndexValue,
    Mul,
    Node,
    Num,
    Ref,
    Transpose,
    index_symbol,
)
from .latex_names import _NAMED_FUNCTIONS, _TRANSPOSE
from .reading import signature
from .tokens import Tok


@dataclass(frozen=True)
class Block(Node):
    """colah's W_f = [W_hf, W_if], read only before a concatenation [h_{t-1}, x_t]."""

    names: tuple[str, ...]


@dataclass(frozen=True)
class Concat(Node):
    """A concatenation [h_{t-1}, x_t], read only after a block of matrices (colah's W_f)."""

    parts: tuple[Node, ...]


def joined(factors: list[Node]) -> list[Node]:
    """W_f [h_{t-1}, x_t] as W_hf h_{t-1} + W_if x_t in a product's factors."""
    out: list[Node] = []
    for f in factors:
        if isinstance(f, Concat) and out and isinstance(out[-1], Block) and \
                len(out[-1].names) == len(f.parts):
            block = out.pop()
            out.append(Add(tuple(Mul((Ref(w), part)) for w, part in zip(block.names, f.parts))))
        else:
            out.append(f)
    for f in out:
        if isinstance(f, Block | Concat):
            raise ProblemError("a concatenation such as [h_{t-1}, x_t] is read only right after "
                               "its block of matrices, as in colah's W_f [h_{t-1}, x_t]")
    return out


class PrintedNotation:
    """Reading a source's names; needs the parser's token helpers (peek, take, at, index)."""

    def time_index(self) -> tuple[sp.Expr | None, bool]:
        """The time step after a name, if any: _t, ^{(t)} (parentheses always mean time), or
        ^t with time = "superscript"; and whether a transpose rides in it (h^{(t)\top},
        h^{(t)^\top}, h^{(t),T})."""
        if self.at("op", "_") and self.component_before_time():
            self.take()
            self.pending = self.component_letters(self.script()[0])  # o_i^{(t)}
            return self.time_index()
        if self.at("op", "_"):
            self.take()
            toks, pos = self.script()
            comma = next((k for k, t in enumerate(toks) if t.kind == "op" and t.text == ","),
                         None)
            if comma is not None:  # h_{t+1,i}: the time step, then a component
                self.pending = self.component_letters(toks[comma + 1:])
                if self.pending is None:
                    raise self.fail(toks[comma], "expected a component index such as i or ij "
                                                 "after the time step, as in h_{t,i}")
                toks = toks[:comma]
            return self.index(toks, pos, "a time step"), False
        if not self.at("op", "^"):
            return None, False
        nxt = self.peek(1)
        body = list(nxt.body) if nxt.kind == "group" else [nxt]
        if body and body[0].kind == "open" and body[0].text == "(":
            depth, end = 0, None
            for k, t in enumerate(body):
                depth += {"open": 1, "close": -1}.get(t.kind, 0)
                if depth == 0:
                    end = k
                    break
            if end is None:
                raise self.fail(body[0], "expected ')' to close the time step")
            rest = body[end + 1:]
            texts = [t.text for t in rest if not (t.kind == "op" and t.text in ",^")]
            flat = [x.text for t in rest if t.kind == "group" for x in t.body]
            if rest and not (texts + flat and all(x in _TRANSPOSE for x in texts + flat
                                                   if x != "{")):
                raise self.fail(rest[0], "expected the end of the time step ^{(t)}")
            self.take()
            self.take()
            return self.index(body[1:end], body[0].pos + 1, "a time step"), bool(rest)
        if self.reading.time == "superscript" and self.names_step(body):
            self.take()
            self.take()
            return self.index(body, nxt.pos, "a time step"), False
        return None, False

    def component_before_time(self) -> bool:
        """o_i^{(t)}: a component subscript before a time superscript (parenthesized, or any
        step with time = "superscript")."""
        script, sup, after = self.peek(1), self.peek(2), self.peek(3)
        if not (sup.kind == "op" and sup.text == "^") or after.kind == "end":
            return False
        inner = list(script.body) if script.kind == "group" else [script]
        if self.component_letters(inner) is None:
            return False
        body = list(after.body) if after.kind == "group" else [after]
        return bool(body) and (body[0].kind == "open" and body[0].text == "(" or
                               self.reading.time == "superscript" and self.names_step(body))

    def component_letters(self, toks: list[Tok]) -> tuple | None:
        """The component indices of a subscript (i, ij, i,j): letters that are neither a name
        of the cell, t, T nor a time index bound by a sum; None if the subscript is not one."""
        letters = [t for t in toks if not (t.kind == "op" and t.text == ",")]
        if not 1 <= len(letters) <= 2 or any(
                t.kind != "letter" or t.text in ("t", "T") or self.vocab.is_name(t.text)
                or index_symbol(t.text) in self.bound for t in letters):
            return None
        return tuple(index_symbol(t.text) for t in letters)

    def component(self, node: Node) -> Node:
        r"""(\nabla_o L)_i, w_{ij}: an entry of what comes before; Goodfellow's 1_{i=y^{(t)}}
        (1_{i, y^{(t)}}) is entry i of the one-hot target y^{(t)}."""
        bar = self.take()
        toks, pos = self.script()
        sep = next((k for k, t in enumerate(toks) if t.kind == "op" and t.text in ",="), None)
        if isinstance(node, Num) and node.value == 1 and sep == 1:
            letters = self.component_letters(toks[:1])
            inner = self.sub(toks[2:], pos)
            target = inner.postfix()
            inner.expect_end("in the subscript of an indicator 1_{i=y_t}")
            if letters is None or not (isinstance(target, Ref) and target.name == "y"):
                raise self.fail(bar, "expected an indicator such as 1_{i=y_t} (i a component "
                                     "index, y_t the target)")
            self.notes.append("1_{i=y_t} read as entry i of the one-hot target y_t")
            return Entry(arg=target, row=letters[0])
        letters = self.component_letters(toks)
        if letters is None:
            raise self.fail(bar, "a subscript here belongs to no quantity")
        return Entry(arg=node, row=letters[0], col=letters[1] if len(letters) > 1 else None)

    def step_function(self, tok: Tok, sym, base: str) -> Node:
        """d2l's f(x_t, h_{t-1}, w_h) (h_t) and g(h_t, w_o) (o_t): the quantity at the step its
        arguments name, its derivatives immediate (the arguments held as given)."""
        if base not in self.vocab.indexed or not self.at("open", "("):
            raise self.fail(tok, f"{sym.key} is the source's function computing {base}_t: "
                                 f"write its arguments, as in {sym.key}(x_t, h_{{t-1}}, w_h)")
        open_ = self.take()
        args, depth, part = [], 1, []
        while True:
            nxt = self.take()
            if nxt.kind == "end":
                raise self.fail(open_, f"expected ')' to close the arguments of {sym.key}")
            depth += {"open": 1, "close": -1}.get(nxt.kind, 0)
            if depth == 0 or depth == 1 and nxt.kind == "op" and nxt.text == ",":
                args.append(part)
                part = []
                if depth == 0:
                    break
                continue
            part.append(nxt)
        nodes = []
        for arg in args:
            inner = self.sub(arg, arg[0].pos if arg else open_.pos)
            inner.step_allowed = False
            nodes.append(inner.expr())
            inner.expect_end(f"in the arguments of {sym.key}")
        states = self.vocab.states
        steps = {n.index + (1 if n.name == base and base in states else 0)
                 for n in nodes if isinstance(n, Ref) and n.index is not None}
        if len(steps) != 1:
            raise self.fail(tok, f"the arguments of {sym.key} name "
                                 f"{'no step' if not steps else 'different steps'}: expected "
                                 f"those of one step, as in {sym.key}(x_t, h_{{t-1}}, w_h)")
        self.step_args = [n for n in nodes if isinstance(n, Ref)]
        self.flags.add("step")
        self.notes.append(f"{sym.key}(...) read as {base} at the step its arguments name, its "
                          "derivatives immediate")
        return Ref(base, steps.pop())

    def names_step(self, toks: list[Tok]) -> bool:
        """True if a superscript names a step (t, t+1, T, \tau, a bound index), not a power."""
        for t in toks:
            if t.kind == "letter" and (t.text in ("t", "T") or index_symbol(t.text) in self.bound):
                return True
            if t.kind == "macro" and t.text == "tau":
                return True
        return False

    @staticmethod
    def flipped(node: Node, flip: bool) -> Node:
        return Transpose(node) if flip else node

    def loss_symbol(self, tok: Tok, step: str = "l") -> Node:
        r"""A loss: with a time index the loss of that step (L_t, L^{(t)}, E_t, J^{(t)}),
        without one the whole loss L; arguments after it, (\theta) or (y_t, \hat{y}_t),
        name what it depends on and are passed over."""
        sup = self.sup_before_sub()
        index, flip = self.time_index()
        node: Node = Ref("L") if index is None else Ref(step, index)
        if index is not None and tok.text not in ("l", "ell"):
            self.notes.append(f"{tok.shown()} with a time step read as the step loss l_t")
        self.skip_arguments()
        return self.flipped(self.apply_sup(node, sup), flip)

    def skip_arguments(self) -> None:
        r"""Pass over (\theta) or (y_t, \hat{y}_t) after a loss's name."""
        if not self.at("open", "("):
            return
        depth, k, comma = 0, self.k, False
        while k < len(self.toks):
            t = self.toks[k]
            depth += {"open": 1, "close": -1}.get(t.kind, 0)
            comma = comma or (depth == 1 and t.kind == "op" and t.text == ",")
            if depth == 0:
                break
            k += 1
        inner = self.toks[self.k + 1:k]
        if comma or (len(inner) == 1 and inner[0].kind == "macro" and inner[0].text == "theta"):
            self.k = k + 1

    def declared(self, tok: Tok) -> Node | None:
        """A symbol the problem's [symbols] (or its notation preset) declares, or None."""
        candidates = self.reading.candidates(signature(tok))
        if not candidates:
            return None
        scripts = []
        j = 0
        while len(scripts) < 2 and self.peek(j).kind == "op" and self.peek(j).text in "_^" \
                and self.peek(j + 1).kind != "end":
            scripts.append((self.peek(j).text, self.peek(j + 1)))
            j += 2
        for sym in candidates:
            used = []
            ok = True
            for mark, part in (("_", sym.sub), ("^", sym.sup)):
                if part is None:
                    continue
                hit = next((k for k, (m, t) in enumerate(scripts)
                            if m == mark and signature(t) == part), None)
                if hit is None:
                    ok = False
                    break
                used.append(hit)
            if not ok:
                continue
            is_param = sym.target in self.vocab.parameters
            if is_param and any(m == "_" and k not in used and self.component_letters(
                    list(t.body) if t.kind == "group" else [t]) is None
                    for k, (m, t) in enumerate(scripts)):
                continue  # W_{hh} is not the source's W (but w_{ij} is an entry of w)
            kept = [tok for k, (m, t) in enumerate(scripts) if k not in used
                    for tok in (Tok("op", m, t.pos), t)]
            del self.toks[self.k:self.k + 2 * len(scripts)]
            self.toks[self.k:self.k] = kept
            return self.symbol_node(tok, sym)
        return None

    def symbol_node(self, tok: Tok, sym) -> Node:
        """The node a declared symbol stands for, with its time index read after it;
        transposed where the source writes rows (vectors = "rows": d2l's X_t W_xi)."""
        node = self.symbol_value(tok, sym)
        if self.reading.vectors == "rows" and sym.target not in ("T", "phi", "l", "L"):
            return Transpose(node)
        return node

    def symbol_value(self, tok: Tok, sym) -> Node:
        target, v = sym.target, self.vocab
        parts = [p.strip() for p in re.split(r"[+,]", target.strip("[]"))]
        if len(parts) > 1:  # b_ii + b_hi (d2l's, colah's one bias); [W_hf, W_if] (colah's W_f)
            for part in parts:
                if part not in v.parameters:
                    raise self.fail(tok, f"symbols.{sym.key} = {target!r}: {part} is not a "
                                         f"parameter of the cell {v.cell!r}")
            self.notes.append(f"{sym.key} read as {target}")
            names = tuple(v.parameters[p] for p in parts)
            if target.startswith("["):
                return Block(names)
            return Add(tuple(Ref(n) for n in names))
        if target == "T":
            return IndexValue(T_)
        if target == "phi":  # the source's name for the model's activation: f(z_t), f'(z_t)
            return self.function("phi", tok)
        if target in v.parameters:
            name = v.parameters[target]
            if name != sym.key:
                self.notes.append(f"{sym.key} read as {name}")
            return self.parameter_tail(name)
        m = re.fullmatch(r"(\w+)\((.+)\)", target)
        fn, base = (m[1], m[2]) if m else (None, target)
        if fn == "step":
            return self.step_function(tok, sym, base)
        if base in ("l", "L"):
            node = self.loss_symbol(tok, "l") if base == "l" else Ref("L")
            if isinstance(node, Ref) and node.name == "l":
                self.notes.pop()  # the declaration says so; no note needed
            return node
        sup = self.sup_before_sub()
        index, flip = self.time_index()
        if index is None:
            raise self.fail(tok, f"{sym.key} ({target}) needs a time step, as in "
                                 f"{sym.key}_t")
        if base in v.indexed:
            node = Ref(base, index)
        elif base.startswith("dL/d") and v.has_gradient(base[4:]):
            node = Ref(base, index)
        elif base.startswith("dl/d") and base[4:] == v.output:
            node = Ref(base, index)
        elif base.startswith("dl/d") and base[4:] in v.indexed:
            node = Deriv(Ref("l", index), Ref(base[4:], index), "total")
        else:
            raise self.fail(tok, f"symbols.{sym.key} = {target!r} is not a quantity of the "
                                 f"cell {v.cell!r} ({v.listing()})")
        if fn is not None:
            node = Apply(_NAMED_FUNCTIONS.get(fn, fn), node)
        if sym.key != target:
            self.notes.append(f"{sym.key} read as {target}")
        return self.flipped(self.apply_sup(node, sup), flip)
