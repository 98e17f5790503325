"""How a source writes its formulas: its own symbols for the model's quantities (a [symbols]
table, or a shipped preset such as "goodfellow"), where it puts the time index, and whether its
partial derivatives of states are total or immediate.

A preset is a TOML file in model/notations/ (adding a source is adding a file): a description,
the cell its names are for, and a [symbols] table. A problem's `notation = "NAME"` chooses one
(`verify --notation NAME` too); its [symbols] table overrides the preset's entries.

[symbols] keys are symbols as the source writes them (`U`, `s`, `"\\hat{y}"`, `w_h`,
`"delta^y"`), values quantity names as `solve --json` spells them without the time index (`W_xh`,
`h`, `o`, `l`, `dL/dh`), a step loss's own derivative (`dl/do`, `dl/dh`), `T` (for tau),
`phi` (the model's activation, for a source's f), a function of one quantity (`softmax(o)`,
`step(h)`: d2l's f(x_t, h_{t-1}, w_h)), a sum of parameters (`b_if + b_hf`: one bias where
torch has two) or a block of them (`[W_hf, W_if]`: colah's W_f before [h_{t-1}, x_t]). Settings:
`time = "subscript" | "superscript"`, `partial = "total" | "immediate"`, `delta` (a bare
delta_t's meaning), `vectors = "columns" | "rows"` (d2l's gated sections write X_t W_xi),
`star` and `cdot = "product" | "elementwise"` (colah's f_t * C_{t-1}).

A preset may hold sections for other cells, [cells.lstm] with its own [cells.lstm.symbols]:
a problem over that cell reads that section (d2l.toml holds d2l's LSTM and GRU names).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from ..errors import ProblemError, quoted
from ..inputs.files import parse_toml

SETTINGS = {"time": ("subscript", "superscript"), "partial": ("total", "immediate"),
            "vectors": ("columns", "rows"), "star": ("product", "elementwise"),
            "cdot": ("product", "elementwise")}
FUNCTIONS = ("softmax", "tanh", "sigmoid", "exp", "log", "step")
_NAME = r"[A-Za-z][\w/^~]*"
_VALUE = re.compile(rf"(?:(?P<fn>[a-z]+)\((?P<arg>[A-Za-z~^]+)\)|(?P<name>{_NAME})"
                    rf"|(?P<sum>{_NAME}(?:\s*\+\s*{_NAME})+)"
                    rf"|\[(?P<block>{_NAME}(?:\s*,\s*{_NAME})+)\])")
_GREEK_WORDS = {"delta", "ell", "tau", "theta", "alpha", "beta", "gamma", "epsilon", "eta",
                "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "phi", "psi", "omega", "zeta",
                "varphi", "kappa", "Delta", "Theta", "Phi", "Psi", "Omega"}
DEFAULT_PRESET = "deck"


@dataclass(frozen=True)
class Symbol:
    """One declared symbol: its base token's signature, the subscript and superscript that are
    part of its name (w_h, delta^y), and what it means."""

    key: str
    base: str
    sub: str | None
    sup: str | None
    target: str


@dataclass(frozen=True)
class Reading:
    """A source's way of writing: symbols, time index position, meaning of partials."""

    symbols: tuple[Symbol, ...] = ()
    time: str = "subscript"
    partial: str | None = None
    delta: str | None = None  # what a bare delta_t means: "dL/dz" (the deck), "dL/dh", ...
    name: str = DEFAULT_PRESET  # the preset the reading starts from
    declared: bool = False  # the problem or the command line chose a notation
    vectors: str = "columns"  # "rows": d2l's X_t W_xi, every declared symbol read transposed
    star: str | None = None  # "elementwise": colah's f_t * C_{t-1}; "product"; None: refused
    cdot: str = "product"  # "elementwise": notes that write o_t \cdot \tanh(C_t) for vectors
    user: tuple[tuple[str, str], ...] = ()  # the problem's own [symbols], over the preset's
    cell: str | None = None  # the cell whose section of the preset was read

    def for_cell(self, cell: str) -> Reading:
        """The reading of the preset's section for `cell` ([cells.lstm] in d2l.toml), with the
        problem's [symbols] over it (ProblemError: a declared preset of other cells)."""
        if cell == self.cell:
            return self
        return make_reading(self.name if self.declared else None, dict(self.user) or None, cell)

    def candidates(self, base: str) -> list[Symbol]:
        """The symbols whose base token has signature `base`, most specific first."""
        found = [s for s in self.symbols if s.base == base]
        return sorted(found, key=lambda s: -((s.sub is not None) + (s.sup is not None)))


# ---------------------------------------------------------------------------------------------
# Presets: TOML files in model/notations/


@cache
def preset_names() -> tuple[str, ...]:
    folder = resources.files("symbolic_bptt.model") / "notations"
    return tuple(sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml")))


@cache
def preset(name: str) -> dict:
    """A preset's file as a table: description, cell, [symbols]."""
    if name not in preset_names():
        raise ProblemError(f"unknown notation {quoted(name)} (expected one of: "
                           f"{', '.join(preset_names())})")
    text = (resources.files("symbolic_bptt.model") / "notations" / f"{name}.toml").read_text(
        "utf-8")
    raw = parse_toml(text)
    check_symbols(raw.get("symbols", {}), f"the notation preset {name!r}: symbols.")
    for cell, section in raw.get("cells", {}).items():
        check_symbols(section.get("symbols", {}), f"the notation preset {name!r}: "
                                                  f"cells.{cell}.symbols.")
    return raw


def preset_cells(name: str) -> tuple[str, ...]:
    """The cells a preset names: its own `cell` and those of its [cells.NAME] sections."""
    raw = preset(name)
    return tuple(dict.fromkeys([raw.get("cell", "elman"), *raw.get("cells", {})]))


def check_symbols(table, where: str = "symbols.") -> dict[str, str]:
    """A [symbols] table: string keys and values of the documented forms (ProblemError)."""
    if not isinstance(table, dict):
        raise ProblemError(f"{where.rstrip('.')} must be a table [symbols] of strings "
                           "(symbol = \"quantity\")")
    for key, value in table.items():
        shown = where + (key if re.fullmatch(r"[\w]{1,30}", key) else quoted(key))
        if not isinstance(value, str):
            raise ProblemError(f"{shown} must be a string (a quantity name such as \"W_xh\")")
        if key in SETTINGS:
            if value not in SETTINGS[key]:
                raise ProblemError(f"{shown} must be one of: "
                                   f"{', '.join(repr(v) for v in SETTINGS[key])}")
            continue
        if len(key) > 40 or len(value) > 40:
            raise ProblemError(f"{shown}: a symbol and its quantity have at most 40 characters")
        m = _VALUE.fullmatch(value)
        if m is None or (m["fn"] is not None and m["fn"] not in FUNCTIONS):
            raise ProblemError(f"{shown} = {quoted(value)}: expected a quantity name such as "
                               f"W_xh, h, l, dL/dh, dl/do, {'/'.join(FUNCTIONS)}(quantity), a "
                               "sum of parameters (b_if + b_hf) or a block of them "
                               "([W_hf, W_if])")
        parse_key(key, shown)
    return dict(table)


def parse_key(key: str, shown: str) -> tuple[str, str | None, str | None]:
    """A [symbols] key as (base, subscript, superscript) token signatures."""
    from .tokens import tokenize

    text = key.strip()
    head = re.match(r"[A-Za-z]+", text)
    if head and head[0] in _GREEK_WORDS and not text.startswith("\\"):
        text = "\\" + text
    text = re.sub(r"([_^])([A-Za-z0-9]{2,})", r"\1{\2}", text)  # W_hx is W_{hx}
    try:
        toks = list(tokenize(text))
    except ProblemError as exc:
        raise ProblemError(f"{shown}: {exc}") from None
    if not toks or toks[0].kind not in ("letter", "name", "macro"):
        raise ProblemError(f"{shown}: a symbol starts with a letter or a command such as \\hat")
    base, sub, sup = signature(toks[0]), None, None
    k = 1
    while k < len(toks):
        if toks[k].kind != "op" or toks[k].text not in "_^" or k + 1 >= len(toks):
            raise ProblemError(f"{shown}: expected a symbol with at most a subscript and a "
                               "superscript, such as w_h or delta^y")
        part = signature(toks[k + 1])
        if toks[k].text == "_" and sub is None:
            sub = part
        elif toks[k].text == "^" and sup is None:
            sup = part
        else:
            raise ProblemError(f"{shown}: two subscripts or two superscripts")
        k += 2
    return base, sub, sup


def signature(tok) -> str:
    """A token as comparable text: `y`, `\\hat{y}`, `{t+1}` (a one-token group is its token)."""
    if tok.kind == "group":
        if len(tok.body) == 1:
            return signature(tok.body[0])
        if tok.body and all(t.kind in ("letter", "name", "num") for t in tok.body):
            return "".join(t.text for t in tok.body)  # {hx} as \\textrm{hx} reads
        return "{" + " ".join(signature(t) for t in tok.body) + "}"
    if tok.kind == "macro":
        return "\\" + tok.text + "".join(
            "{" + " ".join(signature(t) for t in g.body) + "}" for g in tok.body)
    return tok.text


def make_reading(preset_name: str | None = None, symbols: dict[str, str] | None = None,
                 cell: str | None = None) -> Reading:
    """The reading of a problem (cached: a preset's symbols are tokenized once)."""
    return _reading(preset_name, tuple((symbols or {}).items()), cell)


@cache
def _reading(preset_name: str | None, items: tuple[tuple[str, str], ...],
             cell: str | None) -> Reading:
    """The reading of a problem: its preset (the deck's by default; for `cell`, the preset's
    [cells.CELL] section when it has one) overridden by its [symbols]. Undeclared, a bare
    delta_t means what the cell's vocabulary says (the deck's dL/dz_t for the Elman cell,
    nothing for other cells)."""
    from ..model.cell import shipped_cells

    symbols = dict(items)
    declared = preset_name is not None or bool(symbols)
    name = preset_name or DEFAULT_PRESET
    raw = preset(name)
    section = raw.get("cells", {}).get(cell) if cell else None
    if cell and section is None and preset_name and preset_name != DEFAULT_PRESET \
            and raw.get("cell", "elman") != cell and cell in shipped_cells():
        raise ProblemError(f"notation {name!r} is a preset of the cells "
                           f"{', '.join(preset_cells(name))}, not of cell {cell!r}")
    table = dict((section or raw).get("symbols", {}))
    table.update(symbols or {})
    time = table.pop("time", "subscript")
    partial = table.pop("partial", None)
    delta = table.pop("delta", None)
    vectors = table.pop("vectors", "columns")
    star = table.pop("star", None)
    cdot = table.pop("cdot", "product")
    if not declared:
        delta = None
    out = []
    for key, target in table.items():
        base, sub, sup = parse_key(key, "symbols." + key)
        out.append(Symbol(key, base, sub, sup, target))
    return Reading(tuple(out), time, partial, delta, name, declared, vectors, star, cdot,
                   tuple((symbols or {}).items()), cell)
