"""The formula reader: (LaTeX, syntax tree) pairs, the deck's formulas, and clear refusals."""

from __future__ import annotations

import pytest
import sympy as sp

from symbolic_bptt.errors import ProblemError
from symbolic_bptt.formulas.formula_ast import (
    Formula,
    Mul,
    Pow,
    Ref,
    Transpose,
    index_symbol,
)
from symbolic_bptt.formulas.latex_in import read_latex
from symbolic_bptt.formulas.sympy_in import read_sympy

# The deck's section-2 formulas (d2l notation, bold symbols) and section-3 formulas, as printed.
DECK = {
    "2: dL/do_t": (
        (r"\frac{\partial L}{\partial \mathbf{o}_t} = \frac{1}{T} "
        r"\frac{\partial l(\mathbf{o}_t, y_t)}{\partial \mathbf{o}_t}"),
        "dL/do[t] = (1/T)*dl/do[t]"),
    "2: dL/dW_qh": (
        (r"\frac{\partial L}{\partial \mathbf{W}_{qh}} = \sum_{t=1}^T "
        r"\frac{\partial L}{\partial \mathbf{o}_t} \mathbf{h}_t^\top"),
        "dL/dW_hy = Sum[t=1..T](dL/do[t]*h[t]^T)"),
    "2: dL/dh_T": (
        (r"\frac{\partial L}{\partial \mathbf{h}_T} = \mathbf{W}_{qh}^\top "
        r"\frac{\partial L}{\partial \mathbf{o}_T}"),
        "dL/dh[T] = W_hy^T*dL/do[T]"),
    "2: recursion": (
        (r"\frac{\partial L}{\partial \mathbf{h}_t} = \mathbf{W}_{hh}^\top "
        r"\frac{\partial L}{\partial \mathbf{h}_{t+1}} + \mathbf{W}_{qh}^\top "
        r"\frac{\partial L}{\partial \mathbf{o}_t}"),
        "dL/dh[t] = W_hh^T*dL/dh[t + 1] + W_hy^T*dL/do[t]"),
    "2: expansion": (
        (r"\frac{\partial L}{\partial \mathbf{h}_t} = \sum_{i=t}^T (\mathbf{W}_{hh}^\top)^{T-i} "
        r"\mathbf{W}_{qh}^\top \frac{\partial L}{\partial \mathbf{o}_{T+t-i}}"),
        "dL/dh[t] = Sum[i=t..T]((W_hh^T)^(T - i)*W_hy^T*dL/do[T - i + t])"),
    "2: dL/dW_hx": (
        (r"\frac{\partial L}{\partial \mathbf{W}_{hx}} = \sum_{t=1}^T "
        r"\frac{\partial L}{\partial \mathbf{h}_t} \mathbf{x}_t^\top"),
        "dL/dW_xh = Sum[t=1..T](dL/dh[t]*x[t]^T)"),
    "2: dL/dW_hh": (
        (r"\frac{\partial L}{\partial \mathbf{W}_{hh}} = \sum_{t=1}^T "
        r"\frac{\partial L}{\partial \mathbf{h}_t} \mathbf{h}_{t-1}^\top"),
        "dL/dW_hh = Sum[t=1..T](dL/dh[t]*h[t - 1]^T)"),
    "2: loss": (
        r"L = \frac{1}{T} \sum_{t=1}^T l(\mathbf{y}_t, o_t).",
        "L = (1/T)*Sum[t=1..T](l[t])"),
    "2: forward (rows)": (
        (r"\mathbf{h}_t = \phi(\mathbf{x}_t \mathbf{W}_{xh} + \mathbf{h}_{t-1} \mathbf{W}_{hh} "
        r"+ \mathbf{b}_h)"),
        "h[t] = phi(x[t]*W_xh + h[t - 1]*W_hh + b_h)"),
    "2: output (rows)": (
        r"\mathbf{o}_t = \mathbf{h}_t \mathbf{W}_{hq} + \mathbf{b}_q",
        "o[t] = h[t]*W_hy + b_y"),
    "3: z_1": (r"z_1 = W_{hh}h_0 + W_{xh}x_1", "z[1] = W_hh*h[0] + W_xh*x[1]"),
    "3: loss": (r"L = \frac{1}{2} \sum_{t=1}^T (o_t - y_t)^2",
                "L = (1/2)*Sum[t=1..T]((o[t] - y[t])^2)"),
    "3: dL/do_t": (r"\frac{\partial L}{\partial o_t} = o_t - y_t", "dL/do[t] = o[t] - y[t]"),
    "3: dL/dW_hy": (r"\frac{\partial L}{\partial W_{hy}} = \sum_{t=1}^3 \delta_{o_t} h_t",
                    "dL/dW_hy = Sum[t=1..3](dL/do[t]*h[t])"),
    "3: recursion": (
        r"\delta h_t = \delta o_t \cdot W_{hy} + \delta h_{t+1} \cdot W_{hh} \cdot (1 - h_t^2)",
        "dL/dh[t] = dL/do[t]*W_hy + dL/dh[t + 1]*W_hh*(1 - h[t]^2)"),
    "3: dL/dW_hh": (
        (r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^3 \delta h_t \cdot (1 - h_t^2) "
        r"\cdot h_{t-1}"),
        "dL/dW_hh = Sum[t=1..3](dL/dh[t]*(1 - h[t]^2)*h[t - 1])"),
    "3: dL/dW_xh": (
        (r"\frac{\partial L}{\partial W_{xh}} = \sum_{t=1}^3 \delta h_t \cdot (1 - h_t^2) "
        r"\cdot x_t"),
        "dL/dW_xh = Sum[t=1..3](dL/dh[t]*(1 - h[t]^2)*x[t])"),
    "3: delta_t": (r"\delta_t = \delta h_t(1 - h_t^2)", "dL/dz[t] = dL/dh[t]*(1 - h[t]^2)"),
}


@pytest.mark.parametrize("latex, expected", DECK.values(), ids=DECK.keys())
def test_the_decks_formulas(latex, expected):
    assert str(read_latex(latex)) == expected


@pytest.mark.parametrize("latex, expected", [
    # the deck's shorthands and the fraction all name the same quantities
    (r"\delta h_t = \frac{\partial L}{\partial h_t}", "dL/dh[t] = dL/dh[t]"),
    (r"\delta_{o_2} = \delta o_2", "dL/do[2] = dL/do[2]"),
    (r"\delta_{h_{t+1}} = \delta_{t-1}", "dL/dh[t + 1] = dL/dz[t - 1]"),
    (r"\delta z_t = \frac{dL}{dz_t}", "dL/dz[t] = dL/dz[t]"),
    (r"\frac{\partial \mathcal{L}}{\partial \boldsymbol{h}_t} = 0", "dL/dh[t] = 0"),
    (r"\frac{\partial L}{\partial W_{hh}^{(t)}} = \delta_t h_{t-1}^{\top}",
     "dL/dW_hh^(t) = dL/dz[t]*h[t - 1]^T"),
    (r"\frac{\partial L}{\partial W^{(t)}_{hh}} = 0", "dL/dW_hh^(t) = 0"),
    (r"\frac{\partial L}{\partial b_q} = \frac{\partial L}{\partial \mathbf{b}_h}",
     "dL/db_y = dL/db_h"),
    # transposes, powers, products
    (r"W_{hh}^T = W_{hh}^{T} + W_{hh}^{\top} + W_{hh}^\intercal",
     "W_hh^T = W_hh^T + W_hh^T + W_hh^T"),
    (r"h^2_t = h_t^{2} \times h_t", "h[t]^2 = h[t]^2*h[t]"),
    (r"h_t = (W_{hh}^\top)^{t-1} h_1", "h[t] = (W_hh^T)^(t - 1)*h[1]"),
    (r"\delta_t = (1 - h_t^2) \odot W_{hh}^\top \delta h_{t+1}",
     "dL/dz[t] = (1 - h[t]^2) (.) W_hh^T*dL/dh[t + 1]"),
    (r"\delta_t = \left( 1 - h_t^2 \right) \, \delta h_t",
     "dL/dz[t] = (1 - h[t]^2)*dL/dh[t]"),
    (r"h_t = \frac12 h_t / T", "h[t] = ((1/2)*h[t])/T"),
    (r"h_t = 0.5 h_t", "h[t] = 1/2*h[t]"),
    # sums and products, with literal bounds and the deck's T+t-i
    (r"L = \sum^{T}_{s=1} l_s", "L = Sum[s=1..T](l[s])"),
    (r"h_t = \prod_{i=t+1}^{T} W_{hh}", "h[t] = Prod[i=t + 1..T](W_hh)"),
    (r"L = \sum_{t=1}^{T} -\log l_t", "L = Sum[t=1..T](-log(l[t]))"),
    # functions of the model
    (r"h_t = \tanh(z_t) + \sigma(z_t) + \phi(z_t)", "h[t] = tanh(z[t]) + sigmoid(z[t]) + phi(z[t])"),
    (r"\delta_t = \phi'(z_t) \odot \delta h_t", "dL/dz[t] = phi'(z[t]) (.) dL/dh[t]"),
    (r"\delta_t = \phi^\prime(z_t) \delta h_t", "dL/dz[t] = phi'(z[t])*dL/dh[t]"),
    (r"h_t = \tanh^2 z_t", "h[t] = tanh(z[t])^2"),
    (r"\delta o_t = \operatorname{softmax}(o_t) - y_t", "dL/do[t] = softmax(o[t]) - y[t]"),
    (r"L = \| o_1 - y_1 \|^2 + \left\| o_2 \right\|", "L = ||o[1] - y[1]||^2 + ||o[2]||"),
    (r"L = \lVert o_1 \rVert^2", "L = ||o[1]||^2"),
    # math delimiters and trailing punctuation are ignored
    (r"$\delta_t = \delta h_t$", "dL/dz[t] = dL/dh[t]"),
    (r"$$h_t = z_t,$$", "h[t] = z[t]"),
])
def test_reader(latex, expected):
    assert str(read_latex(latex)) == expected


def test_the_tree_itself():
    t = index_symbol("t")
    formula = read_latex(r"\delta h_t = W_{hh}^\top \delta h_{t+1}")
    assert formula == Formula(
        (Ref("dL/dh", t), Mul((Transpose(Ref("W_hh")), Ref("dL/dh", t + 1)))),
        source=r"\delta h_t = W_{hh}^\top \delta h_{t+1}")
    power = read_latex(r"h_t = \sum_{i=1}^{T} (W_{hh}^\top)^{T+t-i}").sides[1].body
    assert isinstance(power, Pow) and power.exp == sp.Symbol("T", integer=True) + t \
        - sp.Symbol("i", integer=True)


@pytest.mark.parametrize("latex, note", [
    (r"\delta h_t = W_{qh}^\top \delta o_t", "W_{qh} read as W_hy"),
    (r"\delta h_t = W_{hq} \delta o_t", "W_{hq} read as W_hy"),
    (r"z_t = W_{hx} x_t", "W_{hx} read as W_xh"),
    (r"o_t = b_{q}", "b_{q} read as b_y"),
])
def test_other_names_for_the_weights_are_noted(latex, note):
    assert note in read_latex(latex).notes


@pytest.mark.parametrize("latex, message", [
    (r"h_t = \foo{x}", r"cannot read \foo at position 7 of the formula"),
    (r"\delta h_t = \delta o_t W_{hy} + \text{contribution from } h_{t+1}",
     r"cannot read \text at position 34 of the formula: words are not mathematics"),
    (r"h_1 = \tanh(0.3) \approx 0.2913", r"cannot read \approx at position 18"),
    (r"\frac{\partial L}{\partial W} = 0", ("cannot read W at position 28 of the formula: name "
                                           "the weight")),
    (r"W_{ab} = 0", "cannot read W_{ab} at position 1 of the formula: known names are"),
    (r"h_t = f(x_t)", "cannot read f at position 7 of the formula: not a quantity"),
    (r"h_k = 0", ("cannot read k at position 3 of the formula: the index k is neither t, T nor "
                 "bound")),
    (r"\sum \delta_t \times h_{t-1} = 0", (r"cannot read \sum at position 1 of the formula: "
                                          "needs bounds")),
    (r"h_t = z_t", None),
    (r"\delta h_t", "the formula has no '='"),
    (r"h_t = (1 + h_t", "the formula ends too early: expected ')'"),
    (r"h_t = {1 + h_t", "cannot read the formula at position 15"),
    (r"\phi''(z_t) = 0", "cannot read '' at position 5 of the formula: second derivatives"),
    (r"\frac{\partial L}{\partial x_t} = 0", "dL/dx is not a quantity of BPTT verify knows"),
    (r"h = 0", "cannot read h at position 1 of the formula: h needs a time step"),
    (r"L_t = \foo", r"cannot read \foo at position 7"),  # L_t is the step loss (issue 13)
    (r"h_t = W_{hh}^{(t)}", "a step superscript such as W_{hh}^{(t)} is read only inside"),
    (r"h_t = \begin{tabular} x \end{tabular}", "environments and other blocks"),
    (r"", "the formula is empty"),
])
def test_unknown_notation_points_at_the_token(latex, message):
    if message is None:
        read_latex(latex)
        return
    with pytest.raises(ProblemError) as info:
        read_latex(latex)
    assert message in str(info.value)


@pytest.mark.parametrize("text, expected", [
    ("dL_dh(t) = W_hy*dL_do(t) + W_hh*dL_dh(t+1)*(1 - h(t)**2)",
     "dL/dh[t] = W_hy*dL/do[t] + W_hh*dL/dh[t + 1]*(1 - h[t]^2)"),
    ("Eq(dL_dh(t), transpose(W_hh)*dL_dh(t+1))", "dL/dh[t] = W_hh^T*dL/dh[t + 1]"),
    ("dL_dW_hh = Sum(delta(t)*transpose(h(t-1)), (t, 1, T))",
     "dL/dW_hh = Sum[t=1..T](dL/dz[t]*h[t - 1]^T)"),
    ("delta(t) = hadamard(dphi(z(t)), dL_dh(t))", "dL/dz[t] = phi'(z[t]) (.) dL/dh[t]"),
    ("dL_do(t) = dl_do(t)/T", "dL/do[t] = (1/T)*dl/do[t]"),
    ("L = -Sum(l(t), (t, 1, T))", "L = -Sum[t=1..T](l[t])"),
])
def test_sympy_syntax_reads_into_the_same_tree(text, expected):
    assert str(read_sympy(text)) == expected


@pytest.mark.parametrize("text, message", [
    ("h(t) = foo(t)", "cannot read the SymPy formula: 'foo' is not a function it knows"),
    ("h(t) = q", "cannot read the SymPy formula: unknown name 'q'"),
    ("h(t) = ", "cannot read the SymPy formula"),
    ("h(t)", "has no '='"),
])
def test_sympy_syntax_refusals(text, message):
    with pytest.raises(ProblemError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_sympy(text)
