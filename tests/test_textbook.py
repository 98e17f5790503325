"""`verify` reads the textbooks as they are printed (issue 13): the corpus of published formulas
(textbook_corpus.py) with PyTorch's truth, [symbols] and notation presets, ambiguity, chains and
blocks member by member, every unknown symbol at once."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from textbook_corpus import ENTRIES, truth
from textbook_oracle import Run, model_of

from symbolic_bptt.cli.main import main
from symbolic_bptt.errors import ProblemError
from symbolic_bptt.formulas.reading import make_reading, preset, preset_names
from symbolic_bptt.formulas.verify import verify_formula
from symbolic_bptt.formulas.vocabulary import elman_vocabulary
from symbolic_bptt.inputs.problem import load_problem

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from textbook_reading import load  # noqa: E402

DATA = Path(__file__).parent / "data" / "textbook"
# Formulas not read as printed (each refused in one line): none today.
UNREAD: set[str] = set()


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
def test_the_corpus_is_read_as_printed_and_judged_as_pytorch_judges(entry, tmp_path):
    problem = load(entry, tmp_path)
    if entry.id in UNREAD:
        with pytest.raises(ProblemError):
            verify_formula(problem, entry.latex, None, 3)
        return
    verdict = verify_formula(problem, entry.latex, None, 3)
    assert verdict.holds == truth(entry, model_of(DATA / entry.problem)), verdict.text()


def test_the_corpus_holds_right_and_wrong_formulas():
    """The corpus is no set of easy truths: a quarter of it is wrong, by PyTorch."""
    wrong = [e.id for e in ENTRIES if not truth(e, model_of(DATA / e.problem), points=1)]
    assert len(wrong) >= 7
    assert {"d2l-recursion-for-tanh", "odot-outside", "gf-10.19-no-transpose",
            "gf-10.22-sign"} <= set(wrong)


# ---------------------------------------------------------------------------------------------
# total or immediate: declared, or refused with both readings named

DH_DW = r"\frac{\partial h_t}{\partial W_{hh}} = (1 - h_t^2) h_{t-1}"


def _scalar(tmp_path, symbols: str = "") -> Path:
    path = tmp_path / "scalar.toml"
    path.write_text((DATA / "scalar.toml").read_text() + symbols)
    return path


def test_an_undeclared_jacobian_by_a_weight_names_both_readings(tmp_path):
    with pytest.raises(ProblemError) as info:
        verify_formula(load_problem(_scalar(tmp_path)), DH_DW, None, 3)
    text = str(info.value)
    assert "total (through every step)" in text and "immediate" in text
    assert 'partial = "total"' in text and "\n" not in text


@pytest.mark.parametrize("partial", ["total", "immediate"])
def test_a_declared_partial_settles_it_as_pytorch_does(partial, tmp_path):
    problem = load_problem(_scalar(tmp_path, f'\n[symbols]\npartial = "{partial}"\n'))
    verdict = verify_formula(problem, DH_DW, None, 3)
    model = model_of(_scalar(tmp_path))
    expected = True
    for T in (1, 2, 3):
        for t in range(1, T + 1):
            r = Run(model, T, 0)
            d = r.vjp_weight(torch.ones(1), t, "W_hh", "h", total=partial == "total")
            expected &= bool(torch.allclose(d, (1 - r.h[t] ** 2) * r.h[t - 1]))
    assert verdict.holds == expected
    assert expected == (partial == "immediate")  # the two readings differ here


def test_adjacent_states_need_no_declaration(tmp_path):
    """dh_t/dh_{t-1}: total and immediate agree for the Elman cell."""
    verdict = verify_formula(load_problem(_scalar(tmp_path)),
                             r"\frac{\partial h_t}{\partial h_{t-1}} = (1 - h_t^2) W_{hh}", None, 3)
    assert verdict.holds


# ---------------------------------------------------------------------------------------------
# delta with another meaning; y as the output


def test_a_bare_delta_under_a_source_without_one_lists_its_readings(tmp_path):
    path = tmp_path / "gf.toml"
    path.write_text((DATA / "goodfellow.toml").read_text())
    with pytest.raises(ProblemError) as info:
        verify_formula(load_problem(path), r"\delta_T = V^\top \nabla_{o^{(T)}} L", None, 3)
    assert "several readings" in str(info.value) and "dL/dh_t" in str(info.value)
    path.write_text(path.read_text() + '\n[symbols]\ndelta = "dL/dh"\n')
    assert verify_formula(load_problem(path), r"\delta_T = V^\top \nabla_{o^{(T)}} L", None,
                          3).holds


def test_the_output_called_y_must_be_declared(tmp_path):
    formula = r"\frac{\partial L}{\partial h_T} = W_{hy}^\top \frac{\partial L}{\partial y_T}"
    with pytest.raises(ProblemError, match='declare it: \\[symbols\\] y = "o"'):
        verify_formula(load_problem(_scalar(tmp_path)), formula, None, 3)


def test_delta_with_a_superscript_is_a_declared_symbol(tmp_path):
    problem = load_problem(_scalar(tmp_path, '\n[symbols]\n"delta^y" = "dL/do"\n'))
    assert verify_formula(problem, r"\delta_t^y = o_t - y_t", None, 3).holds


# ---------------------------------------------------------------------------------------------
# chains, blocks, how a formula was read, every unknown symbol at once


def test_a_chain_names_its_first_failing_member(tmp_path):
    formula = (r"\frac{\partial L}{\partial o_t} = o_t - y_t = y_t - o_t")
    verdict = verify_formula(load_problem(_scalar(tmp_path)), formula, None, 3)
    assert not verdict.holds
    assert "member 2 = member 3" in verdict.explanation
    assert "read as: dL/do[t] = o[t] - y[t] = y[t] - o[t]" in verdict.explanation
    assert verdict.counterexample["member"] == 2


def test_a_block_names_its_failing_formula(tmp_path):
    block = (r"\begin{aligned} \frac{\partial L}{\partial o_t} &= o_t - y_t, \\"
             r" \frac{\partial L}{\partial W_{hy}} &= \sum_{t=1}^T \frac{\partial L}{\partial o_t}"
             r" h_{t-1} \end{aligned}")
    verdict = verify_formula(load_problem(_scalar(tmp_path)), block, None, 3)
    assert not verdict.holds and verdict.explanation.startswith("formula 2 of the block's 2")


def test_the_grouping_shows_in_the_explanation(tmp_path):
    """W^T a \\odot b is (W^T a) \\odot b: the failing verdict shows it."""
    entry = next(e for e in ENTRIES if e.id == "odot-outside")
    verdict = verify_formula(load(entry, tmp_path), entry.latex, None, 3)
    assert "read as: dL/dh[t] = W_hh^T*dL/dh[t + 1] (.) (1 - h[t + 1]^2)" in verdict.explanation


def test_every_unknown_symbol_is_listed_at_once(tmp_path):
    britz = next(e for e in ENTRIES if e.id == "britz-dE3/dW-sum")
    with pytest.raises(ProblemError) as info:
        verify_formula(load_problem(_scalar(tmp_path)), britz.latex, None, 3)
    text = str(info.value)
    assert "2 unknown symbols: E (positions 33, 90), s (positions 148, 167, " in text
    assert "notation = " in text and "\n" not in text


# ---------------------------------------------------------------------------------------------
# presets and [symbols]: files, validation, the command line


def test_every_preset_names_quantities_of_its_cell():
    """A preset file names its cell (`cell = "elman"`, or a shipped gated cell), and its
    [cells.NAME] sections other cells; each maps symbols to that cell's quantities only (a
    name, a function of one, a sum or a block of parameters): a typo in a preset fails here."""
    import re

    from symbolic_bptt.formulas.reading import preset_cells
    from symbolic_bptt.formulas.vocabulary import cell_vocabulary
    from symbolic_bptt.model.cell import load_cell

    assert {"deck", "d2l", "goodfellow", "britz", "cs224n", "colah", "cho"} <= set(preset_names())
    for name in preset_names():
        raw = preset(name)
        assert raw["description"]
        for cell in preset_cells(name):
            vocab = elman_vocabulary() if cell == "elman" else cell_vocabulary(load_cell(cell))
            names = {*vocab.indexed, *vocab.parameters, "l", "L", "T", "phi",
                     *(f"dL/d{q}" for q in vocab.quantities), f"dl/d{vocab.output}"}
            reading = make_reading(name).for_cell(cell)
            for symbol in reading.symbols:
                target = symbol.target.partition("(")[2].rstrip(")") or symbol.target
                for part in re.split(r"[\[\],+]", target):
                    assert not part.strip() or part.strip() in names, (name, cell, symbol.key)


@pytest.mark.parametrize("table, message", [
    ('U = 3', "symbols.U must be a string"),
    ('U = "W_xh + 1"', 'expected a quantity name such as W_xh'),
    ('time = "sideways"', "symbols.time must be one of: 'subscript', 'superscript'"),
    ('partial = "half"', "symbols.partial must be one of"),
    ('"_x" = "h"', "a symbol starts with a letter"),
    ('"h_t_t" = "h"', "two subscripts"),
    ('U = "frobnicate(o)"', "expected a quantity name"),
])
def test_a_bad_symbols_table_is_one_line(table, message, tmp_path):
    with pytest.raises(ProblemError) as info:
        load_problem(_scalar(tmp_path, f"\n[symbols]\n{table}\n"))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_an_unknown_preset_is_one_line(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('notation = "bishop"\n' + (DATA / "scalar.toml").read_text())
    with pytest.raises(ProblemError, match="unknown notation 'bishop' .expected one of: "
                                           "britz, cho, colah, cs224n, d2l, deck, goodfellow"):
        load_problem(path)


def test_a_symbol_that_names_no_quantity_is_refused_where_it_is_used(tmp_path):
    problem = load_problem(_scalar(tmp_path, '\n[symbols]\ns = "q"\n'))
    with pytest.raises(ProblemError, match="symbols.s = 'q' is not a quantity of the cell"):
        verify_formula(problem, r"s_t = h_t", None, 3)


def test_the_command_line_chooses_a_preset(tmp_path, capsys):
    path = _scalar(tmp_path)
    formula = r"\nabla_{h^{(\tau)}} L = V^\top \nabla_{o^{(\tau)}} L"
    assert main(["verify", str(path), "--latex", formula, "--notation", "goodfellow",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["holds"] is True
    assert main(["verify", str(path), "--latex", formula, "--notation", "bishop"]) == 2
    assert "unknown notation 'bishop'" in capsys.readouterr().err


def test_documents_speak_the_source_notation():
    """The same presets serve documents: Goodfellow's symbols, time as a superscript (braced,
    so a transpose may follow), gradients as fractions of the source's loss."""
    from symbolic_bptt.cli.main import notations
    from symbolic_bptt.model.gated_notation import NAMES
    from symbolic_bptt.model.notation import make_notation

    # the sources' presets, and the gated cells' textbook names (colah, cho) for documents
    assert set(notations()) == set(preset_names()) | set(NAMES)
    gf = make_notation("goodfellow")
    assert [gf.symbol(n) for n in ("W_xh", "W_hh", "W_hy", "b_h", "b_y", "z_2", "h_3", "l_2")] \
        == ["U", "W", "V", "b", "c", "{a^{(2)}}", "{h^{(3)}}", "{L^{(2)}}"]
    assert gf.symbol("dL/dh_3") == r"\frac{\partial L}{\partial h^{(3)}}"
    britz = make_notation("britz")
    assert [britz.symbol(n) for n in ("h_2", "l_2", "L", "z_1", "o_1")] == \
        ["s_{2}", "E_{2}", "E", "z_{1}", "o_{1}"]  # Britz's z (= o) is not taken: z is z
    assert britz.symbol("dL/dW_hh") == r"\frac{\partial E}{\partial W}"
    assert make_notation("deck").symbol("dL/dh_2") == r"\delta h_{2}"  # the deck's, unchanged


# ---------------------------------------------------------------------------------------------
# the gated oracle itself, against torch's modules


def test_the_gated_oracle_is_torchs_lstm_and_gru():
    """GatedRun's LSTM is torch.nn.LSTM; its GRU, with the reset gate after the matrix, is
    torch.nn.GRU (Cho's, before the matrix, has no module: the same code with one switch)."""
    from textbook_oracle import GatedRun, torch_gru_states, torch_lstm_states

    for T, seed in ((1, 0), (4, 1)):
        lstm = GatedRun({"cell": "lstm", "input_size": 2, "hidden_size": 3, "output_size": 1},
                        T, seed)
        mine = torch.stack([lstm.h[t].reshape(-1) for t in range(1, T + 1)])
        assert torch.allclose(torch_lstm_states(lstm), mine, atol=1e-12)
        gru = GatedRun({"cell": "gru_cho", "input_size": 2, "hidden_size": 3, "output_size": 1},
                       T, seed, reset_after=True)
        mine = torch.stack([gru.h[t].reshape(-1) for t in range(1, T + 1)])
        assert torch.allclose(torch_gru_states(gru), mine, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# component indices: o_i^{(t)}, h_{t,i}, w_{ij}, \sum_i, through the command line on real files

ELMAN2 = """[model]
cell = "elman"
activation = "tanh"
input_size = 2
hidden_size = 2
output_size = 2
bias = true
loss = "half_sse"
[data]
x = [[0.0, 0.0]]
y = [[0.0, 0.0]]
[weights]
W_xh = [[0.5, -0.5], [0.25, 0.75]]
W_hh = [[0.5, -0.5], [0.25, 0.75]]
W_hy = [[0.5, -0.5], [0.25, 0.75]]
b_h = [0.1, -0.1]
b_y = [0.2, -0.2]
"""


def _elman2(tmp_path, symbols: str = "") -> Path:
    path = tmp_path / "elman2.toml"
    path.write_text(ELMAN2 + symbols)
    return path


def _torch_holds(model_path, sides, ts="t") -> bool:
    """Both sides computed by the oracle at T = 1..3 (every t), compared entry by entry."""
    from textbook_oracle import chains_hold

    model = model_of(model_path)
    for T in (1, 2, 3):
        for t in (range(1, T + 1) if ts == "t" else [None]):
            if not chains_hold([sides(Run(model, T, 0), t)]):
                return False
    return True


def _cli(capsys, path, formula, *extra) -> tuple[int, dict | str]:
    code = main(["verify", str(path), "--latex", formula, "--json", "--max-T", "3", *extra])
    out = capsys.readouterr()
    return code, json.loads(out.out) if code in (0, 1) else out.err.strip()


COMPONENTS = [
    (r"\frac{\partial L}{\partial z_{t,i}} = (1 - h_{t,i}^2) \frac{\partial L}{\partial h_{t,i}}",
     lambda r, t: [r.dz[t], (1 - r.h[t] ** 2) * r.dh[t]], "t"),
    (r"\frac{\partial L}{\partial z_{t,i}} = (1 - h_{t,i}) \frac{\partial L}{\partial h_{t,i}}",
     lambda r, t: [r.dz[t], (1 - r.h[t]) * r.dh[t]], "t"),
    (r"\frac{\partial L}{\partial w_{ij}} = \sum_{t=1}^T \frac{\partial L}{\partial z_{t,i}} "
     r"h_{t-1,j}", lambda r, t: [r.dW["W_hh"], sum(r.dz[s] @ r.h[s - 1].T
                                                   for s in range(1, r.T + 1))], "none"),
    (r"\frac{\partial L}{\partial w_{ij}} = \sum_{t=1}^T \frac{\partial L}{\partial z_{t,j}} "
     r"h_{t-1,i}", lambda r, t: [r.dW["W_hh"], sum((r.dz[s] @ r.h[s - 1].T).T
                                                   for s in range(1, r.T + 1))], "none"),
    (r"\frac{\partial L}{\partial h_{T,j}} = \sum_i \frac{\partial L}{\partial o_{T,i}} "
     r"W_{hy,ij}".replace("W_{hy,ij}", "v_{ij}"),
     lambda r, t: [r.dh[r.T], r.W["W_hy"].T @ r.do[r.T]], "none"),
]


@pytest.mark.parametrize("formula, sides, ts", COMPONENTS, ids=range(len(COMPONENTS)))
def test_component_indices_hold_for_every_entry_as_torch_says(formula, sides, ts, tmp_path,
                                                              capsys):
    path = _elman2(tmp_path, '\n[symbols]\nw = "W_hh"\nv = "W_hy"\n')
    code, verdict = _cli(capsys, path, formula)
    assert code in (0, 1), verdict
    assert verdict["holds"] == _torch_holds(path, sides, ts) == (code == 0)


@pytest.mark.parametrize("formula, message", [
    (r"\frac{\partial L}{\partial h_T} = \sum_i W_{hy}^\top \frac{\partial L}{\partial o_T}",
     r"\sum_i without bounds: i indexes no vector's entries"),
    (r"\frac{\partial L}{\partial o_{t,i}} = o_{t,i} - y_{t,i} + W_{hh,ij}",
     "known names are"),
    (r"w_{ij} = W_{hh}", "a component is a number"),
])
def test_an_unread_component_is_one_line(formula, message, tmp_path, capsys):
    code, err = _cli(capsys, _elman2(tmp_path, '\n[symbols]\nw = "W_hh"\n'), formula)
    assert code == 2 and message in err and "\n" not in err


def test_left_dot_right_bar_is_the_part_through_one_step(tmp_path, capsys):
    path = tmp_path / "cs.toml"
    path.write_text((DATA / "cs224n.toml").read_text())
    formula = (r"\frac{\partial J^{(t)}}{\partial W_h} = \sum_{i=1}^{t} \left. \frac{\partial "
               r"J^{(t)}}{\partial W_h} \right|_{(i)}")
    code, verdict = _cli(capsys, path, formula)
    assert code == 0 and verdict["holds"] is True
    code, err = _cli(capsys, path, r"\left. h^{(t)} \right|_{(t)} = h^{(t)}")
    assert code == 2 and r"restricts a derivative" in err and "\n" not in err


# ---------------------------------------------------------------------------------------------
# gated presets: d2l's and colah's names, for verify and documents from one file


def test_d2l_and_colah_read_on_the_command_line(tmp_path, capsys):
    lstm = tmp_path / "lstm.toml"
    lstm.write_text((DATA / "d2l_lstm.toml").read_text().replace('notation = "d2l"\n', ""))
    d2l = r"\mathbf{H}_t = \mathbf{O}_t \odot \tanh(\mathbf{C}_t)"
    colah = r"f_t = \sigma(W_f \cdot [h_{t-1}, x_t] + b_f)"
    for formula, notation in ((d2l, "d2l"), (colah, "colah")):
        code, verdict = _cli(capsys, lstm, formula, "--notation", notation)
        assert code == 0 and verdict["holds"] is True, verdict
    code, err = _cli(capsys, lstm, d2l)  # the deck's names: H, O, C are not the LSTM's
    assert code == 2 and "\n" not in err


def test_a_gated_preset_of_another_cell_is_one_line(tmp_path, capsys):
    code, err = _cli(capsys, DATA / "d2l_gru.toml", "h_t = h_t", "--notation", "colah")
    assert code == 2 and err.endswith("notation 'colah' is a preset of the cells lstm, not of "
                                      "cell 'gru_cho'")


def test_an_undeclared_gated_jacobian_names_both_readings(tmp_path, capsys):
    path = tmp_path / "notes.toml"
    path.write_text((DATA / "notes_lstm.toml").read_text())
    code, err = _cli(capsys, path, r"\frac{\partial C_{t+1}}{\partial C_t} = f_{t+1}")
    assert code == 2 and "total (through every step)" in err and "immediate" in err
    assert "\n" not in err


def test_documents_and_verify_read_one_preset_file():
    """The gated names documents print are the [symbols] verify reads, inverted."""
    from symbolic_bptt.model.gated_notation import gated_preset

    d2l = make_reading("d2l").for_cell("lstm")
    printed = gated_preset("lstm", "d2l")
    for sym in d2l.symbols:
        if sym.target in printed and printed[sym.target] == sym.key.replace("_", "_{", 1) + "}":
            break
    else:
        raise AssertionError("no d2l symbol is printed by documents")
    assert printed["g"] == r"\tilde{C}" and printed["W_ii"] == "W_{xi}"
    assert any(s.key == "W_xi" and s.target == "W_ii" for s in d2l.symbols)


@pytest.mark.parametrize("star, holds", [(None, None), ("elementwise", True), ("product", None)])
def test_a_star_is_read_as_declared(star, holds, tmp_path, capsys):
    """colah's * : refused with both readings unless declared; as a matrix product it does not
    fit two columns (an error too); entrywise it is the LSTM's memory update."""
    path = tmp_path / "lstm.toml"
    text = (DATA / "d2l_lstm.toml").read_text().replace('notation = "d2l"\n', "")
    path.write_text(text + (f'\n[symbols]\nstar = "{star}"\n' if star else ""))
    code, out = _cli(capsys, path, r"c_t = f_t * c_{t-1} + i_t * g_t")
    if holds is None:
        assert code == 2 and "\n" not in out
        assert star or ('star = "elementwise" or star = "product"' in out)
    else:
        assert code == 0 and out["holds"] is True


def test_a_gated_preset_is_no_elman_document(capsys):
    """colah's names are an LSTM's: an Elman document in them is one error line, as verify's."""
    assert main(["render", str(DATA / "scalar.toml"), "--notation", "colah", "-o", "-"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("notation 'colah' is a preset of the cells lstm, not of cell 'elman'")
