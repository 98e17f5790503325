"""examples/notebook.ipynb runs top to bottom in a real Jupyter kernel, and shows what it says."""

from __future__ import annotations

import nbclient
import nbformat
import pytest
from conftest import EXAMPLES, deck_gradient


@pytest.fixture(scope="module")
def executed():
    nb = nbformat.read(EXAMPLES / "notebook.ipynb", as_version=4)
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(EXAMPLES)}}).execute()
    return [c for c in nb.cells if c.cell_type == "code"]


def outputs(cell, mime: str) -> str:
    return "".join(o.get("data", {}).get(mime, "") for o in cell.outputs)


def test_every_cell_runs_without_an_error(executed):
    for cell in executed:
        assert all(o.output_type != "error" for o in cell.outputs), cell.source
        assert all(o.get("name") != "stderr" for o in cell.outputs), cell.source


def test_the_solution_is_typeset_in_the_decks_notation(executed):
    tex = outputs(executed[1], "text/latex")
    assert tex.startswith(r"$$\begin{aligned}")
    assert r"\delta_{3} &=" in tex and "dL/dz" not in tex
    plain = outputs(executed[1], "text/plain")
    assert plain.startswith("<Solution 'deck'") and len(plain) < 300


def test_the_gradients_are_the_exact_ones_to_four_places(executed):
    shown = outputs(executed[2], "text/plain")
    expected = tuple(round(deck_gradient(n), 4) for n in ("W_hh", "W_xh"))
    assert shown == repr(expected)


def test_a_step_in_latex_and_plain_text(executed):
    assert r"\delta_{2} &= \delta h_{2} \left(1 - h_{2}^{2}\right)" in outputs(executed[3],
                                                                               "text/latex")
    printed = "".join(o.get("text", "") for o in executed[4].outputs)
    assert printed.startswith("dL/dz_2 = dL/dh_2·(1 - h_2^2) = ")


def test_the_audit_finds_the_decks_mistakes(executed):
    html = outputs(executed[5], "text/html")
    assert "derivative-index" in html and "color:" in html
    roots = outputs(executed[6], "text/plain")
    # the deck's derivative-index mistake in its recursion (README: dL/dh_2, dL/dh_1)
    assert "('dL/dh_2', 'derivative-index')" in roots


def test_verify_tells_the_decks_recursion_from_the_chain_rules(executed):
    assert outputs(executed[7], "text/markdown").startswith("**fails** — the `derivative-index`")
    assert outputs(executed[8], "text/markdown").startswith("**holds**")
