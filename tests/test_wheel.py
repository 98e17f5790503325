"""The package as a user installs it: build the sdist and, from it, the wheel; install the wheel
into a fresh virtual environment that cannot see this repository; run every command from an
empty folder and check what it writes against numbers computed here, independently."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest
from texutil import pdf_text, require_tex

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.tex

PROBLEM = """\
title = "Wheel test"
[model]
activation = "tanh"
loss = "half_sse"
[data]
x = [0.5, -0.3, 0.8]
y = [0.1, 0.4, -0.2]
[weights]
W_xh = 0.7
W_hh = -0.4
W_hy = 1.1
"""
X, Y, W = [0.5, -0.3, 0.8], [0.1, 0.4, -0.2], {"W_xh": 0.7, "W_hh": -0.4, "W_hy": 1.1}

EXAM = """\
title = "Wheel exam"
seed = 7
[model]
activation = "tanh"
[draw]
T = [2]
[[questions]]
kind = "forward"
[[questions]]
kind = "dL/dW_hh"
"""


def forward(w: dict[str, float], x: list[float], y: list[float]) -> tuple[list[float], float]:
    """The scalar tanh RNN by hand: the states h_t and L = 1/2 sum (o_t - y_t)^2."""
    h, hs, loss = 0.0, [], 0.0
    for x_t, y_t in zip(x, y, strict=True):
        h = math.tanh(w["W_hh"] * h + w["W_xh"] * x_t)
        hs.append(h)
        loss += 0.5 * (w["W_hy"] * h - y_t) ** 2
    return hs, loss


def gradient(name: str, eps: float = 1e-6) -> float:
    """dL/d(name) by central finite differences of `forward`."""
    up, down = dict(W), dict(W)
    up[name] += eps
    down[name] -= eps
    return (forward(up, X, Y)[1] - forward(down, X, Y)[1]) / (2 * eps)


def isolated() -> dict[str, str]:
    """This environment without the variables that would show the venv this checkout."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def run(venv: Path, cwd: Path, *args: str, code: int = 0) -> str:
    """`symbolic-bptt ARGS` from the venv, in `cwd`, with no path to this repository."""
    proc = subprocess.run([str(venv / "bin" / "symbolic-bptt"), *args], cwd=cwd, env=isolated(),
                          capture_output=True, text=True, check=False, timeout=600)
    assert proc.returncode == code, (args, proc.stdout[-2000:], proc.stderr[-2000:])
    return proc.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """(venv, empty working folder): the wheel built from the sdist, installed in a fresh venv."""
    require_tex()
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"  # a copy, so the build's egg-info and build/ never touch the checkout
    shutil.copytree(ROOT, src, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", "output", "__pycache__", "*.egg-info", "build", "dist", ".*_cache", ".venv"))
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(base / "dist"),
                    str(src)], check=True, capture_output=True)
    wheel = next((base / "dist").glob("*.whl"))
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # dependencies from the pip cache or the index, at the versions the tests pass with
    subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
                    "-c", str(ROOT / "constraints.txt"), str(wheel)], check=True,
                   capture_output=True, env=isolated())
    work = base / "work"
    work.mkdir()
    return venv, work


def test_the_sdist_holds_the_tests_and_their_data(installed):
    venv, _ = installed
    sdist = next((venv.parent / "dist").glob("*.tar.gz"))
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert {"LICENSE", "constraints.txt", "Makefile", "tests/test_wheel.py", "tests/golden/deck-beamer.tex",
            "examples/deck.toml", "symbolic_bptt/templates/article.tex.j2",
            "symbolic_bptt/examples/deck_claims.toml", "symbolic_bptt/model/cells/elman.toml"} <= names


def test_the_venv_imports_the_installed_package_not_the_checkout(installed):
    venv, work = installed
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import symbolic_bptt; print(symbolic_bptt.__file__)"], cwd=work,
                           env=isolated(), capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(venv) and not Path(where).is_relative_to(ROOT)


def test_help_names_every_command(installed):
    venv, work = installed
    out = run(venv, work, "--help")
    for command in ("solve", "render", "check", "verify", "exam", "demo"):
        assert command in out


def test_solve_json_agrees_with_finite_differences(installed):
    venv, work = installed
    (work / "rnn.toml").write_text(PROBLEM, encoding="utf-8")
    q = json.loads(run(venv, work, "solve", "rnn.toml", "--json"))["quantities"]
    hs, loss = forward(W, X, Y)
    for t, h in enumerate(hs, 1):
        assert q[f"h_{t}"] == pytest.approx(h, abs=1e-12)
    assert q["L"] == pytest.approx(loss, abs=1e-12)
    for name in W:
        assert q[f"dL/d{name}"] == pytest.approx(gradient(name), abs=1e-7), name


def test_render_pdf_writes_the_worked_solution(installed):
    venv, work = installed
    (work / "rnn.toml").write_text(PROBLEM, encoding="utf-8")
    run(venv, work, "render", "rnn.toml", "--pdf", "--out", "doc")
    text = pdf_text(work / "doc" / "article.pdf")
    assert "Wheel test" in text
    assert f"{forward(W, X, Y)[0][0]:.4f}" in text  # h_1 = tanh(0.35)
    header = (work / "doc" / "article.tex").read_text(encoding="utf-8").splitlines()[:2]
    assert header[0].startswith("% Generated by symbolic-bptt")
    assert header[1].endswith("symbolic-bptt render rnn.toml --pdf --out doc")


def test_check_report_audits_and_typesets(installed):
    venv, work = installed
    (work / "rnn.toml").write_text(PROBLEM, encoding="utf-8")
    h1 = round(math.tanh(0.35), 4)
    (work / "claims.toml").write_text(f'[claims]\n"h_1" = {h1}\n"L" = 9.9999\n', encoding="utf-8")
    audit = json.loads(run(venv, work, "check", "rnn.toml", "claims.toml", "--json",
                           "--report", "audit", code=1))
    verdicts = {v["name"]: v["verdict"] for v in audit["verdicts"]}
    assert verdicts == {"h_1": "ok", "L": "wrong"}
    assert "9.9999" in pdf_text(work / "audit" / "audit.pdf")


def test_verify_tells_a_true_identity_from_the_decks_mistake(installed):
    venv, work = installed
    (work / "rnn.toml").write_text(PROBLEM, encoding="utf-8")
    assert run(venv, work, "verify", "rnn.toml", "--max-T", "3", "--latex",
               r"\delta_t = \delta h_t (1 - h_t^2)").startswith("holds")
    wrong = json.loads(run(venv, work, "verify", "rnn.toml", "--max-T", "3", "--json", "--latex",
                           r"\delta h_t = \delta o_t W_{hy} + \delta h_{t+1} W_{hh} (1 - h_t^2)",
                           code=1))
    assert wrong["code"] == "derivative-index"


def test_exam_pdf_keys_agree_with_a_forward_pass_by_hand(installed):
    venv, work = installed
    (work / "exam.toml").write_text(EXAM, encoding="utf-8")
    run(venv, work, "exam", "exam.toml", "--variants", "1", "--pdf", "--out", "exam")
    out = work / "exam"
    assert "Wheel exam" in pdf_text(out / "exam.pdf")
    assert (out / "key.pdf").stat().st_size > 0
    drawn = tomllib.loads((out / "variants" / "01.toml").read_text(encoding="utf-8"))
    hs, _ = forward(drawn["weights"], drawn["data"]["x"], drawn["data"]["y"])
    answers = {a["quantity"]: a for a in json.loads((out / "key.json").read_text())["answers"]}
    for t, h in enumerate(hs, 1):
        assert float(answers[f"h_{t}"]["value"]) == pytest.approx(h, abs=0.5e-4)


def test_demo_writes_into_output_of_the_current_folder(installed):
    venv, work = installed
    demo = work / "demo"
    demo.mkdir()
    out = run(venv, demo, "demo")
    deck = demo / "output" / "deck"
    for name in ("beamer.pdf", "article.pdf", "audit.pdf", "audit.json", "solution-exact.json"):
        assert (deck / name).stat().st_size > 0, name
    assert (demo / "output" / "exam" / "key.json").exists()
    exact = json.loads((deck / "solution-exact.json").read_text())["quantities"]
    assert exact["h_1"]["value"] == pytest.approx(math.tanh(0.3), abs=1e-15)  # the deck's tanh(0.3)
    assert "root causes" in out
