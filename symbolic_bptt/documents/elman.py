"""The Elman cell's document, in the lecture deck's order: setup, the derivation for any T
(the general forms), the forward pass, the loss, the output gradients, the recursion of dL/dh_t
and dL/dz_t, the weight gradients, how much of the gradient reaches back (the Jacobians).

The layout names Elman's quantities (z, h, o, W_hh, ...) because it is that cell's; any other
cell is laid out from its equations by cell_document.py.
"""

from __future__ import annotations

import sympy as sp

from ..evaluate.arithmetic import Evaluation, evaluate
from ..model import ACTIVATIONS
from ..model.notation import Notation, document_notation, make_notation
from ..tape import Quantity, rule_display
from ..tape.jacobian import jacobians
from . import latex_out
from .cell_document import with_extras
from .document import Document, Line, Options, _Formatter, line, loss_latex, shown_steps


def build_elman(ev: Evaluation, options: Options | None = None) -> Document:
    """The document data for one evaluated problem of the Elman cell, in the deck's sections."""
    options = options or Options()
    p = ev.tape.problem
    m = p.model
    notation = make_notation(document_notation(options, p), p.notation,
                             bold_vectors=not m.is_scalar, row_convention=options.row_convention)
    fmt = _Formatter(ev, notation, None if options.all_steps else options.shown_first + 2)
    by_name = ev.tape.by_name
    shown = shown_steps(p.T, options)

    def lines(pattern: str) -> list[Line | None]:
        return [None if t is None else line(by_name[pattern.format(t=t)], fmt) for t in shown]

    doc = Document(
        title=p.title or f"Backpropagation Through Time: {p.name}",  # user text: the |tex filter
        author=p.author, institute=p.institute, date=p.date,
        mode=ev.mode, decimals=ev.decimals, T=p.T, setup=_setup(ev, fmt), shown_t=shown,
        notation=notation)
    doc.sections["forward"] = [
        None if t is None else [line(by_name[f"{k}_{t}"], fmt) for k in ("z", "h", "o")]
        for t in shown]
    doc.sections["loss_terms"] = lines("l_{t}")
    doc.sections["loss"] = [line(by_name["L"], fmt)]
    doc.sections["dL/do"] = lines("dL/do_{t}")
    backward_t = list(reversed(shown))
    doc.sections["recursion"] = [
        None if t is None else [line(by_name[f"dL/dh_{t}"], fmt), line(by_name[f"dL/dz_{t}"], fmt)]
        for t in backward_t]
    doc.sections["dL/dh"] = [g and g[0] for g in doc.sections["recursion"]]
    doc.sections["dL/dz"] = [g and g[1] for g in doc.sections["recursion"]]
    for w in ("W_hy", "W_hh", "W_xh"):
        doc.sections[f"dL/d{w}"] = lines(f"dL/d{w}^({{t}})") + [line(by_name[f"dL/d{w}"], fmt)]
    if m.bias:
        doc.sections["bias"] = [line(by_name["dL/db_h"], fmt), line(by_name["dL/db_y"], fmt)]
    doc.general = _general(ev, notation)
    doc.jacobians = _jacobians(ev, notation)
    grads = ["dL/dW_xh", "dL/dW_hh", "dL/dW_hy"] + (["dL/db_h", "dL/db_y"] if m.bias else [])
    doc.summary = [line(by_name[g], fmt) for g in ["L", *grads]]
    return with_extras(doc, ev, fmt, shown, options)


def _setup(ev: Evaluation, fmt: _Formatter) -> dict:
    p = ev.tape.problem
    m = p.model
    n = fmt.notation
    act = ACTIVATIONS[m.activation]
    return {
        "sizes": (m.input_size, m.hidden_size, m.output_size),
        "scalar": m.is_scalar,
        "activation": m.activation,
        "activation_latex": act.latex,
        "loss": m.loss,
        "loss_latex": loss_latex(ev, n),
        "bias": m.bias,
        "weights": [(n.symbol(w), fmt.value(w)) for w in p.weights],
        "h0": (n.symbol("h_0"), fmt.value("h_0")),
        "data": [(t, n.symbol(f"x_{t}"), fmt.value(f"x_{t}"), n.symbol(f"y_{t}"),
                  fmt.value(f"y_{t}")) for t in range(1, p.T + 1)],
        "z": n.symbol("z_t"), "h": n.symbol("h_t"), "h_prev": n.symbol("h_t-1"),
        "x": n.symbol("x_t"), "o": n.symbol("o_t"), "y": n.symbol("y_t"),
        "W_xh": n.symbol("W_xh"), "W_hh": n.symbol("W_hh"), "W_hy": n.symbol("W_hy"),
        "b_h": n.symbol("b_h"), "b_y": n.symbol("b_y"),
        "row": n.row_convention,
        "do": n.symbol("dL/do_t"), "do_T": n.symbol("dL/do_T"), "do_i": n.symbol("dL/do_i"),
        "dh": n.symbol("dL/dh_t"), "dh_T": n.symbol("dL/dh_T"), "dz": n.symbol("dL/dz_t"),
        "dz_next": n.symbol("dL/dz_t+1"),
        "z_rule": _generic(ev, n, "z", ["W_hh", "h_t-1", "W_xh", "x_t", "b_h"]),
        "o_rule": _generic(ev, n, "o", ["W_hy", "h_t", "b_y"]),
        "dh_rule": _generic(ev, n, "dL/dh", ["W_hy", "dL/do_t", "W_hh", "dL/dz_t+1"])
        if "dL/dh" in ev.tape.rules else _generic(ev, n, "dL/dh_T", ["W_hy", "dL/do_t"]),
    }


def _generic(ev: Evaluation, n: Notation, kind: str, names: list[str]) -> str:
    """`lhs = formula` of a rule at a symbolic step t, e.g. z_t = W_hh h_{t-1} + W_xh x_t."""
    rule = ev.tape.rules[kind]
    generic = [Quantity(name, slot.shape, slot.indexing, "generic")
               for slot, name in zip(rule.slots, names)]  # names holds b_h even without bias
    expr = rule_display(rule, generic, not ev.tape.model.is_scalar)
    lhs = {"z": "z_t", "o": "o_t", "dL/dh": "dL/dh_t", "dL/dh_T": "dL/dh_t"}[kind]
    return f"{n.symbol(lhs)} = {latex_out.formula(expr, n)}"


def _general(ev: Evaluation, n: Notation) -> dict:
    """The BPTT formulas for any T, for this model's activation and loss."""
    m = ev.tape.model
    act = ACTIVATIONS[m.activation]
    scalar = m.is_scalar
    v = sp.Symbol("h_t" if act.prime_of == "h" else "z_t")
    prime = latex_out.formula(act.prime(v), n)
    prime_k = latex_out.formula(act.prime(sp.Symbol("h_k" if act.prime_of == "h" else "z_k")), n)
    T = "^{\\top}" if not scalar else ""
    loss_grad = ev.tape.display(ev.tape.by_name[f"dL/do_{ev.tape.T}"])
    do_t = latex_out.formula(loss_grad.xreplace(
        {s: type(s)(s.name.rsplit("_", 1)[0] + "_t", *getattr(s, "shape", ()))
         for s in loss_grad.free_symbols if "_" in s.name}), n)
    return {
        "prime": prime, "prime_k": prime_k, "top": T, "dL_do": do_t,
        "linear": act.name == "identity",
        "odot": r"\odot" if not scalar else "",
    }


def _jacobians(ev: Evaluation, n: Notation) -> dict:
    """How much dL/dh_T reaches back: the factors dh_k/dh_{k-1} and their running products."""
    import numpy as np

    tape = ev.tape
    m = tape.model

    W = np.array(ev.as_float("W_hh")).reshape(m.hidden_size, m.hidden_size)
    ks = list(range(tape.T, 1, -1))
    # the factors at the values themselves, not at numbers carried rounded
    walked = ev if ev.mode == "float" else evaluate(tape, "float")
    factors = jacobians(tape, "h", "h", {n: walked.as_float(n) for n in walked.values}, ks)
    rows, running = [], np.eye(m.hidden_size)
    for k in ks:
        J = np.array(factors[k])  # dh_k / dh_{k-1}, derived from the tape
        running = running @ J
        rows.append({"k": k, "factor": float(np.linalg.norm(J, 2)),
                     "product": float(np.linalg.norm(running, 2))})
    spectral = float(max(abs(np.linalg.eigvals(W)))) if m.hidden_size > 1 else abs(float(W[0, 0]))
    return {"rows": rows, "rho": spectral, "scalar": m.is_scalar,
            "last": rows[-1]["product"] if rows else 1.0}
