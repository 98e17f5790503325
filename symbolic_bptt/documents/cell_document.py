"""The document data for any cell, read off the tape: the cell's equations and its derived BPTT
rules at a general step t, then every step as formula, numbers, result.

The same Line records as the Elman document (document.line); only the grouping is generic:
forward by time step, backward by time step going back, then each parameter's gradient.
"""

from __future__ import annotations

import re
from dataclasses import replace

import sympy as sp

from ..errors import ProblemError
from ..evaluate.arithmetic import Evaluation
from ..model.cell import INPUT, TARGET, UPSTREAM
from ..model.equations import name_latex
from ..model.gated_notation import PRESETS as GATED
from ..model.gated_notation import gated_preset
from ..model.notation import PRESETS, Notation, document_notation, make_notation
from ..tape import Quantity, Tape, rule_display
from . import latex_out
from .document import Document, Options, _Formatter, escape_text, line, loss_latex, shown_steps
from .training import training_lines, training_part
from .figures import figures
from .slides import numbered, slide_frames, slide_parts

_INDEXED = re.compile(r"^(?P<base>.+)_(?P<k>\d+)$")


def cell_notation(tape: Tape, options: Options) -> Notation:
    """The deck's notation, with every name of the cell printed as it was written."""
    p = tape.problem
    cell = p.cell
    names = {q: name_latex(q) for q in (*cell.quantities, *cell.parameters)}
    vectors = {q for q in cell.quantities if p.shapes[q] != (1, 1)}
    vectors |= {w for w in cell.parameters if tape.quantities[w].indexing == "vector"}
    vectors |= {f"dL/d{v}" for v in vectors}
    vectors |= {n for n, q in ((INPUT, INPUT), (TARGET, cell.output)) if p.shapes[q] != (1, 1)}
    chosen = document_notation(options, p)
    textbook = gated_preset(cell.name, chosen)
    gated_only = chosen in {n for presets in GATED.values() for n in presets} - set(PRESETS)
    if gated_only and not textbook:
        raise ProblemError(f"notation {chosen!r} is a preset of the cells "
                           f"{', '.join(c for c in GATED if chosen in GATED[c])}, "
                           f"not of cell {cell.name!r}")
    preset = "deck" if gated_only else chosen
    overrides = {k: v for k, v in textbook.items() if k in names} | p.notation  # the file's win
    return make_notation(preset, overrides, bold_vectors=not p.model.is_scalar,
                         row_convention=options.row_convention, names=names, vectors=vectors)


def general_name(name: str, t: int, sequence: set[str]) -> str:
    """A name at step t written for a general step: h_1 at t = 2 is h_{t-1}."""
    if " from " in name:  # truncation in windows: dL/dh_1 from l_2 is dL/dh_t from l_{t+1}
        grad, loss = name.split(" from ", 1)
        return f"{general_name(grad, t, sequence)} from {general_name(loss, t, sequence)}"
    m = _INDEXED.match(name)
    if not m or m["base"] not in sequence:
        return name
    shift = int(m["k"]) - t
    return f"{m['base']}_t" if shift == 0 else f"{m['base']}_t{shift:+d}"


def general_rule(ev: Evaluation, notation: Notation, step_name: str, per_row: int = 2) -> str:
    """`lhs_t &= formula` of a step's rule, in names at a general step t, for an align
    environment; a sum of more than `per_row` terms continues on further rows. A gradient that
    sums several paths (dL/dc_t: through h_t, and through c_{t+1}) gets a row per path, each
    labelled on the right."""
    tape = ev.tape
    step = tape.by_name[step_name]
    lhs, expr = general_formula(tape, notation, tape.rules[step.kind], step.inputs, step)
    paths = tape_paths(tape, step)
    if paths:
        rows = [(latex_out.formula(general_formula(tape, notation, tape.rules[p.kind], p.inputs,
                                                   p)[1], notation),
                 path_label(tape, notation, p, step.t)) for p in paths]
        signed = [tex if k == 0 else f"{'-' if tex.startswith('-') else '+'} {tex.lstrip('-')}"
                  for k, (tex, _) in enumerate(rows)]
        return f"{lhs} &= " + r" \\ &\quad ".join(
            rf"{tex} && \text{{{label}}}" for tex, (_, label) in zip(signed, rows))
    terms = expr.args if isinstance(expr, sp.Add) and len(expr.args) > per_row else (expr,)
    return f"{lhs} &= " + _rows([latex_out.formula(term, notation) for term in terms], per_row)


def tape_paths(tape: Tape, step) -> list:
    """The steps of a backward sum's paths (`dL/dc_2 via h_2`, `dL/dc_2 via c_3`), in the
    tape's order; [] when it has one path (or the tape is too long to name them)."""
    prefix = f"{step.name} via "
    return [s for s in tape.steps if s.name.startswith(prefix)]


def path_label(tape: Tape, notation: Notation, path, t: int | None = None) -> str:
    """`through $h_t$`: the quantity a path's gradient comes back through, at a general step
    when t is given (the step of the rule), else at its own step."""
    via = path.name.split(" via ", 1)[1]
    if t is not None:
        cell = tape.problem.cell
        via = general_name(via, t, {*cell.quantities, "l"})
    return f"through ${notation.symbol(via)}$"


def general_formula(tape: Tape, notation: Notation, rule, inputs, step) -> tuple[str, sp.Basic]:
    """A rule (the tape's own, or a mistake of the catalog) on the step's inputs, written at a
    general step t: the left side's LaTeX and the display formula."""
    cell = tape.problem.cell
    sequence = {*cell.quantities, INPUT, TARGET, "l"} | {f"dL/d{q}" for q in cell.quantities}
    generic = [Quantity(general_name(n, step.t, sequence), s.shape, s.indexing, "generic")
               for s, n in zip(rule.slots, inputs)]
    expr = rule_display(rule, generic, not tape.model.is_scalar)
    return notation.symbol(general_name(step.name, step.t, sequence)), expr


def _rows(printed: list[str], per_row: int) -> str:
    """Terms of a sum, `per_row` to a row of an align environment, each sign kept."""
    out = printed[0]
    for k, tex in enumerate(printed[1:], start=1):
        sign = "-" if tex.startswith("-") else "+"
        out += (r" \\ &\quad " if k % per_row == 0 else " ") + f"{sign} {tex.lstrip('-')}"
    return out


def step_line(step, fmt: _Formatter):
    """A step as `line` shows it; a sum of vectors over several paths is broken into rows: the
    formula two terms to a row, the numbers one term to a row."""
    out = line(step, fmt)
    paths = tape_paths(fmt.ev.tape, step)
    if paths:
        out = replace(out, paths=path_values(fmt, step, paths))
    expr = fmt.ev.tape.display(step)
    if not (isinstance(expr, sp.MatAdd) and len(expr.args) > 2):
        return out
    n = fmt.notation
    values = fmt.substitution(expr)
    subst = _rows([latex_out.substituted(t, n, values) for t in expr.args], 1)
    return replace(out, formula=_rows([latex_out.formula(t, n) for t in expr.args], 2),
                   substituted=subst)


def path_values(fmt: _Formatter, step, paths: list) -> tuple[str, str]:
    """Each path's value, labelled, as a sum: (relation, LaTeX). The relation is `=` only where
    the shown values add up to the step's own (exact or rounded arithmetic), else `\\approx`."""
    ev = fmt.ev
    parts = []
    for k, p in enumerate(paths):
        value = fmt.value(p.name, exact=False)
        shown = value if k == 0 else latex_out.number(value)
        parts.append(rf"{'' if k == 0 else ' + '}\underbrace{{{shown}}}_{{\text{{"
                     f"{path_label(ev.tape, fmt.notation, p)}}}}}")
    total = [sum(vs) for vs in zip(*(ev.values[p.name] for p in paths))]
    exact = ev.mode in ("exact", "rounded") and all(
        a == b for a, b in zip(total, ev.values[step.name]))
    return ("=" if exact else r"\approx", "".join(parts))


def _steps_text(ts: list[int], T: int) -> str:
    """Which steps, as a condition on t: t = T, t < T, t = 1, 2."""
    if ts == [T]:
        return "t = T"
    if ts == list(range(1, T)):
        return "t < T"
    if len(ts) > 4:
        return rf"t \in \{{{ts[0]}, \dots, {ts[-1]}\}}" if ts == list(range(ts[0], ts[-1] + 1)) \
            else rf"t \in \{{{', '.join(map(str, ts))}\}}"
    return "t = " + ", ".join(map(str, ts))


def _backward_rules(ev: Evaluation, notation: Notation) -> tuple[list[str], list]:
    """The derived rules at the reference step (t = 1, or where a quantity first exists), and
    the other cases: (condition, why, rules) for the steps where some terms are absent."""
    tape = ev.tape
    p, by_name = tape.problem, tape.by_name
    cell, T = p.cell, p.T
    names = [q for q in reversed(cell.quantities)]
    first = {q: next(t for t in range(1, T + 1) if f"dL/d{q}_{t}" in by_name) for q in names}
    reference = {q: by_name[f"dL/d{q}_{first[q]}"].kind for q in names}
    rules = [general_rule(ev, notation, f"dL/d{q}_{first[q]}") for q in names]
    cases: dict[tuple, list[int]] = {}
    for t in range(1, T + 1):
        differing = tuple(q for q in names if f"dL/d{q}_{t}" in by_name
                          and by_name[f"dL/d{q}_{t}"].kind != reference[q])
        if differing:
            cases.setdefault(differing, []).append(t)
    read = set(p.loss_steps)
    reads_first = min(first.values()) in read
    out = []
    for differing, ts in cases.items():
        why = []
        if p.model.loss_steps != "all" and all(t in read for t in ts) and not reads_first:
            why.append("the loss reads the step")
        if p.model.loss_steps != "all" and all(t not in read for t in ts) and reads_first:
            why.append("the loss does not read the step")
        if T in ts:
            why.append("nothing reads the states at $T+1$")
        out.append((_steps_text(ts, T), " and ".join(why) or "some paths are absent",
                    [general_rule(ev, notation, f"dL/d{q}_{ts[0]}") for q in differing]))
    return rules, out


def _cell_sentence(p) -> str:
    """What the cell is, in words: the custom cell's description, or the shipped cell's name and
    the layout [model] chose (no output layer, which biases)."""
    m, cell = p.model, p.cell
    if p.custom_cell is not None:
        return escape_text(cell.description) if cell.description else \
            "A recurrent cell defined by its equations"
    name = {"elman": "An Elman RNN"}.get(m.cell, f"The {escape_text(m.cell)} cell")
    parts = [f"{name} ({escape_text(m.activation)})"]
    if m.output == "none":
        parts.append("without an output layer (the loss reads the state itself)")
    if m.bias in ("hidden", "output"):
        parts.append(f"with a bias on the {m.bias} layer only")
    return ", ".join(parts)


def build_cell(ev: Evaluation, options: Options | None = None) -> Document:
    """The document data for an evaluated problem of any cell."""
    options = options or Options()
    tape = ev.tape
    p = tape.problem
    cell = p.cell
    T = p.T
    notation = cell_notation(tape, options)
    fmt = _Formatter(ev, notation, None if options.all_steps else options.shown_first + 2)
    # a step's sum over the quantities that read it is shown whole; only sums over t collapse
    each = _Formatter(ev, notation, None)
    by_name = tape.by_name
    shown = shown_steps(T, options)
    given = p.model.loss == "given"
    target = UPSTREAM if given else TARGET
    backward, cases = _backward_rules(ev, notation)
    first = {q: next(t for t in range(1, T + 1) if f"{q}_{t}" in by_name)
             for q in cell.quantities}
    setup = {
        "scalar": p.model.is_scalar,
        "cell": _cell_sentence(p),
        "equations": [general_rule(ev, notation, f"{q}_{first[q]}") for q in cell.quantities],
        "backward": backward,
        "backward_cases": cases,
        "loss_words": "with the upstream gradient" if given else "trained with the loss",
        "loss_latex": loss_latex(ev, notation, cell.output),
        "weights": [(notation.symbol(w), fmt.value(w)) for w in p.weights],
        "initial": [(notation.symbol(f"{s}_0"), fmt.value(f"{s}_0")) for s in cell.states],
        "data": [(t, fmt.value(f"{INPUT}_{t}"),
                  fmt.value(f"{target}_{t}") if f"{target}_{t}" in tape.quantities else "-")
                 for t in range(1, T + 1)],
        "x": notation.symbol(f"{INPUT}_t"),
        "y": notation.symbol(f"dL/d{cell.output}_t" if given else f"{TARGET}_t"),
    }
    doc = Document(
        title=p.title or f"Backpropagation Through Time: {p.name}",  # user text: the |tex filter
        author=p.author, institute=p.institute, date=p.date,
        mode=ev.mode, decimals=ev.decimals, T=T, setup=setup, shown_t=shown, notation=notation)
    doc.sections["forward"] = [
        None if t is None else [step_line(by_name[f"{q}_{t}"], each) for q in cell.quantities
                                if f"{q}_{t}" in by_name]
        for t in shown]
    doc.sections["loss_terms"] = [None if t is None else step_line(by_name[f"l_{t}"], each)
                                  for t in shown if t is None or f"l_{t}" in by_name]
    if doc.sections["loss_terms"] and doc.sections["loss_terms"][-1] is None:
        doc.sections["loss_terms"].pop()
    doc.sections["loss"] = [] if given else [line(by_name["L"], fmt)]
    doc.sections["backward"] = [
        None if t is None else [step_line(by_name[f"dL/d{q}_{t}"], each)
                                for q in reversed(cell.quantities) if f"dL/d{q}_{t}" in by_name]
        for t in reversed(shown)]
    params = [n for n, q in tape.quantities.items() if q.role == "param"]
    doc.sections["parameters"] = []
    for w in params:
        parts = [t for t in range(1, T + 1) if f"dL/d{w}^({t})" in by_name]
        lines = [None if t is None else step_line(by_name[f"dL/d{w}^({t})"], each)
                 for t in (shown if len(parts) == T else parts)
                 if t is None or f"dL/d{w}^({t})" in by_name] if parts else []
        doc.sections["parameters"].append((notation.symbol(f"dL/d{w}"),
                                           lines + [line(by_name[f"dL/d{w}"], fmt)]))
    doc.summary = [line(by_name[g], fmt) for g in [*([] if given else ["L"]),
                                                    *(f"dL/d{w}" for w in params)]]
    doc.sections["forward_frames"] = slide_frames(doc.sections["forward"], "Forward pass: $t = {t}$")
    doc.sections["backward_frames"] = slide_frames(doc.sections["backward"],
                                                   "Backward pass: $t = {t}$")
    doc.sections["parameter_frames"] = [  # a gradient too tall for one frame goes on the next
        frame for symbol, lines in doc.sections["parameters"]
        for frame in numbered(f"Gradient: ${symbol}$", slide_parts(lines))]
    return with_extras(doc, ev, fmt, shown, options)


def with_extras(doc: Document, ev: Evaluation, fmt: _Formatter, shown: list, options: Options):
    """The parts every layout ends with: the training step's ([training]) and the figures."""
    doc.training = training_part(ev, fmt, shown)
    if doc.training:
        doc.sections["training"] = training_lines(ev, fmt)
    doc.options = options
    if options.figures:
        doc.figures = figures(ev, fmt, shown)
    return doc
