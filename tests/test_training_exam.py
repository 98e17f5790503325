"""exam question kinds update, clip and truncate: every key's exact value against PyTorch
(clip_grad_norm_, SGD, the detach loop of tests/test_training.py) on the variants' own files."""

from __future__ import annotations

import json

import pytest
from conftest import EXAMPLES

from symbolic_bptt.errors import ProblemError
from symbolic_bptt.exam.spec import parse_spec
from symbolic_bptt.inputs.problem import load_problem

pytest.importorskip("torch")
from test_training import torch_training  # noqa: E402


def test_training_exam_keys_match_torch(cli, tmp_path):
    run = cli("exam", EXAMPLES / "training_exam.toml", "-o", tmp_path, "--variants", "2")
    assert run.code == 0, run.err
    answers = json.loads((tmp_path / "key.json").read_text())["answers"]
    kinds = {a["kind"] for a in answers}
    assert kinds == {"update", "clip", "truncate"}
    for variant in (1, 2):
        oracle = torch_training(load_problem(tmp_path / "variants" / f"{variant:02d}.toml"))
        for a in (a for a in answers if a["variant"] == variant):
            (want,) = oracle[a["quantity"]]
            assert a["exact"] == pytest.approx(want, rel=1e-4, abs=1e-9), a
            assert abs(a["value"] - want) <= 0.00005 + 1e-9, a


@pytest.mark.parametrize("training, kind, message", [
    ("", "update", "needs training.learning_rate"),
    ("[training]\nlearning_rate = 0.1\n", "clip", "needs training.clip_norm"),
    ("[training]\nclip_norm = 1.0\n", "truncate", "needs training.truncate"),
    ("[training]\nlearning_rat = 0.1\n", "update", "did you mean learning_rate"),
])
def test_a_training_question_needs_its_key(training, kind, message):
    text = (EXAMPLES / "exam.toml").read_text(encoding="utf-8")
    text = text.replace("[arithmetic]", training + "\n[arithmetic]", 1)
    text += f'\n[[questions]]\nkind = "{kind}"\npoints = 1\n'
    with pytest.raises(ProblemError, match=message):
        parse_spec(_decimal_toml(text))


def _decimal_toml(text: str) -> dict:
    import tomllib
    from decimal import Decimal
    return tomllib.loads(text, parse_float=Decimal)


def test_training_in_an_exam_over_a_cell_of_its_own_is_refused():
    text = (EXAMPLES / "lstm_exam.toml").read_text(encoding="utf-8")
    with pytest.raises(ProblemError, match=r"\[training\] in an exam is for the elman cell"):
        parse_spec(_decimal_toml(text + "\n[training]\nlearning_rate = 0.1\n"))
