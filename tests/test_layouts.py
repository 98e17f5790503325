"""The loss layouts of [model] (bias modes, output = "none", loss_steps, loss_factor, bce,
reduction, a given upstream gradient) at the level a user works: check on hand calculations
computed by PyTorch, exams whose keys PyTorch recomputes, verify on many-to-one formulas, the
documents compiled, and one-line errors for every bad key. Numbers come from torch, never from
this package."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from conftest import EXAMPLES
from test_oracle import needs_torch, torch_quantities
from texutil import require_tex

from symbolic_bptt.audit.check import check
from symbolic_bptt.evaluate.arithmetic import evaluate
from symbolic_bptt.inputs.claims import parse_claims
from symbolic_bptt.inputs.problem import load_problem, parse_problem
from symbolic_bptt.tape import unroll


def claims_text(values: dict[str, list[float]], decimals: int, problem) -> str:
    """A claims file of every value, each rounded to `decimals` as a person writes it (a
    weight's gradient as rows, as the weight is written)."""
    lines = [f"decimals = {decimals}", "[claims]"]
    for name, flat in values.items():
        shown = [round(v, decimals) for v in flat]
        weight = problem.weights.get(name[4:]) if name.startswith("dL/d") else None
        if weight is not None and len(weight[0]) > 1:
            cols = len(weight[0])
            shown = [shown[i:i + cols] for i in range(0, len(shown), cols)]
        lines.append(f'"{name}" = {shown[0] if len(flat) == 1 else shown}')
    return "\n".join(lines)


def audit(problem, text: str):
    tape = unroll(problem)
    return check(tape, parse_claims(text, tape))


LAYOUT_FILES = ["many_to_one.toml", "last_state.toml"]


@needs_torch
@pytest.mark.parametrize("name", LAYOUT_FILES)
def test_a_hand_calculation_of_the_layout_raises_no_alarm(name):
    """Published notes put the 1/2 inside E_t: such a calculation is ok, not loss-scale."""
    problem = load_problem(EXAMPLES / name)
    values = {n: v for n, v in torch_quantities(problem).items() if "^(" not in n}
    verdicts = audit(problem, claims_text(values, 6, problem)).verdicts
    assert {v.verdict for v in verdicts} <= {"ok", "rounding"}, [
        (v.name, v.verdict, v.code) for v in verdicts if v.verdict not in ("ok", "rounding")]


@needs_torch
def test_the_half_counted_per_step_and_again_outside_is_named():
    """l_T = 1/2 (h_T - y)^2 written right, then L = 1/2 l_T: L and every gradient halved."""
    problem = load_problem(EXAMPLES / "last_state.toml")
    truth = {n: v for n, v in torch_quantities(problem).items() if "^(" not in n}
    seeded = {n: ([x / 2 for x in v] if n == "L" or n.startswith("dL/d") else v)
              for n, v in truth.items()}
    verdicts = audit(problem, claims_text(seeded, 6, problem)).verdicts
    wrong = {v.name: v for v in verdicts if v.verdict == "wrong"}
    assert set(wrong) == {"L", "dL/dh_3"}, {n: v.code for n, v in wrong.items()}
    assert {v.code for v in wrong.values()} == {"loss-scale"}
    assert "counted in each l_t and again outside" in wrong["dL/dh_3"].used.label
    carried = {v.name for v in verdicts if v.verdict == "carried"}
    assert carried == {n for n in truth if n.startswith("dL/d") and n != "dL/dh_3"}


EXAM = """
title = "Layouts"
seed = 11
variants = 2
[model]
activation = "tanh"
hidden_size = 2
loss = "{loss}"
loss_steps = {steps}
bias = "{bias}"
output = "{output}"
[arithmetic]
mode = "float"
[draw]
T = [3]
{extra}
[[questions]]
kind = "forward"
[[questions]]
kind = "dL/dh"
[[questions]]
kind = "dL/dW_hh"
[[questions]]
kind = "dL/dW_xh"
"""


@needs_torch
@pytest.mark.parametrize("loss, steps, bias, output, extra", [
    ("bce", '"last"', "hidden", "linear", ""),
    ("half_sse", "[2, 3]", "output", "linear", ""),
    ("mse", '"all"', "hidden", "none", ""),
])
def test_exam_keys_of_a_layout_match_torch(cli, tmp_path, loss, steps, bias, output, extra):
    spec = tmp_path / "exam.toml"
    spec.write_text(EXAM.format(loss=loss, steps=steps, bias=bias, output=output, extra=extra))
    run = cli("exam", spec, "-o", tmp_path / "out")
    assert run.code == 0, run.err
    key = json.loads((tmp_path / "out" / "key.json").read_text())
    variants = sorted((tmp_path / "out" / "variants").glob("*.toml"))
    assert len(variants) == 2
    for path in variants:
        problem = load_problem(path)
        assert (problem.model.loss, problem.model.bias, problem.model.output) == (loss, bias, output)
        truth = torch_quantities(problem)
        entries = [e for e in key["answers"] if e["variant"] == int(path.stem)]
        assert entries
        for e in entries:
            name, _, index = e["quantity"].partition("[")
            flat = truth[name]
            i = 0 if not index else _flat_index(index[:-1], problem, name)
            assert abs(e["exact"] - flat[i]) <= 1e-9 * max(1, abs(flat[i])), (e, flat[i])
            assert abs(e["value"] - flat[i]) <= 0.51e-4, (e, flat[i])


def _flat_index(index: str, problem, name: str) -> int:
    parts = [int(p) for p in index.split(",")]
    if len(parts) == 1:
        return parts[0]
    cols = len(problem.weights[name[4:]][0])
    return parts[0] * cols + parts[1]


@pytest.mark.parametrize("formula, holds", [
    # many-to-one (loss at t = T only): no output term before T
    (r"\frac{\partial L}{\partial h_t} = W_{hh}^\top \frac{\partial L}{\partial z_{t+1}}", True),
    (r"\frac{\partial L}{\partial h_T} = W_{hy}^\top \frac{\partial L}{\partial o_T}", True),
    (r"\frac{\partial L}{\partial h_t} = W_{hh} \frac{\partial L}{\partial z_{t+1}}", False),
])
def test_verify_reads_many_to_one_formulas(cli, formula, holds):
    run = cli("verify", EXAMPLES / "many_to_one.toml", "--latex", formula, "--json")
    assert run.code == (0 if holds else 1), run.err
    assert run.json()["holds"] is holds


@pytest.mark.parametrize("name", LAYOUT_FILES)
@pytest.mark.parametrize("fmt", ["article", "beamer"])
def test_layout_documents_compile_without_overfull_boxes(cli, tmp_path, name, fmt):
    require_tex()
    run = cli("render", EXAMPLES / name, "--format", fmt, "--pdf", "-m", "rounded",
              "-o", tmp_path)
    assert run.code == 0, run.err
    log = (tmp_path / f"{fmt}.log").read_text(errors="replace")
    assert "Overfull" not in log


BASE = """
[model]
activation = "tanh"
{model}
[data]
x = [0.5, 0.1, 0.4]
{data}
[weights]
W_xh = 0.6
W_hh = 0.9
{weights}
"""


@pytest.mark.parametrize("model, data, weights, message", [
    ('bias = "both"', "y = [1, 2, 3]", "W_hy = 1", 'model.bias must be true, false, "hidden"'),
    ('output = "softmax"', "y = [1, 2, 3]", "W_hy = 1", "model.output"),
    ('loss_steps = "first"', "y = [1]", "W_hy = 1", "model.loss_steps"),
    ("loss_steps = [3, 2]", "y = [1, 2]", "W_hy = 1", "increasing order"),
    ("loss_steps = [4]", "y = [1]", "W_hy = 1", "after the last one"),
    ('loss_steps = "last"', "y = [1, 2, 3]", "W_hy = 1", "the loss reads the last step"),
    ('loss = "bce"', "y = [1, 2, 0]", "W_hy = 1", "not in [0, 1]"),
    ('loss = "given"', "y = [1, 2, 3]", "W_hy = 1", "data.y does not apply"),
    ('loss = "given"', "dL_do = [1, 2]", "W_hy = 1", "need one gradient per input"),
    ('loss = "half_sse"\nreduction = "sum"', "y = [1, 2, 3]", "W_hy = 1", "model.reduction"),
    ('output = "none"', "y = [1, 2, 3]", "W_hy = 1", 'W_hy and b_y need model.output = "linear"'),
    ('output = "none"\noutput_size = 1', "y = [1, 2, 3]", "", "output_size does not apply"),
    ('loss_factor = "inside"', "y = [1, 2, 3]", "W_hy = 1", "model.loss_factor"),
    ('bias = "hidden"', "y = [1, 2, 3]", "W_hy = 1", 'model.bias = "hidden" needs b_h'),
])
def test_a_bad_layout_key_is_one_line(cli, tmp_path, model, data, weights, message):
    path = tmp_path / "p.toml"
    path.write_text(BASE.format(model=model, data=data, weights=weights))
    run = cli("solve", path)
    assert run.code == 2
    assert run.err.count("\n") == 1 and "Traceback" not in run.err
    assert message in run.err, run.err


def test_a_cell_without_a_separate_output_layer_refuses_output_none(tmp_path, cli):
    path = tmp_path / "p.toml"
    path.write_text("""
[model]
cell = "custom"
output = "none"
[cell]
output = "h"
equations = ['h_t = \\tanh(w h_{t-1} + u x_t)']
[data]
x = [1, 2]
y = [0, 1]
[weights]
w = 0.5
u = 0.1
""")
    run = cli("solve", path)
    assert run.code == 2 and 'model.output = "none" needs a cell' in run.err, run.err


@needs_torch
def test_given_upstream_gradients_start_the_backward_pass(tmp_path):
    """backward(gradient=...) in torch, against a problem whose loss is "given"."""
    raw = tomllib.loads(BASE.format(model='loss = "given"\nloss_steps = [1, 3]',
                                    data="dL_do = [0.3, -1.2]", weights="W_hy = 0.8"))
    problem = parse_problem(raw)
    tape = unroll(problem)
    assert "L" not in tape.by_name and "l_1" not in tape.by_name
    values = evaluate(tape, "float").values
    for name, flat in torch_quantities(problem).items():
        assert values[name] == pytest.approx(flat, rel=1e-12, abs=1e-14), name


def test_examples_of_layouts_are_documented_problem_files():
    for name in LAYOUT_FILES:
        text = (EXAMPLES / name).read_text()
        assert text.startswith("#") and "Try: symbolic-bptt solve" in text
        load_problem(EXAMPLES / name)
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for key in ("loss_steps", "loss_factor", "reduction", "dL_do", '"hidden"', 'output = "none"'):
        assert key in readme, key


# ---------------------------------------------------------------------------------------------
# Published: PracHub's walkthrough (tests/published/prachub_walkthrough.toml names the source)

PUBLISHED = Path(__file__).resolve().parent / "published"


def test_a_published_walkthrough_with_the_half_per_step_is_audited():
    """The source writes L = 1/2 (y_1 - 1)^2 + 1/2 (y_2 - 2)^2 (loss_factor = "per_step"): its
    1/2 is no false alarm. Its one real slip is h_2 = tanh(1.04621), printed 0.7790; math.tanh
    gives 0.78033, and every later number inherits it (carried, not wrong)."""
    import math

    assert round(math.tanh(0.5 * 2 + 0.1 * math.tanh(0.5)), 4) == 0.7803  # the truth, by hand
    problem = load_problem(PUBLISHED / "prachub_walkthrough.toml")
    tape = unroll(problem)
    text = (PUBLISHED / "prachub_walkthrough_claims.toml").read_text()
    verdicts = {v.name: v for v in check(tape, parse_claims(text, tape)).verdicts}
    assert {n for n, v in verdicts.items() if v.verdict == "wrong"} == {"h_2"}
    assert verdicts["h_2"].code == "arithmetic"
    later = {"o_2", "l_2", "L", "dL/do_2", "dL/dh_2", "dL/dz_2", "dL/dW_xh^(2)", "dL/dW_hh^(2)"}
    assert {n for n, v in verdicts.items() if v.verdict == "carried"} == later
    assert all(verdicts[n].inherits == ("h_2",) for n in later)
