"""Derivatives as sources print them, for the LaTeX reader (a mixin of latex_in._Parser):
\\frac{\\partial A}{\\partial B} of the loss (the tape's gradients) or of anything (a Deriv node,
evaluated by derivatives.py), \\nabla_{h^{(t)}} L, CS224n's |_{(i)}, d2l's prod(g, J).
"""

from __future__ import annotations

from dataclasses import fields, replace

from .formula_ast import VJP, Apply, Deriv, Div, Entry, Node, Pow, Ref, Transpose
from .latex_names import _PRODUCT_OPS
from .tokens import Tok


class Derivatives:
    """Reading derivatives; needs the parser's token helpers and sub-parsers."""

    def derivative(self, tok: Tok, num: Tok, den: Tok) -> Node:
        """\\frac{\\partial A}{\\partial B}: dL/d(quantity), dl_t/do_t, or a derivative node
        (a step loss by a weight, a state by a state); d2l's {T \\cdot \\partial o_t} too."""
        top = self.sub(num.body[1:], num.pos + 1)
        of = top.postfix() if top.peek().kind != "end" else None
        top.expect_end("in the numerator of a derivative")
        if top.step_args is not None:  # \frac{\partial f(x_t, h_{t-1}, w_h)}{\partial w_h}
            body = list(den.body)
            at = next((k for k, d in enumerate(body) if d.kind == "macro" and d.text == "partial"),
                      None)
            wrt = self.by_argument(body[at + 1:] if at is not None else [], den.pos + 1,
                                   top.step_args)
            return self.immediate(self.deriv_node(of, wrt, num.body[0], den))
        body = list(den.body)
        at = next((k for k, d in enumerate(body) if d.kind == "macro" and d.text == "partial"
                   or d.kind == "letter" and d.text == "d" and k + 1 < len(body)), None)
        if at is None:
            raise self.fail(body[0] if body else den, r"expected \partial in the denominator of "
                                                      "a derivative")
        factor = None
        if at > 0:
            head = body[:at]
            while head and head[-1].kind == "macro" and head[-1].text in _PRODUCT_OPS:
                head.pop()
            front = self.sub(head, den.pos + 1)
            factor = front.expr()
            front.expect_end("before \\partial in a denominator")
        bottom = self.sub(body[at + 1:], den.pos + 1)
        bottom.step_allowed = True
        wrt = bottom.postfix()
        bottom.expect_end("in the denominator of a derivative")
        if of is None:
            raise self.fail(num.body[0], "expected what is differentiated after \\partial")
        node = self.deriv_node(of, wrt, num.body[0], body[at])
        return node if factor is None else Div(node, factor)

    def deriv_node(self, of: Node, wrt: Node, at_of: Tok, at_wrt: Tok) -> Node:
        """The derivative of `of` by `wrt` (both parsed): the tape's gradient where there is
        one, a Deriv node otherwise."""
        v = self.vocab
        if isinstance(wrt, Ref) and wrt.name == "y" and v.output != "y":
            raise self.fail(at_wrt, "y_t is the target, which nothing is differentiated by; if "
                                    "the source calls the output y_t, declare it: [symbols] "
                                    f'y = "{v.output}"')
        if isinstance(wrt, Entry):  # dL/do_i^{(t)}: entry i of the gradient
            if not (isinstance(of, Ref) and of.name in ("L", "l")):
                raise self.fail(at_wrt, "a component is differentiated only from the loss, as "
                                        "in \\frac{\\partial L}{\\partial o_i^{(t)}}")
            return Entry(arg=self.deriv_node(of, wrt.arg, at_of, at_wrt), row=wrt.row,
                         col=wrt.col)
        if isinstance(wrt, Transpose | Pow) or not isinstance(wrt, Ref | Apply):
            raise self.fail(at_wrt, "expected a quantity of the cell or a parameter, such "
                                    f"as {v.quantities[-1]}_t")
        if isinstance(of, Ref) and of.name == "L":
            if isinstance(wrt, Ref) and v.has_gradient(wrt.name):
                return Ref("dL/d" + wrt.name, wrt.index)
            if isinstance(wrt, Ref) and wrt.name == "l" or isinstance(wrt, Apply):
                return Deriv(of, wrt, "total")
            raise self.fail(at_wrt, f"dL/d{getattr(wrt, 'name', '?')} is not a quantity of "
                                    f"BPTT verify knows ({v.gradients_text()})")
        if isinstance(of, Ref) and of.name == "l":
            if isinstance(wrt, Ref) and wrt.name == v.output and wrt.index == of.index:
                return Ref("dl/d" + v.output, of.index)
            return Deriv(of, self.copyless(wrt), "total", self.copy_of(wrt))
        if not isinstance(of, Ref | Apply) or isinstance(of, Ref) and of.index is None:
            raise self.fail(at_of, "expected the loss, a quantity of the cell (h_t) or a "
                                   "function of one (softmax(o_t)) in the numerator")
        if isinstance(wrt, Apply):
            raise self.fail(at_wrt, "only a loss is differentiated by a function of a quantity")
        mode = "immediate" if wrt.name.endswith("^()") else self.reading.partial
        return Deriv(of, self.copyless(wrt), mode, self.copy_of(wrt))

    def partial_by(self, tok: Tok) -> Node:
        r"""d2l's older \partial_{w_h} L, \partial_{o_t} l(y_t, o_t), \partial_h f(...)."""
        self.take()
        toks, pos = self.script()
        saved, self.step_args = self.step_args, None
        at = self.peek()
        of = self.postfix()
        args, self.step_args = self.step_args, saved
        if args is not None:
            return self.immediate(self.deriv_node(of, self.by_argument(toks, pos, args), at, tok))
        return self.deriv_node(of, self.by_argument(toks, pos, None), at, tok)

    def by_argument(self, toks: list[Tok], pos: int, args) -> Node:
        r"""What a derivative is by: a quantity or parameter, or (\partial_h f(x_t, h_{t-1}, w))
        the argument of f that a bare letter names."""
        if args and len(toks) == 1 and toks[0].kind == "letter" and \
                toks[0].text in self.vocab.indexed:
            named = [a for a in args if a.name == toks[0].text]
            if len(named) == 1:
                return named[0]
        inner = self.sub(toks, pos)
        inner.step_allowed = True
        wrt = inner.postfix()
        inner.expect_end("in what a derivative is by")
        return wrt

    @staticmethod
    def immediate(node: Node) -> Node:
        """The derivative of d2l's f(...): through its own step alone."""
        return replace(node, mode="immediate") if isinstance(node, Deriv) else node

    def restricted(self, node: Deriv) -> Deriv:
        """\\frac{\\partial J^{(t)}}{\\partial W}|_{(i)}: the part through step i's copy of W."""
        bar = self.take()
        self.take()
        toks, pos = self.script()
        if toks and toks[0].kind == "open":
            index = self.step_superscript(toks, pos)
        else:
            index = self.index(toks, pos, "a time step")
        if not isinstance(node.wrt, Ref) or node.wrt.index is not None:
            raise self.fail(bar, "|_{(i)} restricts a derivative by a parameter to step i's copy")
        return Deriv(node.of, node.wrt, "copy", index)

    @staticmethod
    def copyless(wrt: Node) -> Node:
        """W for W^{(t)}: the parameter itself."""
        if isinstance(wrt, Ref) and wrt.name.endswith("^()"):
            return Ref(wrt.name[:-3])
        return wrt

    @staticmethod
    def copy_of(wrt: Node):
        return wrt.index if isinstance(wrt, Ref) and wrt.name.endswith("^()") else None

    def nabla(self, tok: Tok) -> Node:
        """\\nabla_{h^{(t)}} L: the gradient of the loss by a quantity or parameter."""
        if not self.at("op", "_"):
            raise self.fail(tok, r"expected \nabla_{h_t} L")
        self.take()
        toks, pos = self.script()
        inner = self.sub(toks, pos)
        inner.step_allowed = True
        wrt = inner.postfix()
        inner.expect_end(r"in the subscript of \nabla")
        at = self.peek()
        of = self.postfix()
        return self.deriv_node(of, wrt, at, toks[0] if toks else tok)

    def vjp(self, tok: Tok) -> Node:
        """d2l's \\textrm{prod}(g, \\frac{\\partial q}{\\partial p}): g carried back through the
        derivative (multiplied after the transposes the shapes need)."""
        self.take()
        grad = self.expr()
        comma = self.take()
        if comma.kind != "op" or comma.text != ",":
            raise self.fail(comma, "expected ',' between the arguments of prod(a, b)")
        jac = self.expr()
        close = self.take()
        if close.kind != "close" or close.text != ")":
            raise self.fail(close, "expected ')' after prod(a, b)")
        if not isinstance(jac, Deriv):
            raise self.fail(tok, "prod(a, b) is read with a derivative as b, as d2l writes it")
        return VJP(grad, jac)


def total_partials(node: Node) -> Node:
    """Every derivative of undeclared mode in `node` read as total (next to d2l's f(...),
    whose derivatives are the immediate ones, a plain \\partial h_t / \\partial w_h is total)."""
    changes = {}
    for f in fields(node):
        value = getattr(node, f.name)
        if isinstance(value, Node):
            changes[f.name] = total_partials(value)
        elif isinstance(value, tuple) and any(isinstance(v, Node) for v in value):
            changes[f.name] = tuple(total_partials(v) if isinstance(v, Node) else v for v in value)
    if isinstance(node, Deriv) and node.mode is None:
        changes["mode"] = "total"
    return replace(node, **changes) if changes else node
