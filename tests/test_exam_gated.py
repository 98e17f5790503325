"""Exams on the shipped gated cells: a gate's value, dL/dc_t and a weight's gradient keyed as
PyTorch computes them on each drawn version, and the formula question whose distractors are the
check catalog's own rewrites of the asked gradient."""

from __future__ import annotations

import json

import pytest
from conftest import EXAMPLES

from symbolic_bptt.errors import ProblemError
from symbolic_bptt.exam.spec import load_spec, parse_spec
from symbolic_bptt.inputs.files import parse_toml

torch = pytest.importorskip("torch")
from test_custom_cells import run_oracle  # noqa: E402
from test_gated_cells import per_gate  # noqa: E402
from torch_cells import lstm_nn  # noqa: E402

EXAM = EXAMPLES / "lstm_gated_exam.toml"
GATED_CODES = {"derivative-index", "state-off-by-one", "missing-activation-derivative",
               "missing-path", "derivative-form"}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    from symbolic_bptt.cli.main import main
    out = tmp_path_factory.mktemp("exam")
    assert main(["exam", str(EXAM), "-o", str(out), "-q"]) == 0
    return out


def test_every_number_of_the_key_is_torchs(written):
    key = json.loads((written / "key.json").read_text(encoding="utf-8"))["answers"]
    numbers = [a for a in key if a["kind"] != "formula"]
    assert {a["quantity"] for a in numbers} >= {"f_2", "dL/dc_1", "dL/dW_hf"}
    assert "dc_3/dc_1" in {a["quantity"] for a in numbers}
    for a in numbers:
        raw = parse_toml((written / "variants" / f"{a['variant']:02d}.toml").read_text("utf-8"))
        truth = run_oracle(per_gate(raw, "lstm"), lstm_nn, "half_sse", "y^")
        # the forget-gate product dc_3/dc_1 = f_3 f_2 (the path through c alone)
        truth["dc_3/dc_1"] = [truth["f_3"][0] * truth["f_2"][0]]
        assert a["exact"] == pytest.approx(truth[a["quantity"]][0], rel=1e-9, abs=1e-12)
        assert abs(a["value"] - truth[a["quantity"]][0]) <= a["tolerance"] + 1e-12


def test_the_formula_question_offers_the_gated_catalog(written):
    key = json.loads((written / "key.json").read_text(encoding="utf-8"))["answers"]
    formulas = [a for a in key if a["kind"] == "formula"]
    assert len(formulas) == 2  # one per version
    for a in formulas:
        options = a["options"]
        assert [o["letter"] for o in options if o["correct"]] == [a["value"]]
        assert {o["code"] for o in options if not o["correct"]} == GATED_CODES
    tex = (written / "key.tex").read_text(encoding="utf-8")
    assert r"\frac{\partial L}{\partial c_{t+1}} f_{t}$" in tex  # f_t for f_(t+1)


@pytest.mark.parametrize("edit, message", [
    ({"correct": "dL/dz"}, "questions[3].correct = \"dL/dz\" is not known"),
    ({"codes": ["sign-errors"]}, "questions[3].codes must be a list of mistake codes"),
    ({"t": 1}, "a formula question is asked at a general step t"),
    ({"kind": "gate-product", "correct": "dL/dc"}, "codes and correct belong to a formula"),
])
def test_a_bad_formula_question_is_one_error_line(edit, message):
    raw = parse_toml(EXAM.read_text(encoding="utf-8"))
    raw["questions"][3] |= edit
    with pytest.raises(ProblemError, match="^[^\n]*$") as err:
        parse_spec(raw, "exam", EXAMPLES)
    assert message in str(err.value)


@pytest.mark.parametrize("edit, message", [
    ('state = "h"\nt = 1', 'questions[4].state = "h" is not a gated state of the cell '
                           "(expected one of: c)"),
    ("t = 3", "questions[4].t = 3: the gate product runs from k+1 to T"),
    ("t = [1, 2]", "questions[4].t must be one step k"),
])
def test_a_bad_gate_product_question_is_one_error_line(tmp_path, edit, message):
    text = EXAM.read_text(encoding="utf-8")
    head, last = text.rsplit("t = 1", 1)  # the gate-product question is the last
    path = tmp_path / "exam.toml"
    path.write_text(head + edit + last, encoding="utf-8")
    with pytest.raises(ProblemError, match="^[^\n]*$") as err:
        load_spec(path)
    assert message in str(err.value)


def test_the_gate_of_each_gated_state():
    """The LSTM's c is carried by f; the GRU's h by z; the LSTM's h by no gate."""
    from symbolic_bptt.exam.custom_spec import state_gate
    from symbolic_bptt.model.cell import load_cell
    lstm, gru = load_cell("lstm"), load_cell("gru")
    assert (state_gate(lstm, "c"), state_gate(lstm, "h"), state_gate(gru, "h")) == ("f", None, "z")
