"""The key as a Moodle XML quiz (Question bank > Import > Moodle XML format).

One category per version (`$course$/top/<title>/Version 01`), then one question per answer of
the key: a `numerical` question for each number (its value, the key's tolerance, its points), a
`multichoice` question for the formula question (the options in the key's order and letters,
each wrong one with its misconception as feedback) and for the vanishing/exploding verdict.
Each question text repeats the version's network and numbers, so it stands alone in a quiz.
Math is written as \\( ... \\) for Moodle's MathJax filter; HTML goes in CDATA sections.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from .keys import Entry, Keyed, Part

if TYPE_CHECKING:
    from .write import Exam


def moodle_xml(exam: Exam) -> str:
    """The whole quiz as Moodle XML text."""
    spec = exam.spec
    title = (spec.title or "Backpropagation Through Time").replace("/", "//")
    out = ['<?xml version="1.0" encoding="UTF-8"?>', "<quiz>"]
    for keyed in exam.keyed:
        label = keyed.variant.label
        out += ['  <question type="category">',
                (f"    <category><text>{escape(f'$course$/top/{title}/Version {label}')}</text>"
                 "</category>"),
                (f'    <info format="html"><text>'
                 f"{escape(f'Drawn with seed {keyed.variant.seed}')}</text></info>"),
                "  </question>"]
        setup = _setup_html(keyed)
        for part in keyed.parts:
            for entry in part.entries:
                out += _question(keyed, part, entry, setup, spec.decimals)
    out.append("</quiz>")
    return "\n".join(out) + "\n"


def _question(keyed: Keyed, part: Part, entry: Entry, setup: str, decimals: int) -> list[str]:
    label = keyed.variant.label
    name = f"V{label} Q{part.number} {entry.quantity or part.kind}"
    text = setup + f"<p><b>Question {part.number}.</b> {_html(part.prompt)}</p>"
    if part.given:
        text += "<p>Given " + ", ".join(f"\\({lhs} = {value}\\)" for lhs, value in part.given)
        text += ".</p>"
    head = [f'  <question type="{"numerical" if entry.tolerance else "multichoice"}">',
            f"    <name><text>{escape(name)}</text></name>"]
    if entry.tolerance is not None:
        text += (f"<p>Give <code>{html.escape(entry.quantity)}</code> to {decimals} decimals.</p>")
        feedback = (f"Key: {entry.value} ± {entry.tolerance} (the exact value rounded to "
                    f"{decimals} decimals; carrying {decimals} decimals at every step gives "
                    f"{entry.worked}).")
        return head + [
            f'    <questiontext format="html"><text>{_cdata(text)}</text></questiontext>',
            (f'    <generalfeedback format="html"><text>{_cdata(html.escape(feedback))}</text>'
             "</generalfeedback>"),
            f"    <defaultgrade>{_points(entry.points)}</defaultgrade>",
            "    <penalty>0</penalty>",
            "    <hidden>0</hidden>",
            '    <answer fraction="100" format="moodle_auto_format">',
            f"      <text>{entry.value}</text>",
            f"      <tolerance>{entry.tolerance}</tolerance>",
            '      <feedback format="html"><text></text></feedback>',
            "    </answer>",
            "    <unitgradingtype>0</unitgradingtype>",
            "    <unitpenalty>0.1000000</unitpenalty>",
            "    <showunits>3</showunits>",
            "    <unitsleft>0</unitsleft>",
            "  </question>"]
    if entry.options:
        answers = [(f"\\({c.latex}\\)", c.correct,
                    "Correct." if c.correct else f"{c.code}: {_html(c.label)}")
                   for c in entry.options]
    else:
        answers = [(word, entry.value == key, "") for key, word in
                   (("vanishing", "vanishing (damped)"), ("exploding", "exploding (amplified)"))]
    body = head + [
        f'    <questiontext format="html"><text>{_cdata(text)}</text></questiontext>',
        '    <generalfeedback format="html"><text></text></generalfeedback>',
        f"    <defaultgrade>{_points(entry.points)}</defaultgrade>",
        "    <penalty>0</penalty>",
        "    <hidden>0</hidden>",
        "    <single>true</single>",
        "    <shuffleanswers>false</shuffleanswers>",
        "    <answernumbering>ABCD</answernumbering>",
    ]
    for text_, correct, feedback in answers:
        body += [f'    <answer fraction="{100 if correct else 0}" format="html">',
                 f"      <text>{_cdata(text_)}</text>",
                 f'      <feedback format="html"><text>{_cdata(feedback)}</text></feedback>',
                 "    </answer>"]
    return body + ["  </question>"]


def _setup_html(keyed: Keyed) -> str:
    """The version's network and numbers, as HTML with MathJax math."""
    s = keyed.doc.setup
    if "equations" in s:
        return _cell_setup_html(s)
    act = s["activation_latex"]
    parts = [f"\\({s['z_rule']}\\)", f"\\({s['h']} = {act}\\left({s['z']}\\right)\\)",
             f"\\({s['o_rule']}\\)", f"\\({s['loss_latex']}\\)"]
    weights = ", ".join(f"\\({name} = {value}\\)" for name, value in s["weights"])
    rows = "".join(f"<tr><td>\\({t}\\)</td><td>\\({html.escape(x)}\\)</td>"
                   f"<td>\\({html.escape(y)}\\)</td></tr>" for t, _, x, _, y in s["data"])
    return (f"<p>An Elman RNN: {', '.join(html.escape(p) for p in parts)}.</p>"
            f"<p>{html.escape(weights)}, \\({html.escape(s['h0'][0])} = "
            f"{html.escape(s['h0'][1])}\\).</p>"
            f"<table border=\"1\"><tr><th>\\(t\\)</th><th>\\({html.escape(s['x'])}\\)</th>"
            f"<th>\\({html.escape(s['y'])}\\)</th></tr>{rows}</table>")


def _cell_setup_html(s: dict) -> str:
    """A cell of its own: its description, its equations at a general t, its numbers."""
    equations = [e.replace(r" \\ &\quad ", " ").replace("&=", "=") for e in s["equations"]]
    parts = [f"\\({e}\\)" for e in (*equations, s["loss_latex"])]
    numbers = [f"\\({name} = {value}\\)" for name, value in (*s["weights"], *s["initial"])]
    rows = "".join(f"<tr><td>\\({t}\\)</td><td>\\({html.escape(x)}\\)</td>"
                   f"<td>\\({html.escape(y)}\\)</td></tr>" for t, x, y in s["data"])
    return (f"<p>{html.escape(_plain_text(s['cell']))}: "
            f"{html.escape(', '.join(parts))}.</p>"
            f"<p>{html.escape(', '.join(numbers))}.</p>"
            f"<table border=\"1\"><tr><th>\\(t\\)</th><th>\\({html.escape(s['x'])}\\)</th>"
            f"<th>\\({html.escape(s['y'])}\\)</th></tr>{rows}</table>")


def _plain_text(latex_text: str) -> str:
    """A description escaped for LaTeX (escape_text) back as plain text for HTML."""
    return re.sub(r"\\([#$%&_{}])", r"\1", latex_text).replace(r"\textbackslash{}", "\\")


def _html(latex_text: str) -> str:
    """A LaTeX sentence with $math$ as HTML with \\(math\\)."""
    return re.sub(r"\$(.+?)\$", r"\\(\1\\)", html.escape(latex_text, quote=False))


def _points(value) -> str:
    return format(value.normalize(), "f")


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"
