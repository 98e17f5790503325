"""Speed of `symbolic-bptt grade`: a large class marked, and the feedback PDFs.

    python3 benchmarks/bench_grade.py              # 500 students x 20 answers, then PDFs
    python3 benchmarks/bench_grade.py --no-pdf     # the first part only

Setup (not timed): an exam of examples/exam.toml's network with T = 4 and 20 answers a student
(h_t and o_t at every step, L, dL/do_t at every step, dL/dh_3 and dL/dz_3, the three weight
gradients, dh_4/dh_1 and its vanishing/exploding verdict) in 10 versions, and a class simulated
by tests/class_sim.py (half of them with a misconception of the catalog, a third with a slip,
4% of the answers left out).

Part 1 runs `grade EXAMDIR answers.csv --no-pdf` as a user does, in a fresh process (imports
included): grades.csv, answers.csv and a feedback .txt per student. Goal: under 30 s on a 2-core
machine. Part 2 grades 8 students with PDFs (8 feedback PDFs and class.pdf, one latexmk per
core) and prints the wall time per PDF.

This is a benchmark, not a test: it asserts nothing, and prints whether the goal is met.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
GOAL = 30.0
QUESTIONS = ["forward", "loss", "dL/do", "dL/dh", "dL/dW_hy", "dL/dW_hh", "dL/dW_xh", "vanishing"]


def exam_file(folder: Path) -> Path:
    text = (ROOT / "examples" / "exam.toml").read_text(encoding="utf-8")
    head = text[:text.index("[[questions]]")].replace("T = [3]", "T = [4]")
    path = folder / "bench_exam.toml"
    path.write_text(head + "".join(f'[[questions]]\nkind = "{k}"\n\n' for k in QUESTIONS),
                    encoding="utf-8")
    return path


def run(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "symbolic_bptt", "-q", *map(str, args)], cwd=ROOT,
                   check=True)
    return time.perf_counter() - start


def answers(examdir: Path, n: int, seed: int) -> str:
    from class_sim import Version, draw_class

    key = json.loads((examdir / "key.json").read_text(encoding="utf-8"))
    keys: dict[int, list[dict]] = {}
    for a in key["answers"]:
        keys.setdefault(a["variant"], []).append(a)
    versions = {v["variant"]: Version.from_toml(tomllib.loads(
        (examdir / v["problem"]).read_text(encoding="utf-8"))) for v in key["variants"]}
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["student", "variant", "quantity", "value"])
    count = 0
    for s in draw_class(versions, keys, n, seed):
        for name, text in s.answers.items():
            w.writerow([s.name, s.variant, name, text])
            count += 1
    print(f"class: {n} students, {count} answers ({count / n:.1f} a student), "
          f"{len(keys[1])} answers in the key of a version")
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=500)
    parser.add_argument("--no-pdf", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        examdir = tmp / "exam"
        run(["exam", exam_file(tmp), "--variants", "10", "--out", examdir])
        (tmp / "answers.csv").write_text(answers(examdir, args.students, 1), encoding="utf-8")
        wall = run(["grade", examdir, tmp / "answers.csv", "--no-pdf", "--out", tmp / "g"])
        verdict = "met" if wall < GOAL else "NOT met"
        print(f"grade, {args.students} students, CSV and text only: {wall:.1f} s "
              f"({1000 * wall / args.students:.0f} ms a student); goal {GOAL:.0f} s {verdict}")
        if args.no_pdf:
            return
        (tmp / "few.csv").write_text(answers(examdir, 8, 2), encoding="utf-8")
        wall = run(["grade", examdir, tmp / "few.csv", "--out", tmp / "p"])
        print(f"grade with PDFs, 8 students: {wall:.1f} s for 9 PDFs "
              f"({wall / 9:.1f} s a PDF, compiled in parallel)")


if __name__ == "__main__":
    main()
