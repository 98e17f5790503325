"""How quantity names print in LaTeX: the deck's notation, the d2l preset, and user overrides.

A quantity name (`h_2`, `dL/dh_2`, `dL/dW_hh^(2)`) splits into a base (`h`, `dL/dh`, `dL/dW_hh`)
and an index; the notation maps bases to LaTeX and the index becomes a subscript or superscript.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pylatexenc.latexwalker import LatexMacroNode, LatexWalker, LatexWalkerError

from ..errors import ProblemError

DECK = {
    "x": "x", "y": "y", "h": "h", "z": "z", "o": "o", "l": r"\ell", "L": "L",
    "W_xh": "W_{xh}", "W_hh": "W_{hh}", "W_hy": "W_{hy}", "b_h": "b_{h}", "b_y": "b_{y}",
    "dL/do": r"\delta o", "dL/dh": r"\delta h", "dL/dz": r"\delta",
}
D2L = DECK | {"W_xh": "W_{hx}", "W_hy": "W_{qh}", "b_y": "b_{q}",
              "dL/do": r"\frac{\partial L}{\partial o}", "dL/dh": r"\frac{\partial L}{\partial h}",
              "dL/dz": r"\frac{\partial L}{\partial z}"}
PRESETS = {"deck": DECK, "d2l": D2L}
# Other names sources give the Elman cell's parameters (d2l's W_hx, W_qh, b_q, Goodfellow's and
# others'); `verify` reads them as the cell's own and notes it.
ELMAN_ALIASES = {"W_hx": "W_xh", "W_yh": "W_hy", "W_qh": "W_hy", "W_hq": "W_hy", "W_ho": "W_hy",
                 "W_oh": "W_hy", "b_q": "b_y", "b_o": "b_y"}
BASES = tuple(DECK)
_VECTOR_BASES = {"x", "y", "h", "z", "o", "b_h", "b_y", "dL/do", "dL/dh", "dL/dz"}

_NAME = re.compile(r"^(?P<base>.+?)(?:_(?P<t>\d+|[tTik](?:[+-]1)?)|\^\((?P<part>\w+)\))?$")
_SAFE_MACROS = {
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "lambda",
    "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "phi", "varphi", "chi", "psi", "omega",
    "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Phi", "Psi", "Omega", "ell",
    "mathbf", "boldsymbol", "mathrm", "mathit", "mathcal", "bm", "hat", "tilde", "bar", "vec",
    "frac", "partial", "nabla", "prime", "operatorname", "text",
}


@dataclass(frozen=True)
class Notation:
    """LaTeX for each base name; vectors bold when the model has vector sizes."""

    names: dict[str, str] = field(default_factory=lambda: dict(DECK), hash=False)
    bold_vectors: bool = False
    row_convention: bool = False
    vectors: frozenset[str] = frozenset(_VECTOR_BASES)  # the bases printed bold as vectors

    def base(self, base: str) -> str:
        if base in self.names:
            return self.names[base]
        if base.startswith("dL/d"):
            return rf"\frac{{\partial L}}{{\partial {self.base(base[4:])}}}"
        return base

    def symbol(self, name: str) -> str:
        """LaTeX for a quantity name: `dL/dh_2` -> `\\delta h_{2}`."""
        m = _NAME.match(name)
        base, t, part = m["base"], m["t"], m["part"]
        if t is not None and name.removeprefix("dL/d") in self.names:
            base, t = name, None  # a parameter such as b_i, not b at step i
        if part is not None:  # the contribution of step t to a shared weight's gradient
            inner = self.base(base[4:])
            return rf"\frac{{\partial L}}{{\partial {inner}^{{({part})}}}}"
        tex = self.base(base)
        if self.bold_vectors and base in self.vectors and not tex.startswith(r"\frac"):
            tex = _bold(tex)
        if t is None:
            return tex
        if tex.startswith(r"\frac{\partial L}{\partial "):
            return tex[:-1] + f"_{{{t}}}}}"
        if tex == r"\delta":
            return rf"\delta_{{{t}}}"
        return f"{tex}_{{{t}}}"


def _bold(tex: str) -> str:
    if tex.startswith("\\") and " " in tex:  # "\delta h" -> "\delta \mathbf{h}"
        head, tail = tex.rsplit(" ", 1)
        return rf"{head} \mathbf{{{tail}}}"
    if tex.startswith("\\"):
        return rf"\boldsymbol{{{tex}}}"
    return rf"\mathbf{{{tex}}}"


def make_notation(preset: str = "deck", overrides: dict[str, str] | None = None,
                  bold_vectors: bool = False, row_convention: bool = False,
                  names: dict[str, str] | None = None,
                  vectors: set[str] | None = None) -> Notation:
    """A notation from a preset name and the problem's [notation] table (validated). `names`
    (a custom cell's, as written) replace the preset's Elman names; gradients print as
    fractions then."""
    if preset not in PRESETS:
        raise ProblemError(f"unknown notation preset {preset!r} (expected one of: {', '.join(PRESETS)})")
    table = dict(PRESETS[preset]) if names is None else {
        "x": "x", "y": "y", "l": r"\ell", "L": "L"} | names
    for key, tex in (overrides or {}).items():
        if key not in table:
            raise ProblemError(f"notation.{key} is not a symbol (expected one of: {', '.join(table)})")
        _check_safe(tex, f"notation.{key}")
        table[key] = tex
    return Notation(table, bold_vectors, row_convention,
                    frozenset(_VECTOR_BASES if vectors is None else vectors))


def _check_safe(tex: str, where: str) -> None:
    """User LaTeX in [notation] may use math macros only: no \\input, \\write18, \\def, catcodes."""
    if any(c in tex for c in "%#$&~^\n") or "@" in tex:
        raise ProblemError(f"{where} = {tex!r}: use plain math LaTeX (no % # $ & ~ ^ @)")
    try:
        nodes, _, _ = LatexWalker(tex, tolerant_parsing=False).get_latex_nodes()
    except LatexWalkerError as exc:
        raise ProblemError(f"{where} = {tex!r} is not valid LaTeX ({exc.msg})") from None
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if node is None:
            continue
        if isinstance(node, LatexMacroNode):
            if node.macroname not in _SAFE_MACROS:
                raise ProblemError(f"{where} = {tex!r}: \\{node.macroname} is not allowed in notation")
            if node.nodeargd is not None:
                stack.extend(node.nodeargd.argnlist)
        stack.extend(getattr(node, "nodelist", None) or [])
