"""The audit as a document: `check --report DIR` and the main job's audit of the deck."""

from __future__ import annotations

import re

import pytest
from conftest import EXAMPLES
from texutil import pdf_text, require_tex

from symbolic_bptt.audit.check import check
from symbolic_bptt.audit.report import audit_document
from symbolic_bptt.documents.render import render_tex
from symbolic_bptt.inputs.claims import load_claims
from symbolic_bptt.inputs.problem import load_problem
from symbolic_bptt.tape import unroll


@pytest.fixture(scope="module")
def deck_report() -> str:
    tape = unroll(load_problem(EXAMPLES / "deck.toml"))
    audit = check(tape, load_claims(EXAMPLES / "deck_claims.toml", tape))
    return render_tex("article", audit_document(audit, tape))


def test_each_claimed_step_is_marked_in_its_colour(deck_report):
    tags = re.findall(r"\\tag\*\{(.*)\}", deck_report)
    assert len(tags) >= 30  # every claimed quantity of the deck has a line with its verdicts
    assert any(r"\textcolor{auditwrong}{wrong}" in t for t in tags)
    assert any(r"\textcolor{auditcarried}{carried from $\delta h_{2}$" in t for t in tags)
    assert any(r"\textcolor{auditok}" in t for t in tags)


def test_a_wrong_step_shows_the_formula_used_and_the_one_needed(deck_report):
    start = deck_report.index(r"$\delta h_{2}$: you wrote $0.2224$")
    note = deck_report[start:start + 1500]
    assert "derivative-index" in note and "plus a slip of $0.0003$" in note
    # the deck's formula: phi' at h_2 (the step's own time) on dL/dh_3, on the deck's numbers
    assert r"\left(1 - 0.3115^{2}\right) \times 0.2256" in note
    # what the chain rule needs, on the same numbers: 0.8 x 0.0492 + 0.9 x 0.1743 (the deck's delta_3)
    assert r"0.8 \times 0.0492 + 0.9 \times 0.1743" in note
    # 0.8*0.0492 + 0.9*0.1743, worked out here
    assert f"{0.8 * 0.0492 + 0.9 * 0.1743:.5f}" in note


@pytest.mark.tex
def test_check_report_writes_a_pdf_with_the_verdicts(cli, tmp_path):
    require_tex()
    run = cli("check", EXAMPLES / "deck.toml", EXAMPLES / "deck_claims.toml", "--report", tmp_path)
    assert run.code == 1  # the deck has wrong claims
    assert (tmp_path / "audit.pdf").exists()
    text = pdf_text(tmp_path / "audit.pdf")
    for word in ("wrong", "carried", "derivative-index", "0.2224", "0.1128"):
        assert word in text
    log = (tmp_path / "audit.log").read_text(errors="replace")
    assert "Overfull" not in log
