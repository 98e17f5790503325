"""Section 4 of the deck on the example's own numbers: truncated BPTT (which paths were cut),
gradient clipping and the update, and the loss after it, as steps (formula, numbers, result).
Empty when the problem has no [training] table, so documents without one are unchanged."""

from __future__ import annotations

from ..evaluate.arithmetic import Evaluation
from .document import _Formatter, line


def training_part(ev: Evaluation, fmt: _Formatter, shown: list[int | None]) -> dict:
    """What the documents show of [training]: sentences' pieces and lines, by part."""
    tape = ev.tape
    tr = tape.problem.training
    if tr is None:
        return {}
    n = fmt.notation
    by = tape.by_name
    cell = tape.problem.cell
    T = tape.T
    states = list(cell.states)
    params = [p for p, q in tape.quantities.items() if q.role == "param"]
    part: dict = {"states": ", ".join(f"${n.symbol(s + '_t')}$" for s in states)}
    if tr.truncate is not None:
        cuts = [t for t in range(1, T) if t % tr.truncate == 0]
        part["truncate"] = {
            "k": tr.truncate, "cuts": ", ".join(str(t) for t in cuts),
            "lines": [line(by[f"dL/d{s}_{t}"], fmt) for t in cuts[:2] for s in states],
            "none": not cuts,
        }
    if tr.truncate_window is not None:
        k = tr.truncate_window
        t = 1
        s = states[0] if states else cell.quantities[0]
        parts = [f"dL/d{s}_{t} from l_{j}" for j in range(t, min(T, t + k - 1) + 1)]
        part["window"] = {
            "k": k, "t": t, "first": n.symbol(f"{s}_{max(1, T - k + 1)}"),
            "last": n.symbol(f"{s}_{T}"), "loss": n.symbol(f"l_{T}"),
            "lines": [line(by[p], fmt) for p in parts if p in by] + [line(by[f"dL/d{s}_{t}"], fmt)],
        }
    if tr.clip_norm is not None:
        norm = ev.as_float("|g|")[0]
        part["clip"] = {
            "c": f"{tr.clip_norm:g}", "active": norm > tr.clip_norm,
            "lines": [line(by["|g|"], fmt)] + [line(by[f"clipped dL/d{p}"], fmt) for p in params],
        }
    if tr.learning_rate is not None:
        part["sgd"] = {"lr": f"{tr.learning_rate:g}",
                          "clipped": tr.clip_norm is not None,
                          "lines": [line(by[f"{p}'"], fmt) for p in params]}
    if tr.after_update:
        before, after = ev.as_float("L")[0], ev.as_float("L'")[0]
        part["after"] = {
            "lines": [None if t is None else line(by[f"l_{t}'"], fmt) for t in shown]
            + [line(by["L'"], fmt)],
            "lower": after < before,
            "L": fmt.value("L"), "L'": fmt.value("L'"),
        }
    return part


def training_lines(ev: Evaluation, fmt: _Formatter) -> list:
    """Every step of [training] as a line (|g|, clipped gradients, W', the pass after it, and
    dL/dq_t where truncation cut the path back), for exam keys' worked steps."""
    tape = ev.tape
    if tape.problem.training is None:
        return []
    role = {n: q.role for n, q in tape.quantities.items()}
    names = [s.name for s in tape.steps if role[s.name] == "training" or s.name.endswith("'")
             or " from l_" in s.name]
    return [line(tape.by_name[n], fmt) for n in names]
