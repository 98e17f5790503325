"""Read and validate a claims file: the numbers a person wrote for a problem's quantities.

```toml
decimals = 4          # optional: the precision carried by hand
[claims]
"h_1" = 0.2913
"h_2[1]" = 0.3115     # one entry of a vector (0-based); "dL/dW_hh[0,1]" for a matrix
"dL/dW_hh" = [[0.1128, 0.0], [0.01, 0.2]]
```

Numbers are read as written (`0.2330` keeps its four decimals): without `decimals`, each number
carries the precision it is written with. A whole number (`0`, `1`) says nothing about precision:
it takes the file's `decimals`, else the precision most other claims are written with. A number
written with 16 or more significant digits that is a binary float's long rendering
(0.20903903000000001) is read as the float's shortest form (0.20903903). A float's shortest
form of 15 to 17 significant digits is a float64 printout (NumPy's 0.8519528019683106): its last
digits are the program's rounding, not the person's, so it is judged at FLOAT_DIGITS
significant digits; a number written with more digits keeps them. Every mistake in the file is a ProblemError naming the key.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..errors import ProblemError, quoted
from ..tape import Quantity, Tape
from .files import input_name, parse_toml, read_text
from .limits import MAX_CLAIM_DIGITS, check_text

# float64 arithmetic keeps about 16 significant digits; a few operations' rounding errors reach
# the 14th-15th, so a printout is judged at 13
FLOAT_DIGITS = 13
_TOP_KEYS = {"decimals", "claims", "title", "author"}
_ELEMENT = re.compile(r"^(?P<name>.+?)\[\s*(?P<i>\d{1,9})\s*(?:,\s*(?P<j>\d{1,9})\s*)?\]$")


@dataclass(frozen=True)
class Claim:
    """One key of [claims]: some entries of one quantity, with the values and precision written."""

    key: str
    quantity: str
    elements: tuple[int, ...]  # flat row-major positions in the quantity
    values: tuple[Decimal, ...]
    decimals: tuple[int, ...]

    @property
    def whole(self) -> bool:
        """True when the key names the quantity itself rather than one entry."""
        return self.key == self.quantity


@dataclass(frozen=True)
class Claims:
    """A validated claims file, claims in tape order."""

    claims: tuple[Claim, ...]
    decimals: int | None = None
    title: str = ""
    author: str = ""

    @property
    def carried_decimals(self) -> int:
        """The precision of numbers the person computed but did not write down.

        The file's `decimals`, else the precision most of the claims are written with.
        """
        if self.decimals is not None:
            return self.decimals
        counts = Counter(d for c in self.claims for d in c.decimals)
        return max(counts, key=lambda d: (counts[d], d))


def load_claims(path: str | Path, tape: Tape) -> Claims:
    """Read and validate a claims file against a problem's tape; ProblemError on bad input."""
    text = read_text(path, "a .toml claims file")
    try:
        return parse_claims(text, tape)
    except ProblemError as exc:
        raise ProblemError(f"{input_name(path)[0]}: {exc}") from None


def parse_claims(text: str, tape: Tape) -> Claims:
    """Validate the text of a claims file against a problem's tape."""
    return claims_from_table(parse_toml(text, parse_float=Decimal), tape)


def claims_from_table(raw: dict[str, Any], tape: Tape) -> Claims:
    """Validate a claims table (numbers as Decimals or ints, as parse_claims reads them)."""
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise ProblemError(
            f"unknown key {unknown[0]} (expected one of: {', '.join(sorted(_TOP_KEYS))})")
    decimals = raw.get("decimals")
    if decimals is not None and (isinstance(decimals, bool) or not isinstance(decimals, int)
                                 or not 0 <= decimals <= 30):
        raise ProblemError(f"decimals must be a whole number from 0 to 30, got {decimals}")
    for key in ("title", "author"):
        if not isinstance(raw.get(key, ""), str):
            raise ProblemError(f"{key} must be a string")
        check_text(raw.get(key, ""), key)
    if "claims" not in raw:
        raise ProblemError("missing table [claims]")
    table = raw["claims"]
    if not isinstance(table, dict):
        raise ProblemError("[claims] must be a table of quantity = number")
    if not table:
        raise ProblemError("[claims] is empty: nothing to check")
    claims = [_claim(key, value, tape, decimals) for key, value in table.items()]
    if decimals is None:
        claims = _place_whole_numbers(claims)
    seen: dict[tuple[str, int], str] = {}
    for c in claims:
        for e in c.elements:
            other = seen.setdefault((c.quantity, e), c.key)
            if other != c.key:
                raise ProblemError(f"claims.{_quote(c.key)}: claims an entry already claimed by "
                                   f"claims.{_quote(other)}")
    order = {s.name: i for i, s in enumerate(tape.steps)}
    claims.sort(key=lambda c: (order[c.quantity], c.elements))
    return Claims(tuple(claims), decimals, raw.get("title", ""), raw.get("author", ""))


def at_least(claims: Claims, decimals: int) -> Claims:
    """The claims with every precision raised to `decimals` (an exam that asks for 4 decimals:
    "0.26" is 0.2600; a number written with more decimals keeps them)."""
    raised = tuple(Claim(c.key, c.quantity, c.elements, c.values,
                         tuple(max(d, decimals) for d in c.decimals)) for c in claims.claims)
    return Claims(raised, claims.decimals, claims.title, claims.author)


def _place_whole_numbers(claims: list[Claim]) -> list[Claim]:
    """Give each whole number (marked -1 places by _claim) the precision most of the written
    decimals have (the larger on a tie; 0 when every claim is a whole number)."""
    counts = Counter(d for c in claims for d in c.decimals if d >= 0)
    default = max(counts, key=lambda d: (counts[d], d)) if counts else 0
    return [c if min(c.decimals) >= 0 else
            Claim(c.key, c.quantity, c.elements, c.values,
                  tuple(default if d < 0 else d for d in c.decimals)) for c in claims]


def _quote(key: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_-]{1,40}", key):
        return key
    if key.isprintable() and len(key) <= 60 and '"' not in key:
        return f'"{key}"'
    return quoted(key)  # one line, cut: a key cannot forge lines or flood the terminal


def _claim(key: str, value: Any, tape: Tape, decimals: int | None) -> Claim:
    where = f"claims.{_quote(key)}"
    name, index = key, None
    if key not in tape.by_name:
        match = _ELEMENT.match(key)
        if match and match["name"] in tape.by_name:
            name = match["name"]
            index = (int(match["i"]),) + ((int(match["j"]),) if match["j"] else ())
        else:
            raise ProblemError(f"{where}: {_unknown(match['name'] if match else key, tape)}")
    q = tape.quantities[name]
    if index is None:
        elements = tuple(range(q.shape[0] * q.shape[1]))
        numbers = _shaped_values(value, q, where)
    else:
        elements = (_position(q, index, where),)
        numbers = [value]
    values, places = [], []
    for i, v in enumerate(numbers):
        at = where if len(numbers) == 1 else f"{where}[{i}]"
        d = _number(v, at)
        written = max(0, -d.as_tuple().exponent)
        if decimals is None and _printout(d):
            written = min(written, max(0, FLOAT_DIGITS - 1 - d.adjusted()))
        if decimals is not None and written > decimals:
            raise ProblemError(f"{at} = {v} has {written} decimals but decimals = {decimals}")
        values.append(d)
        if decimals is not None:
            places.append(decimals)
        else:  # a whole number's precision is decided by the other claims (-1: not yet)
            places.append(-1 if d.as_tuple().exponent >= 0 else written)
    return Claim(key, name, elements, tuple(values), tuple(places))


def _unknown(name: str, tape: Tape) -> str:
    if name in tape.quantities:
        return f"{name} is given by the problem, not computed: claim a quantity of `solve --json`"
    close = difflib.get_close_matches(name, [s.name for s in tape.steps], n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    return f"unknown quantity {name!r} ({hint}names are those of `solve --json`)"


def _position(q: Quantity, index: tuple[int, ...], where: str) -> int:
    rows, cols = q.shape
    if q.indexing == "scalar":
        raise ProblemError(f"{where}: {q.name} is a number; claim it as {_quote(q.name)}")
    if q.indexing == "vector":
        if len(index) != 1:
            raise ProblemError(f"{where}: {q.name} is a vector; claim one entry as {q.name}[i]")
        if not index[0] < rows:
            raise ProblemError(f"{where}: index {index[0]} is out of range 0..{rows - 1}")
        return index[0]
    if len(index) != 2:
        raise ProblemError(f"{where}: {q.name} is a {rows} x {cols} matrix; claim one entry as "
                           f"{q.name}[i,j]")
    i, j = index
    if not (i < rows and j < cols):
        raise ProblemError(f"{where}: index [{i},{j}] is out of range [0..{rows - 1},0..{cols - 1}]")
    return i * cols + j


def _shaped_values(value: Any, q: Quantity, where: str) -> list:
    """The flat row-major numbers of a whole-quantity claim, shaped as `solve --json` prints it."""
    rows, cols = q.shape
    if q.indexing == "scalar":
        if isinstance(value, list):
            raise ProblemError(f"{where}: {q.name} is a number, got a list")
        return [value]
    if q.indexing == "vector":
        if not isinstance(value, list) or len(value) != rows or any(
                isinstance(v, list) for v in value):
            raise ProblemError(f"{where}: {q.name} is a vector: expected a list of {rows} numbers")
        return value
    if (not isinstance(value, list) or len(value) != rows
            or not all(isinstance(r, list) and len(r) == cols for r in value)):
        raise ProblemError(f"{where}: {q.name} is a {rows} x {cols} matrix: expected a list of "
                           f"{rows} rows of {cols} numbers, as `solve --json` prints it")
    return [v for r in value for v in r]


def _number(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        shown = repr(value) if len(repr(value)) <= 60 else quoted(value)
        raise ProblemError(f"{where} must be a number, got {shown}")
    d = Decimal(value)
    if not d.is_finite():
        raise ProblemError(f"{where} must be a finite number, got {value}")
    if d and d.adjusted() >= MAX_CLAIM_DIGITS:
        raise ProblemError(f"{where}: a claimed number has at most {MAX_CLAIM_DIGITS} digits "
                           "before the point")
    if -d.as_tuple().exponent > 30:
        raise ProblemError(f"{where}: a claimed number has at most 30 decimals")
    return _shortest(d)


def _printout(d: Decimal) -> bool:
    """A float64 as a program prints it: 15 to 17 significant digits that are exactly the
    float's shortest rendering (a number written with more digits, or other ones, was meant)."""
    return 15 <= len(d.as_tuple().digits) <= 17 and Decimal(repr(float(d))) == d


def _shortest(d: Decimal) -> Decimal:
    """A binary float printed with 16-17 significant digits (0.20903903000000001, as `%.17g`
    or numpy write it) read as the float's shortest rendering; any other number as written."""
    digits = len(d.as_tuple().digits)
    if digits < 16:
        return d
    short = Decimal(repr(float(d)))
    if len(short.as_tuple().digits) <= 15 and float(short) == float(d):
        return short
    return d
