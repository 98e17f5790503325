"""Exams over cells of their own: an LSTM (examples/lstm_exam.toml) and a leaky-integrator RNN.
Every key number against PyTorch autograd on the version's own numbers (the recurrence written
in torch here), every key audited `ok` by `check`, reproducible runs, the Moodle quiz, refusals
of what only the Elman cell has, and the PDFs."""

from __future__ import annotations

import json
import tomllib
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest
from conftest import EXAMPLES
from texutil import pdf_text, require_tex

from symbolic_bptt.audit.check import check
from symbolic_bptt.errors import ProblemError
from symbolic_bptt.exam.spec import load_spec, parse_spec
from symbolic_bptt.exam.write import draw_exam, key_json, outputs, write_exam
from symbolic_bptt.inputs.claims import parse_claims
from symbolic_bptt.tape import unroll

LSTM_EXAM = EXAMPLES / "lstm_exam.toml"
LEAKY = """
title = "Leaky RNN"
seed = 11
[model]
cell = "custom"
loss = "mse"
bias = true
[cell]
output = "o"
biases = ["b_h"]
equations = [
  'z_t = W_{hh} h_{t-1} + W_{xh} x_t + b_h',
  'h_t = a h_{t-1} + (1 - a) \\tanh(z_t)',
  'o_t = W_{hy} h_t',
]
[shapes]
x = 2
W_hh = [2, 2]
W_xh = [2, 2]
b_h = 2
a = 1
W_hy = [1, 2]
[draw]
T = [3, 4]
a = [0.3, 0.5, 0.7]
h0 = {min = -0.5, max = 0.5}
[[questions]]
kind = "forward"
[[questions]]
kind = "dL/dh"
t = [1, -1]
[[questions]]
kind = "dL/da"
[[questions]]
kind = "dL/dW_hh"
points = 2
"""


def leaky_spec(**changes):
    text = LEAKY
    for old, new in changes.items():
        text = text.replace(old, new)
    return parse_spec(tomllib.loads(text, parse_float=Decimal), "leaky")


def torch_values(problem_text: str) -> dict[str, list[float]]:
    """Every quantity of a version and its gradient, by torch autograd on the file's numbers."""
    torch = pytest.importorskip("torch")
    from test_verify_cells import leaky, lstm

    raw = tomllib.loads(problem_text)
    f64 = torch.float64

    def tensor(value):
        if isinstance(value, list) and isinstance(value[0], list):
            return torch.tensor(value, dtype=f64)
        return torch.tensor(value if isinstance(value, list) else [value], dtype=f64).reshape(-1, 1)

    step, output = (lstm, "y^") if "W_hf" in raw["weights"] else (leaky, "o")
    w = {n: tensor(v).requires_grad_() for n, v in raw["weights"].items()}
    data = raw["data"]
    prev = {k[:-1]: tensor(v) for k, v in data.items() if k not in ("x", "y")}
    T = len(data["x"])
    out, loss = {}, 0
    for t in range(1, T + 1):
        qs = step(w, tensor(data["x"][t - 1]), prev)
        for v in qs.values():
            v.retain_grad()
        loss = loss + ((qs[output] - tensor(data["y"][t - 1])) ** 2).sum()
        out |= {f"{n}_{t}": v for n, v in qs.items()}
        prev = qs
    scale = {"half_sse": 0.5, "mse": 1 / T}[raw["model"]["loss"]]
    L = scale * loss
    L.backward()
    values = {n: v.detach().flatten().tolist() for n, v in out.items()} | {"L": [L.item()]}
    values |= {f"dL/d{n}": v.grad.flatten().tolist() for n, v in out.items()}
    values |= {f"dL/d{n}": v.grad.flatten().tolist() for n, v in w.items()}
    return values


def entry_value(values: dict, quantity: str, cols: int) -> float:
    name, _, index = quantity.partition("[")
    if not index:
        return values[name][0]
    parts = [int(i) for i in index.rstrip("]").split(",")]
    return values[name][parts[0] if len(parts) == 1 else parts[0] * cols + parts[1]]


@pytest.mark.parametrize("which", ["lstm", "leaky"])
def test_every_key_number_agrees_with_pytorch(which):
    spec = load_spec(LSTM_EXAM) if which == "lstm" else leaky_spec()
    exam = draw_exam(spec, 3)
    unit = 10.0 ** -spec.decimals
    checked = 0
    for keyed in exam.keyed:
        values = torch_values(keyed.variant.text)
        tape = unroll(keyed.variant.problem)
        for e in keyed.entries:
            name = e.quantity.partition("[")[0]
            truth = entry_value(values, e.quantity, tape.quantities[name].shape[1])
            # the key is the exact value rounded: within half a unit of autograd's
            assert abs(float(e.value) - truth) <= unit / 2 + 1e-9, (which, e, truth)
            assert abs(float(e.exact) - truth) <= 1e-9 * max(1, abs(truth)), (e, truth)
            assert abs(float(e.worked) - float(e.value)) <= float(e.tolerance) + 1e-12, e
            checked += 1
    assert checked >= 3 * (17 if which == "lstm" else 18)


def claims_text(key: str, variant: int, decimals: int) -> str:
    lines = [f"decimals = {decimals}", "[claims]"]
    for a in json.loads(key)["answers"]:
        if a["variant"] == variant:
            lines.append(f'"{a["quantity"]}" = {a["value"]:.{decimals}f}')
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("which", ["lstm", "leaky"])
def test_check_audits_every_key_as_ok(which):
    spec = load_spec(LSTM_EXAM) if which == "lstm" else leaky_spec()
    exam = draw_exam(spec, 2)
    for keyed in exam.keyed:
        tape = unroll(keyed.variant.problem)
        audit = check(tape, parse_claims(claims_text(key_json(exam), keyed.variant.number,
                                                     spec.decimals), tape))
        assert audit.verdicts and {v.verdict for v in audit.verdicts} == {"ok"}, \
            [(v.name, v.verdict) for v in audit.verdicts if v.verdict != "ok"]


def test_questions_ask_the_cells_quantities():
    exam = draw_exam(leaky_spec(), 1)
    (keyed,) = exam.keyed
    T = keyed.variant.problem.T
    asked = [[e.quantity for e in p.entries] for p in keyed.parts]
    # forward: the states and the output by default; dL/dh at the first and last step
    assert asked[0] == [f"{q}_{t}{i}" for t in range(1, T + 1)
                        for q, i in (("h", "[0]"), ("h", "[1]"), ("o", ""))]
    assert asked[1] == ["dL/dh_1[0]", "dL/dh_1[1]", f"dL/dh_{T}[0]", f"dL/dh_{T}[1]"]
    assert asked[2] == ["dL/da"]
    prompt = keyed.parts[1].prompt
    assert "the gradients $\\frac{\\partial L}{\\partial \\mathbf{h}_{t}}$ for $t = 1, " in prompt


def test_version_files_hold_the_cell_and_solve(cli, tmp_path):
    run = cli("exam", LSTM_EXAM, "--variants", "1", "--out", tmp_path)
    assert run.code == 0, run.err
    text = (tmp_path / "variants" / "01.toml").read_text(encoding="utf-8")
    assert 'cell = "custom"' in text and "[cell]" in text and "c0 = [" in text
    solved = cli("solve", tmp_path / "variants" / "01.toml", "--json")
    assert solved.code == 0, solved.err
    key = json.loads((tmp_path / "key.json").read_text(encoding="utf-8"))
    L = next(a for a in key["answers"] if a["quantity"] == "L")
    # the version file carries the exam's arithmetic: solve reaches the worked solution's value
    assert solved.json()["quantities"]["L"] == L["worked"]


def test_runs_are_byte_identical(tmp_path):
    spec = load_spec(LSTM_EXAM)
    first = outputs(draw_exam(spec, 2), tmp_path)
    second = outputs(draw_exam(spec, 2), tmp_path)
    assert first.files == second.files and first.documents == second.documents


def test_moodle_says_which_cell():
    exam = draw_exam(load_spec(LSTM_EXAM), 1)
    text = outputs(exam, EXAMPLES).files[2][1]
    root = ET.fromstring(text)
    questions = [q for q in root if q.get("type") == "numerical"]
    assert len(questions) == len(exam.entries)
    first = questions[0].find("questiontext/text").text
    assert "Elman" not in first
    assert r"\mathbf{c}_{t} = \mathbf{f}_{t} \odot \mathbf{c}_{t-1}" in first
    assert r"\(\mathbf{c}_{0} = " in first
    # b_i is a parameter like b_f (not b at a step i): both print bold, as vectors
    assert r"\(\mathbf{b}_{i} = " in first and r"\(\mathbf{b}_{f} = " in first


@pytest.mark.parametrize("change, message", [
    ({'kind = "dL/da"': 'kind = "formula"\ncorrect = "dL/dq"'},
     'questions[2].correct = "dL/dq" is not known (expected one of: dL/dz, dL/dh, dL/do)'),
    ({'kind = "dL/da"': 'kind = "vanishing"'}, "is a question on the Elman cell (its Jacobian)"),
    ({'kind = "dL/da"': 'kind = "dL/dq"'}, 'questions[2].kind = "dL/dq" is not a question kind'),
    ({"a = 1\n": ""}, "missing key shapes.a"),
    ({"W_hy = [1, 2]": "W_hy = [1, 3]"}, "shapes: cell.equations[2]"),
    ({"[draw]": "[draw]\nW_oo = 0.5"}, "unknown key draw.W_oo"),
    ({'loss = "mse"': 'loss = "mse"\ninput_size = 2'}, "model.input_size is for the elman cell"),
    ({'kind = "dL/da"': 'kind = "dL/da"\ngiven = false'}, "unknown key questions[2].given"),
    ({'t = [1, -1]': 't = [1, 5]'}, "questions[1].t = 5 is outside 1..T for T = 3"),
    ({"T = [3, 4]": "T = [3, 60]"}, "draw.T can draw T = 60, beyond the limit of"),
])
def test_bad_custom_exams_are_one_clear_error(change, message):
    with pytest.raises(ProblemError) as info:
        leaky_spec(**change)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_shapes_belong_to_a_cell_of_its_own():
    with pytest.raises(ProblemError, match=r"\[shapes\] is for a cell of its own"):
        parse_spec(tomllib.loads('[shapes]\nx = 1\n[[questions]]\nkind = "loss"\n'))


@pytest.mark.tex
def test_lstm_question_and_key_pdfs(tmp_path):
    """The LSTM exam compiles without overfull lines; the key holds every key value."""
    require_tex()
    exam = draw_exam(load_spec(LSTM_EXAM), 1)
    write_exam(exam, tmp_path, pdf=True)
    key = pdf_text(tmp_path / "key.pdf").replace("\u2212", "-")
    for e in exam.entries:
        assert e.value in key, e
    questions = pdf_text(tmp_path / "exam.pdf")
    assert "Solution" not in questions and "recurrent cell" in questions
    for log in ("key.log", "exam.log"):
        text = (tmp_path / log).read_text(errors="replace")
        assert "Overfull \\hbox" not in text, log


def test_a_cell_file_is_the_same_as_its_table(tmp_path):
    """`cell = "leaky_cell.toml"` (beside the exam file) draws the same versions as [cell]."""
    cell = LEAKY[LEAKY.index("[cell]"):LEAKY.index("[shapes]")]
    (tmp_path / "leaky_cell.toml").write_text(cell, encoding="utf-8")
    spec_file = tmp_path / "exam.toml"
    spec_file.write_text(LEAKY.replace(cell, "").replace('cell = "custom"',
                                                        'cell = "leaky_cell.toml"'),
                         encoding="utf-8")
    from_file = draw_exam(load_spec(spec_file), 2)
    from_table = draw_exam(leaky_spec(), 2)
    assert [k.variant.text for k in from_file.keyed] == [k.variant.text for k in from_table.keyed]
    assert key_json(from_file) == key_json(from_table)
