"""Float arithmetic on whole vectors (evaluate/vector.py), which `evaluate` uses for a tape with
a 4 x 4 quantity or larger: against torch.nn.LSTM / torch.nn.GRU at hidden sizes 8-16, and
forced onto small problems, against the torch oracles of random custom cells and against the
entrywise walker on every example."""

from __future__ import annotations

import math

import pytest
from conftest import CUSTOM_FILES, EXAMPLES, GATED_FILES, PROBLEM_FILES
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from symbolic_bptt.errors import ProblemError
from symbolic_bptt.evaluate import vector
from symbolic_bptt.evaluate.arithmetic import compile_rule, evaluate, parameter_values
from symbolic_bptt.evaluate.walk import Walker, floats
from symbolic_bptt.inputs.files import parse_toml
from symbolic_bptt.inputs.problem import load_problem, parse_problem
from symbolic_bptt.tape import unroll

torch = pytest.importorskip("torch")
from test_custom_cells import assert_matches, checked_terms, random_cells, run_oracle  # noqa: E402
from test_gated_cells import check_against_torch, gated_problems  # noqa: E402
from test_problem import to_toml  # noqa: E402

PROBLEMS = sorted(PROBLEM_FILES + CUSTOM_FILES + GATED_FILES)


def vector_values(tape) -> dict:
    return vector.run(tape, parameter_values(tape, float),
                      lambda rule: compile_rule(rule, "float", 0))


@pytest.fixture
def always_vectors(monkeypatch):
    """Every tape on arrays, however small."""
    monkeypatch.setattr(vector, "VECTOR_ENTRIES", 1)


@st.composite
def large_gated(draw, cell: str):
    """gated_problems with the hidden size 8 to 16: sizes `evaluate` computes on arrays."""
    raw = draw(gated_problems(cell))
    hidden = draw(st.integers(8, 16))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31)))

    def rnd(*shape):
        return ((torch.rand(*shape, generator=gen, dtype=torch.float64) * 2 - 1) / 2).tolist()
    gates = 4 if cell == "lstm" else 3
    size_x, T = len(raw["data"]["x"][0]), len(raw["data"]["x"])
    head = "output" not in raw["model"]
    size_o = len(raw["data"]["y"][0]) if head else hidden
    raw["weights"] = {"weight_ih_l0": rnd(gates * hidden, size_x),
                      "weight_hh_l0": rnd(gates * hidden, hidden),
                      "bias_ih_l0": rnd(gates * hidden), "bias_hh_l0": rnd(gates * hidden)}
    raw["model"]["bias"] = True
    if head:
        raw["weights"] |= {"W_hy": rnd(size_o, hidden), "b_y": rnd(size_o)}
    raw["data"] |= {"h0": rnd(hidden), "y": rnd(T, size_o)}
    if cell == "lstm":
        raw["data"]["c0"] = rnd(hidden)
    return raw


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(large_gated("lstm"))
def test_a_large_lstm_on_arrays_matches_torch_nn_lstm(raw):
    assert vector.pays(unroll(parse_problem(raw)))
    check_against_torch(raw, "lstm")


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(large_gated("gru"))
def test_a_large_gru_on_arrays_matches_torch_nn_gru(raw):
    assert vector.pays(unroll(parse_problem(raw)))
    check_against_torch(raw, "gru")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_cells())
def test_random_custom_cells_on_arrays_match_torch(case):
    """tanh, sigma, exp, (1 - a)^2, sums, Hadamard and scaled products, on arrays."""
    raw, step = case
    tape = unroll(parse_problem(raw))
    engine = dict(vector_values(tape))
    engine = {s.name: engine[s.name] for s in tape.steps}
    oracle = run_oracle(raw, step, names=engine)
    assume(all(math.isfinite(v) for vs in oracle.values() for v in vs))
    assert_matches(checked_terms({k: list(v) for k, v in engine.items()}, oracle), oracle)


@pytest.mark.parametrize("path", PROBLEMS, ids=lambda p: p.stem)
def test_every_example_on_arrays_agrees_with_the_entrywise_walk(path):
    """The same names in the same order, each value to 1e-12 of the quantity's largest entry
    (the two add a sum's terms in different orders)."""
    tape = unroll(load_problem(path))
    ours, entrywise = vector_values(tape), Walker(tape, floats()).run()
    assert list(ours) == list(entrywise)
    for name, values in entrywise.items():
        scale = max(map(abs, values), default=0.0) or 1.0
        assert all(type(v) is float for v in ours[name]), name
        assert ours[name] == pytest.approx(values, rel=0, abs=1e-12 * scale), name


def test_a_value_that_overflows_on_arrays_is_one_error(always_vectors):
    """A sigmoid of a very negative argument (exp overflows): one error line naming the step,
    the same step as on the entrywise walk."""
    raw = parse_toml((EXAMPLES / "lstm.toml").read_text(encoding="utf-8"))
    raw["data"]["x"][1] = [1e5, -1e5]
    problem = parse_problem(raw)
    steps = []
    for entries in (1, 10**9):  # on arrays, then entry by entry
        vector.VECTOR_ENTRIES = entries
        with pytest.raises(ProblemError) as err:
            evaluate(unroll(problem), "float")
        message = str(err.value)
        assert "\n" not in message and "cannot be computed in float arithmetic (" in message
        steps.append(message.split(" cannot be computed")[0])
    assert steps[0] == steps[1] and steps[0].endswith("_2"), steps


def test_solve_gradients_prints_what_torch_computes(cli, tmp_path):
    """--gradients on an LSTM of hidden size 12 (computed on arrays): L and exactly the
    parameter gradients, each torch.nn.LSTM's to 1e-9, and the same numbers as the full
    output."""
    raw = parse_toml((EXAMPLES / "lstm.toml").read_text(encoding="utf-8"))
    gen = torch.Generator().manual_seed(7)
    hidden, T = 12, 20

    def rnd(*shape):
        return ((torch.rand(*shape, generator=gen, dtype=torch.float64) - 0.5)).tolist()
    size_x = len(raw["data"]["x"][0])
    raw["weights"] = {"weight_ih_l0": rnd(4 * hidden, size_x), "weight_hh_l0": rnd(4 * hidden, hidden),
                      "bias_ih_l0": rnd(4 * hidden), "bias_hh_l0": rnd(4 * hidden),
                      "W_hy": rnd(1, hidden), "b_y": rnd(1)}
    raw["data"] = {"x": rnd(T, size_x), "y": rnd(T, 1), "h0": rnd(hidden), "c0": rnd(hidden)}
    path = tmp_path / "lstm12.toml"
    path.write_text(to_toml(raw), encoding="utf-8")
    run = cli("solve", path, "--json", "--gradients")
    assert run.code == 0, run.err
    got = run.json()["quantities"]
    from test_gated_cells import assert_close, module_run
    theirs, _ = module_run(parse_toml(path.read_text("utf-8")), "lstm")
    wanted = {k: v for k, v in theirs.items() if k == "L" or k[4:] in _parameters(path)}
    assert set(got) == set(wanted)
    assert_close(got, wanted)
    full = cli("solve", path, "--json").json()["quantities"]
    assert {k: full[k] for k in got} == got


def _parameters(path) -> set[str]:
    tape = unroll(load_problem(path))
    return {q.name for q in tape.quantities.values() if q.role == "param"}


@pytest.mark.parametrize("args, names", [
    (["--only", "h_*"], lambda q: q.startswith("h_")),
    (["--only", "c_2,L"], lambda q: q in ("c_2", "L")),
    (["--only", "dL/dW_h?"], lambda q: q in ("dL/dW_hi", "dL/dW_hf", "dL/dW_hg", "dL/dW_ho", "dL/dW_hy")),
    (["--only", "L", "--gradients"], lambda q: q == "L" or (q.startswith("dL/d") and "^" not in q
                                                            and q[4:6] in ("W_", "b_"))),
])
def test_solve_only_prints_the_names_it_matches(cli, args, names):
    full = cli("solve", EXAMPLES / "lstm.toml", "--json").json()["quantities"]
    run = cli("solve", EXAMPLES / "lstm.toml", "--json", *args)
    assert run.code == 0, run.err
    assert run.json()["quantities"] == {k: v for k, v in full.items() if names(k)}
    table = cli("solve", EXAMPLES / "lstm.toml", *args)
    assert [line.split()[0] for line in table.out.splitlines()[1:]] == \
        [k for k in full if names(k)]


@pytest.mark.parametrize("value, message", [
    ("hh_*", "--only 'hh_*' names no quantity of this problem (its names: i_t, f_t"),
    (",", "argument --only: expected a name or a pattern"),
])
def test_solve_only_refuses_what_names_nothing(cli, value, message):
    run = cli("solve", EXAMPLES / "lstm.toml", "--only", value)
    assert run.code == 2 and run.out == ""
    assert len(run.err.strip().splitlines()) == 1 and message in run.err, run.err
