"""The Python API: the same problems, values, audits and verdicts as the command line, with
numbers checked against a forward pass written here and finite differences of it."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from conftest import EXAMPLES, deck_gradient

import symbolic_bptt as sb
from symbolic_bptt.cli.main import main
from symbolic_bptt.documents.render import problem_tex

DECK = EXAMPLES / "deck.toml"
TEXT = """\
[model]
activation = "tanh"
[data]
x = [0.5, -0.3, 0.8]
y = [0.1, 0.4, -0.2]
[weights]
W_xh = 0.7
W_hh = -0.4
W_hy = 1.1
"""
W = {"W_xh": 0.7, "W_hh": -0.4, "W_hy": 1.1}
X, Y = [0.5, -0.3, 0.8], [0.1, 0.4, -0.2]


def loss(w: dict[str, float]) -> float:
    """The scalar tanh RNN by hand: L = 1/2 sum (W_hy h_t - y_t)^2."""
    h, total = 0.0, 0.0
    for x, y in zip(X, Y, strict=True):
        h = math.tanh(w["W_hh"] * h + w["W_xh"] * x)
        total += 0.5 * (w["W_hy"] * h - y) ** 2
    return total


def finite_difference(name: str, eps: float = 1e-6) -> float:
    up, down = dict(W), dict(W)
    up[name] += eps
    down[name] -= eps
    return (loss(up) - loss(down)) / (2 * eps)


def cli_json(capsys, *args) -> dict:
    code = main([*map(str, args), "--json"])
    out = capsys.readouterr().out
    assert code in (0, 1)
    return json.loads(out)


@pytest.mark.parametrize("make", [
    lambda: sb.load(TEXT),
    lambda: sb.problem(model={"activation": "tanh"}, data={"x": X, "y": Y}, weights=W),
    lambda: sb.problem(model={"activation": "tanh"}, data={"x": np.array(X), "y": tuple(Y)},
                       weights={k: np.float64(v) for k, v in W.items()}),
], ids=["toml-text", "python-values", "numpy-values"])
def test_a_problem_from_text_or_values_solves_to_the_finite_differences(make):
    sol = make().solve(mode="float")
    assert sol["L"] == pytest.approx(loss(W), abs=1e-12)
    for name in W:
        assert sol[f"dL/d{name}"] == pytest.approx(finite_difference(name), abs=1e-7)


def test_values_are_the_solve_json_object(capsys):
    for mode in ("rounded", "exact"):
        sol = sb.load(DECK).solve(mode=mode, decimals=4)
        assert dict(sol) == cli_json(capsys, "solve", DECK, "--mode", mode)["quantities"]
        assert list(sol) == [s.name for s in sol.steps]


def test_a_step_in_latex_and_plain_text():
    sol = sb.load(DECK).solve(mode="rounded", decimals=4)
    h1 = sol.step("h_1")
    assert (h1.text.formula, h1.text.substituted, h1.text.result) == (
        "tanh(z_1)", "tanh(0.3000)", f"{math.tanh(0.3):.4f}")
    assert str(h1) == "h_1 = tanh(z_1) = tanh(0.3000) = 0.2913"
    delta = sol.step("dL/dz_2")  # the deck's delta_2 = delta h_2 (1 - h_2^2)
    assert delta.latex.formula == r"\delta h_{2} \left(1 - h_{2}^{2}\right)"
    assert delta._repr_latex_().startswith(r"$$\begin{aligned}" + "\n" + r"\delta_{2} &=")
    assert "dL/d" not in delta._repr_latex_()


def test_rounded_steps_redo_by_hand_from_their_printed_numbers():
    # each scalar line holds: the result is its printed numbers worked out and rounded
    sol = sb.load(DECK).solve(mode="rounded", decimals=4)
    h2 = sol.step("h_2")
    z2 = float(h2.text.substituted.removeprefix("tanh(").removesuffix(")"))
    assert h2.text.result == f"{math.tanh(z2):.4f}"


def test_a_solution_displays_every_step_as_one_aligned_block():
    sol = sb.load(DECK).solve()
    tex = sol._repr_latex_()
    assert tex.startswith(r"$$\begin{aligned}") and tex.endswith(r"\end{aligned}$$")
    assert tex.count(r" \\") == len(sol) - 1
    assert r"\delta_{3} &=" in tex and r"\delta h_{1} &=" in tex


def test_check_from_python_values_agrees_with_the_command_line(capsys, tmp_path):
    p = sb.load(DECK)
    audit = p.check({"h_1": 0.2913, "h_3": 0.4775, "dL/dW_hh": 0.1128})
    claims = tmp_path / "claims.toml"
    claims.write_text('[claims]\nh_1 = 0.2913\nh_3 = 0.4775\n"dL/dW_hh" = 0.1128\n')
    assert audit.as_json() == cli_json(capsys, "check", DECK, claims)
    assert not audit.ok
    # the deck's numbers: h_3 by arithmetic slip, and tanh(0.5) = 0.4621 is not 0.4775
    assert audit.verdict("h_1").verdict == "ok"
    assert audit.verdict("h_3").verdict == "wrong"


def test_check_takes_the_precision_from_strings_or_decimals():
    p = sb.load(DECK)
    h1 = math.tanh(0.3)
    assert p.check({"h_1": f"{h1:.2f}"}).verdict("h_1").decimals == 2
    assert p.check({"h_1": round(h1, 3)}, decimals=6).verdict("h_1").verdict == "wrong"
    assert p.check({"h_1": f"{h1:.6f}"}).ok
    with pytest.raises(sb.ProblemError, match="unknown quantity 'h_9'"):
        p.check({"h_9": 0.1})


def test_verify_holds_and_fails_with_the_decks_mistake():
    p = sb.load(DECK)
    good = sb.verify(p, latex=r"\delta_t = \delta h_t (1 - h_t^2)", max_T=3)
    assert good.holds and good.code is None
    bad = p.verify(latex=r"\delta h_t = \delta o_t W_{hy} + \delta h_{t+1} W_{hh} (1 - h_t^2)",
                   max_T=3)
    assert not bad.holds and bad.code == "derivative-index"
    md = bad._repr_markdown_()
    assert md.startswith("**fails**") and "derivative-index" in md and "$$" in md


def body(tex: str) -> str:
    """A generated .tex without its two-line header (which says how it was made)."""
    return tex.split("\n", 2)[2]


def test_render_returns_the_clis_latex_or_writes_it(tmp_path):
    p = sb.load(DECK)
    beamer = p.render("beamer")
    assert body(beamer) == body(problem_tex(p.spec, "beamer"))
    assert beamer.splitlines()[1].endswith(f"symbolic-bptt render {DECK} --format beamer")
    written = p.render("article", out=tmp_path, mode="exact")
    assert written == [tmp_path / "article.tex"]
    tex = (tmp_path / "article.tex").read_text(encoding="utf-8")
    assert body(tex) == body(problem_tex(p.spec, "article", "exact"))
    assert "--format article --mode exact" in tex.splitlines()[1]


def test_the_audit_shows_its_verdicts_in_the_reports_colours():
    audit = sb.load(DECK).check({"h_1": 0.2913, "dL/dh_2": 0.2224})
    html = audit._repr_html_()
    preamble = (EXAMPLES.parent / "templates" / "_preamble.tex.j2").read_text(encoding="utf-8")
    ok = re.search(r"\\definecolor\{auditok\}\{rgb\}\{([\d.]+),([\d.]+),([\d.]+)\}", preamble)
    css = "rgb({})".format(", ".join(str(round(float(c) * 255)) for c in ok.groups()))
    assert f'style="color:{css};font-weight:bold">ok<' in html
    assert r"\(\delta h_{2}\)" in html and ">wrong<" in html


@pytest.mark.parametrize("path", ["deck.toml", "vector_bias.toml", "lstm_custom.toml"])
def test_reprs_are_short(path):
    p = sb.load(EXAMPLES / path)
    sol = p.solve()
    audit = p.check({"L": 1.0})
    for obj in (p, p.spec, p.tape, sol, sol.evaluation, audit, audit.result, sol.steps[0]):
        assert len(repr(obj)) < 600, type(obj)
    assert repr(sol).startswith(f"<Solution '{p.name}'")


def test_every_step_of_a_custom_cell_prints_in_plain_text_without_internal_names():
    sol = sb.load(EXAMPLES / "gru_custom.toml").solve()
    for step in sol.steps:
        assert "Filled" not in str(step) and "phi'" not in step.text.formula, str(step)


def test_the_readmes_api_example_runs_as_written(tmp_path, monkeypatch):
    readme = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("## The Python API", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(EXAMPLES.parent)
    code = block.replace('out="slides/", pdf=True', f'out="{tmp_path}"')  # no TeX needed here
    names: dict = {}
    exec(compile(code, "README.md", "exec"), names)  # noqa: S102 (our own README)
    assert names["sol"]["dL/dW_hh"] == round(deck_gradient("W_hh"), 4)
    assert str(names["step"]).startswith("dL/dz_2 = dL/dh_2·(1 - h_2^2) = ")
    assert names["audit"].verdict("dL/dW_hh").code == "derivative-index"
    assert (tmp_path / "beamer.tex").exists()
