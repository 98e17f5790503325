"""Documents as a reader gets them: the .tex files, the PDFs and their text."""

from __future__ import annotations

import math
import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import CUSTOM_FILES, EXAMPLES, GATED_FILES, PROBLEM_FILES, ROOT
from texutil import pdf_text, require_tex

from symbolic_bptt.documents.document import Options, escape_text
from symbolic_bptt.documents.render import CompileError, overfull_boxes, problem_tex, publish
from symbolic_bptt.inputs.problem import load_problem, parse_problem

GOLDEN = Path(__file__).parent / "golden"
ALL_EXAMPLES = PROBLEM_FILES + CUSTOM_FILES + GATED_FILES
# chktex 3: SymPy prints powers of parenthesised bases as \left(a\right)^{2}; chktex would want
# braces around the parenthesis, which changes nothing in the output.
CHKTEX_SUPPRESSED = ["-n3"]


def _deck_gradients() -> dict[str, float]:
    """The deck's example in plain floats (an independent forward and backward pass)."""
    x, y, wxh, whh, why = [0.5, 0.1, 0.4], [0.4, 0.2, 0.1], 0.6, 0.9, 0.8
    h = [0.0]
    for xt in x:
        h.append(math.tanh(whh * h[-1] + wxh * xt))
    o = [why * v for v in h[1:]]
    dz = {4: 0.0}
    for t in (3, 2, 1):
        dz[t] = (1 - h[t] ** 2) * (why * (o[t - 1] - y[t - 1]) + whh * dz[t + 1])
    return {"L": 0.5 * sum((a - b) ** 2 for a, b in zip(o, y)),
            "W_hh": sum(dz[t] * h[t - 1] for t in (1, 2, 3)),
            "W_xh": sum(dz[t] * x[t - 1] for t in (1, 2, 3)),
            "W_hy": sum((o[t - 1] - y[t - 1]) * h[t] for t in (1, 2, 3))}


@pytest.mark.parametrize("stem", ["deck", "lstm"])
@pytest.mark.parametrize("fmt", ["article", "beamer"])
def test_tex_matches_golden_file(stem, fmt):
    """A change in the deck's documents, or in a gated cell's (the generic layout), shows up in
    review as a diff of tests/golden."""
    tex = problem_tex(load_problem(EXAMPLES / f"{stem}.toml"), fmt)
    golden = GOLDEN / f"{stem}-{fmt}.tex"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(tex, encoding="utf-8")
    assert tex == golden.read_text(encoding="utf-8")


def test_rounded_lines_are_self_consistent():
    """Every product printed in the deck's worked solution, redone from its printed factors."""
    tex = problem_tex(load_problem(EXAMPLES / "deck.toml"), "article")
    products = re.findall(r"= (\d\.\d+) \\times (\d\.\d+) = (-?\d\.\d{4})(?: \\\\|\\end)", tex)
    assert len(products) >= 5
    for a, b, c in products:
        exact = float(a) * float(b)
        assert abs(exact - float(c)) <= 0.00005 + 1e-12, (a, b, c)
    # o_1 = 0.8 x 0.2913: a person writes 0.2330, not the 0.2331 of the unrounded h_1
    assert r"0.8 \times 0.2913 = 0.2330" in tex


@pytest.mark.tex
@pytest.mark.parametrize("example", ALL_EXAMPLES, ids=lambda p: p.stem)
@pytest.mark.parametrize("fmt", ["article", "beamer"])
def test_every_example_compiles_cleanly(example, fmt, tmp_path):
    require_tex()
    text = problem_tex(load_problem(example), fmt)
    tex, pdf = publish(text, tmp_path / f"{fmt}.tex", pdf=True)
    assert pdf.stat().st_size > 1000
    log = tex.with_suffix(".log").read_text(errors="replace")
    assert overfull_boxes(log) == []
    lint = subprocess.run(["chktex", "-q", *CHKTEX_SUPPRESSED, str(tex)], capture_output=True,
                          text=True, check=False)
    assert lint.stdout.strip() == "", lint.stdout


@pytest.mark.tex
def test_main_job_writes_the_deck_with_true_numbers(cli, tmp_path):
    require_tex()
    run = cli("demo", "--out", tmp_path)
    assert run.code == 0, run.err
    deck = tmp_path / "deck"
    for name in ("beamer.pdf", "article.pdf", "beamer.tex", "article.tex", "audit.pdf",
                 "audit.txt", "audit.json"):
        assert (deck / name).exists()
        assert f"wrote {deck / name}" in run.out
    true = _deck_gradients()
    for pdf in ("beamer.pdf", "article.pdf"):
        text = pdf_text(deck / pdf)
        # 4-decimal hand arithmetic lands within a unit or two of the true value in the 4th place
        for key, value in true.items():
            printed = [float(v) for v in re.findall(r"-?\d\.\d{4}", text)]
            assert any(abs(v - value) <= 0.0002 for v in printed), (pdf, key, value)
        assert "0.1128" not in text and "0.1125" not in text  # the deck's wrong figures
    assert "derivative-index" in (deck / "audit.txt").read_text()


@pytest.mark.tex
def test_user_text_is_printed_literally_and_never_executed(tmp_path):
    require_tex()
    marker = tmp_path / "pwned"
    raw = {
        "title": r"100% & $x_#$ \input{/etc/hostname} \write18{touch " + str(marker) + "}",
        "author": "Lê Thị Hồng Cúc", "institute": "Dr. Nguyen An Khuong ~ {braces} ^_^",
        "model": {}, "data": {"x": [0.5], "y": [0.4]},
        "weights": {"W_xh": 0.6, "W_hh": 0.9, "W_hy": 0.8},
    }
    text = problem_tex(parse_problem(raw, "hostile"), "article")
    _, pdf = publish(text, tmp_path / "article.tex", pdf=True)
    assert not marker.exists()
    words = pdf_text(pdf)
    assert r"100% & $x_#$ \input{/etc/hostname}" in words
    assert "Lê Thị Hồng Cúc" in words
    assert "{braces}" in words


def test_escape_text_neutralises_tex():
    assert escape_text(r"\input{x}") == r"{\textbackslash}input{\{}x{\}}"
    assert "%" not in escape_text("100%").replace(r"\%", "")


@pytest.mark.tex
def test_compile_error_names_the_line_and_keeps_the_good_file(tmp_path):
    require_tex()
    good = "\\documentclass{article}\n\\begin{document}\nfine\n\\end{document}\n"
    tex, pdf = publish(good, tmp_path / "doc.tex", pdf=True)
    before = pdf.read_bytes()
    bad = "\\documentclass{article}\n\\begin{document}\n\\nosuchmacro\n\\end{document}\n"
    with pytest.raises(CompileError, match=r"doc\.failed\.tex:3: Undefined control sequence"):
        publish(bad, tmp_path / "doc.tex", pdf=True)
    assert tex.read_text() == good
    assert pdf.read_bytes() == before


def test_render_cli_without_tex_says_how_to_install(cli, tmp_path):
    env_path = os.environ.get("PATH", "")
    run = subprocess.run(
        ["env", f"PATH={Path(os.sys.executable).parent}", os.sys.executable, "-m", "symbolic_bptt",
         "render", str(EXAMPLES / "deck.toml"), "--pdf", "--out", str(tmp_path)],
        capture_output=True, text=True, check=False, cwd=ROOT)
    assert env_path  # the test changed only the child's PATH
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "install TeX Live" in lines[0]
    assert not (tmp_path / "article.tex").exists()


def test_long_sequences_collapse_unless_all_steps_asked():
    raw = {"model": {}, "data": {"x": [0.1] * 9, "y": [0.2] * 9},
           "weights": {"W_xh": 0.5, "W_hh": 0.5, "W_hy": 0.5}}
    problem = parse_problem(raw, "long")
    short = problem_tex(problem, "article")
    full = problem_tex(problem, "article", options=Options(all_steps=True))
    assert "z_{9}" in short and "z_{5}" not in short and r"\cdots" in short
    assert all(f"z_{{{t}}} &=" in full for t in range(1, 10))


def test_d2l_notation_and_overrides():
    problem = load_problem(EXAMPLES / "deck.toml")
    d2l = problem_tex(problem, "article", options=Options(notation="d2l"))
    assert "W_{qh}" in d2l and "W_{hx}" in d2l and "W_{hy}" not in d2l


def test_row_convention_transposes_products_and_numbers():
    """x_t W_xh with row vectors: the product reversed and each matrix printed transposed."""
    deck = problem_tex(load_problem(EXAMPLES / "deck.toml"), "article",
                       options=Options(row_convention=True))
    assert r"z_{2} &= h_{1} W_{hh} + x_{2} W_{xh} = 0.2913 \times 0.9 + 0.1 \times 0.6" in deck
    raw = {"model": {"input_size": 2, "hidden_size": 2},
           "data": {"x": [[0.1, 0.2]], "y": [0.3]},
           "weights": {"W_xh": [[0.1, 0.2], [0.3, 0.4]], "W_hh": [[0.5, 0.6], [0.7, 0.8]],
                       "W_hy": [[0.9, -0.1]]}}
    tex = problem_tex(parse_problem(raw, "row"), "article", options=Options(row_convention=True))
    # z_1 = x_1 W_xh^row with W_xh^row = (W_xh)^T: rows (0.1, 0.3) and (0.2, 0.4)
    assert (r"\begin{bmatrix} 0.1 & 0.2 \end{bmatrix} \begin{bmatrix} 0.1 & 0.3 \\ 0.2 & 0.4 "
            r"\end{bmatrix}") in tex


def test_exact_mode_never_writes_equals_between_rounded_and_exact_values():
    """z_3 = 6/25 + 9 tanh(...)/10 is exact; 0.9 x 0.3115 is a rounding of it, so it gets an
    approximately-equal sign and comes after the exact value."""
    tex = problem_tex(load_problem(EXAMPLES / "deck.toml"), "article", mode="exact")
    line = next(ln for ln in tex.splitlines() if ln.startswith("z_{3} &="))
    exact_at = line.index(r"\frac{6}{25}")
    rounded_at = line.index(r"0.9 \times 0.3115")
    assert exact_at < rounded_at
    assert line[:rounded_at].rstrip().endswith(r"\approx")
    assert r"h_{1} &= \tanh{\left(z_{1} \right)} = \tanh{\left(\frac{3}{10} \right)} \approx 0.2913" in tex


@pytest.mark.tex
def test_the_same_source_gives_the_same_pdf_bytes(tmp_path):
    require_tex()
    text = problem_tex(load_problem(EXAMPLES / "deck.toml"), "article")
    _, first = publish(text, tmp_path / "a" / "article.tex", pdf=True)
    _, second = publish(text, tmp_path / "b" / "article.tex", pdf=True)
    assert first.read_bytes() == second.read_bytes()


def test_an_output_folder_that_cannot_be_made_is_one_line(cli, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    run = cli("render", EXAMPLES / "deck.toml", "--out", blocker / "out")
    assert run.code == 2
    assert run.err.startswith("symbolic-bptt: error: cannot write") and "Traceback" not in run.err
    assert len(run.err.strip().splitlines()) == 1


def test_notation_table_overrides_symbols_and_refuses_unsafe_latex(cli, tmp_path):
    base = (EXAMPLES / "deck.toml").read_text(encoding="utf-8")
    good = tmp_path / "good.toml"
    good.write_text(base + '\n[notation]\nh = "s"\nW_hh = "U"\n"dL/dh" = "\\\\nabla s"\n',
                    encoding="utf-8")
    tex = problem_tex(load_problem(good), "article")
    assert r"z_{2} &= U s_{1} + W_{xh} x_{2}" in tex
    assert r"\nabla s_{2} &=" in tex
    for bad in (r"\\input{/etc/passwd}", r"\\write18{ls}", "^^5cinput", r"\\def\\x{1}"):
        path = tmp_path / "bad.toml"
        path.write_text(base + f'\n[notation]\nh = "{bad}"\n', encoding="utf-8")
        run = cli("render", path, "--out", tmp_path / "out")
        assert run.code == 2, bad
        assert "notation.h" in run.err and len(run.err.strip().splitlines()) == 1
        assert not (tmp_path / "out").exists()


def test_a_gated_step_shows_every_path_and_its_slides_fit_unshrunk():
    """An LSTM's dL/dh_t sums five paths (the output and the four gates at t+1): the worked
    solution prints all five, and no slide holds more than a frame's budget of rows."""
    from symbolic_bptt.documents.cell_document import build_cell
    from symbolic_bptt.documents.slides import FRAME_BUDGET, slide_rows
    from symbolic_bptt.evaluate.arithmetic import evaluate
    from symbolic_bptt.tape import unroll

    ev = evaluate(unroll(load_problem(EXAMPLES / "lstm_custom.toml")), "rounded", 4)
    doc = build_cell(ev)
    dh_1 = next(line for group in doc.sections["backward"] if group for line in group
                if line.name == "dL/dh_1")
    for gate in "ifgo":
        assert f"W_{{h{gate}}}" in dh_1.formula
    assert r"\cdots" not in dh_1.formula + dh_1.substituted
    frames = (doc.sections["forward_frames"] + doc.sections["backward_frames"]
              + doc.sections["parameter_frames"])
    assert len(frames) > 2 * ev.tape.T  # a gated step per frame is several frames per t
    for title, lines in frames:
        costs = [slide_rows(line) for line in lines]
        assert sum(costs) <= FRAME_BUDGET or sum(costs[:-1]) <= 2, title


def _gated_of_size(hidden: int, cell: str = "lstm", T: int = 3, seed: int = 1) -> str:
    """A cell = "lstm" or "gru" problem of 2 inputs and `hidden` units, weights of 3 decimals
    (seeded)."""
    import random

    rng = random.Random(seed)
    gates = 4 if cell == "lstm" else 3

    def vec(n):
        return "[" + ", ".join(f"{rng.uniform(-0.5, 0.5):.3f}" for _ in range(n)) + "]"

    def rows(n, m):
        return "[" + ", ".join(vec(m) for _ in range(n)) + "]"
    c0 = f"c0 = {vec(hidden)}\n" if cell == "lstm" else ""
    return (f'[model]\ncell = "{cell}"\nbias = true\nloss = "half_sse"\n[data]\n'
            f"x = {rows(T, 2)}\ny = {vec(T)}\nh0 = {vec(hidden)}\n{c0}"
            f"[weights]\nweight_ih_l0 = {rows(gates * hidden, 2)}\n"
            f"weight_hh_l0 = {rows(gates * hidden, hidden)}\nbias_ih_l0 = {vec(gates * hidden)}\n"
            f"bias_hh_l0 = {vec(gates * hidden)}\nW_hy = {rows(1, hidden)}\nb_y = 0.1\n")


def test_a_wide_gate_breaks_inside_its_function_and_keeps_its_numbers(tmp_path):
    """At hidden size 4 an LSTM gate's numbers, sigma(W x + b + U h + c), are wider than a page:
    they break after a term inside sigma( ... ), each row's delimiters closed, and read the same
    numbers as the unbroken row. A vector's sigma' = sigma (1 - sigma) is entrywise, written
    with odot, never with a times between two vectors."""
    from symbolic_bptt.documents import latex_out
    from symbolic_bptt.documents.cell_document import build_cell
    from symbolic_bptt.evaluate.arithmetic import evaluate
    from symbolic_bptt.tape import unroll

    path = tmp_path / "lstm4.toml"
    path.write_text(_gated_of_size(4), encoding="utf-8")
    ev = evaluate(unroll(load_problem(path)), "rounded", 4)
    doc = build_cell(ev)
    gates = [line for group in doc.sections["forward"] if group for line in group
             if line.name[0] in "ifgo"]
    assert len(gates) == 4 * 3
    for line in gates:
        rows = line.substituted.split(r" \\ &\qquad ")
        assert len(rows) >= 2, line.name
        for row in rows:
            assert row.count(r"\left") == row.count(r"\right"), (line.name, row)
        whole = latex_out.substituted(ev.tape.display(line.name), doc.notation,
                                      _values(doc, ev, line.name))
        assert _numbers(line.substituted) == _numbers(whole), line.name
    tex = problem_tex(load_problem(path), "article")
    assert r"\end{bmatrix} \times \left(1 -" not in tex
    assert r"\odot \left(1 - \begin{bmatrix}" in tex


def _numbers(tex: str) -> list[str]:
    return re.findall(r"-?\d+\.\d+", tex)


def _values(doc, ev, name):
    from symbolic_bptt.documents.document import _Formatter

    fmt = _Formatter(ev, doc.notation, None)
    return fmt.substitution(ev.tape.display(name))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("fmt", ["article", "beamer"])
def test_a_gated_cell_of_hidden_size_4_compiles_without_overfull_boxes(cli, tmp_path, fmt, cell):
    """The worked solution and the slides of a 4-unit LSTM and GRU: no number runs off the
    page (a GRU's dL/dr_t = g odot (1 - n^2) odot (W h + b) breaks between its factors)."""
    require_tex()
    path = tmp_path / f"{cell}4.toml"
    path.write_text(_gated_of_size(4, cell), encoding="utf-8")
    run = cli("render", path, "--format", fmt, "--pdf", "-o", tmp_path / "out")
    assert run.code == 0, run.err
    assert "Overfull" not in (tmp_path / "out" / f"{fmt}.log").read_text(errors="replace")
