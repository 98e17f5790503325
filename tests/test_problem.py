"""Malformed problem files: each mistake is one line `symbolic-bptt: error: ...` naming the key and
what was expected, with exit code 2, nothing on stdout and no traceback.

Each case starts from a valid problem (checked to solve), changes one thing, writes the file to
tmp_path and runs `symbolic-bptt solve` on it: in-process for speed, and a handful in a fresh
process as a user would.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass

import pytest
from conftest import solve

DELETE = object()


class Raw(str):
    """TOML written verbatim (a date, say)."""


def _value(v) -> str:
    if isinstance(v, Raw):
        return str(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(v)


def to_toml(doc: dict) -> str:
    """A small TOML writer for these tests: top-level values first, then one [table] each."""
    lines = [f"{json.dumps(k)} = {_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for name, table in doc.items():
        if isinstance(table, dict):
            lines.append(f"[{name}]")
            lines += [f"{json.dumps(k)} = {_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


VECTOR = {
    "title": "a valid vector problem with biases",
    "model": {"cell": "elman", "activation": "tanh", "input_size": 2, "hidden_size": 2,
              "output_size": 2, "bias": True, "loss": "half_sse"},
    "data": {"x": [[0.5, -0.2], [0.1, 0.4], [-0.3, 0.8]],
             "y": [[0.2, -0.1], [0.4, 0.3], [-0.5, 0.6]],
             "h0": [0.0, 0.0]},
    "weights": {"W_xh": [[0.3, -0.5], [0.8, 0.1]], "W_hh": [[0.2, -0.1], [0.5, 0.3]],
                "W_hy": [[0.9, -0.3], [-0.4, 0.6]], "b_h": [0.1, -0.2], "b_y": [0.0, 0.3]},
    "arithmetic": {"mode": "float", "decimals": 4},
}

CLASSES = {
    "model": {"activation": "tanh", "input_size": 1, "hidden_size": 2, "output_size": 3,
              "bias": False, "loss": "cross_entropy"},
    "data": {"x": [0.6, -0.4, 0.9], "y": [2, 0, 1]},
    "weights": {"W_xh": [[0.7], [-0.5]], "W_hh": [[0.4, 0.2], [-0.3, 0.6]],
                "W_hy": [[0.5, -0.8], [-0.2, 0.3], [0.9, 0.1]]},
}

SCALAR = {
    "model": {"activation": "sigmoid", "loss": "mse"},
    "data": {"x": [0.5, 0.1, 0.4], "y": [0.4, 0.2, 0.1]},
    "weights": {"W_xh": 0.6, "W_hh": 0.9, "W_hy": 0.8},
}


def changed(base: dict, changes: dict) -> dict:
    """base with `changes` applied: {"data.x": value}, a value of DELETE removes the key;
    "data.x.1.0" reaches into lists."""
    doc = copy.deepcopy(base)
    for path, value in changes.items():
        *parents, last = path.split(".")
        node = doc
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        key = int(last) if isinstance(node, list) else last
        if value is DELETE:
            del node[key]
        else:
            node[key] = value
    return doc


@dataclass
class Case:
    id: str
    changes: dict
    key: str  # the key the message must name
    expect: str = ""  # and a word of what was expected
    base: dict | None = None


C = Case
CASES = [
    # tables and keys
    C("no-model-table", {"model": DELETE}, "[model]"),
    C("no-data-table", {"data": DELETE}, "[data]"),
    C("no-weights-table", {"weights": DELETE}, "[weights]"),
    C("model-not-a-table", {"model": "tanh"}, "model", "table"),
    C("arithmetic-not-a-table", {"arithmetic": 4}, "arithmetic", "table"),
    C("unknown-top-key", {"weight": {"W_xh": 1.0}}, "weight", "expected one of"),
    C("unknown-model-key", {"model.activaton": "tanh"}, "model.activaton", "expected one of"),
    C("unknown-data-key", {"data.h_0": 0.0}, "data.h_0", "expected one of"),
    C("unknown-weights-key", {"weights.W_yh": 0.5}, "weights.W_yh", "expected one of"),
    C("unknown-arithmetic-key", {"arithmetic.precision": 4}, "arithmetic.precision",
      "expected one of"),
    C("missing-x", {"data.x": DELETE}, "data.x", "list"),
    C("missing-y", {"data.y": DELETE}, "data.y", "list"),
    C("missing-W_xh", {"weights.W_xh": DELETE}, "weights.W_xh"),
    C("missing-W_hh", {"weights.W_hh": DELETE}, "weights.W_hh"),
    C("missing-W_hy", {"weights.W_hy": DELETE}, "weights.W_hy"),
    C("bias-without-b_h", {"weights.b_h": DELETE}, "weights.b_h", "bias"),
    C("bias-without-b_y", {"weights.b_y": DELETE}, "weights.b_y", "bias"),
    C("b_h-without-bias", {"model.bias": False}, "weights.b_h", "model.bias"),
    C("title-not-a-string", {"title": 3}, "title", "string"),
    C("notation-not-a-string", {"notation": {"x": 3}}, "notation.x", "string"),
    # model
    C("bias-a-string", {"model.bias": "yes"}, "model.bias", "true, false, \"hidden\" or \"output\""),
    C("bias-a-number", {"model.bias": 1}, "model.bias", "true, false, \"hidden\" or \"output\""),
    C("hidden-size-0", {"model.hidden_size": 0}, "model.hidden_size", ">= 1"),
    C("hidden-size-negative", {"model.hidden_size": -2}, "model.hidden_size", ">= 1"),
    C("input-size-0", {"model.input_size": 0}, "model.input_size", ">= 1"),
    C("output-size-0", {"model.output_size": 0}, "model.output_size", ">= 1"),
    C("size-a-float", {"model.hidden_size": 2.0}, "model.hidden_size", "whole number"),
    C("size-a-string", {"model.input_size": "2"}, "model.input_size", "whole number"),
    C("size-a-bool", {"model.output_size": True}, "model.output_size", "whole number"),
    C("unknown-activation", {"model.activation": "softmax"}, "model.activation", "tanh"),
    C("activation-wrong-case", {"model.activation": "Tanh"}, "model.activation", "tanh"),
    C("activation-a-list", {"model.activation": ["tanh"]}, "model.activation", "tanh"),
    C("unknown-loss", {"model.loss": "mae"}, "model.loss", "half_sse"),
    C("unknown-cell", {"model.cell": "lstm"}, "model.cell", "elman"),
    # data: lengths and shapes
    C("T-is-0", {"data.x": [], "data.y": []}, "data.x", "T >= 1"),
    C("x-and-y-lengths-differ", {"data.y": [[0.2, -0.1], [0.4, 0.3]]}, "data.y", "one target"),
    C("x-longer-than-y", {"data.x": [[0.5, -0.2]] * 4}, "data.x", "one target"),
    C("x-not-a-list", {"data.x": 0.5}, "data.x", "list"),
    C("y-a-string", {"data.y": "0.2 0.4 0.5"}, "data.y", "list"),
    C("x-entry-too-short", {"data.x.1": [0.1]}, "data.x[1]", "2"),
    C("x-entry-too-long", {"data.x.2": [0.1, 0.2, 0.3]}, "data.x[2]", "2"),
    C("x-entry-a-number", {"data.x.0": 0.5}, "data.x[0]", "list of 2"),
    C("x-entry-nested-too-deep", {"data.x.0": [[0.5], -0.2]}, "data.x[0][0]", "number"),
    C("y-entry-not-output-size", {"data.y.2": [0.1, 0.2, 0.3]}, "data.y[2]", "2"),
    C("y-entry-a-number", {"data.y.0": 0.2}, "data.y[0]", "list of 2"),
    C("h0-wrong-length", {"data.h0": [0.0, 0.0, 0.0]}, "data.h0", "2"),
    C("h0-a-string", {"data.h0": "zeros"}, "data.h0", "number"),
    # data and weights: numbers
    C("string-in-x", {"data.x.0.1": "0.2"}, "data.x[0][1]", "number"),
    C("bool-in-x", {"data.x.2.0": True}, "data.x[2][0]", "number"),
    C("string-in-W_hh", {"weights.W_hh.1.0": "0.5"}, "weights.W_hh[1][0]", "number"),
    C("bool-in-W_xh", {"weights.W_xh.0.0": False}, "weights.W_xh[0][0]", "number"),
    C("table-in-W_xh", {"weights.W_xh.0.1": {"value": 0.3}}, "weights.W_xh[0][1]", "number"),
    C("string-in-b_y", {"weights.b_y.0": "0"}, "weights.b_y[0]", "number"),
    C("date-in-W_hy", {"weights.W_hy.1.1": Raw("1979-05-27")}, "weights.W_hy[1][1]", "number"),
    C("nan-in-y", {"data.y.1.0": math.nan}, "data.y[1][0]", "finite"),
    C("inf-in-W_hy", {"weights.W_hy.0.1": math.inf}, "weights.W_hy[0][1]", "finite"),
    C("minus-inf-in-h0", {"data.h0.0": -math.inf}, "data.h0[0]", "finite"),
    C("nan-in-b_h", {"weights.b_h.1": math.nan}, "weights.b_h[1]", "finite"),
    C("integer-too-large-for-a-float", {"data.x.0.0": 10**400}, "data.x[0][0]", "finite"),
    # weights: shapes
    C("W_xh-too-many-rows", {"weights.W_xh": [[0.3, -0.5], [0.8, 0.1], [0.2, 0.2]]},
      "weights.W_xh", "2 x 2"),
    C("W_xh-short-row", {"weights.W_xh": [[0.3, -0.5], [0.8]]}, "weights.W_xh", "2 x 2"),
    C("W_hh-a-number", {"weights.W_hh": 0.5}, "weights.W_hh", "2 x 2"),
    C("W_hy-flat-list", {"weights.W_hy": [0.9, -0.3, -0.4, 0.6]}, "weights.W_hy", "2 x 2"),
    C("W_hh-empty", {"weights.W_hh": []}, "weights.W_hh", "2 x 2"),
    C("W_hy-transposed-shape", {"model.output_size": 3, "data.y": [[0, 0, 0]] * 3,
                                "weights.b_y": [0, 0, 0]}, "weights.W_hy", "3 x 2"),
    C("b_h-wrong-length", {"weights.b_h": [0.1]}, "weights.b_h", "2"),
    C("b_h-a-number-for-a-vector", {"weights.b_h": 0.1}, "weights.b_h", "list of 2"),
    C("b_h-as-a-column", {"weights.b_h": [[0.1], [-0.2]]}, "weights.b_h[0]", "number"),
    # arithmetic
    C("unknown-mode", {"arithmetic.mode": "approx"}, "arithmetic.mode", "rounded"),
    C("mode-a-number", {"arithmetic.mode": 4}, "arithmetic.mode", "rounded"),
    C("decimals-31", {"arithmetic.decimals": 31}, "arithmetic.decimals", "0 to 30"),
    C("decimals-negative", {"arithmetic.decimals": -1}, "arithmetic.decimals", "0 to 30"),
    C("decimals-a-float", {"arithmetic.decimals": 2.5}, "arithmetic.decimals", "whole number"),
    C("decimals-a-string", {"arithmetic.decimals": "4"}, "arithmetic.decimals", "whole number"),
    C("decimals-a-bool", {"arithmetic.decimals": True}, "arithmetic.decimals", "whole number"),
    # cross-entropy: class indices
    C("class-index-too-large", {"data.y": [3, 0, 1]}, "data.y[0]", "0..2", CLASSES),
    C("class-index-negative", {"data.y": [2, -1, 1]}, "data.y[1]", "0..2", CLASSES),
    C("class-index-a-float", {"data.y": [2, 0, 1.0]}, "data.y[2]", "class index", CLASSES),
    C("class-index-a-string", {"data.y": [2, "0", 1]}, "data.y[1]", "class index", CLASSES),
    C("class-index-a-bool", {"data.y": [True, 0, 1]}, "data.y[0]", "class index", CLASSES),
    C("one-hot-instead-of-index", {"data.y": [[0, 0, 1], [1, 0, 0], [0, 1, 0]]}, "data.y[0]",
      "class index", CLASSES),
    C("cross-entropy-one-output", {"model.output_size": 1}, "model.output_size", ">= 2", CLASSES),
    # scalar problems
    C("scalar-W_xh-as-flat-list", {"weights.W_xh": [0.6]}, "weights.W_xh", "1 x 1", SCALAR),
    C("scalar-x-entry-too-long", {"data.x.1": [0.1, 0.2]}, "data.x[1]", "1", SCALAR),
    C("scalar-y-nan", {"data.y.2": math.nan}, "data.y[2]", "finite", SCALAR),
]


def assert_one_line_error(code: int, out: str, err: str, *mentions: str) -> str:
    assert code == 2, (code, err)
    assert out == ""
    assert "Traceback" not in err
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("symbolic-bptt: error: "), err
    for word in mentions:
        assert word in err, (word, err)
    return err


@pytest.mark.parametrize("base", [VECTOR, CLASSES, SCALAR], ids=["vector", "classes", "scalar"])
def test_the_valid_bases_solve(base, tmp_path, capsys):
    """So that in each case below the one change is what the message is about."""
    path = tmp_path / "ok.toml"
    path.write_text(to_toml(base), encoding="utf-8")
    code, out, err = solve(capsys, path, "--json")
    assert (code, err) == (0, "")
    assert "L" in json.loads(out)["quantities"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_a_malformed_problem_is_one_line_naming_the_key(case, tmp_path, capsys):
    path = tmp_path / f"{case.id}.toml"
    path.write_text(to_toml(changed(case.base or VECTOR, case.changes)), encoding="utf-8")
    err = assert_one_line_error(*solve(capsys, path), case.key, path.name)
    assert case.expect.lower() in err.lower(), (case.expect, err)


def test_the_case_ids_are_distinct():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


def test_the_first_mistake_in_the_file_is_the_one_reported(tmp_path, capsys):
    """Two mistakes: the message names one of them and only one line is printed."""
    path = tmp_path / "two.toml"
    path.write_text(to_toml(changed(VECTOR, {"model.activation": "tan", "data.x.0.0": "a"})),
                    encoding="utf-8")
    assert_one_line_error(*solve(capsys, path), "model.activation")


RAW_FILES = {
    "not-toml": (b"this is not a problem file\n", "not valid TOML"),
    "toml-syntax-error": (b"[model]\nactivation = \"tanh\n", "not valid TOML"),
    "duplicate-key": (b"[model]\nactivation = \"tanh\"\nactivation = \"relu\"\n", "not valid TOML"),
    "unclosed-list": (to_toml(SCALAR).replace("0.2, 0.1]", "0.2, 0.1").encode(), "not valid TOML"),
    "nested-too-deeply": (b"[data]\nx = " + b"[" * 5000 + b"]" * 5000 + b"\n", "not valid TOML"),
    "not-utf-8": (to_toml(SCALAR).replace("sigmoid", "sigm\xf6id").encode("latin-1"), "UTF-8"),
    "binary": (bytes(range(256)), "UTF-8"),
    "empty": (b"", "[model]"),
    "json-instead-of-toml": (json.dumps(SCALAR).encode(), "not valid TOML"),
}


@pytest.mark.parametrize("name", sorted(RAW_FILES))
def test_a_file_that_is_not_a_problem_is_one_line(name, tmp_path, capsys):
    content, expect = RAW_FILES[name]
    path = tmp_path / f"{name}.toml"
    path.write_bytes(content)
    assert_one_line_error(*solve(capsys, path), path.name, expect)


def test_a_missing_file_is_one_line(tmp_path, capsys):
    path = tmp_path / "nowhere.toml"
    assert_one_line_error(*solve(capsys, path), "nowhere.toml", "no such file")


def test_a_directory_is_one_line(tmp_path, capsys):
    assert_one_line_error(*solve(capsys, tmp_path), str(tmp_path), "directory")


def test_a_path_through_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "a.toml").write_text(to_toml(SCALAR), encoding="utf-8")
    assert_one_line_error(*solve(capsys, tmp_path / "a.toml" / "b.toml"), "b.toml")


def test_a_long_bad_value_is_shortened_to_one_short_line(tmp_path, capsys):
    path = tmp_path / "long.toml"
    path.write_text(to_toml(changed(VECTOR, {"model.activation": "x" * 5000})), encoding="utf-8")
    err = assert_one_line_error(*solve(capsys, path), "model.activation")
    assert len(err) < 400


def test_a_string_with_a_newline_stays_on_one_line(tmp_path, capsys):
    path = tmp_path / "newline.toml"
    path.write_text(to_toml(changed(VECTOR, {"model.loss": "half_sse\nsse"})), encoding="utf-8")
    assert_one_line_error(*solve(capsys, path), "model.loss")


# A handful end to end, in a fresh process as a user runs it: no traceback, exit code 2.
END_TO_END = [
    ("nan", lambda p: p.write_text(to_toml(changed(SCALAR, {"data.x.0": math.nan}))), "data.x[0]"),
    ("latin1", lambda p: p.write_bytes("title = \"\xe9\"\n".encode("latin-1")), "UTF-8"),
    ("missing", lambda p: None, "no such file"),
]


@pytest.mark.parametrize("name,write,mention", END_TO_END, ids=[e[0] for e in END_TO_END])
def test_end_to_end_a_malformed_file_is_exit_2_and_one_line(cli, tmp_path, name, write, mention):
    path = tmp_path / f"{name}.toml"
    write(path)
    run = cli("solve", path, "--json")
    assert_one_line_error(run.code, run.out, run.err, mention, path.name)


def test_problem_errors_raise_problem_error_not_anything_else():
    """The library entry point: parse_problem raises ProblemError with the same message."""
    from symbolic_bptt.errors import ProblemError
    from symbolic_bptt.inputs.problem import parse_problem

    with pytest.raises(ProblemError, match=r"weights\.W_hh\[1\]\[0\] must be a number"):
        parse_problem(changed(VECTOR, {"weights.W_hh.1.0": "0.5"}))
    with pytest.raises(ProblemError, match=r"data\.y\[0\] = 3 is out of range"):
        parse_problem(changed(CLASSES, {"data.y.0": 3}))


def test_the_base_problem_files_parse_back_to_what_was_written(tmp_path):
    """The tests' own TOML writer, checked against tomllib."""
    import tomllib

    for base in (VECTOR, CLASSES, SCALAR):
        assert tomllib.loads(to_toml(base)) == base
