"""Speed of `symbolic-bptt exam`: drawing and keying many versions, and compiling their PDFs.

    python3 benchmarks/bench_exam.py              # 100 versions (.tex and key files), then PDFs
    python3 benchmarks/bench_exam.py --no-pdf     # the first part only

Part 1 runs the command as a user does, in a fresh process (imports included), on
examples/exam.toml with 100 versions and no PDF: every source, key.json, key.csv, moodle.xml and
the version files. Goal: under 20 s on a 2-core machine. It prints the wall time, the time per
version, and the time spent in the stages (drawing and keying, writing) of an in-process run.

Part 2 compiles the documents of a 3-version exam (exam, key and each version's questions and
key: 8 PDFs) with --pdf, one latexmk per core, and prints the wall time, the time per PDF
(wall time / PDFs) and the time of one PDF compiled alone.

This is a benchmark, not a test: it asserts nothing, and prints whether the goal is met.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAM = ROOT / "examples" / "exam.toml"
GOAL = 20.0


def run(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "symbolic_bptt", *args], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def stages(n: int, out: Path) -> dict[str, float]:
    sys.path.insert(0, str(ROOT))
    from symbolic_bptt.exam.spec import load_spec
    from symbolic_bptt.exam.write import draw_exam, outputs
    from symbolic_bptt.inputs.files import write_atomic

    t0 = time.perf_counter()
    exam = draw_exam(load_spec(EXAM), n)
    t1 = time.perf_counter()
    plan = outputs(exam, out)
    t2 = time.perf_counter()
    for path, text in plan.files + plan.documents:
        write_atomic(path, text)
    t3 = time.perf_counter()
    return {"draw and key": t1 - t0, "render sources and keys": t2 - t1, "write": t3 - t2}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=100)
    parser.add_argument("--no-pdf", action="store_true")
    args = parser.parse_args()
    n = args.variants
    cores = os.cpu_count() or 1
    print(f"symbolic-bptt exam benchmark: {cores} cores, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        wall = run(["exam", str(EXAM), "--variants", str(n), "--out", str(tmp / "tex")])
        verdict = "met" if wall < GOAL else "NOT met"
        print(f"{n} versions, .tex and key files, whole process: {wall:.2f} s "
              f"({wall / n * 1000:.0f} ms per version); goal < {GOAL:.0f} s: {verdict}")
        for stage, seconds in stages(n, tmp / "stages").items():
            print(f"  {stage:<24} {seconds:6.2f} s  ({seconds / n * 1000:.0f} ms per version)")
        if args.no_pdf:
            return
        pdf_wall = run(["exam", str(EXAM), "--variants", "3", "--out", str(tmp / "pdf"),
                        "--pdf"])
        pdfs = sorted((tmp / "pdf").rglob("*.pdf"))
        one = tmp / "one"
        one.mkdir()
        source = (tmp / "pdf" / "variants" / "01-key.tex").read_text(encoding="utf-8")
        start = time.perf_counter()
        sys.path.insert(0, str(ROOT))
        from symbolic_bptt.documents.render import publish
        publish(source, one / "key.tex", pdf=True)
        alone = time.perf_counter() - start
        print(f"3 versions with --pdf: {len(pdfs)} PDFs in {pdf_wall:.2f} s on {cores} cores "
              f"({pdf_wall / len(pdfs):.2f} s per PDF, wall); one version's key alone: "
              f"{alone:.2f} s")


if __name__ == "__main__":
    main()
