"""Documented limits are checked before work starts and named in one line; odd but valid text
is typeset; special files are refused without reading them."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import pytest
from hostile_corpus import exam, hidden_problem, problem

from symbolic_bptt.cli.main import main
from symbolic_bptt.documents.document import escape_text
from symbolic_bptt.inputs import limits


def run(capsys, *args) -> tuple[int, str, str]:
    try:
        code = main([*map(str, args)])
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("text, args, message", [
    (problem(**{"data.x": [0.1] * (limits.MAX_T + 1), "data.y": [0.1] * (limits.MAX_T + 1)}),
     (), f"more than the limit of {limits.MAX_T:,}"),
    (problem(**{"data.x": [0.1] * (limits.MAX_T_EXACT + 1),
                "data.y": [0.1] * (limits.MAX_T_EXACT + 1)}), ("--mode", "exact"),
     f"exact arithmetic is limited to T <= {limits.MAX_T_EXACT}"),
    (hidden_problem(limits.MAX_SIZE + 1), (), f"more than the limit of {limits.MAX_SIZE}"),
    (hidden_problem(limits.MAX_SIZE_EXACT + 1), ("--mode", "exact"), "sizes <="),
    (hidden_problem(limits.MAX_SIZE, T=limits.MAX_WORK // limits.MAX_SIZE ** 2 + 1), (),
     f"T x size^2 = {limits.MAX_WORK // limits.MAX_SIZE ** 2 + 1:,} x {limits.MAX_SIZE}^2 is "
     f"more than the limit of {limits.MAX_WORK:,}"),
    (problem(title="x" * (limits.MAX_TEXT_CHARS + 1)), (), "title has"),
    (problem(title="a\x1b[2Jb"), (), "title holds the control character '\\x1b'"),
    (problem(**{"model.activation": "identity", "weights.W_hh": 1e300, "weights.W_hy": 1e300,
                "weights.W_xh": 1e300}), ("--json",), "the values overflow"),
])
def test_limits_are_one_line_naming_the_limit(tmp_path, capsys, text, args, message):
    path = tmp_path / "p.toml"
    path.write_text(text, encoding="utf-8")
    code, out, err = run(capsys, "solve", path, *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err, err


def test_a_document_has_its_own_limit(tmp_path, capsys):
    T = limits.MAX_T_DOCUMENT + 1
    path = tmp_path / "p.toml"
    path.write_text(problem(**{"data.x": [0.1] * T, "data.y": [0.1] * T}), encoding="utf-8")
    code, _, err = run(capsys, "render", path, "--out", tmp_path / "out")
    assert code == 2 and "a document is limited to T <=" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "too-large"])
def test_special_and_huge_files_are_refused_unread(tmp_path, capsys, kind):
    if kind == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)  # reading it would block forever
    elif kind == "dev-zero":
        path = "/dev/zero"
    else:
        path = tmp_path / "big.toml"
        path.write_text("#" * (limits.MAX_FILE_BYTES + 1) + "\n" + problem())
    code, _, err = run(capsys, "solve", path)
    assert code == 2 and err.count("\n") == 1
    assert ("not a regular file" if kind != "too-large" else "larger than the limit") in err


def test_exam_limits(tmp_path, capsys):
    for override, message in (({"draw.T": [limits.MAX_T_EXAM + 1]}, "draw.T can draw T"),
                              ({"reject.max_tries": limits.MAX_TRIES + 1}, "reject.max_tries"),
                              ({"draw.W_hh": {"min": -1e300, "max": 1e300}}, "beyond the limit"),
                              ({"title": "a\x01b"}, "control character")):
        path = tmp_path / "e.toml"
        path.write_text(exam(**override), encoding="utf-8")
        code, _, err = run(capsys, "exam", path, "--out", tmp_path / "out")
        assert code == 2 and message in err, err
    assert not (tmp_path / "out").exists()


def test_titles_are_typeset_on_one_line_and_may_break():
    assert escape_text("a\n\nb") == "a b"
    long = escape_text("W" * 50)
    assert long.replace(r"\allowbreak{}", "") == "W" * 50 and r"\allowbreak{}" in long
    assert escape_text("Le Thi Hong Cuc") == "Le Thi Hong Cuc"


def test_moodle_xml_is_well_formed_with_odd_text(tmp_path, capsys):
    path = tmp_path / "e.toml"
    path.write_text(exam(title="<b>&amp; ]]> \"q\" 'a' α", instructions="x < y & z\n\n]]>"),
                    encoding="utf-8")
    code, _, err = run(capsys, "exam", path, "--out", tmp_path / "out", "--variants", "1")
    assert code == 0, err
    ET.parse(tmp_path / "out" / "moodle.xml")
