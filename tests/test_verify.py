"""`verify`: the deck's BPTT formulas against a tanh and a linear RNN, the conventions, the CLI."""

from __future__ import annotations

import json

import pytest
from conftest import EXAMPLES

from symbolic_bptt.cli.main import main
from symbolic_bptt.errors import ProblemError
from symbolic_bptt.formulas.verify import verify_formula, verify_latex
from symbolic_bptt.inputs.problem import Model

# The deck's formulas with their verdicts for its own model (one unit, no biases, half_sse loss),
# with tanh and with the identity activation: (formula, tanh (holds, code), identity (holds, code)).
# Section 2 writes d2l's names (W_qh, W_hx) and rows (x_t W_xh); section 3 uses delta shorthands.
DECK_TABLE = {
    "1: forward": (r"\mathbf{h}_t = \phi(W_{xh}\mathbf{x}_t + W_{hh}\mathbf{h}_{t-1} + \mathbf{b}_h)",
                   (True, None), (True, None)),
    "2: forward (rows)": (
        (r"\mathbf{h}_t = \phi(\mathbf{x}_t \mathbf{W}_{xh} + \mathbf{h}_{t-1} \mathbf{W}_{hh} "
        r"+ \mathbf{b}_h)"), (True, None), (True, None)),
    "2: output (rows)": (r"\mathbf{o}_t = \mathbf{h}_t \mathbf{W}_{hq} + \mathbf{b}_q",
                         (True, None), (True, None)),
    # L = 1/T sum l: the deck's section 2 averages, its example (half_sse) halves
    "2: loss": (r"L = \frac{1}{T} \sum_{t=1}^T l(\mathbf{y}_t, \mathbf{o}_t).",
                (False, "loss-scale"), (False, "loss-scale")),
    "2: dL/do_t": ((r"\frac{\partial L}{\partial \mathbf{o}_t} = \frac{1}{T} "
                   r"\frac{\partial l(\mathbf{o}_t, y_t)}{\partial \mathbf{o}_t}"),
                   (False, "loss-scale"), (False, "loss-scale")),
    "2: dL/dW_qh": ((r"\frac{\partial L}{\partial \mathbf{W}_{qh}} = \sum_{t=1}^T "
                    r"\frac{\partial L}{\partial \mathbf{o}_t} \mathbf{h}_t^\top"),
                    (True, None), (True, None)),
    "2: dL/dh_T": ((r"\frac{\partial L}{\partial \mathbf{h}_T} = \mathbf{W}_{qh}^\top "
                   r"\frac{\partial L}{\partial \mathbf{o}_T}"), (True, None), (True, None)),
    "2: recursion": ((r"\frac{\partial L}{\partial \mathbf{h}_t} = \mathbf{W}_{hh}^\top "
                     r"\frac{\partial L}{\partial \mathbf{h}_{t+1}} + \mathbf{W}_{qh}^\top "
                     r"\frac{\partial L}{\partial \mathbf{o}_t}"),
                     (False, "missing-activation-derivative"), (True, None)),
    # d2l's index T+t-i: with j = T+t-i this is sum_{j=t}^T (W_hh^T)^(j-t) W_qh^T dL/do_j
    "2: expansion": ((r"\frac{\partial L}{\partial \mathbf{h}_t} = \sum_{i=t}^T "
                     r"(\mathbf{W}_{hh}^\top)^{T-i} \mathbf{W}_{qh}^\top "
                     r"\frac{\partial L}{\partial \mathbf{o}_{T+t-i}}"),
                     (False, "missing-activation-derivative"), (True, None)),
    "2: dL/dW_hx": ((r"\frac{\partial L}{\partial \mathbf{W}_{hx}} = \sum_{t=1}^T "
                    r"\frac{\partial L}{\partial \mathbf{h}_t} \mathbf{x}_t^\top"),
                    (False, "missing-activation-derivative"), (True, None)),
    "2: dL/dW_hh": ((r"\frac{\partial L}{\partial \mathbf{W}_{hh}} = \sum_{t=1}^T "
                    r"\frac{\partial L}{\partial \mathbf{h}_t} \mathbf{h}_{t-1}^\top"),
                    (False, "missing-activation-derivative"), (True, None)),
    "3: z_1": (r"z_1 = W_{hh}h_0 + W_{xh}x_1", (True, None), (True, None)),
    "3: loss": (r"L = \frac{1}{2} \sum_{t=1}^T (o_t - y_t)^2", (True, None), (True, None)),
    "3: dL/do_t": (r"\frac{\partial L}{\partial o_t} = o_t - y_t", (True, None), (True, None)),
    "3: dL/dW_hy": (r"\frac{\partial L}{\partial W_{hy}} = \sum_{t=1}^3 \delta_{o_t} h_t",
                    (True, None), (True, None)),
    "3: recursion": ((r"\delta h_t = \delta o_t \cdot W_{hy} + \delta h_{t+1} \cdot W_{hh} "
                     r"\cdot (1 - h_t^2)"), (False, "derivative-index"), (False, None)),
    "3: dL/dW_hh": ((r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^3 \delta h_t \cdot "
                    r"(1 - h_t^2) \cdot h_{t-1}"), (True, None), (False, None)),
    "3: dL/dW_xh": ((r"\frac{\partial L}{\partial W_{xh}} = \sum_{t=1}^3 \delta h_t \cdot "
                    r"(1 - h_t^2) \cdot x_t"), (True, None), (False, None)),
    "3: delta_t": (r"\delta_t = \delta h_t(1 - h_t^2)", (True, None), (False, None)),
}

TANH = Model(activation="tanh")
LINEAR = Model(activation="identity")
VECTOR = {"input_size": 2, "hidden_size": 3, "output_size": 2}


@pytest.mark.parametrize("model", [TANH, LINEAR], ids=["tanh", "identity"])
@pytest.mark.parametrize("name", DECK_TABLE)
def test_the_decks_formulas(name, model):
    latex, tanh, linear = DECK_TABLE[name]
    verdict = verify_latex(model, latex)
    assert (verdict.holds, verdict.code) == (tanh if model is TANH else linear)
    assert verdict.checked and all(c.holds for c in verdict.checked) == verdict.holds
    if verdict.holds:
        assert verdict.counterexample is None
    else:
        assert verdict.counterexample["lhs"] != verdict.counterexample["rhs"]


def test_true_formulas_are_proved_symbolically():
    verdict = verify_latex(LINEAR, DECK_TABLE["2: expansion"][0])
    assert {c.method for c in verdict.checked} == {"symbolic"}
    assert "proved symbolically" in verdict.explanation


def test_the_averaged_loss_holds_for_mse():
    mse = Model(activation="tanh", loss="mse")
    for name in ("2: loss", "2: dL/do_t"):
        assert verify_latex(mse, DECK_TABLE[name][0]).holds
    assert verify_latex(mse, DECK_TABLE["3: dL/do_t"][0]).code == "loss-scale"


def test_a_literal_sum_bound_states_one_T():
    verdict = verify_latex(TANH, DECK_TABLE["3: dL/dW_hh"][0], max_T=8)
    assert [(c.T, c.t) for c in verdict.checked] == [(3, None)]
    assert "T = 3 only" in verdict.explanation


def test_a_recursion_is_checked_where_its_quantities_exist():
    verdict = verify_latex(LINEAR, DECK_TABLE["2: recursion"][0], max_T=4)
    assert [(c.T, c.t) for c in verdict.checked] == [(2, 1), (3, 1), (3, 2), (4, 1), (4, 2),
                                                     (4, 3)]
    assert "dL/dh_2 at T = 1" in verdict.explanation


def test_a_literal_index_is_not_tied_to_one_T():
    """delta h_3 = W_hy delta o_3 is the t = T case for T = 3 only, not an identity."""
    verdict = verify_latex(TANH, r"\delta h_3 = W_{hy} \delta o_3")
    assert not verdict.holds
    assert [(c.T, c.holds) for c in verdict.checked] == [(3, True), (4, False), (5, False)]
    assert verdict.counterexample["T"] == 4


def test_the_failing_recursion_has_a_counterexample_with_its_inputs():
    verdict = verify_latex(TANH, DECK_TABLE["3: recursion"][0])
    c = verdict.counterexample
    assert (c["T"], c["t"]) == (2, 1)
    assert set(c["point"]) == {"W_xh", "W_hh", "W_hy", "h_0", "x_1", "y_1", "x_2", "y_2"}
    assert abs(c["lhs"] - c["rhs"]) > 1e-3
    assert "derivative-index" in verdict.explanation


@pytest.mark.parametrize("activation, latex", [
    ("tanh", r"\delta_t = \phi'(z_t) \odot \delta h_t"),
    ("tanh", r"\delta_t = (1 - \tanh^2 z_t) \delta h_t"),
    ("sigmoid", r"\delta_t = \sigma'(z_t) \delta h_t"),
    ("sigmoid", r"\delta_t = h_t (1 - h_t) \delta h_t"),
    ("relu", r"\delta_t = \phi'(z_t) \delta h_t"),
    ("tanh", r"h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t)"),
    ("tanh", (r"\frac{\partial L}{\partial h_t} = \sum_{i=t}^{T} \left(\prod_{j=t+1}^{i} "
             r"W_{hh}^\top (1 - h_j^2) \right) W_{hy}^\top \delta o_i")),
    ("tanh", (r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^{T} "
             r"\frac{\partial L}{\partial W_{hh}^{(t)}}")),
])
def test_identities_of_other_activations_are_proved(activation, latex):
    verdict = verify_latex(Model(activation=activation), latex)
    assert verdict.holds
    assert {c.method for c in verdict.checked} == {"symbolic"}


@pytest.mark.parametrize("loss, latex, code", [
    ("half_sse", r"\frac{\partial L}{\partial o_t} = y_t - o_t", "sign-error"),
    ("mse", r"\frac{\partial L}{\partial o_t} = o_t - y_t", "loss-scale"),
    ("half_sse", r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^{T} \delta_t h_t", 
     "state-off-by-one"),
])
def test_other_known_mistakes(loss, latex, code):
    verdict = verify_latex(Model(activation="tanh", loss=loss), latex)
    assert (verdict.holds, verdict.code) == (False, code)


def test_cross_entropy_gradient():
    model = Model(activation="tanh", loss="cross_entropy", output_size=3)
    latex = r"\frac{\partial L}{\partial o_t} = \frac{1}{T}(\operatorname{softmax}(o_t) - y_t)"
    assert verify_latex(model, latex).holds


# Vectors: column convention, transposes and entrywise products matter


@pytest.mark.parametrize("activation, latex, holds, code", [
    ("identity", DECK_TABLE["2: recursion"][0], True, None),
    ("identity", r"\delta h_t = W_{hh} \delta h_{t+1} + W_{hy}^\top \delta o_t", False, None),
    ("tanh", DECK_TABLE["2: recursion"][0], False, "missing-activation-derivative"),
    ("tanh", (r"\delta h_t = W_{hy}^\top \delta o_t + W_{hh}^\top ((1 - h_{t+1}^2) \odot "
             r"\delta h_{t+1})"), True, None),
    ("tanh", (r"\delta h_t = W_{hy}^\top \delta o_t + (1 - h_t^2) \odot W_{hh}^\top "
             r"\delta h_{t+1}"), False, "derivative-index"),
    ("tanh", r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^{T} \delta_t h_{t-1}^\top",
     True, None),
    ("tanh", r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^{T} \delta_t h_t^\top",
     False, "state-off-by-one"),
    ("tanh", r"\mathbf{h}_t = \tanh(W_{hx}\mathbf{x}_t + W_{hh}\mathbf{h}_{t-1})", True, None),
])
def test_vectors(activation, latex, holds, code):
    verdict = verify_latex(Model(activation=activation, **VECTOR), latex, max_T=3)
    assert (verdict.holds, verdict.code) == (holds, code)


@pytest.mark.parametrize("latex, message", [
    (DECK_TABLE["2: forward (rows)"][0], ("cannot multiply a 2x1 by a 3x2 matrix; verify reads "
                                         "formulas in column convention")),
    (r"\delta_t = \delta h_t \cdot (1 - h_t^2)",
     r"use \odot for an entrywise product (a problem file's [symbols] cdot = "
     + '"elementwise" ' + r"reads \cdot as one)"),
    (r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^{T} h_{t-1} \delta_t^\top",
     "have shapes 3x3 and 3x3"),
])
def test_row_convention_on_vectors_is_refused(latex, message):
    model = Model(activation="tanh", **VECTOR)
    if "3x3 and 3x3" in message:  # a transposed gradient has the right shape and is just wrong
        assert not verify_latex(model, latex, max_T=2).holds
        return
    with pytest.raises(ProblemError, match="column convention"):
        verify_latex(model, latex, max_T=2)
    with pytest.raises(ProblemError) as info:
        verify_latex(model, latex, max_T=2)
    assert message in str(info.value)


@pytest.mark.parametrize("latex, message", [
    (r"\delta h_{t+7} = 0", "nothing to check"),
    (r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^{T} \delta_{t+1} h_t^\top",
     "inside a sum or product the formula names dL/dz_2, which does not exist for T = 1"),
    (r"L = \sum_{t=1}^{3} l_t + \sum_{t=1}^{4} l_t", "write T for the sequence length"),
    (r"\frac{\partial L}{\partial b_h} = 0", "the model has no biases"),
])
def test_formulas_that_cannot_be_checked(latex, message):
    with pytest.raises(ProblemError) as info:
        verify_latex(TANH, latex)
    assert message in str(info.value)


def test_a_missing_bias_reads_as_zero():
    verdict = verify_latex(TANH, r"z_t = W_{hh} h_{t-1} + W_{xh} x_t + b_h")
    assert verdict.holds and "b_h is read as zero" in verdict.explanation


def test_sympy_syntax():
    text = "dL_dh(t) = W_hy*dL_do(t) + W_hh*dL_dh(t+1)*(1 - h(t)**2)"
    assert verify_formula(TANH, sympy=text).code == "derivative-index"
    with pytest.raises(ProblemError, match="give the formula once"):
        verify_formula(TANH, latex="h_t = h_t", sympy=text)


# The command line


def run(capsys, *args) -> tuple[int, str, str]:
    """`symbolic-bptt verify ARGS` in this process: (exit code, stdout, stderr)."""
    try:
        code = main(["verify", *map(str, args)])
    except SystemExit as exc:  # argparse
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_fails_with_a_code_and_json(capsys):
    code, out, _ = run(capsys, EXAMPLES / "deck.toml", "--latex", DECK_TABLE["3: recursion"][0],
                       "--json")
    assert code == 1
    answer = json.loads(out)
    assert set(answer) == {"holds", "checked", "counterexample", "code", "explanation"}
    assert answer["holds"] is False and answer["code"] == "derivative-index"
    assert set(answer["counterexample"]) == {"T", "t", "lhs", "rhs", "point"}
    assert answer["checked"][0] == {"T": 2, "t": 1, "holds": False, "method": "numeric"}


def test_cli_holds(capsys, tmp_path):
    problem = tmp_path / "linear.toml"
    problem.write_text('[model]\nactivation = "identity"\n[data]\nx = [1.0]\ny = [0.0]\n'
                       '[weights]\nW_xh = 1.0\nW_hh = 1.0\nW_hy = 1.0\n', encoding="utf-8")
    code, out, _ = run(capsys, problem, "--latex", DECK_TABLE["2: expansion"][0], "--max-T", 3)
    assert code == 0
    assert out.startswith("holds\nholds for the identity model (half_sse loss) at T = 1..3")


def test_cli_text_output_on_failure(capsys):
    code, out, _ = run(capsys, EXAMPLES / "deck.toml", "--sympy",
                       "dL_dh(t) = transpose(W_hh)*dL_dh(t+1) + transpose(W_hy)*dL_do(t)")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == "fails [missing-activation-derivative]"
    assert lines[2].startswith("counterexample inputs: W_xh = ")


@pytest.mark.parametrize("args, message", [
    (["--latex", r"h_t = \foo"], r"cannot read \foo at position 7 of the formula"),
    (["--latex", r"\delta h_t = W_{hy}"], ""),  # reads, and fails: exit 1, not 2
    (["--latex", "h_t = 1", "--sympy", "h(t) = 1"], "not allowed with argument"),
    ([], "one of the arguments --latex --sympy is required"),
    (["--latex", "h_t = h_t", "--max-T", "0"], "--max-T must be at least 1"),
])
def test_cli_unreadable(capsys, args, message):
    code, _, err = run(capsys, EXAMPLES / "deck.toml", *args)
    if not message:
        assert code == 1
        return
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


def test_cli_as_a_user_runs_it(cli):
    run_ = cli("verify", EXAMPLES / "vector_bias.toml", "--latex",
               DECK_TABLE["2: forward (rows)"][0])
    assert run_.code == 2
    assert run_.err.startswith("symbolic-bptt: error: ") and "column convention" in run_.err
