"""[notation] is a whitelist of math, checked by parsing, once for solve, check and render."""

from __future__ import annotations

import pytest
from conftest import EXAMPLES
from texutil import require_tex

from symbolic_bptt.cli.main import main
from symbolic_bptt.documents.render import problem_tex, publish
from symbolic_bptt.errors import ProblemError
from symbolic_bptt.inputs.problem import load_problem, parse_problem
from symbolic_bptt.model.notation import check_math

DECK = (EXAMPLES / "deck.toml").read_text(encoding="utf-8")

REFUSED = {
    "typeout-environment": "\\begin{typeout}{X}\\end{typeout}h",
    "write18-environment": "\\begin{write}18{touch marker}\\end{write}h",
    "openout-environment": "\\begin{openout}{x}\\end{openout}h",
    "input": "\\input{/etc/passwd}",
    "write18": "\\write18{touch marker}",
    "def": "\\def\\x{1}h",
    "catcode": "\\catcode`\\^=12 h",
    "csname": "\\csname input\\endcsname{x}",
    "caret-caret": "^^5cinput{x}",
    "caret-caret-spaced": "h^ ^5c",
    "unknown-macro": "\\foo h",
    "math-shift": "$h$",
    "comment": "h % x",
    "alignment": "h & s",
    "nul": "h\x00",
    "newline": "h\ns",
    "escape": "h\x1b[2J",
    "del": "h\x7f",
    "greek-unicode": "α",
    "accented": "é",
    "deep-braces": "{" * 2000 + "h" + "}" * 2000,
    "long": "h" * 1000,
    "empty": "",
    "blank": "   ",
    "dangling-subscript": "h_",
    "double-script": "h__1",
    "line-break": "h\\\\s",
    "unbalanced": "{h",
}


@pytest.mark.parametrize("tex", REFUSED.values(), ids=REFUSED.keys())
def test_refused_values(tex):
    with pytest.raises(ProblemError) as info:
        check_math(tex, "notation.h")
    message = str(info.value)
    assert message.startswith("notation.h") and "\n" not in message and len(message) < 300


@pytest.mark.parametrize("tex", ["s", "W_1", "h'", "\\hat{h}", "\\tilde s", "\\mathbf{s}",
                                 "\\boldsymbol{\\alpha}", "\\delta s", "s^{(1)}",
                                 "\\mathcal{H}", "\\bar{h}_{\\mathrm{a}}"])
def test_accepted_values(tex):
    check_math(tex, "notation.h")


def _raw(notation: dict) -> dict:
    return {"model": {}, "data": {"x": [0.5, 0.1], "y": [0.4, 0.2]},
            "weights": {"W_xh": 0.6, "W_hh": 0.9, "W_hy": 0.8}, "notation": notation}


@pytest.mark.parametrize("notation, message", [
    ({"h\nsymbolic-bptt: error: FORGED": "s"}, "notation.'h\\nsymbolic-bptt"),
    ({"k" * 100_000: "s"}, "(100000 characters)"),
    ({"q": "s"}, "notation.q is not a symbol"),
    ({"h": 3}, "notation.h must be a string"),
])
def test_keys_are_quoted_and_checked_on_load(notation, message):
    with pytest.raises(ProblemError) as info:
        parse_problem(_raw(notation))
    assert message in str(info.value)
    assert "\n" not in str(info.value) and len(str(info.value)) < 2000


@pytest.mark.parametrize("command", ["solve", "render", "check"])
def test_one_validation_for_every_command(command, tmp_path, capsys):
    path = tmp_path / "p.toml"
    path.write_text(DECK + '\n[notation]\nh = "\\\\begin{typeout}{X}\\\\end{typeout}h"\n',
                    encoding="utf-8")
    args = {"solve": [path], "render": [path, "--out", tmp_path / "out"],
            "check": [path, EXAMPLES / "deck_claims.toml"]}[command]
    assert main([command, *map(str, args)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "environments" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.tex
def test_scripts_and_primes_in_notation_compile(tmp_path):
    """h' and W_1 get a time index without a double superscript or subscript."""
    require_tex()
    path = tmp_path / "p.toml"
    path.write_text(DECK + '\n[notation]\nh = "h\'"\nW_hh = "W_1"\nz = "\\\\hat{z}^{a}"\n',
                    encoding="utf-8")
    tex = problem_tex(load_problem(path), "article")
    _, pdf = publish(tex, tmp_path / "out" / "article.tex", pdf=True)
    assert pdf.exists()
