"""The shipped gated cells (cell = "lstm", "gru", "gru_cho") against what no one here wrote.

torch.nn.LSTM and torch.nn.GRU themselves, with the problem's weights copied into the modules
(run one step at a time so that every h_t and c_t is a tensor with a gradient): every state, every
state's gradient and every parameter gradient to 1e-9 in double precision, on the examples and on
hypothesis-drawn problems (sizes 1-4, T 1-6). The gates, which the modules do not expose, against
the hand-written recurrences of tests/torch_cells.py, themselves checked against the modules here.
"""

from __future__ import annotations

import re

import pytest
from conftest import EXAMPLES, GATED_FILES, flat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symbolic_bptt.errors import ProblemError
from symbolic_bptt.evaluate.arithmetic import evaluate
from symbolic_bptt.evaluate.solution import quantities
from symbolic_bptt.inputs.files import parse_toml
from symbolic_bptt.documents.render import problem_tex
from symbolic_bptt.inputs.problem import load_problem, parse_problem
from symbolic_bptt.tape import unroll

torch = pytest.importorskip("torch")
from test_custom_cells import assert_matches, run_oracle  # noqa: E402
from torch_cells import gru_cho, gru_nn, lstm_nn  # noqa: E402

F64 = torch.float64
REL, ABS = 1e-9, 1e-12
# torch's stacked tensors -> the cell's parameters, in the module's gate order
STACKS = {
    "lstm": {"weight_ih_l0": ["W_ii", "W_if", "W_ig", "W_io"],
             "weight_hh_l0": ["W_hi", "W_hf", "W_hg", "W_ho"],
             "bias_ih_l0": ["b_ii", "b_if", "b_ig", "b_io"],
             "bias_hh_l0": ["b_hi", "b_hf", "b_hg", "b_ho"]},
    "gru": {"weight_ih_l0": ["W_ir", "W_iz", "W_in"], "weight_hh_l0": ["W_hr", "W_hz", "W_hn"],
            "bias_ih_l0": ["b_ir", "b_iz", "b_in"], "bias_hh_l0": ["b_hr", "b_hz", "b_hn"]},
}
STACKS["gru_cho"] = STACKS["gru"]
STEPS = {"lstm": lstm_nn, "gru": gru_nn, "gru_cho": gru_cho}


def engine(raw: dict) -> dict:
    return quantities(evaluate(unroll(parse_problem(raw)), "float"))


def per_gate(raw: dict, cell: str) -> dict:
    """The problem with torch's stacked keys split by torch.chunk (not by the code under test)."""
    weights = {}
    for key, value in raw["weights"].items():
        if key in STACKS[cell]:
            names = STACKS[cell][key]
            for name, block in zip(names, torch.tensor(value, dtype=F64).chunk(len(names))):
                weights[name] = block.tolist()
        else:  # a number is a 1 x 1 matrix
            weights[key] = value if isinstance(value, list) else [[value]]
    return raw | {"weights": weights}


def module_run(raw: dict, cell: str) -> tuple[dict, dict]:
    """h_t (and c_t), y^_t, L and their gradients, and every parameter's gradient split by gate,
    from torch.nn.LSTM / torch.nn.GRU with the file's weights copied in."""
    w, d = per_gate(raw, cell)["weights"], raw["data"]
    bias = raw["model"].get("bias", False)
    first = w[STACKS[cell]["weight_ih_l0"][0]]
    size_h, size_x = len(first), len(first[0]) if isinstance(first[0], list) else 1
    head = "W_hy" in w  # else [model] output = "none": the loss reads h_t
    module = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(size_x, size_h, bias=bias,
                                                                  dtype=F64)
    with torch.no_grad():
        for key, names in STACKS[cell].items():
            if hasattr(module, key):
                rows = [torch.tensor(w[n], dtype=F64).reshape(size_h, -1) for n in names]
                getattr(module, key).copy_(torch.cat(rows).reshape(getattr(module, key).shape))
    W_hy = torch.tensor(w["W_hy"] if head else [[0.0]], dtype=F64).requires_grad_()
    b_y = torch.tensor(w.get("b_y", 0.0), dtype=F64).reshape(-1, 1).requires_grad_()
    state = [torch.tensor(d[k], dtype=F64).reshape(1, 1, -1) for k in ("h0", "c0") if k in d]
    if cell == "lstm" and len(state) < 2:
        state.append(torch.zeros(1, 1, size_h, dtype=F64))
    out, L = {}, 0.0
    for t, x in enumerate(d["x"], start=1):
        x = torch.tensor(x, dtype=F64).reshape(1, 1, -1)
        _, hidden = module(x, tuple(state) if cell == "lstm" else state[0])
        state = list(hidden) if cell == "lstm" else [hidden]
        for name, s in zip("hc", state):
            s.retain_grad()
            out[f"{name}_{t}"] = s
        if head:
            y_hat = W_hy @ state[0].reshape(-1, 1) + (b_y if bias else 0.0)
            y_hat.retain_grad()
            out[f"y^_{t}"] = y_hat
        else:
            y_hat = state[0].reshape(-1, 1)
        L = L + 0.5 * ((y_hat - torch.tensor(d["y"][t - 1], dtype=F64).reshape(-1, 1)) ** 2).sum()
    L.backward()
    values = {n: q.detach().flatten().tolist() for n, q in out.items()} | {"L": [L.item()]}
    # The module returns h_t and c_t as sibling outputs: a gradient into c_t's tensor is only the
    # path through c_{t+1}, not dL/dc_t (that one is the hand-written recurrence's, below).
    values |= {f"dL/d{n}": q.grad.flatten().tolist() for n, q in out.items()
               if not n.startswith("c_")}
    values |= {f"dL/d{n} via c_{int(n[2:]) + 1}": q.grad.flatten().tolist()
               for n, q in out.items() if n.startswith("c_") and q.grad is not None}
    grads = ({"W_hy": W_hy.grad} | ({"b_y": b_y.grad} if bias else {})) if head else {}
    for key, names in STACKS[cell].items():
        if hasattr(module, key) and getattr(module, key) is not None:
            grads |= dict(zip(names, getattr(module, key).grad.chunk(len(names))))
    values |= {f"dL/d{n}": g.flatten().tolist() for n, g in grads.items()}
    return values, module


def assert_close(ours: dict, theirs: dict) -> None:
    for name, value in theirs.items():
        assert name in ours, name
        a, b = flat(ours[name]), value
        assert len(a) == len(b), name
        for u, v in zip(a, b):
            assert abs(u - v) <= REL * max(abs(u), abs(v)) + ABS, (name, u, v)


def check_against_torch(raw: dict, cell: str) -> None:
    ours = engine(raw)
    theirs, _ = module_run(raw, cell)
    if cell != "gru_cho":  # torch has no module for Cho's GRU: the hand-written one below
        assert_close(ours, theirs)
    output = "h" if raw["model"].get("output") == "none" else "y^"
    gates = run_oracle(per_gate(raw, cell), STEPS[cell], "half_sse", output, ours)
    # a term `via r_s` that autograd cannot isolate is left out of the oracle (torch_named.py);
    # an updated parameter W' ([training]) is torch.optim.SGD's, in the Gomez test below
    assert_matches({k: v for k, v in ours.items()
                    if (" via " not in k or k in gates) and not k.endswith("'")}, gates)
    if cell != "gru_cho":  # the hand-written recurrence is the module's
        for name in theirs:
            if name.startswith(("h_", "c_", "dL/dW", "dL/db")):
                assert gates[name] == pytest.approx(theirs[name], rel=REL, abs=ABS), name


EXAMPLE_CELLS = {"lstm": "lstm", "gru": "gru", "lstm_notebook": "lstm", "lstm_gomez": "lstm"}


def test_every_gated_example_is_tested():
    assert {p.stem for p in GATED_FILES} == set(EXAMPLE_CELLS)


@pytest.mark.parametrize("stem", sorted(EXAMPLE_CELLS))
def test_example_matches_the_torch_module(stem):
    raw = parse_toml((EXAMPLES / f"{stem}.toml").read_text(encoding="utf-8"))
    check_against_torch(raw, EXAMPLE_CELLS[stem])


def test_the_published_lstm_calculation_is_right_by_torch_and_check_agrees(cli):
    """examples/lstm_notebook_claims.toml (a published notebook's printed forward pass): every
    printed number is torch.nn.LSTM's value rounded to 4 decimals (gates by the hand-written
    recurrence, itself checked against the module above), and `check` finds nothing wrong."""
    problem = EXAMPLES / "lstm_notebook.toml"
    raw = parse_toml(problem.read_text(encoding="utf-8"))
    truth, _ = module_run(raw, "lstm")
    truth |= run_oracle(per_gate(raw, "lstm"), lstm_nn, "half_sse", "y^")
    claims = parse_toml((EXAMPLES / "lstm_notebook_claims.toml").read_text("utf-8"))["claims"]
    assert len(claims) == 19
    for name, claimed in claims.items():
        assert round(truth[name][0], 4) == pytest.approx(claimed, abs=1e-12), name
    run = cli("check", problem, EXAMPLES / "lstm_notebook_claims.toml", "--json")
    assert run.code == 0, run.err
    verdicts = {v["name"]: v["verdict"] for v in run.json()["verdicts"]}
    assert verdicts == dict.fromkeys(claims, "ok")


@pytest.mark.parametrize("stem", ["lstm", "gru"])
def test_example_solve_json_matches_the_torch_module(cli, stem):
    """The same through the command line, as a user runs it."""
    path = EXAMPLES / f"{stem}.toml"
    run = cli("solve", path, "--json")
    assert run.code == 0, run.err
    assert_close(run.json()["quantities"], module_run(parse_toml(path.read_text("utf-8")),
                                                      stem)[0])


@st.composite
def gated_problems(draw, cell: str):
    """A problem over `cell`: input, hidden and output sizes 1-4, T 1-6, biases or not, the
    weights given stacked (a state_dict) or by gate; values from a seeded torch generator."""
    size_x, size_h, size_o = (draw(st.integers(1, 4)) for _ in range(3))
    T, bias, stacked = draw(st.integers(1, 6)), draw(st.booleans()), draw(st.booleans())
    head = draw(st.booleans())  # else [model] output = "none": the loss reads h_t itself
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31)))

    def rnd(*shape):
        return (torch.rand(*shape, generator=gen, dtype=F64) * 2 - 1).tolist()
    gates = len(STACKS[cell]["weight_ih_l0"])
    size_o = size_o if head else size_h
    weights = {"weight_ih_l0": rnd(gates * size_h, size_x),
               "weight_hh_l0": rnd(gates * size_h, size_h)}
    weights |= {"W_hy": rnd(size_o, size_h)} if head else {}
    if bias:
        weights |= {"bias_ih_l0": rnd(gates * size_h), "bias_hh_l0": rnd(gates * size_h)}
        weights |= {"b_y": rnd(size_o)} if head else {}
    data = {"x": rnd(T, size_x), "y": rnd(T, size_o), "h0": rnd(size_h)}
    if cell == "lstm":
        data["c0"] = rnd(size_h)
    model = {"cell": cell, "bias": bias, "loss": "half_sse"} | ({} if head else {"output": "none"})
    raw = {"model": model, "data": data, "weights": weights}
    return raw if stacked else per_gate(raw, cell)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gated_problems("lstm"))
def test_drawn_lstm_matches_torch_nn_lstm(raw):
    check_against_torch(raw, "lstm")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gated_problems("gru"))
def test_drawn_gru_matches_torch_nn_gru(raw):
    check_against_torch(raw, "gru")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gated_problems("gru_cho"))
def test_drawn_cho_gru_matches_its_torch_recurrence(raw):
    check_against_torch(raw, "gru_cho")


def test_cho_gru_differs_from_torch_gru():
    """The reset gate's place matters: one state_dict, two cells, two different h_2."""
    raw = parse_toml((EXAMPLES / "gru.toml").read_text(encoding="utf-8"))
    cho = raw | {"model": raw["model"] | {"cell": "gru_cho"}}
    assert flat(engine(raw)["h_2"]) != pytest.approx(flat(engine(cho)["h_2"]), abs=1e-6)


@pytest.mark.parametrize("edit, message", [
    (lambda w: w.update(weight_hh_l0=w["weight_hh_l0"][:-1]),
     "weights.weight_hh_l0 must stack 4 blocks (W_hi, W_hf, W_hg, W_ho) of equal size, "
     "4 x 2 = 8 rows (torch's rows); got 7 rows"),
    (lambda w: w.update(bias_hh_l0=w["bias_hh_l0"][:6]),
     "weights.bias_hh_l0 must stack 4 blocks (b_hi, b_hf, b_hg, b_ho) of equal size, "
     "4 x 2 = 8 numbers (torch's rows); got 6 entries"),
    (lambda w: w.update(weight_ih_l0=[[1.0, 2.0, 3.0]] * 7 + [[1.0, 2.0]]),
     "weights.weight_ih_l0 must be a matrix: rows of equal length"),
    (lambda w: w.update(weight_ih_l0=[[1.0, 2.0, 3.0]] * 8), "weights.weight_ih_l0 is 8 x 3"),
    (lambda w: w.update(W_ii=[[1.0, 2.0], [3.0, 4.0]]),
     "weights.weight_ih_l0 already holds W_ii: give weights.W_ii or weights.weight_ih_l0"),
    (lambda w: w.update(weight_ih_l0=3), "got 3"),
])
def test_a_bad_stack_is_one_error_line(edit, message):
    raw = parse_toml((EXAMPLES / "lstm.toml").read_text(encoding="utf-8"))
    edit(raw["weights"])
    with pytest.raises(ProblemError, match="^[^\n]*$") as err:
        parse_problem(raw)
    assert message in str(err.value)


def test_stacked_biases_without_model_bias_are_an_error(cli, tmp_path):
    text = (EXAMPLES / "lstm.toml").read_text(encoding="utf-8").replace("bias = true",
                                                                          "bias = false")
    (tmp_path / "p.toml").write_text(text, encoding="utf-8")
    run = cli("solve", tmp_path / "p.toml")
    assert run.code == 2 and len(run.err.strip().splitlines()) == 1
    assert "weights.bias_ih_l0 holds biases, which model.bias = false leaves out" in run.err


def test_the_shipped_cells_are_listed_in_the_unknown_cell_message():
    raw = parse_toml((EXAMPLES / "gru.toml").read_text(encoding="utf-8"))
    raw["model"]["cell"] = "gruu"
    with pytest.raises(ProblemError, match="elman, gru, gru_cho, lstm"):
        parse_problem(raw)


def _labelled(tex: str, name: str) -> list[float]:
    r"""The numbers printed under `\underbrace{...}_{\text{through $<name>$}}` (first match)."""
    braces = re.findall(r"\\underbrace\{(?:\\left\()?\\begin\{bmatrix\}([^{}]*?)\\end\{bmatrix\}"
                        r"(?:\\right\))?\}_\{\\text\{through \$(.*?)\$\}\}", tex)
    found = next((body for body, label in braces if label == name), None)
    assert found is not None, name
    return [float(v) for v in found.split(r"\\")]


def test_the_lstm_worked_solution_shows_dL_dc_t_by_its_two_paths():
    """dL/dc_t's two paths, labelled as a lecturer labels them (through h_t, through c_{t+1}),
    in the derived rule and at each step. The printed numbers are autograd's: through c_{t+1}
    the gradient torch.nn.LSTM's c_t output gets (stepped one step at a time, it is read by the
    next step alone), through h_t the hand-written recurrence's term (torch_named)."""
    path = EXAMPLES / "lstm.toml"
    raw = parse_toml(path.read_text(encoding="utf-8"))
    truth = run_oracle(per_gate(raw, "lstm"), lstm_nn, "half_sse", "y^", engine(raw))
    truth |= module_run(raw, "lstm")[0]  # the path through c_{t+1}: the module's c_t output
    tex = problem_tex(load_problem(path), "article")
    lhs = r"\frac{\partial L}{\partial \mathbf{c}_{t}} &="
    rule = next(ln for ln in tex.splitlines() if ln.startswith(lhs))
    assert r"&& \text{through $\mathbf{h}_{t}$}" in rule
    assert r"&& \text{through $\mathbf{c}_{t+1}$}" in rule
    for t in (1, 2):
        step = tex.split(rf"\frac{{\partial L}}{{\partial \mathbf{{c}}_{{{t}}}}} &=", 1)[1]
        for via in (f"h_{t}", f"c_{t + 1}"):
            base, k = via.split("_")
            printed = _labelled(step, rf"\mathbf{{{base}}}_{{{k}}}")
            oracle = [round(v, 4) for v in truth[f"dL/dc_{t} via {via}"]]
            assert printed == pytest.approx(oracle, abs=1e-9), (t, via)


def test_gomez_lstm_example_as_published_is_right_by_torch_and_check_agrees(cli, tmp_path):
    """Gomez's numerical LSTM example (examples/lstm_gomez.toml), as a published notebook prints
    it (float64 printouts to 16 digits, the SGD update to 8): each printed number is
    torch.nn.LSTM's, stepped by torch.optim.SGD; `check` finds nothing wrong, though the
    printouts' last digit is float64's rounding, not the exact value's; yet a slip in the 12th
    significant digit of such a printout is still caught."""
    problem = EXAMPLES / "lstm_gomez.toml"
    raw = parse_toml(problem.read_text(encoding="utf-8"))
    truth, module = module_run(raw, "lstm")
    truth |= run_oracle(per_gate(raw, "lstm"), lstm_nn, "half_sse", "h")
    torch.optim.SGD(module.parameters(), lr=raw["training"]["learning_rate"]).step()
    for key, names in STACKS["lstm"].items():
        for name, block in zip(names, getattr(module, key).detach().chunk(len(names))):
            truth[f"{name}'"] = block.flatten().tolist()
    text = (EXAMPLES / "lstm_gomez_claims.toml").read_text("utf-8")
    claims = parse_toml(text)["claims"]
    assert len(claims) == 24
    for name, claimed in claims.items():
        printed = flat(claimed)
        places = [len(repr(v).split(".")[1]) for v in printed]
        exact = [round(v, 12) if d >= 15 else round(v, d) for v, d in zip(truth[name], places)]
        assert [round(v, 12) if d >= 15 else v for v, d in zip(printed, places)] == \
            pytest.approx(exact, abs=1e-12), name
    run = cli("check", problem, EXAMPLES / "lstm_gomez_claims.toml", "--json")
    assert run.code == 0, run.out
    assert {v["verdict"] for v in run.json()["verdicts"]} == {"ok"}
    slipped = tmp_path / "slipped.toml"
    slipped.write_text(text.replace('"c_1" = 0.7857261484365797', '"c_1" = 0.7857261484375797'),
                       encoding="utf-8")
    run = cli("check", problem, slipped, "--json")
    verdicts = {v["name"]: v["verdict"] for v in run.json()["verdicts"]}
    assert run.code == 1 and verdicts["c_1"] == "wrong", verdicts
