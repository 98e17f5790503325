"""Generate the hostile-input corpus: bad, careless and malicious inputs for every subcommand.

Each case is a command line over files it writes into a fresh folder; `test_hostile_corpus.py`
runs them all and checks that each succeeds or fails in one line, runs nothing, touches nothing
outside its output folder and leaves that folder as it was when it fails.

    python tests/hostile_corpus.py          # prints the cases, one line each
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
MARKER = "MARKER"  # a file name that no case may ever create


@dataclass(frozen=True)
class Case:
    """argv uses {dir} for the case's folder; files are (name, text or bytes) to create there;
    special names: FIFO, a symbolic link (name -> target)."""

    id: str
    argv: tuple[str, ...]
    files: tuple[tuple[str, str | bytes], ...] = ()
    fifos: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()
    pdf: bool = False  # compiles: slower, fewer of these
    subprocess: bool = False  # must run as a real process (signals, stdin)
    tags: frozenset[str] = field(default_factory=frozenset)


def toml_value(value) -> str:
    """A Python value as TOML (strings JSON-escaped, which TOML's basic strings accept)."""
    if isinstance(value, RawToml):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    return repr(value)


class RawToml(str):
    """TOML text written as is (1e999999999, nan, a 5000-digit integer)."""


def problem(**override) -> str:
    """The deck's problem as TOML, with keys ("table.key" or "key") replaced or added."""
    tables = {"": {"title": "t", "author": "a"},
              "model": {"activation": "tanh", "input_size": 1, "hidden_size": 1,
                        "output_size": 1, "bias": False, "loss": "half_sse"},
              "data": {"x": [0.5, 0.1, 0.4], "y": [0.4, 0.2, 0.1], "h0": 0.0},
              "weights": {"W_xh": 0.6, "W_hh": 0.9, "W_hy": 0.8},
              "arithmetic": {"mode": "rounded", "decimals": 4}}
    for dotted, value in override.items():
        table, _, key = dotted.replace("__", ".").rpartition(".")
        tables.setdefault(table, {})[key] = value
    return _tables(tables)


def custom_cell(equation: str) -> str:
    """A custom-cell problem whose middle equation is `equation`."""
    return _tables({"model": {"cell": "custom", "loss": "half_sse"},
                    "cell": {"output": "o", "equations": [
                        "z_t = W_{hh} h_{t-1} + W_{xh} x_t", equation, "o_t = W_{hy} h_t"]},
                    "data": {"x": [0.5, 0.1], "y": [0.2, 0.4]},
                    "weights": {"W_hh": 0.2, "W_xh": 0.3, "W_hy": 0.9}})


def hidden_problem(size: int, T: int = 3) -> str:
    """The deck's problem with `size` hidden units (small weights, so nothing saturates), and
    T steps (its 3, or that many)."""
    data = {} if T == 3 else {"data.x": [0.1] * T, "data.y": [0.1] * T}
    return problem(**{"model.hidden_size": size, "weights.W_hh": [[0.01] * size] * size,
                      "weights.W_xh": [[0.1]] * size, "weights.W_hy": [[0.1] * size], **data})


def _tables(tables: dict) -> str:
    lines = [f"{json.dumps(k)} = {toml_value(v)}" for k, v in tables.pop("", {}).items()]
    for name, body in tables.items():
        lines.append(f"[{name}]")
        lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in body.items()]
    return "\n".join(lines) + "\n"


HOSTILE_VALUES = {
    "huge-int": RawToml("9" * 5000),
    "int-64": RawToml(str(2**63 - 1)),
    "float-inf": RawToml("1e999999999"),
    "neg-inf": RawToml("-inf"),
    "nan": RawToml("nan"),
    "tiny": RawToml("1e-320"),
    "big": RawToml("1e300"),
    "neg-zero": RawToml("-0.0"),
    "empty-string": "",
    "newline": "a\nsymbolic-bptt: error: FORGED",
    "control": "a\x01\x07\x1b[31mred",
    "del": "a\x7fb",
    "nul": "a\x00b",
    "long": "x" * 100_000,
    "tex-write18": "\\immediate\\write18{touch MARKER}",
    "tex-input": "\\input{/etc/passwd}",
    "unicode": "α ☃ \U0001F600",
    "bool": True,
    "empty-list": [],
    "nested-list": [[[[1.0]]]],
    "deep-list": RawToml("[" * 500 + "]" * 500),
    "table": {"a": 1},
    "date": RawToml("1979-05-27"),
    "negative": -3,
    "zero": 0,
}

PROBLEM_KEYS = ["title", "author", "institute", "model.activation", "model.hidden_size",
                "model.input_size", "model.loss", "model.bias", "model.cell", "data.x", "data.y",
                "data.h0", "weights.W_hh", "weights.W_xh", "arithmetic.decimals",
                "arithmetic.mode"]

FORMULAS_SYMPY = [
    ("h(t) + 0*Integer(Symbol.__new__.__globals__['__builtins__']['__import__']('os')"
     ".system('touch {dir}/MARKER')) = h(t)"),
    "h(t) = Integer(Symbol.__new__.__globals__['__builtins__']['open']('/etc/passwd').read())",
    "__import__('os').system('touch {dir}/MARKER') = h(t)",
    "h(t) = (lambda: 1)()",
    "10**10**10 = h(t)", "None = h(t)", "True = h(t)", "... = h(t)", "'s' = h(t)", "b'' = h(t)",
    "1 = 2/0", "1 = log(0)", "h(t) = h(t)/0", "1e999999999 = h(t)", "9" * 5000 + " = h(t)",
    "(" * 5000 + "1" + ")" * 5000 + " = 1", "h(t) = h(t)\x00", "h(t) = [1, 2]",
    "h(t) = {1: 2}", "h(t) = h(t) if 1 else 2", "h(t) = h(t).T", "h(t) = h(t)[0]",
    "h(t)**1000000 = 1", "Sum(h(i), (i, 1, 10**9)) = 1", "h(10**20) = 1", "h(t)", "=", "",
    "h(t) = h(t)\nsymbolic-bptt: error: FORGED", "f'{1}' = 1", "h(t) = *a",
    "Sum(h(i), (i, 1, T**60)) = 1", "Product(W_hh, (i, 1, 2**60)) = 1",
    "Sum(Sum(Sum(h(i), (i, 1, T)), (j, 1, T)), (k, 1, T)) = 1",
]
FORMULAS_LATEX = [
    "1 = 2/0", "1 = \\log(0)", "h_t = h_t / 0", "(" * 5000 + "1" + ")" * 5000 + " = 1",
    "\\left(" * 2000 + "1" + "\\right)" * 2000 + " = 1", "\\tanh " * 2000 + "h_t = 1",
    "\\tanh " * 9 + "h_t = 1", "1" * 5000 + " = 1", "{" * 2000 + "h_t" + "}" * 2000 + " = h_t",
    "h_t = \\input{/etc/passwd}", "h_t = \\write18{touch MARKER}", "h_t^{100000} = 1",
    "h_{100000} = 1", "\\sum_{t=1}^{100000} h_t = 1", "h_t = h_t\x00", "h_t = h_t\x1b[2J", "",
    "=", "h_t", "\\begin{typeout}x\\end{typeout} = 1", "h_t = h_t\nsymbolic-bptt: error: X",
    "\\frac{1}{0} = 1", "h_t = \\log(h_t - h_t)",
]

CLAIM_VALUES = dict(HOSTILE_VALUES)
CLAIM_KEYS = ["h_1", "dL/dW_hh", "h_1\nsymbolic-bptt: error: FORGED", "k" * 100_000, "",
              "h_99999999999999999999", "dL/dW_hh[0,99999999999]", "h_1[-1]", "h_1\x00",
              "dL/dW_hh[" + "9" * 5000 + ",0]"]

EXAM = (EXAMPLES / "exam.toml").read_text(encoding="utf-8")


def exam(**override) -> str:
    """examples/exam.toml with keys ("key", "table.key") replaced or added."""
    raw = tomllib.loads(EXAM)
    for dotted, value in override.items():
        table, _, key = dotted.rpartition(".")
        (raw.setdefault(table, {}) if table else raw)[key] = value
    questions = raw.pop("questions", [])
    top = {k: v for k, v in raw.items() if not isinstance(v, dict)}
    text = _tables({"": top, **{k: v for k, v in raw.items() if isinstance(v, dict)}})
    for q in questions:
        text += "[[questions]]\n" + "".join(f"{json.dumps(k)} = {toml_value(v)}\n"
                                          for k, v in q.items())
    return text


EXAM_OVERRIDES = {
    "title": list(HOSTILE_VALUES.items()),
    "instructions": [("blank-line", "a\n\nb"), ("del", "a\x7fb"), ("ctrl", "\x01\x07\x1b"),
                     ("long", "y" * 100_000), ("tex", "\\write18{touch MARKER}")],
    "variants": [("zero", 0), ("huge", 10**9), ("neg", -1), ("str", "3")],
    "seed": [("neg", -1), ("huge", RawToml("9" * 5000)), ("float", 1.5)],
    "draw.T": [("huge", [100000]), ("zero", [0]), ("empty", []), ("float", [1.5])],
    "draw.W_hh": [("range-1e300", {"min": -1e300, "max": 1e300, "decimals": 6}),
                  ("empty-range", {"min": 1.0, "max": 0.0}), ("nan", {"min": RawToml("nan"), "max": 1.0}),
                  ("decimals-huge", {"min": 0.0, "max": 1.0, "decimals": 10**6})],
    "reject.saturation": [("nan", RawToml("nan")), ("neg", -1.0), ("str", "x")],
    "reject.max_tries": [("huge", 1_000_000), ("zero", 0), ("neg", -5)],
    "model.activation": [("ctrl", "tanh\x00")],
}


def cases() -> list[Case]:
    """Every case of the corpus, in a stable order."""
    out: list[Case] = []
    add = out.append
    # problem files: every key with every hostile value, read by solve --json; a subset by others
    for key in PROBLEM_KEYS:
        for name, value in HOSTILE_VALUES.items():
            text = problem(**{key: value})
            add(Case(f"solve-{key}-{name}", ("solve", "{dir}/p.toml", "--json"),
                     (("p.toml", text),)))
            if name in ("newline", "control", "long", "huge-int", "float-inf", "nan", "big"):
                for cmd in (("render", "{dir}/p.toml", "--out", "{dir}/out"),
                            ("check", "{dir}/p.toml", str(EXAMPLES / "deck_claims.toml")),
                            ("solve", "{dir}/p.toml", "--mode", "exact")):
                    add(Case(f"{cmd[0]}-{key}-{name}-{len(cmd)}", cmd, (("p.toml", text),)))
    # sizes and limits
    for T in (1, 1000, 20_000, 10**6):
        text = problem(**{"data.x": [0.1] * T, "data.y": [0.1] * T})
        for mode in ("float", "rounded", "exact"):
            add(Case(f"size-T{T}-{mode}", ("solve", "{dir}/p.toml", "--json", "--mode", mode),
                     (("p.toml", text),), tags=frozenset({"big"})))
        add(Case(f"size-T{T}-render", ("render", "{dir}/p.toml", "--out", "{dir}/out"),
                 (("p.toml", text),), tags=frozenset({"big"})))
    for hidden in (11, 33, 200, 5000):
        text = hidden_problem(hidden)
        for mode in ("float", "exact"):
            add(Case(f"size-hidden{hidden}-{mode}", ("solve", "{dir}/p.toml", "--json", "--mode",
                                                    mode), (("p.toml", text),)))
    add(Case("overflow-default", ("solve", "{dir}/p.toml", "--json"),
             (("p.toml", problem(**{"model.activation": "identity", "weights.W_hh": 1e300,
                                    "weights.W_hy": 1e300})),)))
    for mode in ("float", "rounded", "exact"):
        add(Case(f"overflow-{mode}", ("solve", "{dir}/p.toml", "--json", "--mode", mode),
                 (("p.toml", problem(**{"model.activation": "identity", "weights.W_hh": 1e300,
                                        "weights.W_hy": 1e300, "weights.W_xh": 1e300})),)))
    # notation
    for name, value in {**HOSTILE_VALUES, "typeout": "\\begin{typeout}{X}\\end{typeout}h",
                        "write18-env": "\\begin{write}18{touch MARKER}\\end{write}h",
                        "openout": "\\begin{openout}{MARKER}\\end{openout}h",
                        "caret": "^^5cinput{/etc/passwd}", "braces": "{" * 2000 + "h" + "}" * 2000,
                        "prime": "h'", "script": "W_1", "alpha": "α"}.items():
        text = problem(**{"notation.h": value})
        for cmd in (("solve", "{dir}/p.toml"), ("render", "{dir}/p.toml", "--out", "{dir}/out"),
                    ("check", "{dir}/p.toml", str(EXAMPLES / "deck_claims.toml"))):
            add(Case(f"notation-{name}-{cmd[0]}", cmd, (("p.toml", text),)))
    add(Case("notation-key-newline", ("solve", "{dir}/p.toml"),
             (("p.toml", problem(**{"notation.h\nsymbolic-bptt: error: FORGED": "s"})),)))
    add(Case("notation-key-long", ("solve", "{dir}/p.toml"),
             (("p.toml", problem(**{"notation." + "k" * 100_000: "s"})),)))
    add(Case("problem-key-newline", ("solve", "{dir}/p.toml"),
             (("p.toml", problem(**{"model.a\nsymbolic-bptt: error: FORGED": 1})),)))
    # a cell of one's own: equations are read by the project's LaTeX reader, never TeX
    for k, equation in enumerate([
            "\\begin{typeout}{X}\\end{typeout}h_t = \\tanh(z_t)", "\\write18{touch MARKER} h_t = z_t",
            "h_t = \\input{/etc/passwd}", "h_t = \\mathbf{\\def\\x{1}} z_t", "h^^5c_t = z_t",
            "h_t = " + "(" * 3000 + "z_t" + ")" * 3000, "h_t = \\tanh " * 500 + "z_t",
            "h_t = z_t\x00", "h_t\nsymbolic-bptt: error: X = z_t", "h_t = z_t / 0",
            "h_t = \\log(z_t - z_t)", "h_t = z_t^{100000}", "h_t = 1" + "0" * 5000 + " z_t"]):
        for cmd in (("solve", "{dir}/p.toml", "--json"),
                    ("render", "{dir}/p.toml", "--out", "{dir}/out")):
            add(Case(f"cell-{k}-{cmd[0]}", cmd, (("p.toml", custom_cell(equation)),)))
    # claims
    deck = str(EXAMPLES / "deck.toml")
    for key in CLAIM_KEYS:
        for name, value in list(CLAIM_VALUES.items())[:: (1 if key == "h_1" else 6)]:
            text = f"[claims]\n{json.dumps(key)} = {toml_value(value)}\n"
            add(Case(f"claims-{key[:12]!r}-{name}", ("check", deck, "{dir}/c.toml", "--json"),
                     (("c.toml", text),)))
    for name, value in HOSTILE_VALUES.items():
        add(Case(f"claims-decimals-{name}", ("check", deck, "{dir}/c.toml"),
                 (("c.toml", f"decimals = {toml_value(value)}\n[claims]\nh_1 = 0.2913\n"),)))
    # verify
    for k, formula in enumerate(FORMULAS_SYMPY):
        add(Case(f"verify-sympy-{k}", ("verify", deck, "--sympy", formula)))
    for k, formula in enumerate(FORMULAS_LATEX):
        add(Case(f"verify-latex-{k}", ("verify", deck, "--latex", formula, "--json")))
    for n in ("0", "-1", "100000", "1e9", "x"):
        add(Case(f"verify-maxT-{n}", ("verify", deck, "--latex", "h_t = h_t", "--max-T", n)))
    # exam files
    for key, values in EXAM_OVERRIDES.items():
        for name, value in values:
            add(Case(f"exam-{key}-{name}", ("exam", "{dir}/e.toml", "--out", "{dir}/out"),
                     (("e.toml", exam(**{key: value})),)))
    # paths and file kinds
    for cmd in ("solve", "render", "check-problem", "check-claims", "exam", "verify"):
        for kind in ("fifo", "dev-zero", "folder", "missing", "newline-name", "escape-name",
                     "binary", "utf16", "empty", "huge", "link-loop"):
            out.append(_path_case(cmd, kind))
    # options
    for k, args in enumerate((("solve", deck, "--decimals", "99999"), ("solve", deck, "--decimals", "-1"),
                 ("solve", deck, "--mode", "x\ny"), ("render", deck, "--format", "x\x1b[2J"),
                 ("exam", str(EXAMPLES / "exam.toml"), "--variants", "0"),
                 ("exam", str(EXAMPLES / "exam.toml"), "--seed", "-1"),
                 ("exam", str(EXAMPLES / "exam.toml"), "--variant-seed", "9" * 5000),
                 ("nosuchcommand",), ("solve",), ("solve", deck, "--bogus\n"))):
        add(Case(f"options-{k}-{args[0]}", args))
    # outputs into hostile places
    add(Case("out-is-a-file", ("render", deck, "--out", "{dir}/afile"), (("afile", "x"),)))
    add(Case("out-newline", ("render", deck, "--out", "{dir}/out/a\nsymbolic-bptt: error: X")))
    add(Case("out-link-to-file", ("render", deck, "--out", "{dir}/out"),
             links=(("out/article.tex", "{dir}/victim.txt"),), files=(("victim.txt", "keep"),)))
    add(Case("report-link", ("check", deck, str(EXAMPLES / "deck_claims.toml"), "--report",
                             "{dir}/out"), links=(("out/audit.tex", "{dir}/victim.txt"),),
             files=(("victim.txt", "keep"),), pdf=True))
    # documents that must compile (or be refused before anything is written)
    for name, value in {"title-blank-line": {"title": "a\n\nb"}, "title-del": {"title": "a\x7fb"},
                        "title-long": {"title": "W" * 100_000},
                        "title-unbreakable": {"title": "W" * 300},
                        "author-ctrl": {"author": "a\x01b"},
                        "hidden-11": {},
                        "notation-prime": {"notation.h": "h'", "notation.W_hh": "W_1"}}.items():
        text = hidden_problem(11) if name == "hidden-11" else problem(**value)
        add(Case(f"pdf-{name}", ("render", "{dir}/p.toml", "--out", "{dir}/out", "--pdf"),
                 (("p.toml", text),), pdf=True))
    add(Case("pdf-exam-title-ctrl", ("exam", "{dir}/e.toml", "--out", "{dir}/out", "--pdf",
                                     "--variants", "1"),
             (("e.toml", exam(title="a\x01\x07\x1b b", instructions="x\x7f\n\ny")),), pdf=True))
    # signals, as real processes
    for signal_name in ("SIGINT", "SIGTERM"):
        add(Case(f"{signal_name.lower()}-exam-pdf", ("exam", str(EXAMPLES / "exam.toml"), "--out",
                                                     "{dir}/out", "--pdf"),
                 pdf=True, subprocess=True, tags=frozenset({signal_name})))
    add(Case("sigterm-render-pdf", ("render", str(EXAMPLES / "deck.toml"), "--out", "{dir}/out",
                                    "--pdf"), pdf=True, subprocess=True,
             tags=frozenset({"SIGTERM"})))
    return out


def _path_case(cmd: str, kind: str) -> Case:
    deck, claims = str(EXAMPLES / "deck.toml"), str(EXAMPLES / "deck_claims.toml")
    target = {"fifo": "{dir}/fifo", "dev-zero": "/dev/zero", "folder": "{dir}",
              "missing": "{dir}/missing.toml", "newline-name": "{dir}/a\nb.toml",
              "escape-name": "{dir}/a\x1b[2Jb.toml",
              "binary": "{dir}/bin.toml", "utf16": "{dir}/u16.toml", "empty": "{dir}/empty.toml",
              "huge": "{dir}/huge.toml", "link-loop": "{dir}/loop.toml"}[kind]
    argv = {"solve": ("solve", target), "render": ("render", target, "--out", "{dir}/out"),
            "check-problem": ("check", target, claims), "check-claims": ("check", deck, target),
            "exam": ("exam", target, "--out", "{dir}/out"),
            "verify": ("verify", target, "--latex", "h_t = h_t")}[cmd]
    files = {"binary": (("bin.toml", bytes(range(256)) * 4),),
             "utf16": (("u16.toml", problem().encode("utf-16")),),
             "empty": (("empty.toml", ""),),
             "huge": (("huge.toml", "# " + "x" * 3_000_000 + "\n" + problem()),),
             "newline-name": (("a\nb.toml", problem()),),
             "escape-name": (("a\x1b[2Jb.toml", problem()),)}.get(kind, ())
    return Case(f"path-{cmd}-{kind}", argv, files, fifos=("fifo",) if kind == "fifo" else (),
                links=(("loop.toml", "{dir}/loop.toml"),) if kind == "link-loop" else ())


if __name__ == "__main__":
    for case in cases():
        print(case.id.encode("unicode_escape").decode()[:100], " ".join(case.argv)[:100]
              .encode("unicode_escape").decode())
