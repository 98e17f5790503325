"""How quantity names print in LaTeX: the deck's notation, the d2l preset, and user overrides.

A quantity name (`h_2`, `dL/dh_2`, `dL/dW_hh^(2)`) splits into a base (`h`, `dL/dh`, `dL/dW_hh`)
and an index; the notation maps bases to LaTeX and the index becomes a subscript or superscript.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pylatexenc.latexwalker import (
    LatexCharsNode,
    LatexEnvironmentNode,
    LatexGroupNode,
    LatexMacroNode,
    LatexWalker,
    LatexWalkerError,
)

from ..errors import ProblemError, one_line, quoted
from ..inputs.limits import MAX_NOTATION_CHARS, MAX_NOTATION_DEPTH

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
    "upsilon", "iota", "kappa", "omicron", "vartheta", "varrho", "varsigma", "varpi", "Upsilon",
    "mathsf", "mathbb", "dot", "ddot", "check", "breve", "widehat", "widetilde", "overline",
    "top", "intercal", "star", "ast", "circ", ",", ";", "!", " ",
}
_FORBIDDEN_CHARS = ("%", "#", "$", "&", "~", "@")
_PLAIN_KEY = re.compile(r"[\w/]{1,40}", re.ASCII)
_EMPTY_SCRIPT = re.compile(r"[_^]\s*($|[_^}])")


@dataclass(frozen=True)
class Notation:
    """LaTeX for each base name; vectors bold when the model has vector sizes."""

    names: dict[str, str] = field(default_factory=lambda: dict(DECK), hash=False)
    bold_vectors: bool = False
    row_convention: bool = False
    vectors: frozenset[str] = frozenset(_VECTOR_BASES)  # the bases printed bold as vectors
    time_superscript: bool = False  # h^{(t)} (Goodfellow, CS224n) instead of h_{t}

    def base(self, base: str) -> str:
        if base in self.names:
            return self.names[base]
        if base.startswith("dL/d"):
            return rf"\frac{{\partial {self.base('L')}}}{{\partial {self.inner(base[4:])}}}"
        return base

    def inner(self, base: str) -> str:
        """A quantity as the denominator of dL/d... writes it: bold when it is printed bold
        elsewhere (d2l's \\partial \\mathbf{h}_t)."""
        tex = self.base(base)
        return _bold(tex) if self.bold_vectors and base in self.vectors else tex

    def symbol(self, name: str) -> str:
        """LaTeX for a quantity name: `dL/dh_2` -> `\\delta h_{2}`."""
        written = _written_down(self, name)
        if written is not None:
            return written
        m = _NAME.match(name)
        base, t, part = m["base"], m["t"], m["part"]
        if t is not None and name.removeprefix("dL/d") in self.names:
            base, t = name, None  # a parameter such as b_i, not b at step i
        if part is not None:  # the contribution of step t to a shared weight's gradient
            inner = self.inner(base[4:])
            return rf"\frac{{\partial {self.base('L')}}}{{\partial {inner}^{{({part})}}}}"
        tex = self.base(base)
        if self.bold_vectors and base in self.vectors and not tex.startswith(r"\frac"):
            tex = _bold(tex)
        if t is None:
            return tex
        step = f"^{{({t})}}" if self.time_superscript else f"_{{{t}}}"
        if tex.startswith(r"\frac{\partial L}{\partial "):
            return tex[:-1] + step + "}"
        if tex == r"\delta":
            return rf"\delta{step}"
        if self.time_superscript:  # braced: a transpose or a power may follow, h^{(t)}^\top not
            return f"{{{tex}{step}}}"
        return f"{tex}{step}"


_LOCAL = re.compile(r"^d(?P<q>[^/ ]+)/d(?P<p>[^/ ]+)$")


def _written_down(n: Notation, name: str) -> str | None:
    """The names of tape/named.py and tape/training.py: dh_3/dz_3, dL/dh_2 via o_2, dL/dh_2
    from l_3, |g|, clipped dL/dW_hh, W_hh' (None for any other name)."""
    if name.endswith("'"):
        return n.symbol(name[:-1]) + "'"
    if name == "|g|":
        return r"\lVert g \rVert"
    if name.startswith("clipped "):
        return rf"\operatorname{{clip}}\left({n.symbol(name[8:])}\right)"
    for word in (" via ", " from "):
        if word in name:
            grad, by = name.split(word, 1)
            return rf"\left.{n.symbol(grad)}\right|_{{{n.symbol(by)}}}"
    m = _LOCAL.match(name)
    if m and not name.startswith("dL/d") and "_" in m["q"] and "_" in m["p"]:
        return rf"\frac{{\partial {n.symbol(m['q'])}}}{{\partial {n.symbol(m['p'])}}}"
    return None


_SUBSCRIPTED = re.compile(r"^([A-Za-z])_(\{[^{}]*\}|[A-Za-z0-9])$")


def _bold(tex: str) -> str:
    if tex.startswith("\\") and " " in tex:  # "\delta h" -> "\delta \mathbf{h}"
        head, tail = tex.rsplit(" ", 1)
        return rf"{head} \mathbf{{{tail}}}"
    if tex.startswith("\\"):
        return rf"\boldsymbol{{{tex}}}"
    m = _SUBSCRIPTED.match(tex)
    if m:  # b_{h}: the letter bold, its subscript a label
        return rf"\mathbf{{{m[1]}}}_{m[2]}"
    return rf"\mathbf{{{tex}}}"


def document_notation(options, problem) -> str:
    """The notation a document is written in: --notation, else the problem's `notation =
    NAME` (the source its formulas follow), else the deck's."""
    if options.notation != "deck":
        return options.notation
    return getattr(problem, "notation_preset", None) or "deck"


def make_notation(preset: str = "deck", overrides: dict[str, str] | None = None,
                  bold_vectors: bool = False, row_convention: bool = False,
                  names: dict[str, str] | None = None,
                  vectors: set[str] | None = None) -> Notation:
    """A notation from a preset name and the problem's [notation] table (validated). `names`
    (a custom cell's, as written) replace the preset's Elman names; gradients print as
    fractions then."""
    superscript = False
    if preset in PRESETS:
        table = dict(PRESETS[preset])
    else:
        table, superscript = source_table(preset)
    if names is not None:
        table = {"x": "x", "y": "y", "l": r"\ell", "L": "L"} | names
    check_notation(overrides or {}, tuple(table))
    for key, tex in (overrides or {}).items():
        table[key] = _grouped(tex)
    return Notation(table, bold_vectors, row_convention,
                    frozenset(_VECTOR_BASES if vectors is None else vectors), superscript)


def source_table(preset: str) -> tuple[dict[str, str], bool]:
    """A source's notation (formulas/reading.py's presets, model/notations/*.toml) for
    documents: the deck's names with the source's symbols for the quantities they stand for
    (U for W_xh, s for h, E for l), gradients as fractions, and whether the time index is a
    superscript. A symbol another quantity already prints as is not taken (Britz's z)."""
    from ..formulas.reading import preset as source
    from ..formulas.reading import preset_names

    if preset not in preset_names():
        raise ProblemError(f"unknown notation preset {preset!r} (expected one of: "
                           f"{', '.join(dict.fromkeys([*PRESETS, *preset_names()]))})")
    symbols = source(preset).get("symbols", {})
    table = {k: v for k, v in DECK.items() if not k.startswith("dL/d")}
    taken: set[str] = set()
    for key, target in symbols.items():
        if target not in table or target in taken or key in ("time", "partial", "delta"):
            continue
        tex = key if key.startswith("\\") else re.sub(r"_(\w{2,})", r"_{\1}", key)
        bases = (target, "L") if target == "l" else (target,)  # E_t is the step loss, E is L
        if tex in (t for base, t in table.items() if base not in bases):
            continue
        for base in bases:
            table[base] = tex
        taken.update(bases)
    return table, symbols.get("time") == "superscript"


def _grouped(tex: str) -> str:
    """A user's symbol that carries its own script or prime (W_1, h') in braces, so that the
    time index added after it is not a double subscript."""
    depth, top = 0, False
    for c in tex:
        depth += (c == "{") - (c == "}")
        top = top or (depth == 0 and c in "_^'")
    return f"{{{tex}}}" if top else tex


def check_notation(table: dict, keys) -> dict[str, str]:
    """The [notation] table, each key one of `keys` and each value whitelisted math LaTeX.

    The one validation of notation: problem files run it on load (solve, check, render alike),
    and make_notation runs it again for its preset's keys.
    """
    for key, tex in table.items():
        where = "notation." + (key if _PLAIN_KEY.fullmatch(key) else quoted(key))
        if key not in keys:
            raise ProblemError(f"{where} is not a symbol (expected one of: {', '.join(keys)})")
        if not isinstance(tex, str):
            raise ProblemError(f"{where} must be a string (LaTeX)")
        check_math(tex, where)
    return dict(table)


def check_math(tex: str, where: str) -> None:
    """`tex` is plain math from a whitelist: letters, digits, sub/superscripts, braces and the
    commands of _SAFE_MACROS; checked by parsing, so no environment, \\input, \\write18,
    \\def or catcode trick gets through. ProblemError naming `where` otherwise."""
    shown = f"{where} = {quoted(tex)}"
    if not tex.strip():
        raise ProblemError(f"{shown}: empty")
    if len(tex) > MAX_NOTATION_CHARS:
        raise ProblemError(f"{shown}: longer than the limit of {MAX_NOTATION_CHARS} characters")
    for c in tex:
        if ord(c) < 32 or ord(c) == 127:
            raise ProblemError(f"{shown}: holds the control character {quoted(c)}")
        if ord(c) > 126:
            raise ProblemError(f"{shown}: {quoted(c)} cannot be set in math by the document's "
                               "fonts; write it as a command such as \\alpha")
        if c in _FORBIDDEN_CHARS:
            raise ProblemError(f"{shown}: use plain math LaTeX (no {' '.join(_FORBIDDEN_CHARS)})")
    if "^^" in tex.replace(" ", ""):
        raise ProblemError(f"{shown}: ^^ (a character code) is not allowed")
    if _EMPTY_SCRIPT.search(tex):
        raise ProblemError(f"{shown}: a _ or ^ without its subscript or superscript")
    depth = 0
    for c in tex:
        depth += (c == "{") - (c == "}")
        if depth > MAX_NOTATION_DEPTH:
            raise ProblemError(f"{shown}: braces nested more than {MAX_NOTATION_DEPTH} deep")
    try:
        walker = LatexWalker(tex, tolerant_parsing=False)
        nodes, _, _ = walker.get_latex_nodes(
            pos=0, parsing_state=walker.make_parsing_state(in_math_mode=True))
    except LatexWalkerError as exc:
        raise ProblemError(f"{shown} is not valid LaTeX ({one_line(str(exc.msg))})") from None
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if node is None or isinstance(node, LatexCharsNode):
            continue
        if isinstance(node, LatexGroupNode) and node.delimiters == ("{", "}"):
            stack.extend(node.nodelist or [])
        elif isinstance(node, LatexMacroNode) and node.macroname in _SAFE_MACROS:
            if node.nodeargd is not None:
                stack.extend(node.nodeargd.argnlist)
        elif isinstance(node, LatexMacroNode):
            raise ProblemError(f"{shown}: \\{node.macroname} is not allowed in notation")
        elif isinstance(node, LatexEnvironmentNode):
            raise ProblemError(f"{shown}: environments (\\begin...) are not allowed in notation")
        else:
            raise ProblemError(f"{shown}: only symbols, _ ^, braces and math commands are allowed")
