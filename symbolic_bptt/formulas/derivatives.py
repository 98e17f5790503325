"""Derivatives as sources write them, on the unrolled tape: dh_t/dh_k, dE_3/dW, do_t/dW_hy,
dyhat_3/dz_3, dL/dL^(t) — evaluated at one (T, t) by expanding the numerator's definitions and
differentiating with SymPy.

"total": through every step (every forward quantity between the two is expanded); "immediate":
through the numerator's own step alone (the earlier states held fixed), as d2l's
dh_t/dw_h inside prod(...) and Britz's ds_k/dW inside his sum mean. A derivative by a quantity two
or more steps back is total. Undeclared, both readings are computed: equal, either is the value;
different, the formula is ambiguous and verify asks for [symbols] partial = "total" | "immediate".
"""

from __future__ import annotations

import sympy as sp

from ..errors import ProblemError
from .formula_ast import Apply, Deriv, Node, Ref, show
from .instance import Missing, Tensor


def derivative(inst, node: Deriv):
    """The value of `node` at the instance's (T, t): a gradient, a Jacobian or a Tensor."""
    u = inst.u
    if isinstance(node.wrt, Apply):
        return _by_function(inst, node)
    of = inst.plain(inst.eval(node.of))
    syms, position, step = _wrt(inst, node.wrt)
    t_of = inst.index(node.copy) if node.copy is not None else _step_of(inst, node.of)
    if node.copy is not None:
        modes = ["copy"]
    elif t_of is None or step is not None and t_of - step >= 2:
        modes = ["total"]
    else:
        modes = [node.mode] if node.mode else ["total", "immediate"]
    values = [_differentiate(u, of, syms, position, mode, t_of) for mode in modes]
    if modes == ["copy"] and not 0 < t_of <= u.T:
        raise ProblemError(f"{show(node)}: step {t_of} does not exist for T = {u.T}")
    if len(values) == 2 and not _agree(u, values[0], values[1]):
        raise ProblemError(
            f"{show(node)} has two readings that differ here: total (through every step) and "
            f"immediate (through step {t_of} alone, the earlier states held fixed); declare "
            'the source\'s: [symbols] partial = "total" or partial = "immediate"')
    if len(modes) == 1 and modes[0] == "immediate" and node.copy is None:
        inst.notes.append(f"{show(node)} read as the immediate derivative (step {t_of} alone)")
    return values[0]


def _wrt(inst, wrt: Node):
    """The symbols differentiated by, the tape position of their step (None: parameters and
    data) and their time step."""
    u = inst.u
    if not isinstance(wrt, Ref):
        raise ProblemError(f"{show(wrt)}: a derivative is taken by a quantity or a parameter")
    if wrt.index is None:
        if wrt.name in u.dropped:
            raise ProblemError(f"{wrt.name}: the model has no biases (model.bias = false)")
        if wrt.name not in u.tape.quantities:
            raise ProblemError(f"{wrt.name} is not a quantity of this model")
        syms = u.elements(wrt.name)
        return syms, u.owner.get(syms[0]), None
    k = inst.index(wrt.index)
    name = f"{wrt.name}_{k}"
    if name not in u.tape.quantities:
        if inst.depth:
            raise ProblemError(f"inside a sum or product the formula names {name}, which does "
                               f"not exist for T = {u.T}")
        raise Missing(name)
    syms = u.elements(name)
    return syms, u.owner.get(syms[0]), k


def _step_of(inst, node: Node) -> int | None:
    """The latest time step the numerator names (None: no step, as for L)."""
    steps = []

    def walk(n):
        if isinstance(n, Ref) and n.index is not None:
            steps.append(inst.index(n.index))
        for child in getattr(n, "__dict__", {}).values():
            if isinstance(child, Node):
                walk(child)
            elif isinstance(child, tuple):
                for c in child:
                    if isinstance(c, Node):
                        walk(c)

    walk(node)
    return max(steps) if steps else None


def _differentiate(u, of: sp.Matrix, syms: sp.Matrix, position: int | None, mode: str,
                   t_of: int | None):
    """d of / d syms after expanding the forward quantities the mode goes through ("copy":
    every step, differentiating by the parameter's use in step t_of alone)."""
    steps = u.tape.steps
    forward = {k for k, s in enumerate(steps) if u.tape.quantities[s.name].role == "forward"}
    keep = set(syms)
    copies = {}
    if mode == "copy":
        copies = {s: sp.Dummy(f"{s}_copy") for s in syms}

    def through(k: int) -> bool:
        if k not in forward or position is not None and k <= position:
            return False
        return mode in ("total", "copy") or steps[k].t == t_of

    expanded = of
    for _ in range(len(steps) + 1):
        todo = {u.owner[s] for e in expanded for s in e.free_symbols
                if s in u.owner and s not in keep and through(u.owner[s])}
        if not todo:
            break
        table = {}
        for k in todo:
            definition = u.definition(k)
            if copies and steps[k].t == t_of:
                definition = {e: v.xreplace(copies) for e, v in definition.items()}
            table.update(definition)
        expanded = expanded.xreplace(table)
    back = {d: s for s, d in copies.items()}

    def d(e, s):
        return sp.diff(e, copies.get(s, s)).xreplace(back) if copies else sp.diff(e, s)

    if expanded.shape == (1, 1):
        return syms.applyfunc(lambda s: d(expanded[0], s))
    if syms.cols == 1:
        return sp.Matrix(len(expanded), len(syms), lambda i, j: d(expanded[i], syms[j]))
    return Tensor([syms.applyfunc(lambda s, e=e: d(e, s)) for e in expanded])


def _agree(u, a, b) -> bool:
    parts_a = a.parts if isinstance(a, Tensor) else [a]
    parts_b = b.parts if isinstance(b, Tensor) else [b]
    values = u.values(0, need=set().union(*(m.free_symbols for m in parts_a + parts_b)))
    for x, y in zip(parts_a, parts_b):
        for p, q in zip(x, y):
            d = (p - q).xreplace(values).evalf(30)
            if not d.is_number or abs(d) > sp.Float(10) ** -20:
                return False
    return True


def _by_function(inst, node: Deriv):
    """dE_t / dyhat_t with yhat = softmax(o_t) and the cross-entropy loss: -y_t / yhat_t."""
    u, wrt, of = inst.u, node.wrt, node.of
    inner = wrt.arg
    if not (wrt.fn == "softmax" and isinstance(inner, Ref) and inner.name == u.vocab.output
            and isinstance(of, Ref) and of.name == "l" and u.model.loss == "cross_entropy"):
        raise ProblemError(f"{show(node)}: a loss is differentiated by softmax(o_t) only for the "
                           "cross-entropy loss of the same step")
    if inst.index(of.index) != inst.index(inner.index):
        raise ProblemError(f"{show(node)}: the loss of one step by the output of another")
    k = inst.index(of.index)
    p = inst.plain(inst.eval(wrt))
    y = u.elements(f"y_{k}")
    return sp.Matrix([-yi / pi for yi, pi in zip(y, p)])
