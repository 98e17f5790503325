"""Read a class's answers for `grade`: a long CSV, a wide CSV, or Moodle's quiz Responses report.

    long:   student,variant,quantity,value            one row per answer
    wide:   student,variant,h_1,o_1,...,q7            one row per student, a column per answer
    Moodle: Surname,First name,...,Question 1,Response 1,...   (Results > Responses, download
            as CSV with "Question text" and "Response" ticked)

Values are kept as the text written (the grader reads the decimals off it). A row that cannot
be read is one ProblemError naming the file and line; an empty value is a missing answer.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import ProblemError, quoted
from ..inputs.files import input_name, read_text
from ..inputs.limits import MAX_CLASS_BYTES

MAX_STUDENTS = 100_000
MAX_FIELD = 200  # characters of one answer or name
LONG = ("student", "variant", "quantity", "value")


@dataclass(frozen=True)
class Answer:
    """One answer as written: the name it is given under (a key quantity, `qN`, `formula`,
    `vanishing`) and the text; `where` says where it was read ("line 7")."""

    name: str
    text: str
    where: str


@dataclass(frozen=True)
class Sheet:
    """One student's answers, for one variant of the exam."""

    student: str
    variant: int
    answers: tuple[Answer, ...]


@dataclass(frozen=True)
class MoodleQuestion:
    """A question of moodle.xml: its name ("V01 Q3 dL/dh_2"), its text as Moodle's report
    prints it (normalised), and for a choice the options' texts (normalised) in order."""

    variant: int
    name: str  # the answer name: a quantity, or `qN` for a choice
    text: str
    options: tuple[str, ...] = ()


def read_answers(path: str | Path, moodle: list[MoodleQuestion] | None = None) -> list[Sheet]:
    """The sheets of every student in ANSWERS, in the file's order."""
    where = input_name(path)[0]
    text = read_text(path, "a .csv file of answers", MAX_CLASS_BYTES)
    try:
        rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    except csv.Error as exc:
        raise ProblemError(f"{where}: not a CSV file ({exc})") from None
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise ProblemError(f"{where}: no answers (an empty file)")
    if len(rows) > MAX_STUDENTS * 50:
        raise ProblemError(f"{where}: more than {MAX_STUDENTS * 50} rows")
    header = [h.strip() for h in rows[0]]
    lower = [h.lower() for h in header]
    try:
        if all(c in lower for c in LONG):
            return _long(rows, lower, _Sheets(where))
        if "student" in lower and "variant" in lower:
            return _wide(rows, header, lower, _Sheets(where))
        if any(re.fullmatch(r"response \d+", h) for h in lower):
            if moodle is None:
                raise ProblemError("a Moodle responses report needs the exam's moodle.xml")
            return _moodle(rows, header, lower, moodle, _Sheets(where))
    except ProblemError as exc:
        raise ProblemError(f"{where}: {exc}") from None
    raise ProblemError(
        f"{where}: unknown answers format: the first line must be the header "
        "student,variant,quantity,value (one answer a row), or student,variant and a column per "
        "quantity (one student a row), or a Moodle quiz Responses report (Response 1, ...)")


def _field(text: str, what: str, line: int) -> str:
    text = text.strip()
    if len(text) > MAX_FIELD:
        raise ProblemError(f"line {line}: the {what} is longer than {MAX_FIELD} characters")
    return text


def variant_number(text: str, line: int) -> int:
    """`1`, `01`, `V01` or `version 01` as the number 1."""
    m = re.fullmatch(r"(?:v|version\s*)?0*(\d{1,4})", text.strip(), re.IGNORECASE)
    if not m:
        raise ProblemError(f"line {line}: variant {quoted(text)} is not a version number "
                           "(1, 01 or V01)")
    return int(m[1])


class _Sheets:
    """Sheets collected row by row: one variant per student, each answer once."""

    def __init__(self, file: str):
        self.file = file  # answers keep "FILE: line N" for the grader's messages
        self.variant: dict[str, int] = {}
        self.answers: dict[str, dict[str, Answer]] = {}

    def add(self, student: str, variant: int, line: int) -> None:
        if not student:
            raise ProblemError(f"line {line}: the student is empty")
        known = self.variant.setdefault(student, variant)
        if known != variant:
            raise ProblemError(f"line {line}: student {quoted(student)} has variant {variant} "
                               f"here and {known} on an earlier line")
        self.answers.setdefault(student, {})
        if len(self.answers) > MAX_STUDENTS:
            raise ProblemError(f"more than {MAX_STUDENTS} students")

    def answer(self, student: str, name: str, text: str, line: int) -> None:
        if not name:
            raise ProblemError(f"line {line}: the quantity is empty")
        mine = self.answers[student]
        if name in mine:
            raise ProblemError(f"line {line}: student {quoted(student)} answers {quoted(name)} "
                               f"twice ({mine[name].where.rpartition(': ')[2]} and here)")
        if text:
            mine[name] = Answer(name, text, f"{self.file}: line {line}")

    def sheets(self) -> list[Sheet]:
        return [Sheet(s, self.variant[s], tuple(self.answers[s].values())) for s in self.variant]


def _long(rows: list[list[str]], lower: list[str], out: _Sheets) -> list[Sheet]:
    col = {c: lower.index(c) for c in LONG}
    for line, row in enumerate(rows[1:], 2):
        if len(row) != len(lower):
            raise ProblemError(f"line {line}: expected {len(lower)} fields "
                               f"({','.join(LONG)}), got {len(row)}")
        student = _field(row[col["student"]], "student", line)
        out.add(student, variant_number(row[col["variant"]], line), line)
        out.answer(student, _field(row[col["quantity"]], "quantity", line),
                   _field(row[col["value"]], "value", line), line)
    return out.sheets()


def _wide(rows: list[list[str]], header: list[str], lower: list[str], out: _Sheets) -> list[Sheet]:
    s, v = lower.index("student"), lower.index("variant")
    names = [(i, h) for i, h in enumerate(header) if i not in (s, v)]
    if not names:
        raise ProblemError("line 1: no answer columns beside student and variant")
    seen: dict[str, int] = {}
    for i, h in names:
        if not h:
            raise ProblemError(f"line 1: column {i + 1} has no name")
        if h in seen:
            raise ProblemError(f"line 1: column {quoted(h)} appears twice")
        seen[h] = i
    for line, row in enumerate(rows[1:], 2):
        if len(row) != len(header):
            raise ProblemError(f"line {line}: expected {len(header)} fields as in the header, "
                               f"got {len(row)}")
        student = _field(row[s], "student", line)
        out.add(student, variant_number(row[v], line), line)
        for i, h in names:
            out.answer(student, h, _field(row[i], "value", line), line)
    return out.sheets()


# ---------------------------------------------------------------------------------------------
# Moodle


def normal(text: str) -> str:
    """Text compared as letters and digits only: the report's plain text of a question (Moodle's
    html_to_text) and the HTML of moodle.xml agree on these whatever the spacing and markup."""
    return re.sub(r"[^0-9a-z]", "", text.lower())


def _moodle(rows, header, lower, questions: list[MoodleQuestion], out: _Sheets) -> list[Sheet]:
    slots = sorted({int(m[1]) for h in lower for m in [re.fullmatch(r"response (\d+)", h)] if m})
    qcol = {n: lower.index(f"question {n}") for n in slots if f"question {n}" in lower}
    if len(qcol) < len(slots):
        raise ProblemError("the Moodle report has no \"Question N\" columns: download the "
                           "Responses report with \"Question text\" ticked, so that each "
                           "response can be tied to its version and quantity")
    rcol = {n: lower.index(f"response {n}") for n in slots}
    ident = _identity(lower)
    by_text: dict[str, list[MoodleQuestion]] = {}
    for q in questions:
        by_text.setdefault(q.text, []).append(q)
    choices = [q for q in questions if q.options]
    for line, row in enumerate(rows[1:], 2):
        if len(row) != len(header):
            raise ProblemError(f"line {line}: expected {len(header)} fields as in the header, "
                               f"got {len(row)}")
        student = " ".join(_field(row[i], "name", line) for i in ident).strip()
        if not student or student.lower().startswith("overall average"):
            continue  # the report's last line: averages, not a student
        found = []
        for n in slots:
            qtext = normal(row[qcol[n]])
            if not qtext:
                continue
            # a choice's summary is its text, ": " and the options joined by "; "
            matches = by_text.get(qtext) or [q for q in choices if qtext.startswith(q.text)
                                             and qtext == q.text + "".join(q.options)]
            if len(matches) != 1:
                raise ProblemError(
                    f"line {line}: question {n} is {'none' if not matches else 'more than one'}"
                    " of the questions of the exam's moodle.xml (was the quiz made from it?)")
            found.append((n, matches[0]))
        if not found:
            continue  # a student with no attempt
        variants = {q.variant for _, q in found}
        if len(variants) > 1:
            raise ProblemError(f"line {line}: the questions of {quoted(student)} come from "
                               f"versions {', '.join(map(str, sorted(variants)))}: one version "
                               "per student")
        out.add(student, variants.pop(), line)
        for n, q in found:
            text = _field(row[rcol[n]], "response", line)
            if text == "-":  # Moodle's mark for no response
                text = ""
            if q.options and text:
                text = _letter(text, q.options)
            else:
                text = _moodle_number(text)
            out.answer(student, q.name, text, line)
    return out.sheets()


def _identity(lower: list[str]) -> list[int]:
    """The columns that name a student: ID number, else email, else first name and surname."""
    for group in (["id number"], ["email address"], ["first name", "surname"], ["full name"]):
        if all(c in lower for c in group):
            return [lower.index(c) for c in group]
    raise ProblemError("the Moodle report has no column naming the student (ID number, Email "
                       "address, or First name and Surname)")


def _letter(text: str, options: tuple[str, ...]) -> str:
    """A choice's response (the chosen option's text) as its letter, or as the verdict word of
    the vanishing question; else the text itself."""
    key = normal(text)
    for i, option in enumerate(options):
        if key == option:
            word = next((w for w in ("vanishing", "exploding") if option.startswith(w)), None)
            return word or "ABCDEFGHIJ"[i]
    return text


def _moodle_number(text: str) -> str:
    """A numerical response as written, with a decimal comma read as a point."""
    if re.fullmatch(r"[+-]?\d*,\d+", text):
        return text.replace(",", ".")
    return text


def moodle_questions(xml_text: str) -> list[MoodleQuestion]:
    """The questions of the moodle.xml `exam` wrote, with their text as the report shows it
    (Moodle's question summary: html_to_text of the question, and for a choice ": " and the
    options joined by "; ", question/type/multichoice/question.php)."""
    import html
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise ProblemError(f"moodle.xml cannot be read ({exc})") from None
    out = []
    for q in root.iter("question"):
        if q.get("type") == "category":
            continue
        name = q.findtext("name/text") or ""
        m = re.fullmatch(r"V0*(\d+) Q(\d+) (.+)", name)
        if not m:
            continue
        text = html.unescape(re.sub(r"<[^>]+>", " ", q.findtext("questiontext/text") or ""))
        options = ()
        if q.get("type") == "multichoice":
            options = tuple(normal(html.unescape(re.sub(r"<[^>]+>", " ", a.findtext("text") or "")))
                            for a in q.findall("answer"))
            answer = f"q{m[2]}"
        else:
            answer = m[3]
        out.append(MoodleQuestion(int(m[1]), answer, normal(text), options))
    return out
