"""verify --sympy reads formulas, never runs them; undefined values never hold."""

from __future__ import annotations

import pytest

from symbolic_bptt.errors import ProblemError
from symbolic_bptt.formulas.latex_in import read_latex
from symbolic_bptt.formulas.sympy_in import read_sympy
from symbolic_bptt.formulas.verify import verify_formula
from symbolic_bptt.inputs.problem import Model

TANH = Model(activation="tanh")

ESCAPES = [
    ("h(t) + 0*Integer(Symbol.__new__.__globals__['__builtins__']['__import__']('os')"
     ".system('touch {marker}')) = h(t)"),
    "__import__('os').system('touch {marker}') = h(t)",
    "h(t) = Function('x')(open('{marker}', 'w'))",
    "h(t) = Integer(exec('open(\"{marker}\", \"w\")'))",
    "h(t) = (lambda: open('{marker}', 'w'))()",
    "h(t) = [c for c in ().__class__.__base__.__subclasses__()][0]",
    "h(t) = Sum.__init__.__globals__",
    "h(t) = eval('1')",
    "h(t) = Rational(*[1, 2])",
    "h(t) = Rational(p=1, q=2)",
]


@pytest.mark.parametrize("template", ESCAPES)
def test_python_in_a_formula_is_never_run(template, tmp_path):
    marker = tmp_path / "marker"
    with pytest.raises(ProblemError, match="SymPy formula"):
        read_sympy(template.format(marker=marker))
    assert not marker.exists()


@pytest.mark.parametrize("text, message", [
    ("10**10**10 = h(t)", "exponent"),
    ("2**64**2 = h(t)", "exponent"),
    ("None = h(t)", "not a number"),
    ("'text' = h(t)", "not a number"),
    ("True = h(t)", "not a number"),
    ("1j = h(t)", "not a number"),
    ("1e999999999 = h(t)", "digits"),
    ("1" * 200 + " = h(t)", "digits"),
    ("(" * 300 + "1" + ")" * 300 + " = h(t)", "SymPy formula"),
    ("h(t) == h(t)", "a comparison is not allowed"),
    ("h(t) = h(t)^2", "write \\*\\* for a power"),
    ("x" * 6000 + " = 1", "limit of 5000"),
], ids=lambda v: v[:20] if isinstance(v, str) else None)
def test_sympy_syntax_limits(text, message):
    with pytest.raises(ProblemError, match=message):
        read_sympy(text)


@pytest.mark.parametrize("latex, sympy", [
    ("1 = 2/0", "1 = 2/0"),
    (r"1 = \log(0)", "1 = log(0)"),
    ("h_t = h_t / 0", "h(t) = h(t)/0"),
    (r"h_t = \frac{h_t}{z_t - z_t}", "h(t) = h(t)/(z(t) - z(t))"),
])
def test_undefined_values_never_hold(latex, sympy):
    for given in ({"latex": latex}, {"sympy": sympy}):
        with pytest.raises(ProblemError, match="undefined"):
            verify_formula(TANH, **given)


def test_decimals_are_exact_in_both_readers():
    assert verify_formula(TANH, sympy="0.1*h(t) = h(t)/10").holds
    assert verify_formula(TANH, latex=r"0.1 h_t = \frac{h_t}{10}").holds


@pytest.mark.parametrize("latex, message", [
    ("(" * 5000 + "1" + ")" * 5000 + " = 1", "limit of 5000"),
    ("(" * 500 + "1" + ")" * 500 + " = 1", "nested 500 levels deep"),
    (r"\left(" * 300 + "1" + r"\right)" * 300 + " = 1", "nested 300 levels deep"),
    ("{" * 2000 + "h_t" + "}" * 2000 + " = h_t", "nested 2000 levels deep"),
    ("1" * 4000 + " = 1", "more than 100 digits"),
    ("h_t = h_t\x00", "control character"),
    ("h_t = h_t\x1b[2J", "control character"),
], ids=lambda v: v[:20] if isinstance(v, str) else None)
def test_latex_limits(latex, message):
    with pytest.raises(ProblemError, match=message):
        read_latex(latex)


@pytest.mark.parametrize("latex", [r"\tanh " * 7 + "h_t = 1", "h_t^{100000} = 1"])
def test_verify_limits(latex):
    with pytest.raises(ProblemError, match="limit"):
        verify_formula(TANH, latex=latex)


def test_a_sum_too_long_to_write_out_is_refused():
    with pytest.raises(ProblemError, match="too large to check"):
        verify_formula(TANH, sympy="Sum(h(i), (i, 1, T**60)) = 1")


def test_max_T_limit():
    with pytest.raises(ProblemError, match="--max-T 100000 is beyond the limit"):
        verify_formula(TANH, latex="h_t = h_t", max_T=100000)
