"""Custom cells against what no one here wrote: each shipped custom-cell example recomputed by a
PyTorch recurrence written here by hand (and the LSTM and GRU by torch.nn.LSTM / torch.nn.GRU),
every `solve --json` quantity to 1e-9; random cells drawn from a small grammar, each drawn as
LaTeX for the engine and as torch code for the oracle at the same time.

Per-step contributions dL/dp^(t) are the gradients of the copy of p that step t uses.
"""

from __future__ import annotations

import math
import re

import pytest
from conftest import CUSTOM_FILES, EXAMPLES, flat
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from symbolic_bptt.evaluate.arithmetic import evaluate
from symbolic_bptt.evaluate.solution import quantities
from symbolic_bptt.inputs.files import parse_toml
from symbolic_bptt.inputs.problem import parse_problem
from symbolic_bptt.tape import unroll

torch = pytest.importorskip("torch")
from torch_cells import gru, indrnn, jordan, leaky, lstm
from torch_named import named_values

F64 = torch.float64
REL, ABS = 1e-9, 1e-12


def col(values) -> torch.Tensor:
    return torch.tensor(values, dtype=F64).reshape(-1, 1)


def param(value) -> torch.Tensor:
    """A [weights] value as a tensor: a number, a column vector, or a matrix."""
    if isinstance(value, list) and value and isinstance(value[0], list):
        return torch.tensor(value, dtype=F64)
    return col(value)


def run_oracle(raw: dict, step, loss: str = "half_sse", output: str = "o", names=()) -> dict:
    """Every quantity of a recurrence by autograd. `step(w, x_t, prev)` returns the step's
    quantities in order, with `prev` the previous step's (or the initial states)."""
    T = len(raw["data"]["x"])
    copies = [{n: param(v).requires_grad_() for n, v in raw["weights"].items()} for _ in range(T)]
    prev = {k[:-1]: col(v) for k, v in raw["data"].items() if k not in ("x", "y")}
    n = len(raw["weights"]["W_hy"][0]) if "W_hy" in raw["weights"] else 1
    prev.setdefault("h", torch.zeros(n, 1, dtype=F64))
    for v in prev.values():  # so that every quantity, h_0's copies too, has a gradient
        v.requires_grad_()
    out, per_step = {}, []
    for t in range(1, T + 1):
        qs = step(copies[t - 1], col(raw["data"]["x"][t - 1]), prev)
        for q in qs.values():
            if q.requires_grad:  # else nothing it depends on is learned: its gradient is 0
                q.retain_grad()
        y = col(raw["data"]["y"][t - 1])
        l_t = ((qs[output] - y) ** 2).sum()
        out |= {f"{n}_{t}": q for n, q in qs.items()} | {f"l_{t}": l_t}
        per_step.append(qs)
        prev = qs
    scale = {"half_sse": 0.5, "sse": 1.0, "mse": 1.0 / T}[loss]
    L = scale * sum(out[f"l_{t}"] for t in range(1, T + 1))
    L.backward(retain_graph=True)
    values = {n: q.detach().flatten().tolist() for n, q in out.items()} | {"L": [L.item()]}
    for t, qs in enumerate(per_step, start=1):
        for n, q in qs.items():
            values[f"dL/d{n}_{t}"] = (q.grad if q.grad is not None
                                      else torch.zeros_like(q)).flatten().tolist()
    for name in raw["weights"]:
        grads = [c[name].grad if c[name].grad is not None else torch.zeros_like(c[name])
                 for c in copies]
        values[f"dL/d{name}"] = sum(grads).flatten().tolist()
        for t, g in enumerate(grads, start=1):
            values[f"dL/d{name}^({t})"] = g.flatten().tolist()

    def rollout(k, u, value, t, s):
        prev = {n: v.detach() for n, v in (per_step[k - 1] if k else {}).items()}
        prev[u] = value
        for j in range(k + 1, t + 1):
            prev = step(copies[j - 1], col(raw["data"]["x"][j - 1]), prev)
        return prev[s]

    # last: autograd.grad fills .grad too
    return values | named_values(names, out, scale, rollout)


def assert_matches(engine: dict, oracle: dict) -> None:
    """Every engine quantity equals the oracle's; every quantity and gradient is reported."""
    missing = [n for n in oracle if "^(" not in n and n not in engine]
    assert not missing, missing
    for name, value in engine.items():
        ours, theirs = flat(value), oracle[name]
        assert len(ours) == len(theirs), name
        for a, b in zip(ours, theirs):
            assert abs(a - b) <= REL * max(abs(a), abs(b)) + ABS, (name, a, b)


_LOCAL = re.compile(r"^d[^/]+_(\d+)/d[^/]+_\1$")  # dq_t/dp_t, a local derivative


def checked_terms(engine: dict, oracle: dict) -> dict:
    """The terms `dL/dq_t via r_s` of each sum must add up to the oracle's dL/dq_t; the engine's
    quantities without the terms and local derivatives the oracle cannot isolate (see
    torch_named.named_values)."""
    for q in {k.split(" via ")[0] for k in engine if " via " in k}:
        parts = [flat(v) for k, v in engine.items() if k.startswith(f"{q} via ")]
        total = [sum(col) for col in zip(*parts)]
        assert total == pytest.approx(oracle[q], rel=1e-9, abs=1e-12), q
    return {k: v for k, v in engine.items()
            if k in oracle or not (" via " in k or _LOCAL.match(k))}


CELLS = {"leaky": (leaky, "half_sse", "o"), "jordan": (jordan, "half_sse", "o"),
         "indrnn": (indrnn, "mse", "o"), "lstm_custom": (lstm, "half_sse", "y^"),
         "gru_custom": (gru, "half_sse", "y^")}


def test_every_custom_example_has_an_oracle():
    assert {p.stem for p in CUSTOM_FILES} == set(CELLS)


@pytest.mark.parametrize("stem", sorted(CELLS))
def test_custom_example_matches_torch(cli, stem):
    path = EXAMPLES / f"{stem}.toml"
    run = cli("solve", path, "--mode", "float", "--json")
    assert run.code == 0, run.err
    step, loss, output = CELLS[stem]
    raw = parse_toml(path.read_text(encoding="utf-8"))
    engine = run.json()["quantities"]
    oracle = run_oracle(raw, step, loss, output, engine)
    engine = checked_terms(engine, oracle)
    assert_matches(engine, oracle)


def assert_matches_module(cli, stem: str, module, stacks: dict[str, list[str]], bias: bool):
    """The file's weights stacked into a torch.nn recurrent module (its parameter -> our names,
    in the module's gate order; bias_hh zero where the file has none), then h_t and the
    gradient of every stacked weight, by the module's autograd, against `solve`."""
    path = EXAMPLES / f"{stem}.toml"
    raw = parse_toml(path.read_text(encoding="utf-8"))
    w, d = raw["weights"], raw["data"]
    with torch.no_grad():
        module.bias_hh_l0.zero_()
        for tensor, names in stacks.items():
            rows = [row for n in names for row in w[n]]
            getattr(module, tensor).copy_(torch.tensor(rows, dtype=F64))
    W_hy = torch.tensor(w["W_hy"], dtype=F64)
    x = torch.tensor(d["x"], dtype=F64).reshape(len(d["x"]), 1, -1)
    y = torch.tensor(d["y"], dtype=F64).reshape(-1)
    init = tuple(torch.tensor(d[k], dtype=F64).reshape(1, 1, -1) for k in ("h0", "c0") if k in d)
    hs, _ = module(x, init if len(init) > 1 else init[0])
    hs = hs.reshape(len(d["x"]), -1)
    out = (hs @ W_hy.T).reshape(-1) + (w["b_y"] if bias else 0.0)
    (0.5 * ((out - y) ** 2).sum()).backward()
    q = cli("solve", path, "--json").json()["quantities"]
    for t, h in enumerate(hs.detach().tolist(), start=1):
        assert q[f"h_{t}"] == pytest.approx(h, rel=REL, abs=ABS)
    grads = dict(module.named_parameters())
    for tensor, names in stacks.items():
        grad = grads[tensor].grad
        size = grad.shape[0] // len(names)
        for k, name in enumerate(names):
            value = grad[k * size:(k + 1) * size].flatten().tolist()
            assert flat(q[f"dL/d{name}"]) == pytest.approx(value, rel=REL, abs=ABS), name


def test_lstm_custom_cell_matches_torch_nn_lstm(cli):
    """The same numbers from torch.nn.LSTM itself: weights stacked as weight_ih_l0 (i, f, g, o)."""
    assert_matches_module(cli, "lstm_custom", torch.nn.LSTM(2, 2, dtype=F64), {
        "weight_ih_l0": ["W_ii", "W_if", "W_ig", "W_io"],
        "weight_hh_l0": ["W_hi", "W_hf", "W_hg", "W_ho"],
        "bias_ih_l0": ["b_i", "b_f", "b_g", "b_o"]}, bias=True)


def test_gru_custom_cell_matches_torch_nn_gru(cli):
    """The same numbers from torch.nn.GRU itself: weights stacked as weight_ih_l0 (r, z, n)."""
    assert_matches_module(cli, "gru_custom", torch.nn.GRU(1, 2, dtype=F64), {
        "weight_ih_l0": ["W_ir", "W_iz", "W_in"], "weight_hh_l0": ["W_hr", "W_hz", "W_hn"],
        "bias_ih_l0": ["b_ir", "b_iz", "b_in"], "bias_hh_l0": ["b_hr", "b_hz", "b_hn"]},
        bias=False)


# ---------------------------------------------------------------------------------------------
# Random cells: each expression drawn twice, as LaTeX and as a torch function


class Expr:
    """One drawn expression: its LaTeX, a torch function of (weights, x_t, prev, this step)."""

    def __init__(self, tex: str, fn, params: dict):
        self.tex, self.fn, self.params = tex, fn, params


def _leaf(draw, n: int, k: int, defined: list[str]) -> Expr:
    choice = draw(st.sampled_from(["W_x", "W_h", "u", "b", "state", "defined"]
                                  if defined else ["W_x", "W_h", "u", "b", "state"]))
    rnd = st.floats(-0.9, 0.9, allow_nan=False).map(lambda v: round(v, 2))
    if choice == "W_x":
        name = f"W_{{x{k}}}"
        value = [[draw(rnd)] for _ in range(n)]
        return Expr(f"{name} x_t", lambda w, x, p, c, m=f"W_x{k}": w[m] @ x, {f"W_x{k}": value})
    if choice == "W_h":
        value = [[draw(rnd) for _ in range(n)] for _ in range(n)]
        return Expr(f"W_{{h{k}}} h_{{t-1}}", lambda w, x, p, c, m=f"W_h{k}": w[m] @ p["h"],
                    {f"W_h{k}": value})
    if choice == "u":
        value = [draw(rnd) for _ in range(n)]
        return Expr(f"u_{{{k}}} \\odot h_{{t-1}}", lambda w, x, p, c, m=f"u_{k}": w[m] * p["h"],
                    {f"u_{k}": value})
    if choice == "b":
        value = [draw(rnd) for _ in range(n)]
        return Expr(f"b_{{{k}}}", lambda w, x, p, c, m=f"b_{k}": w[m], {f"b_{k}": value})
    if choice == "state":
        return Expr("h_{t-1}", lambda w, x, p, c: p["h"], {})
    q = draw(st.sampled_from(defined))
    return Expr(f"{q}_t", lambda w, x, p, c, q=q: c[q], {})


@st.composite
def _expr(draw, n: int, k: list, defined: list[str], depth: int = 0) -> Expr:
    k[0] += 1
    if depth >= 2 or draw(st.booleans()):
        return _leaf(draw, n, k[0], defined)
    kind = draw(st.sampled_from(["add", "sub", "had", "fn", "scale", "one_minus"]))
    a = draw(_expr(n, k, defined, depth + 1))
    if kind in ("add", "sub", "had"):
        b = draw(_expr(n, k, defined, depth + 1))
        op = {"add": "+", "sub": "-", "had": "\\odot"}[kind]
        fn = {"add": lambda u, v: u + v, "sub": lambda u, v: u - v, "had": lambda u, v: u * v}[kind]
        return Expr(f"({a.tex} {op} {b.tex})", lambda w, x, p, c: fn(a.fn(w, x, p, c),
                                                                      b.fn(w, x, p, c)),
                    a.params | b.params)
    if kind == "fn":
        tex, fn = draw(st.sampled_from([("\\tanh", torch.tanh), ("\\sigma", torch.sigmoid),
                                        ("\\exp", torch.exp)]))
        return Expr(f"{tex}({a.tex})", lambda w, x, p, c: fn(a.fn(w, x, p, c)), a.params)
    if kind == "scale":
        number = draw(st.sampled_from(["0.5", "2", "\\frac{1}{4}"]))
        value = {"0.5": 0.5, "2": 2.0, "\\frac{1}{4}": 0.25}[number]
        return Expr(f"{number} ({a.tex})", lambda w, x, p, c: value * a.fn(w, x, p, c), a.params)
    return Expr(f"(1 - {a.tex})^2", lambda w, x, p, c: (1 - a.fn(w, x, p, c)) ** 2, a.params)


@st.composite
def random_cells(draw):
    """A cell of one or two intermediate quantities, a tanh state h and an output o."""
    n = draw(st.integers(1, 2))
    k = [0]
    defined: list[str] = []
    equations, fns, params = [], [], {}
    for name in ["p", "q"][:draw(st.integers(0, 2))]:
        e = draw(_expr(n, k, list(defined)))
        equations.append(f"{name}_t = {e.tex}")
        fns.append((name, e.fn))
        params |= e.params
        defined.append(name)
    e = draw(_expr(n, k, list(defined)))
    equations.append(f"h_t = \\tanh({e.tex} + W_{{xh}} x_t)")
    params |= e.params | {"W_xh": [[0.3] for _ in range(n)]}
    fns.append(("h", lambda w, x, p, c, f=e.fn: torch.tanh(f(w, x, p, c) + w["W_xh"] @ x)))
    rnd = st.floats(-0.9, 0.9, allow_nan=False).map(lambda v: round(v, 2))
    params["W_hy"] = [[draw(rnd) for _ in range(n)]]
    equations.append("o_t = W_{hy} h_t")
    fns.append(("o", lambda w, x, p, c: w["W_hy"] @ c["h"]))
    T = draw(st.integers(1, 3))
    data = {"x": [draw(rnd) for _ in range(T)], "y": [draw(rnd) for _ in range(T)]}
    if any("h_{t-1}" in e for e in equations):  # h is a state: its initial value
        data["h0"] = [draw(rnd) for _ in range(n)]
    raw = {"model": {"cell": "custom", "loss": "half_sse"},
           "cell": {"output": "o", "equations": equations}, "data": data, "weights": params}

    def step(w, x, prev):
        current = {}
        for name, fn in fns:
            current[name] = fn(w, x, prev, current).clone()  # its own node, never an alias
        return current
    return raw, step


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_cells())
def test_random_custom_cells_match_torch(case):
    raw, step = case
    problem = parse_problem(raw)
    engine = quantities(evaluate(unroll(problem), "float"))
    oracle = run_oracle(raw, step, names=engine)
    assume(all(math.isfinite(v) for vs in oracle.values() for v in vs))
    assert_matches(checked_terms(engine, oracle), oracle)


@pytest.mark.tex
@pytest.mark.parametrize("stem", sorted(CELLS))
def test_custom_worked_solution_prints_the_oracle_numbers(cli, stem, tmp_path):
    """The PDF's summary shows L and every parameter gradient as PyTorch computes them."""
    from texutil import pdf_text, require_tex
    require_tex()
    path = EXAMPLES / f"{stem}.toml"
    run = cli("render", path, "--pdf", "--out", tmp_path)
    assert run.code == 0, run.err
    text = pdf_text(tmp_path / "article.pdf").replace("−", "-")
    step, loss, output = CELLS[stem]
    raw = parse_toml(path.read_text(encoding="utf-8"))
    oracle = run_oracle(raw, step, loss, output)
    summary = text[text.rindex("Summary"):]
    for name in ["L", *(f"dL/d{w}" for w in raw["weights"])]:
        for v in oracle[name]:
            shown = f"{v:.4f}"
            assert (shown if shown != "-0.0000" else "0.0000") in summary, (name, shown)


GOOD = """[model]
cell = "custom"
[cell]
output = "o"
equations = ['h_t = \\tanh(W_{hh} h_{t-1} + W_{xh} x_t)', 'o_t = W_{hy} h_t']
[data]
x = [0.5, 0.1]
y = [0.4, 0.2]
[weights]
W_hh = [[0.5, 0.1], [0.2, 0.3]]
W_xh = [[0.6], [0.4]]
W_hy = [[0.8, -0.2]]
"""

BAD = [
    ("'o_t = W_{hy} h_t'", "'o_t = W_{hy} g_t'", "g_t is not defined by any equation"),
    ("'h_t = \\tanh(", "'h_t = \\foo(", "unknown symbol or command '\\\\foo' at position 7"),
    ("W_hy = [[0.8, -0.2]]", "W_hy = [[0.8, -0.2, 0.1]]", "does not fit (3 columns against 2 rows)"),
    ("W_hy = [[0.8, -0.2]]\n", "", "missing key weights.W_hy"),
    ("W_hy = [[0.8, -0.2]]", "W_hy = [[0.8, -0.2]]\nW_zz = 1", "unknown key weights.W_zz"),
    ("'h_t = \\tanh(W_{hh} h_{t-1}", "'h_t = \\tanh(W_{hh} o_t", "defined later"),
    ("'h_t = \\tanh(W_{hh} h_{t-1}", "'h_t = \\tanh(W_{hh} h_{t-2}", "t or t-1 only"),
    ('output = "o"', 'output = "q"', "output = 'q' is not a quantity"),
    ("'o_t = W_{hy} h_t'", "'o_t = W_{hy} h_t', 'h_t = x_t'", "h_t is defined twice"),
    ("x_t)'", "y_t)'", "the target y_t is read by the loss"),
    ('cell = "custom"', 'cell = "nope"', 'a [cell] table needs model.cell = "custom"'),
    ('cell = "custom"', 'cell = "custom"\nhidden_size = 2', "model.hidden_size is for the elman"),
    ("x = [0.5, 0.1]", "x = [0.5, 0.1]\nc0 = [1, 2]", "unknown key data.c0"),
]


@pytest.mark.parametrize("old, new, message", BAD, ids=[m for _, _, m in BAD])
def test_a_bad_cell_is_one_error_line_and_exit_2(cli, tmp_path, old, new, message):
    assert old in GOOD
    path = tmp_path / "p.toml"
    path.write_text(GOOD.replace(old, new, 1), encoding="utf-8")
    run = cli("solve", path)
    assert run.code == 2, run.out
    assert run.err.count("\n") == 1 and run.err.startswith("symbolic-bptt: error: "), run.err
    assert message in run.err, run.err


def test_the_good_cell_solves_and_a_cell_file_is_the_same(cli, tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(GOOD, encoding="utf-8")
    inline = cli("solve", path, "--json")
    assert inline.code == 0, inline.err
    cell = GOOD[GOOD.index("[cell]"):GOOD.index("[data]")]
    (tmp_path / "cells").mkdir()
    (tmp_path / "cells" / "mine.toml").write_text(cell, encoding="utf-8")
    path.write_text(GOOD.replace('cell = "custom"', 'cell = "cells/mine.toml"').replace(cell, ""),
                    encoding="utf-8")
    from_file = cli("solve", path, "--json")
    assert from_file.code == 0, from_file.err
    assert from_file.json() == inline.json()


# ---------------------------------------------------------------------------------------------
# One step's Jacobian, derived from the tape, against torch.autograd.functional.jacobian


def _elman_step(w, x):
    return lambda h: torch.tanh(w["W_hh"] @ h + w["W_xh"] @ x + w["b_h"].flatten())


def _lstm_step(w, x, c_prev):
    def step(h):
        gate = {g: w[f"W_i{g}"] @ x + w[f"W_h{g}"] @ h + w[f"b_{g}"].flatten() for g in "ifgo"}
        i, f, o = (torch.sigmoid(gate[g]) for g in "ifo")
        c = f * c_prev + i * torch.tanh(gate["g"])
        return o * torch.tanh(c)
    return step


@pytest.mark.parametrize("example", ["vector_bias", "lstm_custom"])
def test_a_step_jacobian_is_autograds(example):
    """dh_k/dh_{k-1} (c_{k-1} held, for the LSTM) at every k, from the tape and from torch."""
    from symbolic_bptt.tape.jacobian import jacobians

    path = EXAMPLES / f"{example}.toml"
    raw = parse_toml(path.read_text(encoding="utf-8"))
    tape = unroll(parse_problem(raw, name=example))
    ev = evaluate(tape, "float")
    values = {n: ev.as_float(n) for n in ev.values}
    ours = jacobians(tape, "h", "h", values, list(range(2, tape.T + 1)))
    w = {n: param(v).squeeze(-1) if not (isinstance(v, list) and isinstance(v[0], list))
         else param(v) for n, v in raw["weights"].items()}
    for k in range(2, tape.T + 1):
        x = torch.tensor(raw["data"]["x"][k - 1], dtype=F64)
        h_prev = torch.tensor(values[f"h_{k - 1}"], dtype=F64)
        step = _elman_step(w, x) if example == "vector_bias" else _lstm_step(
            w, x, torch.tensor(values[f"c_{k - 1}"], dtype=F64))
        theirs = torch.autograd.functional.jacobian(step, h_prev)
        assert torch.allclose(torch.tensor(ours[k], dtype=F64), theirs, rtol=1e-12, atol=1e-14)
