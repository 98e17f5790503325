"""`grade`: a class marked with error carried forward, its misconceptions counted.

The class is simulated by tests/class_sim.py, independent of the package: each student works
their version by hand in Decimal arithmetic with mistakes of the catalog and slips seeded, and
the verdict of every answer, the points under both policies and the misconception counts follow
from the construction. The grader must recover all of them exactly.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import tomllib
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from class_sim import Version, draw_class
from conftest import EXAMPLES

from symbolic_bptt.exam.answers import Answer, Sheet
from symbolic_bptt.exam.grade import Key, grade_class, misconceptions

POLICIES = {"ecf": {"ok", "rounding", "carried"}, "strict": {"ok", "rounding"}}


@pytest.fixture(scope="module")
def examdir(tmp_path_factory) -> Path:
    """examples/exam.toml drawn in 4 versions (T = 3, eight questions, 15 answers each)."""
    from symbolic_bptt.cli.main import main

    out = tmp_path_factory.mktemp("exam") / "exam"
    assert main(["-q", "exam", str(EXAMPLES / "exam.toml"), "--variants", "4", "--seed", "11",
                 "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def setting(examdir):
    key = json.loads((examdir / "key.json").read_text(encoding="utf-8"))
    keys: dict[int, list[dict]] = {}
    for a in key["answers"]:
        keys.setdefault(a["variant"], []).append(a)
    versions = {v["variant"]: Version.from_toml(tomllib.loads(
        (examdir / v["problem"]).read_text(encoding="utf-8"))) for v in key["variants"]}
    return versions, keys


def audited(examdir: Path) -> frozenset[str]:
    """The key's Jacobian product when the tape names it (then `check` audits it)."""
    from symbolic_bptt.inputs.problem import load_problem
    from symbolic_bptt.tape import unroll

    tape = unroll(load_problem(examdir / "variants" / "01.toml"))
    return frozenset(n for n in ("dh_3/dh_1",) if n in tape.by_name)


@pytest.fixture(scope="module")
def klass(examdir, setting):
    versions, keys = setting
    return draw_class(versions, keys, 200, seed=2026, audited=audited(examdir))


def long_csv(students) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["student", "variant", "quantity", "value"])
    for s in students:
        for name, text in s.answers.items():
            w.writerow([s.name, s.variant, name, text])
    return out.getvalue()


def expected_points(s, keys, policy) -> Decimal:
    points = {(e["quantity"] or f"q{e['question']}"): Decimal(repr(e["points"]))
              for e in keys[s.variant]}
    return sum((points[n] for n, (v, _) in s.expected.items() if v in POLICIES[policy]),
               Decimal(0))


def read_csv(path: Path) -> list[dict]:
    return list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))


# ---------------------------------------------------------------------------------------------
# The generated class


def test_the_class_is_varied(klass):
    """The construction seeds every kind of mistake (else the test below proves little)."""
    mistakes = Counter(s.mistake for s in klass)
    assert set(mistakes) >= {None, "derivative-index", "missing-activation-derivative",
                             "missing-path", "state-off-by-one", "loss-scale", "sign-error"}
    verdicts = Counter(v for s in klass for v, _ in s.expected.values())
    assert all(verdicts[v] >= 20 for v in ("ok", "rounding", "carried", "wrong", "missing"))
    assert sum(s.slip is not None for s in klass) >= 30
    assert len({s.variant for s in klass}) == 4


@pytest.mark.parametrize("policy", ["ecf", "strict"])
def test_a_generated_class_is_graded_exactly(cli, examdir, setting, klass, tmp_path, policy):
    versions, keys = setting
    answers = tmp_path / "answers.csv"
    answers.write_text(long_csv(klass), encoding="utf-8")
    out = tmp_path / "grades"
    run = cli("grade", examdir, answers, "--policy", policy, "--out", out, "--no-pdf")
    assert run.code == 0, run.err
    assert "graded 200 students" in run.out
    rows = {r["student"]: r for r in read_csv(out / "grades.csv")}
    got = {(r["student"], r["quantity"]): r for r in read_csv(out / "answers.csv")}
    for s in klass:
        for name, (verdict, code) in s.expected.items():
            row = got[(s.name, name)]
            assert (row["verdict"], row["code"] or None) == (verdict, code), (s.name, name, row)
        total = Decimal(rows[s.name]["total"])
        assert total == expected_points(s, keys, policy).quantize(Decimal("0.01")), s.name
        assert int(rows[s.name]["variant"]) == s.variant
    assert len(rows) == 200
    assert sorted(p.name for p in (out / "feedback").iterdir()) == sorted(
        f"{s.name}.txt" for s in klass)


def test_misconception_counts_are_those_seeded(examdir, klass):
    key = Key(examdir)
    sheets = [Sheet(s.name, s.variant, tuple(Answer(k, t, k) for k, t in s.answers.items()))
              for s in klass]
    graded = grade_class(key, sheets)
    want: dict[str, set[str]] = {}
    where: dict[str, Counter] = {}
    for s in klass:
        for name, (verdict, code) in s.expected.items():
            if verdict == "wrong":
                want.setdefault(code, set()).add(s.name)
                where.setdefault(code, Counter())[name] += 1
    found = {m.code: m for m in misconceptions(graded)}
    assert {c: m.students for c, m in found.items()} == {c: len(v) for c, v in want.items()}
    for code, m in found.items():
        assert dict(m.steps) == dict(where[code])
        assert m.example.verdict == "wrong" and m.example.code == code
    # every student with a catalog misconception is counted under it: the formula question
    # alone names it when no number shows it
    for s in klass:
        if s.mistake is not None:
            assert s.name in want[s.mistake]


def test_a_student_with_everything_right_gets_full_marks_under_both_policies(examdir, setting):
    versions, keys = setting
    right = draw_class(versions, keys, 8, seed=5, p_mistake=0, p_slip=0, p_missing=0)
    right = [s for s in right if all(v == "ok" or v == "rounding" for v, _ in s.expected.values())]
    assert right
    key = Key(examdir)
    sheets = [Sheet(s.name, s.variant, tuple(Answer(k, t, k) for k, t in s.answers.items()))
              for s in right]
    for policy in POLICIES:
        for g in grade_class(key, sheets, policy):
            assert g.total == g.maximum == sum(
                (Decimal(repr(e["points"])) for e in keys[g.variant]), Decimal(0))


# ---------------------------------------------------------------------------------------------
# Answer files


def test_the_wide_form_grades_as_the_long_form(cli, examdir, klass, tmp_path):
    few = klass[:30]
    names = sorted({n for s in few for n in s.answers})
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["student", "variant", *names])
    for s in few:
        w.writerow([s.name, f"V{s.variant:02d}", *[s.answers.get(n, "") for n in names]])
    (tmp_path / "wide.csv").write_text(out.getvalue(), encoding="utf-8")
    (tmp_path / "long.csv").write_text(long_csv(few), encoding="utf-8")
    for form in ("wide", "long"):
        run = cli("grade", examdir, tmp_path / f"{form}.csv", "--out", tmp_path / form,
                  "--no-pdf")
        assert run.code == 0, run.err
    assert (tmp_path / "wide" / "grades.csv").read_text() == (
        tmp_path / "long" / "grades.csv").read_text()
    assert (tmp_path / "wide" / "answers.csv").read_text() == (
        tmp_path / "long" / "answers.csv").read_text()


def _report_text(html_text: str) -> str:
    """Question text as Moodle's responses report prints it: the HTML as plain text."""
    text = re.sub(r"<br\s*/?>|</p>|</tr>", "\n", html_text)
    text = re.sub(r"</t[dh]>", "\t", text)
    return html.unescape(re.sub(r"<[^>]+>", "", text)).strip()


def test_a_moodle_responses_report_grades_as_the_long_form(cli, examdir, klass, tmp_path):
    """Moodle's Responses report (Surname, First name, ..., Question N, Response N, Right answer
    N; mod/quiz/report/responses in moodle/moodle; a question's text is its summary, for a
    choice followed by its options), for a quiz made of the exported questions:
    each student's slots hold the questions of their version, in a shuffled order, a choice's
    response is the chosen option's text, a blank response is "-", and the last line holds the
    averages."""
    import random
    import xml.etree.ElementTree as ET

    root = ET.fromstring((examdir / "moodle.xml").read_text(encoding="utf-8"))
    questions: dict[tuple[int, str], ET.Element] = {}
    for q in root.iter("question"):
        m = re.fullmatch(r"V0*(\d+) Q(\d+) (.+)", q.findtext("name/text") or "")
        if m:
            name = f"q{m[2]}" if q.get("type") == "multichoice" else m[3]
            questions[(int(m[1]), name)] = q
    few = klass[:25]
    slots = max(len([k for k in questions if k[0] == s.variant]) for s in few)
    rng = random.Random(3)
    header = ["Surname", "First name", "Email address", "State", "Started on", "Completed",
              "Time taken", "Grade/17.00"]
    for n in range(1, slots + 1):
        header += [f"Question {n}", f"Response {n}", f"Right answer {n}"]
    rows = [header]
    for s in few:
        mine = [k for k in questions if k[0] == s.variant]
        rng.shuffle(mine)
        row = [s.name, "Student", f"{s.name}@example.org", "Finished", "", "", "", "1.00"]
        for variant, name in mine:
            q = questions[(variant, name)]
            response = s.answers.get(name, "-")
            if q.get("type") == "multichoice" and response != "-":
                letters = "ABCDEFGHIJ"
                answers = q.findall("answer")
                if name.startswith("q") and s.answers[name].upper() in letters[:len(answers)]:
                    response = _report_text(
                        answers[letters.index(s.answers[name].upper())].findtext("text"))
                else:  # vanishing / exploding: Moodle prints the option's text
                    response = next(_report_text(a.findtext("text")) for a in answers
                                    if _report_text(a.findtext("text")).startswith(response))
            summary = _report_text(q.findtext("questiontext/text"))
            if q.get("type") == "multichoice":  # qtype_multichoice's get_question_summary()
                summary += ": " + "; ".join(_report_text(a.findtext("text"))
                                            for a in q.findall("answer"))
            row += [summary, response, ""]
        row += [""] * (len(header) - len(row))
        rows.append(row)
    rows.append(["Overall average", "", "", "", "", "", "", "0.50"] + [""] * (len(header) - 8))
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    (tmp_path / "moodle.csv").write_text(out.getvalue(), encoding="utf-8")
    (tmp_path / "long.csv").write_text(long_csv(few), encoding="utf-8")
    run = cli("grade", examdir, tmp_path / "moodle.csv", "--out", tmp_path / "m", "--no-pdf")
    assert run.code == 0, run.err
    ref = cli("grade", examdir, tmp_path / "long.csv", "--out", tmp_path / "l", "--no-pdf")
    assert ref.code == 0, ref.err
    moodle_rows = read_csv(tmp_path / "m" / "grades.csv")
    long_rows = read_csv(tmp_path / "l" / "grades.csv")
    # the report names a student by email address
    assert [r["student"] for r in moodle_rows] == [f"{s.name}@example.org" for s in few]
    assert [{k: v for k, v in r.items() if k != "student"} for r in moodle_rows] == [
        {k: v for k, v in r.items() if k != "student"} for r in long_rows]


def test_answer_names_q_number_formula_and_vanishing(examdir, klass):
    key = Key(examdir)
    s = next(s for s in klass if s.expected["q7"][0] == "wrong")
    by_number = Sheet(s.name, s.variant, tuple(Answer(k, t, k) for k, t in s.answers.items()))
    by_kind = Sheet(s.name, s.variant, tuple(
        Answer({"q7": "formula", "q8": "vanishing"}.get(k, k), t, k) for k, t in s.answers.items()))
    a, b = grade_class(key, [by_number, by_kind])
    assert [(m.verdict, m.code, m.points) for m in a.marks] == [
        (m.verdict, m.code, m.points) for m in b.marks]


# ---------------------------------------------------------------------------------------------
# Bad input: one line, exit 2; a missing answer is no error


@pytest.mark.parametrize("text, message", [
    ("name,score\nann,3\n", "unknown answers format"),
    ("student,variant,quantity,value\nann,1,h_9,0.1\n", "'h_9' is not an answer of version 1"),
    ("student,variant,quantity,value\nann,1,dL/dW_hhh,0.1\n", "did you mean dL/dW_hh?"),
    ("student,variant,quantity,value\nann,1,h_1,0.1\nann,1,h_1,0.2\n", "answers 'h_1' twice"),
    ("student,variant,quantity,value\nann,1,h_1,0.1\nann,2,h_2,0.2\n", "has variant 2 here"),
    ("student,variant,quantity,value\nann,9,h_1,0.1\n", "variant 9 is not in the key"),
    ("student,variant,quantity,value\nann,1,h_1\n", "line 2: expected 4 fields"),
    ("student,variant,quantity,value\nann,one,h_1,0.1\n", "is not a version number"),
    ("student,variant,quantity,value\n,1,h_1,0.1\n", "the student is empty"),
    ("Surname,First name,Response 1\nLe,Cuc,0.1\n", "ticked"),  # a report without questions
    ("Surname,First name,Question 1,Response 1\nLe,Cuc,What is 2+2?,4\n",
     "none of the questions of the exam's moodle.xml"),
])
def test_bad_answers_are_one_line_and_exit_2(cli, examdir, tmp_path, text, message):
    path = tmp_path / "a.csv"
    path.write_text(text, encoding="utf-8")
    run = cli("grade", examdir, path, "--out", tmp_path / "o", "--no-pdf")
    assert run.code == 2 and run.out == ""
    assert len(run.err.splitlines()) == 1 and message in run.err, run.err
    assert not (tmp_path / "o").exists()


def test_an_exam_folder_without_a_key_is_one_line(cli, tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("student,variant,quantity,value\nann,1,h_1,0.1\n", encoding="utf-8")
    run = cli("grade", tmp_path, path, "--no-pdf")
    assert run.code == 2 and len(run.err.splitlines()) == 1 and "key.json" in run.err


def test_missing_and_unreadable_answers_earn_zero_without_an_error(cli, examdir, tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("student,variant,quantity,value\nann,1,h_1,\nann,1,o_1,0.1x\n"
                    "ann,1,q7,Z\n", encoding="utf-8")
    run = cli("grade", examdir, path, "--out", tmp_path / "o", "--no-pdf")
    assert run.code == 0, run.err
    rows = {r["quantity"]: r for r in read_csv(tmp_path / "o" / "answers.csv")}
    assert rows["h_1"]["verdict"] == "missing" and rows["h_1"]["points"] == "0"
    assert (rows["o_1"]["verdict"], rows["o_1"]["code"]) == ("wrong", "not-a-number")
    assert (rows["q7"]["verdict"], rows["q7"]["code"]) == ("wrong", "not-an-option")
    (grade,) = read_csv(tmp_path / "o" / "grades.csv")
    assert grade["total"] == "0"


def test_a_spreadsheet_formula_in_a_name_is_not_run(cli, examdir, tmp_path):
    path = tmp_path / "a.csv"
    path.write_text('student,variant,quantity,value\n"=HYPERLINK(""x"")",1,h_1,0.1\n',
                    encoding="utf-8")
    run = cli("grade", examdir, path, "--out", tmp_path / "o", "--no-pdf")
    assert run.code == 0, run.err
    (grade,) = read_csv(tmp_path / "o" / "grades.csv")
    assert grade["student"].startswith("'=")


# ---------------------------------------------------------------------------------------------
# Documents


def test_feedback_and_class_pdfs(cli, examdir, setting, klass, tmp_path):
    """A small class with PDFs: one feedback page per student and class.pdf, compiled; the
    class report names each misconception of the class with its count."""
    few = [s for s in klass if s.mistake][:2] + [s for s in klass if not s.mistake][:1]
    path = tmp_path / "a.csv"
    path.write_text(long_csv(few), encoding="utf-8")
    out = tmp_path / "g"
    run = cli("grade", examdir, path, "--out", out)
    assert run.code == 0, run.err
    for s in few:
        assert (out / "feedback" / f"{s.name}.pdf").stat().st_size > 1000
        text = (out / "feedback" / f"{s.name}.txt").read_text(encoding="utf-8")
        assert text.startswith(f"{s.name}: version {s.variant:02d}")
    assert (out / "class.pdf").stat().st_size > 1000
    tex = (out / "class.tex").read_text(encoding="utf-8")
    for s in few[:2]:
        assert rf"\texttt{{{s.mistake}}}" in tex
    assert "pgfplots" in tex and r"\begin{axis}[ybar" in tex and r"\begin{axis}[xbar" in tex
    # the score distribution's bars: the students' expected scores, in tenths of the maximum
    _, keys = setting
    bins = [0] * 10
    for s in few:
        maximum = sum((Decimal(repr(e["points"])) for e in keys[s.variant]), Decimal(0))
        bins[min(9, int(10 * expected_points(s, keys, "ecf") / maximum))] += 1
    assert " ".join(f"({10 * i},{n})" for i, n in enumerate(bins)) in tex


def test_hostile_names_and_answers_are_typeset_literally(cli, examdir, tmp_path):
    """A student name and answers with TeX specials, a macro, a path and non-Latin text: the
    PDFs compile, and the name is printed as written (never run)."""
    name = r'\input{/etc/passwd} & $x^2$ %_# Nguyễn 日本 "Ann"'
    rows = [["student", "variant", "quantity", "value"], [name, "1", "h_1", r"\relax{0.1}"],
            [name, "1", "h_2", "0.9999"], [name, "1", "q7", "$\\\\$"],
            ["bob", "1", "h_2", "0.9999"], ["bob", "1", "h_1", r"\relax{0.1}"]]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    (tmp_path / "a.csv").write_text(out.getvalue(), encoding="utf-8")
    run = cli("grade", examdir, tmp_path / "a.csv", "--out", tmp_path / "g")
    assert run.code == 0, run.err
    stems = sorted(p.stem for p in (tmp_path / "g" / "feedback").glob("*.pdf"))
    assert stems == ["bob", "input_etc_passwd_x_2___Nguy_n_Ann"]  # _ is kept
    tex = (tmp_path / "g" / "feedback" / f"{stems[1]}.tex").read_text(encoding="utf-8")
    assert r"\input{/etc" not in tex and r"\relax{" not in tex
    assert (tmp_path / "g" / "class.pdf").exists()


def test_an_exam_of_a_cell_of_its_own_is_graded(cli, tmp_path):
    """examples/lstm_exam.toml (an LSTM, vectors and matrices answered entry by entry): the
    key's numbers earn full marks; one entry 50 units off loses that entry's points only (the
    others are the key's, so nothing is carried)."""
    exam = tmp_path / "exam"
    assert cli("-q", "exam", EXAMPLES / "lstm_exam.toml", "--variants", "1", "--out",
               exam).code == 0
    key = read_csv(exam / "key.csv")
    rows = [["student", "variant", "quantity", "value"]]
    for student, bump in (("right", None), ("slip", key[0]["quantity"])):
        for k in key:
            value = Decimal(k["value"]) + (Decimal("0.0050") if k["quantity"] == bump else 0)
            rows.append([student, k["variant"], k["quantity"], str(value)])
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    (tmp_path / "a.csv").write_text(out.getvalue(), encoding="utf-8")
    run = cli("grade", exam, tmp_path / "a.csv", "--out", tmp_path / "g", "--no-pdf")
    assert run.code == 0, run.err
    grades = {r["student"]: r for r in read_csv(tmp_path / "g" / "grades.csv")}
    maximum = sum(Decimal(k["points"]) for k in key)
    assert Decimal(grades["right"]["total"]) == Decimal(grades["right"]["maximum"]) == maximum
    assert Decimal(grades["slip"]["total"]) == maximum - Decimal(key[0]["points"])
    wrong = [r for r in read_csv(tmp_path / "g" / "answers.csv") if r["verdict"] == "wrong"]
    assert [(r["student"], r["quantity"], r["code"]) for r in wrong] == [
        ("slip", key[0]["quantity"], "arithmetic")]


def test_the_default_output_folder_is_examdir_grades(cli, examdir, tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("student,variant,quantity,value\nann,1,h_1,0.1\n", encoding="utf-8")
    run = cli("grade", examdir, path, "--no-pdf")
    assert run.code == 0, run.err
    assert f"wrote {examdir / 'grades' / 'grades.csv'}" in run.out
    assert (examdir / "grades" / "feedback" / "ann.txt").exists()
