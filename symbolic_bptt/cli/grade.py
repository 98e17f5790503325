"""`symbolic-bptt grade EXAMDIR ANSWERS`: the subcommand's options and wiring (no mathematics)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..errors import one_line


def add_grade_parser(sub) -> None:
    """Add the `grade` subcommand to the command line's subparsers."""
    grade = sub.add_parser("grade", help="mark a class's answers to an exam: carried-error credit, "
                                         "feedback per student, the class's misconceptions")
    grade.add_argument("examdir", help="an exam output folder (key.json, variants/, moodle.xml)")
    grade.add_argument("answers", help="answers (.csv): student,variant,quantity,value (one "
                                       "answer a row), student,variant,<quantity>... (one student "
                                       "a row), or Moodle's quiz Responses report")
    grade.add_argument("--policy", choices=("ecf", "strict"), default="ecf",
                       help="ecf: ok, rounding and carried answers earn their points (default); "
                            "strict: only ok and rounding")
    grade.add_argument("-o", "--out", help="output folder (default: EXAMDIR/grades/)")
    grade.add_argument("--no-pdf", action="store_true",
                       help="write the CSV and text files only (no feedback PDFs, no class.pdf)")


def run_grade(args: argparse.Namespace) -> int:
    """Grade every student, write the outputs, print the class's score line."""
    from ..documents.render import CompileError
    from ..exam.grade import grade_class, load_class, summary
    from ..exam.grade_report import write_grades
    from .progress import ProgressBar

    start = time.perf_counter()
    key, sheets = load_class(args.examdir, args.answers)
    bar = ProgressBar()
    bar.enabled = bar.enabled and not args.quiet
    graded = grade_class(key, sheets, args.policy, progress=bar)
    out = Path(args.out) if args.out else Path(args.examdir) / "grades"
    if not args.no_pdf:
        print(f"writing {len(graded) + 1} PDFs ...", flush=True)
    try:
        written = write_grades(key, graded, out, args.policy, pdf=not args.no_pdf, progress=bar,
                               command=args.command_line)
    except CompileError as exc:
        print(f"symbolic-bptt: error: {one_line(str(exc))}", file=sys.stderr)
        return 1
    stats = summary(graded)
    full = sum(g.total == g.maximum for g in graded)
    if graded:
        print(f"graded {len(graded)} students (policy {args.policy}): mean "
              f"{stats['mean']:.1f}%, median {stats['median']:.1f}%, {full} with full marks "
              f"[{time.perf_counter() - start:.1f} s]")
    feedback = [p for p in written if p.parent.name == "feedback" and p.suffix != ".log"]
    for path in written:
        if path not in feedback and path.suffix != ".log":
            print(f"wrote {one_line(str(path))}")
    kinds: dict[str, int] = {}
    for path in feedback:
        kinds[path.suffix] = kinds.get(path.suffix, 0) + 1
    if kinds:
        print(f"wrote {one_line(str(out / 'feedback'))}/: "
              + ", ".join(f"{n} {ext}" for ext, n in kinds.items()))
    return 0
