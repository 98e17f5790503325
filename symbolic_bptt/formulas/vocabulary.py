"""What a formula may name, read off the model's cell: the reader's vocabulary.

Every left side of the cell's equations is a sequence quantity (`c_t`, `\\hat{y}_t`), as are
the input x_t and the target y_t; a state (read at t-1) also exists at t = 0. Every symbol
without a time index is a parameter (`W_{hf}`, `b_f`, `u`). Each quantity and parameter has a
loss gradient dL/d<name>. Nothing here knows a particular cell: the Elman cell's other names
(d2l's W_hx, W_qh) and the deck's bare delta_t = dL/dz_t come from its notation preset.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from ..model.cell import INPUT, TARGET, Cell, load_cell
from ..model.equations import DECORATIONS, GREEK
from ..model.notation import DECK, ELMAN_ALIASES

LOSS_TOTAL, LOSS_STEP = "L", "l"


@dataclass(frozen=True)
class Vocabulary:
    """The names of one cell as a formula writes them, and what each one is."""

    cell: str  # the cell's name, for messages
    quantities: tuple[str, ...]  # left sides, in order of computation
    states: frozenset[str]  # quantities read at t-1: they exist at t = 0
    parameters: dict[str, str] = field(hash=False)  # as written (W_hx) -> the tape's (W_xh)
    output: str  # the quantity the loss compares with y_t
    delta: str | None = None  # \delta_t alone is dL/d<delta>_t (the deck's shorthand)
    biases: tuple[str, ...] = ()  # parameters a model without biases leaves out

    @cached_property
    def indexed(self) -> frozenset[str]:
        """Names that take a time step: the cell's quantities, the input and the target."""
        return frozenset((*self.quantities, INPUT, TARGET))

    @cached_property
    def own_parameters(self) -> tuple[str, ...]:
        """The tape's parameter names, each once, in the cell's order."""
        return tuple(dict.fromkeys(self.parameters.values()))

    @cached_property
    def parameter_bases(self) -> frozenset[str]:
        """What parameters' names start with before a subscript: W and b for W_{hh}, b_h."""
        return frozenset(w.partition("_")[0] for w in self.parameters if "_" in w)

    def is_name(self, base: str | None) -> bool:
        """True if `base` starts a quantity or parameter of this vocabulary (or names the loss)."""
        return base is not None and (base in self.indexed or base in self.parameter_bases
                                     or base in self.parameters
                                     or base in (LOSS_TOTAL, LOSS_STEP))

    def has_gradient(self, name: str) -> bool:
        """dL/d<name> is on the tape (or a step of it, W_hh^() for dL/dW_hh^(t))."""
        name = name.removesuffix("^()")
        return name in self.quantities or name in self.own_parameters

    def written(self, base: str, own: bool = False) -> list[str]:
        """The parameter names starting with `base`, in LaTeX, for messages: W_{hh}, W_{xh}
        (`own`: the cell's own names only, not other sources' names for them)."""
        return [f"{w.partition('_')[0]}_{{{w.partition('_')[2]}}}"
                for w, name in self.parameters.items()
                if w.partition("_")[0] == base and "_" in w and (w == name or not own)]

    def listing(self) -> str:
        """The names a formula may use, for messages: z h o x y l L W_{..} b_{..}."""
        singles = [w for w in self.parameters if "_" not in w]
        return " ".join([*self.quantities, INPUT, TARGET, LOSS_STEP, LOSS_TOTAL,
                         *(f"{b}_{{..}}" for b in sorted(self.parameter_bases)), *singles])

    def gradients_text(self) -> str:
        """The gradients verify knows, for messages: dL/dz_t, dL/dh_t, dL/do_t, dL/dW_.."""
        bases = sorted(self.parameter_bases)
        singles = [w for w in self.own_parameters if "_" not in w]
        return ", ".join([*(f"dL/d{q}_t" for q in self.quantities),
                          *(f"dL/d{b}_.." for b in bases), *(f"dL/d{w}" for w in singles)])


def base_of(tok) -> str | None:
    """The name a token starts, as cells spell names: `h`, `alpha`, `c~` (\\tilde{c}), `y^`."""
    if tok.kind in ("letter", "name"):
        return tok.text
    if tok.kind != "macro":
        return None
    if tok.text in GREEK:
        return tok.text
    if tok.text in DECORATIONS and len(tok.body) == 1 and len(tok.body[0].body) == 1:
        inner = tok.body[0].body[0]
        if inner.kind == "letter" or inner.kind == "macro" and inner.text in GREEK:
            return inner.text + DECORATIONS[tok.text]
    return None


def cell_vocabulary(cell: Cell, aliases: dict[str, str] | None = None,
                    delta: str | None = None) -> Vocabulary:
    """The vocabulary of a cell as written (before [model] drops any biases)."""
    parameters = {p: p for p in cell.parameters}
    for alias, name in (aliases or {}).items():
        if name in parameters and alias not in parameters:
            parameters[alias] = name
    return Vocabulary(cell.name, cell.quantities, frozenset(cell.states), parameters,
                      cell.output, delta, cell.biases)


def _deck_delta() -> str | None:
    """The quantity the deck writes as a bare \\delta_t (its dL/dz_t)."""
    for base, tex in DECK.items():
        if tex == r"\delta" and base.startswith("dL/d"):
            return base[4:]
    return None


_ELMAN: list[Vocabulary] = []


def elman_vocabulary() -> Vocabulary:
    """The shipped Elman cell's vocabulary, with its preset's other names and delta_t."""
    if not _ELMAN:
        _ELMAN.append(cell_vocabulary(load_cell("elman"), ELMAN_ALIASES, _deck_delta()))
    return _ELMAN[0]


def vocabulary_of(model, cell: Cell | None = None) -> Vocabulary:
    """The vocabulary of a model (its `cell` a shipped name) or of a custom cell."""
    if cell is None and model.cell == "elman":
        return elman_vocabulary()
    return cell_vocabulary(cell if cell is not None else load_cell(model.cell))
