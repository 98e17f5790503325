"""How many of the textbook corpus's formulas (tests/textbook_corpus.py) `verify` reads as
printed, and whether each verdict agrees with PyTorch's truth.

    PYTHONPATH=. python benchmarks/textbook_reading.py [--detail]

Run it with PYTHONPATH pointing at any checkout (an older one measures "before"): a problem file
whose top-level `notation = "NAME"` or [symbols] the checkout does not know is read without them.
"""

from __future__ import annotations

import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from textbook_corpus import ENTRIES, truth  # noqa: E402
from textbook_oracle import model_of  # noqa: E402

from symbolic_bptt.errors import ProblemError  # noqa: E402
from symbolic_bptt.formulas.verify import verify_formula  # noqa: E402
from symbolic_bptt.inputs.problem import load_problem  # noqa: E402

DATA = ROOT / "tests" / "data" / "textbook"


def problem_text(entry) -> str:
    """The entry's problem file, with the entry's extra [symbols] and partial declared."""
    text = (DATA / entry.problem).read_text()
    extra = dict(entry.symbols)
    if entry.partial:
        extra["partial"] = entry.partial
    if extra:
        lines = [f"{_key(k)} = {_value(v)}" for k, v in extra.items()]
        header = "" if text.rstrip().rpartition("\n[")[2].startswith("symbols]") \
            else "\n[symbols]"  # the file's own [symbols] is its last table: add to it
        text += header + "\n" + "\n".join(lines) + "\n"
    return text


def _key(k: str) -> str:
    return k if k.replace("_", "").isalnum() else '"' + k.replace("\\", "\\\\") + '"'


def _value(v: str) -> str:
    return '"' + v.replace("\\", "\\\\") + '"'


def load(entry, folder: Path):
    """The entry's problem (without keys an older checkout does not know)."""
    path = folder / (entry.id.replace("/", "_") + ".toml")
    text = problem_text(entry)
    path.write_text(text)
    try:
        return load_problem(path)
    except ProblemError as exc:
        if "notation must be a table" not in str(exc) and "symbols" not in str(exc):
            raise
        raw = tomllib.loads(text)
        kept = [line for line in text.splitlines()
                if not line.startswith("notation =")]
        if "symbols" in raw:
            kept = kept[:kept.index("[symbols]")]
        path.write_text("\n".join(kept) + "\n")
        return load_problem(path)


def measure(detail: bool = False) -> tuple[int, int, int]:
    """(read as printed, verdicts that agree with PyTorch, entries)."""
    read = agree = 0
    with tempfile.TemporaryDirectory() as tmp:
        for entry in ENTRIES:
            expected = truth(entry, model_of(DATA / entry.problem))
            try:
                verdict = verify_formula(load(entry, Path(tmp)), entry.latex, None, 4)
            except ProblemError as exc:
                if detail:
                    print(f"{entry.id:28} unread  ({str(exc)[:110]})")
                continue
            except Exception as exc:  # a bug: count it unread, and say so
                print(f"{entry.id:28} CRASH   ({type(exc).__name__}: {str(exc)[:90]})")
                continue
            read += 1
            agree += verdict.holds == expected
            if detail:
                mark = "agrees" if verdict.holds == expected else "DISAGREES"
                print(f"{entry.id:28} {'holds' if verdict.holds else 'fails':6} torch "
                      f"{'holds' if expected else 'fails':6} {mark}")
    return read, agree, len(ENTRIES)


if __name__ == "__main__":
    read, agree, total = measure("--detail" in sys.argv)
    print(f"read as printed: {read} of {total}; verdicts agreeing with PyTorch: {agree} of {read}")
