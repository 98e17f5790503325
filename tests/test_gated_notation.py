"""The textbook presets of the gated cells (model/gated_notation.py) in documents: `render
--notation d2l` prints the shipped LSTM in d2l's names, and a preset that is not the cell's is
one error line."""

from __future__ import annotations

import pytest
from conftest import EXAMPLES

from symbolic_bptt.documents.document import Options
from symbolic_bptt.documents.render import problem_tex
from symbolic_bptt.errors import ProblemError
from symbolic_bptt.inputs.files import parse_toml
from symbolic_bptt.inputs.problem import load_problem, parse_problem
from symbolic_bptt.model.cell import load_cell
from symbolic_bptt.model.gated_notation import PRESETS


@pytest.mark.parametrize("cell, preset", [(c, p) for c in PRESETS for p in PRESETS[c]])
def test_every_preset_names_only_the_cells_own_symbols(cell, preset):
    loaded = load_cell(cell)
    assert set(PRESETS[cell][preset]) <= {*loaded.quantities, *loaded.parameters}


def test_d2l_names_the_lstm_as_d2l_does():
    tex = problem_tex(load_problem(EXAMPLES / "lstm.toml"), "article",
                      options=Options(notation="d2l"))
    assert r"\tilde{C}" in tex and r"W_{xi}" in tex
    assert r"\mathbf{C}_{t} &= \mathbf{F}_{t} \odot \mathbf{C}_{t-1}" in tex


def test_the_files_own_notation_wins_over_the_preset():
    raw = parse_toml((EXAMPLES / "lstm.toml").read_text(encoding="utf-8"))
    raw["notation"] = {"g": "G"}
    tex = problem_tex(parse_problem(raw, name="lstm"), "article", options=Options(notation="d2l"))
    assert r"\tilde{C}" not in tex and r"\mathbf{G}_{t}" in tex


def test_cho_names_the_cho_gru_and_not_the_torch_gru():
    raw = parse_toml((EXAMPLES / "gru.toml").read_text(encoding="utf-8"))
    raw["model"] = raw["model"] | {"cell": "gru_cho"}
    tex = problem_tex(parse_problem(raw, name="cho"), "article", options=Options(notation="cho"))
    assert r"\boldsymbol{\tilde{h}}_{t}" in tex and "U_{r}" in tex
    with pytest.raises(ProblemError, match="not of cell 'gru'"):
        problem_tex(load_problem(EXAMPLES / "gru.toml"), "article", options=Options(notation="cho"))
