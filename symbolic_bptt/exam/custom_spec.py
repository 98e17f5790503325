"""An EXAM.toml over a cell of its own: `[model] cell = "custom"` with a `[cell]` table (or the
path of a cell file), and `[shapes]`, the input's size and every parameter's shape:

```toml
[model]
cell = "custom"
loss = "half_sse"
[cell]
output = "y^"
equations = ['i_t = \\sigma(W_{ii} x_t + W_{hi} h_{t-1} + b_i)', '...']
[shapes]              # x: the input's size; a parameter: [rows, cols], or n for a vector of n
x = 1                 #   (1: a number)
W_ii = [2, 1]
b_i = 2
[draw]                # T, x, y, each state's initial value (h0, c0) and each parameter
W_hf = {min = -0.5, max = 0.5}
[[questions]]         # forward (the states and the output, or `quantities`), loss,
kind = "dL/dc"        #   dL/d<quantity> (t as for forward), dL/d<parameter>
```

The shapes are checked against the equations as a problem file's are. The Elman cell's
`formula` and `vanishing` questions (its mistake catalog, its one Jacobian) are refused here.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..errors import ProblemError
from ..inputs.problem import _parse_model, _show
from ..model.cell import Cell, bind, infer_shapes, load_cell
from .spec import (
    Draw,
    ExamSpec,
    Question,
    _draw,
    _known,
    _number,
    _plain,
    _steps,
    _table,
    _whole,
    arithmetic_of,
    checked_draws,
    reject_of,
)

ELMAN_ONLY = ("vanishing",)
_QUESTION_KEYS = {"kind", "points", "t", "quantities", "correct", "codes", "state"}
_SIZES = ("input_size", "hidden_size", "output_size")


def parse_custom_spec(raw: dict[str, Any], name: str, base: Path | None,
                      common: dict[str, Any]) -> ExamSpec:
    """Validate an EXAM.toml whose model is a cell of its own into an ExamSpec."""
    table = {k: _plain(v) for k, v in _table(raw, "model", "cell, activation, loss").items()}
    sized = [k for k in _SIZES if k in table]
    if sized:
        raise ProblemError(f"model.{sized[0]} is for the elman cell; the sizes of a cell of its "
                           "own come from [shapes]")
    spec_name = table["cell"]
    if not isinstance(spec_name, str):
        raise ProblemError(f"model.cell must be a string (a shipped cell, \"custom\", or a path"
                           f" to a .toml cell file), got {_show(spec_name)}")
    classes = table.get("loss") == "cross_entropy"
    model = _parse_model(table | ({"output_size": 2} if classes else {}))
    cell = load_cell(spec_name, raw.get("cell"), base)
    bound = bind(cell, model.activation, model.bias)
    shapes, vectors = _shapes(_table(raw, "shapes", "the input's size and each parameter's "
                                                    "shape"), bound)
    params = {p: s for p, s in shapes.items() if p != "x"}
    try:
        sizes = infer_shapes(bound, params, shapes["x"][0])
    except ProblemError as exc:
        raise ProblemError(f"shapes: {exc}".replace("; give ", "; give its size through [shapes]"
                                                    " or ")) from None
    out = sizes[bound.output][0]
    if classes and out < 2:
        raise ProblemError(f"model.loss = \"cross_entropy\" needs an output of 2 or more "
                           f"classes, but {bound.output}_t has {out} entry")
    dims = [d for s in (*sizes.values(), *shapes.values()) for d in s]
    model = replace(model, cell=spec_name, input_size=shapes["x"][0], hidden_size=max(dims),
                    output_size=out)
    mode, decimals = arithmetic_of(raw)
    questions = _questions(raw.get("questions"), bound)
    draws = _draws(_table(raw, "draw", "how each number is drawn"), bound, model)
    _check_steps(questions, draws["T"])
    if any(q.kind == "formula" for q in questions) and int(draws["T"].minimum()) < 2:
        raise ProblemError("a formula question asks for a gradient at a general step t < T: "
                           "draw.T must be 2 or more")
    saturation, max_tries = reject_of(raw)
    return ExamSpec(name=name, model=model, model_table=table, mode=mode, decimals=decimals,
                    draws=draws, saturation=saturation, max_tries=max_tries,
                    questions=questions, cell=cell, shapes=shapes, vectors=frozenset(vectors),
                    **common)


def _shapes(table: dict, cell: Cell) -> tuple[dict[str, tuple[int, int]], list[str]]:
    """[shapes]: x's size (default 1) and every parameter's: [rows, cols], or n (a vector)."""
    allowed = ["x", *cell.parameters]
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ProblemError(f"unknown key shapes.{unknown[0]} (expected one of: "
                           f"{', '.join(allowed)})")
    shapes = {"x": (_whole(table.get("x", 1), "shapes.x", 1, 1000), 1)}
    vectors = []
    for p in cell.parameters:
        where = f"shapes.{p}"
        if p not in table:
            raise ProblemError(f"missing key {where} (the cell's parameter {p}: [rows, cols] for "
                               "a matrix, n for a vector of n, 1 for a number)")
        value = table[p]
        if isinstance(value, list):
            if len(value) != 2:
                raise ProblemError(f"{where} must be [rows, cols] or a whole number, got "
                                   f"{_show(_plain(value))}")
            shapes[p] = (_whole(value[0], f"{where}[0]", 1, 1000),
                         _whole(value[1], f"{where}[1]", 1, 1000))
        else:
            shapes[p] = (_whole(value, where, 1, 1000), 1)
            if shapes[p][0] > 1:
                vectors.append(p)
    return shapes, vectors


def _draws(table: dict, cell: Cell, model) -> dict[str, Draw]:
    """How T, x, y, each state's initial value and each parameter are drawn."""
    states = [f"{s}0" for s in cell.states]
    keys = ["T", "x", "y", *states, *cell.parameters]
    unknown = sorted(set(table) - set(keys))
    if unknown:
        raise ProblemError(f"unknown key draw.{unknown[0]} (expected one of: {', '.join(keys)})")
    one_decimal = {"min": Decimal(-1), "max": Decimal(1), "decimals": 1}
    defaults: dict[str, Any] = {"T": [3], "x": one_decimal, "y": one_decimal}
    defaults |= {s: 0 for s in states} | {p: {**one_decimal, "nonzero": True}
                                          for p in cell.parameters}
    classes = model.loss == "cross_entropy"
    if classes:
        defaults["y"] = list(range(model.output_size))
    draws = {k: _draw(table.get(k, defaults[k]), f"draw.{k}",
                      whole=k == "T" or (k == "y" and classes)) for k in keys}
    return checked_draws(draws, model)


def _questions(raw: Any, cell: Cell) -> tuple[Question, ...]:
    if raw is None:
        raise ProblemError("missing [[questions]]: the exam asks nothing (add e.g. "
                           "[[questions]] kind = \"forward\")")
    if not isinstance(raw, list) or not raw or not all(isinstance(q, dict) for q in raw):
        raise ProblemError("questions must be a list of tables [[questions]] (kind, points, ...)")
    gradients = [f"dL/d{q}" for q in cell.quantities]
    kinds = ["forward", "loss", *gradients, *(f"dL/d{p}" for p in cell.parameters), "formula",
             "gate-product"]
    out = []
    for i, q in enumerate(raw):
        where = f"questions[{i}]"
        kind = q.get("kind")
        if kind in ELMAN_ONLY:
            raise ProblemError(f"{where}.kind = \"{kind}\" is a question on the Elman cell (its "
                               "Jacobian); "
                               f"cell {cell.name!r} is asked forward, loss, dL/d<quantity>, "
                               "dL/d<parameter> and formula questions")
        if kind not in kinds:
            raise ProblemError(f"{where}.kind = {_show(_plain(kind))} is not a question kind "
                               f"for this cell (expected one of: {', '.join(kinds)})")
        extra = sorted(set(q) - _QUESTION_KEYS)
        if extra:
            raise ProblemError(f"unknown key {where}.{extra[0]} (expected one of: "
                               f"{', '.join(sorted(_QUESTION_KEYS))}; given belongs to the Elman"
                               " cell's questions)")
        _known(q, _QUESTION_KEYS, f"{where}.")
        points = _number(q.get("points", 1), f"{where}.points")
        if points <= 0:
            raise ProblemError(f"{where}.points must be > 0, got {points}")
        if kind != "formula" and ("codes" in q or "correct" in q):
            raise ProblemError(f"{where}: codes and correct belong to a formula question")
        if kind != "gate-product" and "state" in q:
            raise ProblemError(f"{where}.state belongs to a gate-product question")
        if kind == "formula":
            out.append(_formula(q, where, points, i + 1, cell, gradients))
            continue
        if kind == "gate-product":
            out.append(_gate_product(q, where, points, i + 1, cell))
            continue
        stepped = kind == "forward" or kind in gradients
        if "t" in q and not stepped:
            raise ProblemError(f"{where}.t: a {kind} question has no time step")
        t = _steps(q.get("t", "all"), f"{where}.t") if stepped else ()
        quantities: tuple[str, ...] = ()
        if kind == "forward":
            default = [s for s in cell.quantities if s in cell.states or s == cell.output]
            quantities = _quantities(q.get("quantities", default), f"{where}.quantities", cell)
        elif "quantities" in q:
            raise ProblemError(f"{where}.quantities belongs to a forward question")
        elif kind in gradients:
            quantities = (kind[4:],)
        out.append(Question(i + 1, kind, points, t, quantities=quantities))
    return tuple(out)


def _formula(q: dict, where: str, points, number: int, cell: Cell,
             gradients: list[str]) -> Question:
    """A formula question: `correct`, the gradient dL/d<quantity> whose formula is asked (by
    default the first state's: dL/dh for a GRU; the LSTM's dL/dc is asked by name), and
    `codes`, the catalog codes its distractors may embody (default: every code)."""
    from ..audit.catalog import CODES as CATALOG
    if "t" in q:
        raise ProblemError(f"{where}.t: a formula question is asked at a general step t")
    correct = q.get("correct", f"dL/d{cell.states[0]}" if cell.states else gradients[0])
    if correct not in gradients:
        raise ProblemError(f"{where}.correct = {_show(_plain(correct))} is not known (expected "
                           f"one of: {', '.join(gradients)})")
    codes = q.get("codes", [])
    if not isinstance(codes, list) or any(c not in CATALOG or c == "arithmetic" for c in codes):
        raise ProblemError(f"{where}.codes must be a list of mistake codes (some of: "
                           f"{', '.join(c for c in CATALOG if c != 'arithmetic')})")
    return Question(number, "formula", points, (), tuple(dict.fromkeys(codes)), correct)


def state_gate(cell: Cell, state: str) -> str | None:
    """The gate g of a state s whose equation has the term g_t ⊙ s_{t-1} (the LSTM's f for c,
    the GRU's z for h): the direct path ds_t/ds_{t-1} = diag(g_t), holding the gates fixed."""
    from ..model.equations import Had, Sum, Sym
    rhs = cell.equation(state).rhs
    for term in rhs.terms if isinstance(rhs, Sum) else (rhs,):
        if isinstance(term, Had):
            pair = {(x.name, x.lag) for x in (term.left, term.right) if isinstance(x, Sym)}
            if (state, 1) in pair and len(pair) == 2:
                gate = next(name for name, lag in pair if (name, lag) != (state, 1))
                if (gate, 0) in pair and gate in cell.quantities:
                    return gate
    return None


def _gate_product(q: dict, where: str, points, number: int, cell: Cell) -> Question:
    """The product of a state's gates along its own path: ds_T/ds_k = prod_{j>k} diag(g_j)
    (the LSTM's forget-gate product dc_T/dc_k), asked at k = `t` (one step, default 1)."""
    gated = [s for s in cell.states if state_gate(cell, s)]
    if not gated:
        raise ProblemError(f"{where}: cell {cell.name!r} has no state carried by a gate "
                           "(a term g_t \\odot s_{t-1}), so it has no gate product")
    state = q.get("state", gated[0])
    if state not in gated:
        raise ProblemError(f"{where}.state = {_show(_plain(state))} is not a gated state of the "
                           f"cell (expected one of: {', '.join(gated)})")
    t = _steps(q.get("t", 1), f"{where}.t")
    if t == "all" or len(t) != 1:
        raise ProblemError(f"{where}.t must be one step k (the product runs from k+1 to T)")
    return Question(number, "gate-product", points, t, quantities=(state, state_gate(cell, state)))


def _quantities(value: Any, where: str, cell: Cell) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or any(v not in cell.quantities for v in value):
        raise ProblemError(f"{where} must list quantities of the cell (some of: "
                           f"{', '.join(cell.quantities)}), got {_show(_plain(value))}")
    return tuple(q for q in cell.quantities if q in value)


def _check_steps(questions: tuple[Question, ...], T: Draw) -> None:
    """Every asked time step must exist for the shortest sequence drawn."""
    shortest = int(T.minimum())
    for q in questions:
        if q.t == "all":
            continue
        for t in q.t:
            step = t if t > 0 else shortest + 1 + t
            if q.kind == "gate-product" and not 1 <= step < shortest:
                raise ProblemError(f"questions[{q.number - 1}].t = {t}: the gate product runs "
                                   f"from k+1 to T, so k is in 1..T-1 (T = {shortest})")
            if not 1 <= step <= shortest:
                raise ProblemError(f"questions[{q.number - 1}].t = {t} is outside 1..T for "
                                   f"T = {shortest}")
