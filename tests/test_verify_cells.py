"""`verify` on cells of their own (LSTM, GRU, leaky integrator, Jordan network): the formula is read
in the cell's names, true identities hold and wrong ones fail with a counterexample.

Each identity below was derived by hand from the cell's equations, and is cross-checked here on
a random instance by PyTorch autograd (the recurrence written out in torch, as in
test_custom_cells.py): the true ones agree with autograd's gradients, the wrong ones do not. Only
then is `verify`'s verdict compared with it.
"""

from __future__ import annotations

import json
import re

import pytest
from conftest import EXAMPLES

from symbolic_bptt.errors import ProblemError
from symbolic_bptt.formulas.verify import verify_formula, verify_latex
from symbolic_bptt.inputs.files import parse_toml
from symbolic_bptt.inputs.problem import load_problem

torch = pytest.importorskip("torch")
from torch_cells import gru, indrnn, jordan, leaky, lstm

F64 = torch.float64
T = 3


CELLS = {"lstm_custom": (lstm, "y^"), "gru_custom": (gru, "y^"), "leaky": (leaky, "o"),
         "jordan": (jordan, "o"), "indrnn": (indrnn, "o")}


def _shape(value) -> tuple[int, int]:
    if isinstance(value, list) and value and isinstance(value[0], list):
        return (len(value), len(value[0]))
    return (len(value), 1) if isinstance(value, list) else (1, 1)


class Autograd:
    """One random instance of a cell (T = 3, its example's loss) through torch autograd: every
    quantity q[name, t] (states at t = 0 too), its gradient g[name, t], each parameter w[name]
    and its gradient, summed over t, gw[name]."""

    def __init__(self, stem: str, seed: int = 7):
        step, output = CELLS[stem]
        raw = parse_toml((EXAMPLES / f"{stem}.toml").read_text(encoding="utf-8"))
        gen = torch.Generator().manual_seed(seed)

        def rand(shape):
            return torch.rand(shape, generator=gen, dtype=F64) * 1.6 - 0.8

        self.w = {n: rand(_shape(v)).requires_grad_() for n, v in raw["weights"].items()}
        data = raw["data"]
        x_size, y_size = _shape(data["x"][0])[0], _shape(data["y"][0])[0]
        prev = {k[:-1]: rand(_shape(v)).requires_grad_() for k, v in data.items()
                if k not in ("x", "y")}
        self.q = {(n, 0): v for n, v in prev.items()}
        loss = 0
        scale = {"half_sse": 0.5, "mse": 1 / T}[raw["model"]["loss"]]
        for t in range(1, T + 1):
            x = self.q["x", t] = rand((x_size, 1))
            qs = step(self.w, x, prev)
            for v in qs.values():
                v.retain_grad()
            y = rand((y_size, 1))
            self.q["y", t] = y
            loss = loss + scale * ((qs[output] - y) ** 2).sum()
            self.q |= {(n, t): v for n, v in qs.items()}
            prev = qs
        for v in prev.values():
            v.retain_grad()
        loss.backward()
        self.g = {k: (v.grad if v.grad is not None else torch.zeros_like(v)).detach()
                  for k, v in self.q.items() if k[1] > 0 and k[0] != "y"}
        self.gw = {n: v.grad.detach() for n, v in self.w.items()}
        self.q = {k: v.detach() for k, v in self.q.items()}
        self.w = {n: v.detach() for n, v in self.w.items()}


def relu_prime(v):
    return (v > 0).to(F64)


def sig_prime(v):
    return v * (1 - v)


def tanh_prime_of(v):
    return 1 - torch.tanh(v) ** 2


# (cell, LaTeX, holds, the two sides in torch at (t) or, for a formula without t, at None)
IDENTITIES = [
    ("lstm_custom",
     (r"\frac{\partial L}{\partial c_t} = \frac{\partial L}{\partial h_t} \odot o_t \odot "
     r"(1 - \tanh^2(c_t)) + \frac{\partial L}{\partial c_{t+1}} \odot f_{t+1}"), True,
     lambda a, t: (a.g["c", t], a.g["h", t] * a.q["o", t] * tanh_prime_of(a.q["c", t])
                   + a.g["c", t + 1] * a.q["f", t + 1])),
    ("lstm_custom",  # the path through c_{t+1} dropped
     (r"\frac{\partial L}{\partial c_t} = \frac{\partial L}{\partial h_t} \odot o_t \odot "
     r"(1 - \tanh^2(c_t))"), False,
     lambda a, t: (a.g["c", t], a.g["h", t] * a.q["o", t] * tanh_prime_of(a.q["c", t]))),
    ("lstm_custom",  # the forget gate of the wrong step
     (r"\frac{\partial L}{\partial c_t} = \frac{\partial L}{\partial h_t} \odot o_t \odot "
     r"(1 - \tanh^2(c_t)) + \frac{\partial L}{\partial c_{t+1}} \odot f_t"), False,
     lambda a, t: (a.g["c", t], a.g["h", t] * a.q["o", t] * tanh_prime_of(a.q["c", t])
                   + a.g["c", t + 1] * a.q["f", t])),
    ("lstm_custom", r"\delta f_t = \delta c_t \odot c_{t-1}", True,
     lambda a, t: (a.g["f", t], a.g["c", t] * a.q["c", t - 1])),
    ("lstm_custom",
     (r"\frac{\partial L}{\partial W_{hf}} = \sum_{k=1}^{T} \left(\frac{\partial L}{\partial f_k}"
     r" \odot f_k \odot (1 - f_k)\right) h_{k-1}^\top"), True,
     lambda a, _: (a.gw["W_hf"], sum((a.g["f", k] * sig_prime(a.q["f", k])) @ a.q["h", k - 1].T
                                     for k in range(1, T + 1)))),
    ("lstm_custom",  # the state of the wrong step in a weight gradient
     (r"\frac{\partial L}{\partial W_{hf}} = \sum_{k=1}^{T} \left(\frac{\partial L}{\partial f_k}"
     r" \odot f_k \odot (1 - f_k)\right) h_k^\top"), False,
     lambda a, _: (a.gw["W_hf"], sum((a.g["f", k] * sig_prime(a.q["f", k])) @ a.q["h", k].T
                                     for k in range(1, T + 1)))),
    ("gru_custom", (r"\frac{\partial L}{\partial n_t} = \frac{\partial L}{\partial h_t} \odot "
                   r"(1 - z_t)"), True,
     lambda a, t: (a.g["n", t], a.g["h", t] * (1 - a.q["z", t]))),
    ("gru_custom", r"\frac{\partial L}{\partial n_t} = \frac{\partial L}{\partial h_t} \odot z_t",
     False, lambda a, t: (a.g["n", t], a.g["h", t] * a.q["z", t])),
    ("gru_custom", (r"\frac{\partial L}{\partial z_t} = \frac{\partial L}{\partial h_t} \odot "
                   r"(h_{t-1} - n_t)"), True,
     lambda a, t: (a.g["z", t], a.g["h", t] * (a.q["h", t - 1] - a.q["n", t]))),
    ("gru_custom", (r"\frac{\partial L}{\partial r_t} = \frac{\partial L}{\partial n_t} \odot "
                   r"(1 - n_t^2) \odot (W_{hn} h_{t-1} + b_{hn})"), True,
     lambda a, t: (a.g["r", t], a.g["n", t] * (1 - a.q["n", t] ** 2)
                   * (a.w["W_hn"] @ a.q["h", t - 1] + a.w["b_hn"]))),
    ("gru_custom", (r"\frac{\partial L}{\partial h_T} = W_{hy}^\top "
                   r"\frac{\partial L}{\partial \hat{y}_T}"), True,
     lambda a, _: (a.g["h", T], a.w["W_hy"].T @ a.g["y^", T])),
    ("leaky", (r"\frac{\partial L}{\partial h_t} = W_{hy}^\top \frac{\partial L}{\partial o_t} "
              r"+ a \frac{\partial L}{\partial h_{t+1}} + W_{hh}^\top "
              r"\frac{\partial L}{\partial z_{t+1}}"), True,
     lambda a, t: (a.g["h", t], a.w["W_hy"].T @ a.g["o", t] + a.w["a"] * a.g["h", t + 1]
                   + a.w["W_hh"].T @ a.g["z", t + 1])),
    ("leaky",  # the leak's own path dropped: the Elman recursion
     (r"\frac{\partial L}{\partial h_t} = W_{hy}^\top \frac{\partial L}{\partial o_t} + "
     r"W_{hh}^\top \frac{\partial L}{\partial z_{t+1}}"), False,
     lambda a, t: (a.g["h", t], a.w["W_hy"].T @ a.g["o", t] + a.w["W_hh"].T @ a.g["z", t + 1])),
    ("leaky", (r"\frac{\partial L}{\partial a} = \sum_{k=1}^{T} "
              r"\frac{\partial L}{\partial h_k}^\top (h_{k-1} - \tanh(z_k))"), True,
     lambda a, _: (a.gw["a"], sum(a.g["h", k].T @ (a.q["h", k - 1] - torch.tanh(a.q["z", k]))
                                  for k in range(1, T + 1)))),
    ("leaky", r"\delta z_t = (1 - a) \delta h_t \odot (1 - \tanh^2 z_t)", True,
     lambda a, t: (a.g["z", t], (1 - a.w["a"]) * a.g["h", t] * tanh_prime_of(a.q["z", t]))),
    ("jordan",  # tanh' dropped on the path through h_{t+1}
     (r"\frac{\partial L}{\partial o_t} = o_t - y_t + W_{oh}^\top "
     r"\frac{\partial L}{\partial h_{t+1}}"), False,
     lambda a, t: (a.g["o", t], a.q["o", t] - a.q["y", t] + a.w["W_oh"].T @ a.g["h", t + 1])),
    ("jordan", (r"\frac{\partial L}{\partial o_t} = o_t - y_t + W_{oh}^\top "
               r"\left(\frac{\partial L}{\partial h_{t+1}} \odot (1 - h_{t+1}^2)\right)"), True,
     lambda a, t: (a.g["o", t], a.q["o", t] - a.q["y", t]
                   + a.w["W_oh"].T @ (a.g["h", t + 1] * (1 - a.q["h", t + 1] ** 2)))),
    ("jordan", r"\frac{\partial L}{\partial o_t} = o_t - y_t", False,
     lambda a, t: (a.g["o", t], a.q["o", t] - a.q["y", t])),
    ("indrnn", r"h_t = \operatorname{ReLU}(W_{xh} x_t + u \odot h_{t-1} + b_h)", True,
     lambda a, t: (a.q["h", t], torch.relu(a.w["W_xh"] @ a.q["x", t] + a.w["u"] * a.q["h", t - 1]
                                           + a.w["b_h"]))),
    ("indrnn", (r"\frac{\partial L}{\partial h_t} = W_{hy}^\top \frac{\partial L}{\partial o_t} "
                r"+ u \odot \frac{\partial L}{\partial h_{t+1}} \odot "
                r"\operatorname{ReLU}'(W_{xh} x_{t+1} + u \odot h_t + b_h)"), True,
     lambda a, t: (a.g["h", t], a.w["W_hy"].T @ a.g["o", t] + a.w["u"] * a.g["h", t + 1]
                   * relu_prime(a.w["W_xh"] @ a.q["x", t + 1] + a.w["u"] * a.q["h", t]
                                + a.w["b_h"]))),
    ("indrnn",  # ReLU' dropped
     (r"\frac{\partial L}{\partial h_t} = W_{hy}^\top \frac{\partial L}{\partial o_t} "
      r"+ u \odot \frac{\partial L}{\partial h_{t+1}}"), False,
     lambda a, t: (a.g["h", t], a.w["W_hy"].T @ a.g["o", t] + a.w["u"] * a.g["h", t + 1])),
    ("indrnn", (r"\frac{\partial L}{\partial u} = \sum_{k=1}^{T} \frac{\partial L}{\partial h_k}"
                r" \odot \operatorname{ReLU}'(W_{xh} x_k + u \odot h_{k-1} + b_h) \odot h_{k-1}"),
     True,
     lambda a, _: (a.gw["u"], sum(a.g["h", k] * relu_prime(a.w["W_xh"] @ a.q["x", k] + a.w["u"]
                                                           * a.q["h", k - 1] + a.w["b_h"])
                                  * a.q["h", k - 1] for k in range(1, T + 1)))),
    ("jordan", r"h_1 = \tanh(W_{xh} x_1 + W_{oh} o_0 + b_h)", True,
     lambda a, _: (a.q["h", 1], torch.tanh(a.w["W_xh"] @ a.q["x", 1] + a.w["W_oh"] @ a.q["o", 0]
                                           + a.w["b_h"]))),
    ("jordan", r"h_1 = \tanh(W_{xh} x_1 + b_h)", False,  # o_0 forgotten
     lambda a, _: (a.q["h", 1], torch.tanh(a.w["W_xh"] @ a.q["x", 1] + a.w["b_h"]))),
]


def _autograd_agrees(stem: str, latex: str, sides) -> bool:
    """True if the identity holds on autograd's numbers at every t where its names exist."""
    a = Autograd(stem)
    steps = range(1, T + 1) if re.search(r"_\{?t(?![a-zA-Z])", latex) else [None]
    results = []
    for t in steps:
        try:
            lhs, rhs = sides(a, t)
        except KeyError:  # such as dL/dc_{T+1}: that t is not an instance of the formula
            continue
        results.append(torch.allclose(lhs, rhs, rtol=1e-10, atol=1e-12))
    assert results
    return all(results)


@pytest.mark.parametrize("stem, latex, holds, sides", IDENTITIES,
                         ids=[f"{c[0]}-{k}" for k, c in enumerate(IDENTITIES)])
def test_hand_derived_identities_agree_with_autograd(stem, latex, holds, sides):
    assert _autograd_agrees(stem, latex, sides) == holds


@pytest.mark.parametrize("stem, latex, holds", [c[:3] for c in IDENTITIES],
                         ids=[f"{c[0]}-{k}" for k, c in enumerate(IDENTITIES)])
def test_verify_decides_the_identities_of_custom_cells(stem, latex, holds):
    verdict = verify_latex(load_problem(EXAMPLES / f"{stem}.toml"), latex, max_T=T)
    assert verdict.holds == holds, verdict.explanation
    assert verdict.checked and all(c.holds for c in verdict.checked) == holds
    if holds:
        assert verdict.counterexample is None
        return
    c = verdict.counterexample
    assert c is not None and c["lhs"] != c["rhs"]
    assert "custom cell" in verdict.explanation
    # the counterexample's inputs are the cell's own parameters and data
    assert set(load_problem(EXAMPLES / f"{stem}.toml").weights) <= set(c["point"])


def test_sympy_syntax_in_the_cells_names():
    lstm_problem = load_problem(EXAMPLES / "lstm_custom.toml")
    text = ("dL_dc(t) = hadamard(dL_dh(t), o(t), 1 - tanh(c(t))**2) "
            "+ hadamard(dL_dc(t+1), f(t+1))")
    assert verify_formula(lstm_problem, sympy=text, max_T=3).holds
    wrong = text.replace("f(t+1)", "f(t)")
    assert not verify_formula(lstm_problem, sympy=wrong, max_T=3).holds


@pytest.mark.parametrize("stem, latex, message", [
    ("lstm_custom", r"\delta_t = \delta h_t", r"a bare \delta_t has several readings"),
    ("lstm_custom", r"W_{zz} = 0", "known names are W_{ii}, W_{hi}, W_{if}"),
    ("lstm_custom", r"\frac{\partial L}{\partial x_t} = 0", "dL/dx is not a quantity of BPTT"),
    ("lstm_custom", r"z_t = 0", "not a quantity of the model (i f g o c h y^ x y l L"),
    ("lstm_custom", r"\frac{\partial L}{\partial W_{qh}} = 0", "known names are W_{ii}"),
    ("gru_custom", r"\frac{\partial l_t}{\partial o_t} = 0", "not a quantity of the model"),
    ("jordan", r"h_t = \tanh(W_{hh} h_{t-1})", "known names are W_{xh}, W_{oh}, W_{ho}"),
])
def test_names_outside_the_cell_are_refused(stem, latex, message):
    with pytest.raises(ProblemError) as info:
        verify_latex(load_problem(EXAMPLES / f"{stem}.toml"), latex, max_T=2)
    assert message in str(info.value)


def test_the_per_step_loss_gradient_is_by_the_cells_output():
    gru_problem = load_problem(EXAMPLES / "gru_custom.toml")
    latex = r"\frac{\partial l_t}{\partial \hat{y}_t} = 2 (\hat{y}_t - y_t)"
    assert verify_latex(gru_problem, latex, max_T=2).holds


def test_cli_verifies_in_the_cells_names(cli):
    identity = IDENTITIES[0][1]
    run = cli("verify", EXAMPLES / "lstm_custom.toml", "--latex", identity, "--max-T", 3, "--json")
    assert run.code == 0, run.err
    assert json.loads(run.out)["holds"] is True
    wrong = IDENTITIES[2][1]
    run = cli("verify", EXAMPLES / "lstm_custom.toml", "--latex", wrong, "--max-T", 3, "--json")
    answer = json.loads(run.out)
    assert run.code == 1 and answer["holds"] is False
    assert answer["counterexample"]["lhs"] != answer["counterexample"]["rhs"]
    run = cli("verify", EXAMPLES / "lstm_custom.toml", "--latex", r"\delta_t = 0")
    assert run.code == 2 and run.err.startswith("symbolic-bptt: error: ")


@pytest.mark.parametrize("index, code", [(1, "missing-path"), (2, "state-off-by-one")])
def test_the_catalog_names_the_lstm_mistakes(index, code):
    """The mistake catalog rewrites any cell's derived steps: an LSTM recursion without the path
    through c_{t+1}, or with f_t for f_{t+1}, is that mistake."""
    stem, latex, holds, _ = IDENTITIES[index]
    verdict = verify_latex(load_problem(EXAMPLES / f"{stem}.toml"), latex, max_T=T)
    assert not holds and (verdict.holds, verdict.code) == (False, code)
    assert f"it holds where BPTT makes the mistake {code}" in verdict.explanation


def test_the_python_api_verifies_in_the_cells_names():
    import symbolic_bptt.api as sb

    lstm_problem = sb.load(EXAMPLES / "lstm_custom.toml")
    assert sb.verify(lstm_problem, latex=IDENTITIES[0][1], max_T=2).result.holds
    assert not lstm_problem.verify(latex=IDENTITIES[2][1], max_T=2).result.holds
