"""Steps cut into slides that fit unshrunk: how tall a step is in `show_compact` (the slides'
layout of _steps.tex.j2), and the frames a group of steps needs.

A step with vectors or matrices prints each number row on a row of its own, as tall as its
tallest matrix; a frame holds FRAME_BUDGET rows of text, and a group that needs more
continues on the next frame, numbered (1/2), (2/2).
"""

from __future__ import annotations

import re
from dataclasses import replace

FRAME_BUDGET = 12  # rows of \large text a slide holds below its title
SLIDE_LINE = 48  # printed characters before a step's numbers go on a row of their own
_BREAK = re.compile(r"\\\\ &")  # a row break inside a step's formula or numbers
_MATRIX = re.compile(r"\\begin\{bmatrix\}(.*?)\\end\{bmatrix\}", re.DOTALL)


def _tall(tex: str) -> float:
    """Rows of text one printed row takes: a matrix of n rows about 0.8 n, a display fraction 2, and
    half a row more for labels under the numbers."""
    heights = [0.8 * (body.count(r"\\") + 1) for body in _MATRIX.findall(tex)]
    label = 0.5 if r"\underbrace" in tex else 0.0  # a path's label under its numbers
    return max([2.0 if r"\frac" in tex else 1.0, *heights]) + label


def _rows(tex: str) -> float:
    return sum(_tall(part) for part in _BREAK.split(tex))


def slide_rows(line) -> float:
    """How tall a step is on a slide: its formula's rows, then (when long) its numbers on a
    row of their own; with matrices, each number row of the chain on its own row."""
    if not line.matrices:
        return len(_BREAK.split(line.formula)) + (1 if line.length > SLIDE_LINE else 0)
    return _rows(line.formula) + sum(_rows(tex) for _, tex in line.chain)


def split_step(line) -> list:
    """A step of vectors too tall for one slide, cut between its printed rows: the first part
    ends where the frame is full and the next goes on (`lhs ≈ numbers`, or `+ numbers` within a
    sum); a step whose formula alone fills a slide stays whole (its frame is scaled down). The
    parts are for show_compact in _steps.tex.j2: each row scaled to the width (\\fitrow)."""
    if line is None or not line.matrices or slide_rows(line) <= FRAME_BUDGET:
        return [line]
    rows = [(rel if k == 0 else "", part) for rel, tex in line.chain
            for k, part in enumerate(_BREAK.split(tex))]
    used, k = _rows(line.formula), 0
    while k < len(rows) - 1 and used + _tall(rows[k][1]) <= FRAME_BUDGET:
        used += _tall(rows[k][1])
        k += 1
    if k == 0:
        return [line]
    rel, tex = rows[k]
    tail = replace(line, lhs=line.lhs if rel else "", relation="",
                   formula=rf"\fitrow{{{rel} {tex}}}", rest=tuple(rows[k + 1:]))
    return [replace(line, rest=tuple(rows[:k])), *split_step(tail)]


def pack(items: list, cost, budget: float, reserve: float = 0.0, least: float = 0.0) -> list:
    """Items in consecutive frames whose costs add up to at most `budget` (the first frame
    `reserve` less): a frame holds at least one item, and is not closed before it holds
    `least` rows."""
    parts, current, used = [], [], float(reserve)
    for item in items:
        c = cost(item)
        if current and used + c > budget and used > least:
            parts.append(current)
            current, used = [], 0.0
        current.append(item)
        used += c
    parts.append(current)
    return parts


def slide_parts(lines: list, reserve: float = 0) -> list[list]:
    """Steps (None: an ellipsis row) in consecutive frames of at most FRAME_BUDGET rows (the
    first `reserve` rows fewer: text above its steps); a step too tall for a frame continues
    on the next, and no frame holds one short line alone."""
    return pack([piece for step in lines for piece in split_step(step)],
                lambda line: 1.0 if line is None else slide_rows(line), FRAME_BUDGET, reserve,
                least=2)


def summary_parts(lines: list) -> list[list]:
    """Rows of the summary table (quantity, value) in frames that fit: a row of the table's
    spacing, or as tall as its value's matrix and a gap, below the table's head and rules."""
    return pack(lines, lambda line: max(1.6, _tall(line.result) + 0.3), FRAME_BUDGET - 2)


def slide_frames(groups: list, title: str) -> list[tuple[str, list]]:
    """Groups of steps cut into frames that fit a slide unshrunk: (frame title, steps); a
    group that needs several frames is numbered (1/2), (2/2)."""
    frames = []
    for group in groups:
        if group:
            frames += numbered(title.format(t=group[0].t), slide_parts(group))
    return frames


def numbered(head: str, parts: list[list]) -> list[tuple[str, list]]:
    """The frames of one group's parts: (title, steps), numbered (1/2), (2/2) when several."""
    return [(head if len(parts) == 1 else f"{head} ({k}/{len(parts)})", part)
            for k, part in enumerate(parts, start=1)]


def _rule_rows(rule: str) -> float:
    """Rows of text a derived rule takes: a row with a fraction is taller."""
    return sum(1.5 if r"\frac" in row else 1.0 for row in rule.split(r"\\"))


def rule_parts(rules: list[str], budget: float = FRAME_BUDGET - 2) -> list[list[str]]:
    """The rules of a cell (`lhs &= formula` rows) in frames that show them unshrunk."""
    return pack(rules, _rule_rows, budget)


def uncover(rule: str, k: int) -> str:
    """A rule's rows for --reveal: every cell of the rule (`lhs`, `= formula`, `+ term`, a
    label) uncovered from overlay k on, so that the rules appear one at a time."""
    def cell(text: str) -> str:
        return text if not text.strip() else rf"\uncover<{k}->{{{{}}{text}}}"
    return r" \\ ".join("&".join(cell(c) for c in row.split("&"))
                         for row in rule.split(r" \\ "))


def _columns(tex: str) -> int:
    bodies = _MATRIX.findall(tex)
    return max([1, *(body.split(r"\\")[0].count("&") + 1 for body in bodies)])


def number_frames(named: list[tuple[str, str]], data: list[tuple]) -> list[list[list]] | None:
    """Named values (weights, initial states) for slides, three to a row (two when a matrix
    has four or more columns), in frames that show them unshrunk; None when they fit on one
    frame with the data table (rows (t, x_t, y_t)) as they are."""
    data_rows = 2 + sum(max(_tall(str(row[k])) for row in data) for k in (1, 2))
    per_row = 2 if any(_columns(v) >= 4 for _, v in named) else 3
    rows = [named[k:k + per_row] for k in range(0, len(named), per_row)]

    def height(row) -> float:
        return max(_tall(v) for _, v in row) + 0.3

    if sum(map(height, rows)) + data_rows <= FRAME_BUDGET - 2:
        return None
    return pack(rows, height, FRAME_BUDGET - 2)
