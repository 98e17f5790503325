"""The documents' figures: their numbers, read back from the generated .tex, against `solve
--json` and against PyTorch autograd (an independent derivation of every Jacobian, product and
loss); and the slides' options (--reveal, --handout, --theme) as a reader gets them."""

from __future__ import annotations

import json
import re

import pytest
import torch
from conftest import EXAMPLES, flat
from texutil import require_tex
from torch_cells import lstm

from symbolic_bptt.documents.document import Options
from symbolic_bptt.documents.graph import graph_parts, unrolled_graph
from symbolic_bptt.documents.render import overfull_boxes, problem_tex, publish
from symbolic_bptt.inputs.problem import load_problem

torch.set_default_dtype(torch.float64)

_NODE = re.compile(r"^\\node\[[^\]]*\] \((n\d+)\) at \(([^,]+),([^)]+)\) \{(.*)\}; % (\S+)$",
                   re.MULTILINE)
_EDGE = re.compile(r"^\\draw\[([^\]]*)\] \((n\d+)\) -- (.*)\((n\d+)\); % (\S+) -> (\S+)$",
                   re.MULTILINE)
_PLOT = re.compile(r"\\addplot\+?\[[^\]]*\] coordinates \{([^}]*)\};\n\\addlegendentry\{(.*)\}")


def _graphs(tex: str) -> list[str]:
    return re.findall(r"\\begin\{tikzpicture\}\[>=stealth.*?\\end\{tikzpicture\}", tex, re.DOTALL)


def _nodes(picture: str) -> dict[str, str]:
    """tape name -> the value printed in its node ('' for none)."""
    out = {}
    for _, _, _, body, name in _NODE.findall(picture):
        m = re.search(r"\{\\scriptsize \$(.*)\$\}$", body)
        out[name] = m[1] if m else ""
    return out


def _numbers(value: str) -> list[float]:
    return [float(v) for v in re.findall(r"-?\d+\.\d+|-?\d+", value.replace(r"\\", " "))]


def _plots(tex: str) -> dict[str, list[tuple[float, float]]]:
    return {label: [tuple(map(float, p.split(","))) for p in re.findall(r"\(([^)]*)\)", coords)]
            for coords, label in _PLOT.findall(tex)}


def _solve(cli, example: str) -> dict:
    run = cli("solve", EXAMPLES / example, "--json")
    assert run.code == 0, run.err
    return json.loads(run.out)["quantities"]


# ------------------------------------------------------------------ the unrolled graph

@pytest.mark.parametrize("example", ["deck.toml", "vector_bias.toml", "lstm_custom.toml"])
def test_graph_values_are_the_solve_values(cli, example):
    """Every node of the forward graph prints its value, and of the backward graph its dL/d
    value, as `solve --json` gives them (4 decimals)."""
    tex = problem_tex(load_problem(EXAMPLES / example), "beamer")
    solved = _solve(cli, example)
    pictures = _graphs(tex)
    forward = {k: v for p in pictures[:len(pictures) // 2] for k, v in _nodes(p).items()}
    backward = {k: v for p in pictures[len(pictures) // 2:] for k, v in _nodes(p).items()}
    assert {"l_1", "x_1"} <= forward.keys()
    checked = 0
    for graph, prefix in ((forward, ""), (backward, "dL/d")):
        for name, value in graph.items():
            key = prefix + name
            if not value or key not in solved:
                continue
            assert _numbers(value) == pytest.approx(flat(solved[key]), abs=0.00005 + 1e-9), key
            checked += 1
    assert checked >= len(forward) - 2  # every node but the inputs' in the backward graph


def test_the_gradient_along_each_edge_is_torchs_and_the_edges_sum_to_the_node():
    """Backward graph of the deck: the number on the edge h_1 -> z_2 is W_hh dL/dz_2 (what
    z_2 sends back to h_1), from torch autograd; the edges out of a node add up to its
    dL/d value."""
    tex = problem_tex(load_problem(EXAMPLES / "deck.toml"), "beamer")
    backward = _graphs(tex)[1]
    nodes = _nodes(backward)
    carried = {}
    for _, _, label, _, src, dst in _EDGE.findall(backward):
        m = re.search(r"\{\$(-?\d\.\d+)\$\}", label)
        if m:
            carried[src, dst] = float(m[1])
    x, y = [0.5, 0.1, 0.4], [0.4, 0.2, 0.1]
    wxh, whh, why = (torch.tensor(v, requires_grad=True) for v in (0.6, 0.9, 0.8))
    h, zs, hs, os = torch.tensor(0.0), [], [], []
    for xt in x:
        z = whh * h + wxh * xt
        z.retain_grad()
        h = torch.tanh(z)
        h.retain_grad()
        o = why * h
        o.retain_grad()
        zs.append(z), hs.append(h), os.append(o)
    loss = 0.5 * sum((o - yt) ** 2 for o, yt in zip(os, y))
    loss.backward()
    for t in (1, 2):  # z_{t+1} sends W_hh dL/dz_{t+1} back to h_t; o_t sends W_hy dL/do_t
        assert carried[f"h_{t}", f"z_{t + 1}"] == pytest.approx(0.9 * zs[t].grad.item(), abs=5e-4)
        assert carried[f"h_{t}", f"o_{t}"] == pytest.approx(0.8 * os[t - 1].grad.item(), abs=5e-4)
        total = carried[f"h_{t}", f"z_{t + 1}"] + carried[f"h_{t}", f"o_{t}"]
        assert total == pytest.approx(float(nodes[f"h_{t}"]), abs=1.5e-4)
        assert float(nodes[f"h_{t}"]) == pytest.approx(hs[t - 1].grad.item(), abs=5e-4)


def test_long_sequences_collapse_and_a_cut_edge_is_drawn_cut(tmp_path):
    """T = 6 draws steps 1, 2, an ellipsis and 6; an edge truncated BPTT cuts is drawn cut
    (dashed, with a cross), and the picture compiles."""
    from symbolic_bptt.documents.cell_document import cell_notation
    from symbolic_bptt.documents.document import _Formatter, shown_steps
    from symbolic_bptt.evaluate.arithmetic import evaluate
    from symbolic_bptt.tape import unroll

    text = (EXAMPLES / "deck.toml").read_text(encoding="utf-8")
    text = text.replace("x = [0.5, 0.1, 0.4]", "x = [0.5, 0.1, 0.4, 0.2, -0.3, 0.6]")
    text = text.replace("y = [0.4, 0.2, 0.1]", "y = [0.4, 0.2, 0.1, 0.3, 0.0, 0.5]")
    (tmp_path / "long.toml").write_text(text, encoding="utf-8")
    ev = evaluate(unroll(load_problem(tmp_path / "long.toml")))
    shown = shown_steps(6, Options())
    assert shown == [1, 2, None, 6]
    fmt = _Formatter(ev, cell_notation(ev.tape, Options()), None)
    graph = unrolled_graph(ev, fmt, shown, cut=frozenset({2}))
    keys = {n.key for n in graph.nodes}
    assert {"h_2", "...h", "h_6", "z_6"} <= keys and "h_3" not in keys
    cut = [e for e in graph.edges if e.cut]
    assert [(e.src, e.dst) for e in cut] == [("h_1", "z_2")]
    assert any(e.dashed and e.src == "...h" and e.dst == "z_6" for e in graph.edges)
    assert graph_parts(shown, 4) == [shown]
    assert graph_parts(shown, 1) == [[1], [2, None], [6]]

    from symbolic_bptt.documents.render import environment
    template = environment().from_string(
        '((* import "_figures.tex.j2" as fig *))\\documentclass{article}\\usepackage{tikz}'
        '\\usepackage{adjustbox}\\usepackage{amsmath}\\begin{document}((( fig.graph(g) )))'
        '\\end{document}')
    source = template.render(g=graph)
    assert r"{$\times$}" in source
    if require_tex() is None:
        tex, _ = publish(source, tmp_path / "graph.tex", pdf=True)
        assert overfull_boxes(tex.with_suffix(".log").read_text(errors="replace")) == []


# ------------------------------------------------------------------ gradient norms

def _elman_weights(path):
    p = load_problem(path)
    return ({k: torch.tensor(v) for k, v in p.weights.items()},
            [torch.tensor(x) for x in p.x], torch.tensor(p.h0), p)


def _jacobian_norms(step, xs, h0) -> list[float]:
    """||d h_T / d h_k|| for k = T..0 by torch autograd through the recurrence itself."""
    T = len(xs)
    hs = [h0]
    for x in xs:
        hs.append(step(hs[-1], x))

    def from_k(k):
        def run(h):
            for x in xs[k:]:
                h = step(h, x)
            return h
        return run

    return [torch.linalg.matrix_norm(torch.autograd.functional.jacobian(
        from_k(k), hs[k]).reshape(len(h0), len(h0)), ord=2).item() for k in range(T, -1, -1)]


@pytest.mark.parametrize("example", ["vector_bias.toml", "deck.toml"])
def test_gradient_norm_plot_is_torchs(example):
    """The plot's ||dh_T/dh_k|| against T - k: this example, and W_hh scaled to spectral
    radius 0.5 and 2, each point by torch autograd (the radius by torch's eigenvalues)."""
    w, xs, h0, p = _elman_weights(EXAMPLES / example)
    xs = [x.reshape(-1) for x in xs]
    tex = problem_tex(p, "beamer")
    plots = _plots(tex)
    whh = w["W_hh"]
    rho = torch.linalg.eigvals(whh).abs().max().item()
    bias = w.get("b_h", torch.zeros(whh.shape[0])).reshape(-1)
    for label, scale in (("this example", 1.0), (r"$\rho = 0.5$", 0.5 / rho),
                         (r"$\rho = 2.0$", 2.0 / rho)):
        W = whh * scale

        def step(h, x, W=W):
            return torch.tanh(W @ h + w["W_xh"] @ x + bias)

        expected = _jacobian_norms(step, xs, h0.reshape(-1))
        points = plots[label]
        assert [lag for lag, _ in points] == list(range(len(xs) + 1))
        assert [v for _, v in points] == pytest.approx(expected, rel=2e-5), label


def test_lstm_forget_gate_product_beside_its_elman_twin_is_torchs():
    """The gated cell's table and plot: ||dc_T/dc_k||, the product of the step Jacobians of
    c_t in c_{t-1} (diag f_t), and the Elman cell of the candidate's weights on the same
    inputs; both by torch autograd through torch_cells.lstm and a torch Elman step."""
    p = load_problem(EXAMPLES / "lstm_custom.toml")
    w = {k: torch.tensor(v) for k, v in p.weights.items()}
    for k in ("b_i", "b_f", "b_g", "b_o"):
        w[k] = w[k].reshape(-1)
    xs = [torch.tensor(x) for x in p.x]
    prev = {"h": torch.tensor(p.initial_values["h"]), "c": torch.tensor(p.initial_values["c"])}
    steps = [prev]
    for x in xs:
        steps.append(lstm(w, x, steps[-1]))
    T = len(xs)
    running, gated = torch.eye(2), [1.0]
    for t in range(T, 0, -1):  # d c_t / d c_{t-1} with h_{t-1} held: torch's own derivative
        J = torch.autograd.functional.jacobian(
            lambda c, t=t: lstm(w, xs[t - 1], {"h": steps[t - 1]["h"], "c": c})["c"],
            steps[t - 1]["c"])
        running = running @ J
        gated.append(torch.linalg.matrix_norm(running, ord=2).item())

    def elman(h, x):
        return torch.tanh(w["W_hg"] @ h + w["W_ig"] @ x + w["b_g"])

    twin = _jacobian_norms(elman, xs, prev["h"])
    for fmt in ("beamer", "article"):
        tex = problem_tex(p, fmt)
        assert r"= \operatorname{diag}\left( \mathbf{f}_{t} \right)" in tex  # found by the numbers
        rows = re.findall(r"^\$(\d+)\$ & \$(\d+)\$ & \$(\d\.\d{4})\$ & \$(\d\.\d{4})\$ \\\\$",
                          tex, re.MULTILINE)
        assert [int(r[1]) for r in rows] == list(range(T + 1))
        assert [float(r[2]) for r in rows] == pytest.approx(gated, abs=5.1e-5)
        assert [float(r[3]) for r in rows] == pytest.approx(twin, abs=5.1e-5)
        plots = list(_plots(tex).values())
        assert [v for _, v in plots[0]] == pytest.approx(gated, rel=2e-5)
        assert [v for _, v in plots[1]] == pytest.approx(twin, rel=2e-5)
    assert gated[-1] > twin[-1]  # the story: the cell state's path keeps more of the gradient


# ------------------------------------------------------------------ the loss against one weight

@pytest.mark.parametrize("example,tol", [("deck.toml", 5e-5), ("vector_bias.toml", 1e-6)])
def test_loss_curve_and_tangent_are_torchs(example, tol):
    """The curve's points are L(W_hh[i,j] = w) and the tangent's slope is dL/dW_hh[i,j], both
    by torch autograd (the deck's slope is its rounded 0.1059, within rounding)."""
    w, xs, h0, p = _elman_weights(EXAMPLES / example)
    tex = problem_tex(p, "article")
    axis = re.search(r"\\begin\{axis\}\[[^\]]*xlabel=\{\$W_\{hh\}(\[\d,\d\])?\$.*?"
                     r"\\end\{axis\}", tex, re.DOTALL)
    i, j = map(int, axis[1][1:-1].split(",")) if axis[1] else (0, 0)
    axis = axis[0]
    curve, tangent, point = [
        [tuple(map(float, q.split(","))) for q in re.findall(r"\(([^)]*)\)", c)]
        for c in re.findall(r"coordinates \{([^}]*)\}", axis)]
    ys = [torch.tensor(y).reshape(-1) for y in p.y]
    bias_h = w.get("b_h", torch.zeros(w["W_hh"].shape[0])).reshape(-1)
    bias_y = w.get("b_y", torch.zeros(w["W_hy"].shape[0])).reshape(-1)

    def loss(entry):
        W = w["W_hh"].clone().reshape(w["W_hh"].shape[0], -1)
        W = W + torch.zeros_like(W).index_put_((torch.tensor(i), torch.tensor(j)),
                                               entry - W[i, j])
        h, total = h0.reshape(-1), 0
        for x, y in zip(xs, ys):
            h = torch.tanh(W @ h + w["W_xh"].reshape(len(h), -1) @ x.reshape(-1) + bias_h)
            o = w["W_hy"].reshape(-1, len(h)) @ h + bias_y
            total = total + 0.5 * ((o - y) ** 2).sum()
        return total

    for v, L in curve:
        assert L == pytest.approx(loss(torch.tensor(v)).item(), rel=1e-5)
    w00 = torch.tensor(float(w["W_hh"].reshape(len(h0.reshape(-1)), -1)[i, j]),
                       requires_grad=True)
    value = loss(w00)
    value.backward()
    (x1, y1), (x2, y2) = tangent
    assert (y2 - y1) / (x2 - x1) == pytest.approx(w00.grad.item(), abs=tol)
    assert point[0] == pytest.approx((w00.item(), value.item()), rel=1e-5)


# ------------------------------------------------------------------ slides' options

@pytest.mark.tex
def test_reveal_uncovers_a_step_at_a_time_and_handout_prints_a_page_per_frame(cli, tmp_path):
    require_tex()
    pages = {}
    for flags in ((), ("--reveal",), ("--reveal", "--handout")):
        out = tmp_path / "-".join(flags or ("plain",))
        run = cli("render", EXAMPLES / "deck.toml", "--format", "beamer", "--pdf", "-o", out,
                  *flags)
        assert run.code == 0, run.err
        tex = (out / "beamer.tex").read_text(encoding="utf-8")
        log = (out / "beamer.log").read_text(errors="replace")
        assert overfull_boxes(log) == []
        info = __import__("subprocess").run(["pdfinfo", str(out / "beamer.pdf")],
                                            capture_output=True, text=True, check=True).stdout
        pages[flags] = int(re.search(r"Pages:\s+(\d+)", info)[1])
        frames = tex.count(r"\begin{frame}")
        if flags == ("--reveal",):
            # the forward frame of t = 1 shows z_1, then h_1, then o_1
            assert r"\uncover<1->{z_{1}}" in tex and r"\uncover<3->{o_{1}}" in tex
            # BPTT for any T: the model's rows appear in turn, then the gradients'
            assert r"\uncover<1->{z_{t} =" in tex and r"\uncover<4->{\delta_{t} =" in tex
            assert r"\uncover<3->{\frac{\partial L}{\partial W_{hy}}" in tex
            assert pages[flags] > frames
        else:
            assert pages[flags] == frames
        assert ("handout" in tex.splitlines()[2]) == ("--handout" in flags)
    assert pages[("--reveal", "--handout")] == pages[()]


@pytest.mark.tex
@pytest.mark.parametrize("theme", ["Madrid", "metropolis", "default"])
def test_common_themes_compile_without_overfull_boxes(theme, tmp_path):
    require_tex()
    text = problem_tex(load_problem(EXAMPLES / "lstm_custom.toml"), "beamer",
                       options=Options(theme=theme))
    assert rf"\usetheme{{{theme}}}" in text
    tex, _ = publish(text, tmp_path / "beamer.tex", pdf=True)
    assert overfull_boxes(tex.with_suffix(".log").read_text(errors="replace")) == []


@pytest.mark.parametrize("args,message", [
    (("--format", "beamer", "--theme", "NoSuchTheme"), "is not installed"),
    (("--format", "beamer", "--theme", r"a}\input{x"), "letters and digits"),
    (("--reveal",), "only for --format beamer"),
    (("--format", "article", "--handout"), "only for --format beamer"),
])
def test_bad_slide_options_are_one_line_errors(cli, tmp_path, args, message):
    run = cli("render", EXAMPLES / "deck.toml", "-o", tmp_path / "out", *args)
    assert run.code == 2
    assert message in run.err and len(run.err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_render_command_in_the_header_repeats_the_slide_options():
    tex = problem_tex(load_problem(EXAMPLES / "deck.toml"), "beamer",
                      options=Options(reveal=True, handout=True, theme="Madrid"))
    assert "--reveal --handout --theme Madrid" in tex.splitlines()[1]


@pytest.mark.parametrize("example", ["deck.toml", "lstm_custom.toml"])
@pytest.mark.parametrize("fmt", ["article", "beamer"])
def test_no_figures_leaves_them_and_their_packages_out(example, fmt):
    p = load_problem(EXAMPLES / example)
    without = problem_tex(p, fmt, options=Options(figures=False))
    assert "tikzpicture" not in without and "pgfplots" not in without
    assert "--no-figures" in without.splitlines()[1]
    assert "tikzpicture" in problem_tex(p, fmt)


def test_torch_convention_lstm_twin_adds_both_candidate_biases(tmp_path):
    """torch.nn.LSTM's candidate g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg) (two biases,
    as the shipped lstm cell writes it): the Elman twin's bias is b_ig + b_hg; its norms by
    torch autograd."""
    text = (EXAMPLES / "lstm_custom.toml").read_text(encoding="utf-8")
    text = text.replace(r"'g_t = \tanh(W_{ig} x_t + W_{hg} h_{t-1} + b_g)'",
                        r"'g_t = \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg})'")
    text = text.replace("b_g = [0.0, 0.1]", "b_ig = [0.0, 0.1]\nb_hg = [0.3, -0.2]")
    (tmp_path / "lstm2.toml").write_text(text, encoding="utf-8")
    p = load_problem(tmp_path / "lstm2.toml")
    tex = problem_tex(p, "article")
    assert r"\mathbf{b}_{ig} + \mathbf{b}_{hg}" in tex or r"b_{ig} + b_{hg}" in tex
    w = {k: torch.tensor(v) for k, v in p.weights.items()}
    bias = torch.tensor([0.3, -0.1])  # b_ig + b_hg

    def elman(h, x):
        return torch.tanh(w["W_hg"] @ h + w["W_ig"] @ x + bias)

    twin = _jacobian_norms(elman, [torch.tensor(x) for x in p.x],
                           torch.tensor(p.initial_values["h"]))
    rows = re.findall(r"^\$\d+\$ & \$\d+\$ & \$\d\.\d{4}\$ & \$(\d\.\d{4})\$ \\\\$", tex,
                      re.MULTILINE)
    assert [float(r) for r in rows] == pytest.approx(twin, abs=5.1e-5)


def test_reveal_shows_a_cells_derived_rules_one_at_a_time():
    """A gated cell's derived rules, and the t = T case (a frame of its own), appear one rule at
    a time with --reveal; each cell of a rule (lhs, formula, each path and its label) at once."""
    problem = load_problem(EXAMPLES / "lstm.toml")
    plain = problem_tex(problem, "beamer")
    tex = problem_tex(problem, "beamer", options=Options(reveal=True))
    assert r"\begin{frame}{At $t = T$: nothing reads the states at $T+1$}" in plain
    frames = [f for f in tex.split(r"\begin{frame}") if "The backward pass, derived" in f[:60]
              or f.startswith("{At $t = T$")]
    assert len(frames) == 3
    for frame in frames:
        rules = [r for r in frame.split("\n") if r.startswith(r"\uncover")]
        assert [int(re.match(r"\\uncover<(\d+)->", r)[1]) for r in rules] == \
            list(range(1, len(rules) + 1))
        for rule in rules:  # every cell of a row uncovered with the rule's first cell
            k = re.match(r"\\uncover<(\d+)->", rule)[1]
            cells = [c for row in rule.split(r" \\ ") for c in row.split("&") if c.strip()]
            assert all(c.strip().startswith(rf"\uncover<{k}->") for c in cells), rule
    assert r"&&\uncover<1->{{} \text{through $\mathbf{c}_{t+1}$}}" in tex  # dL/dc_t: 1st of its frame
