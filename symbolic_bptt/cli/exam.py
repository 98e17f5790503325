"""`symbolic-bptt exam EXAM.toml`: the subcommand's options and its wiring (no mathematics)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..errors import ProblemError


def add_exam_parser(sub) -> None:
    """Add the `exam` subcommand to the command line's subparsers."""
    exam = sub.add_parser("exam", help="seeded versions of an exercise: question and key "
                                       "documents, key.json, key.csv and a Moodle XML quiz")
    exam.add_argument("spec", help="exam file (EXAM.toml): the model, how numbers are drawn, "
                                   "the questions; - reads it from standard input")
    exam.add_argument("--variants", type=_whole(1, 999), metavar="N",
                      help="how many versions (default: the file's variants, else 3)")
    exam.add_argument("--seed", type=_whole(0, 2**63), metavar="S",
                      help="the run seed (default: the file's seed, else 0)")
    exam.add_argument("--variant-seed", type=_whole(0, 2**63), action="append", metavar="SEED",
                      help="draw exactly the version with this seed, as a version prints it "
                           "(repeatable; instead of --variants and --seed)")
    exam.add_argument("-o", "--out", help="output folder (default: output/<exam name>/)")
    exam.add_argument("--pdf", action="store_true",
                      help="also compile every document (exam, key and each version's), in "
                           "parallel on the machine's cores")


def _whole(lo: int, hi: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"expected {lo}..{hi}, got {value}")
        return value
    return parse


def run_exam(args: argparse.Namespace) -> int:
    """Draw, key and write an exam; prints each version's seed and the files written."""
    import sys

    from ..documents.render import CompileError
    from ..exam.spec import load_spec
    from ..exam.write import draw_exam, write_exam
    from .progress import ProgressBar

    spec = load_spec(args.spec)
    if args.variant_seed and (args.variants is not None or args.seed is not None):
        raise ProblemError("--variant-seed draws the versions given: it cannot be combined "
                           "with --variants or --seed")
    bar = ProgressBar()
    bar.enabled = bar.enabled and not args.quiet
    exam = draw_exam(spec, args.variants, args.seed, args.variant_seed,
                     source=Path(args.spec).name, progress=bar)
    for v in exam.variants:
        print(f"version {v.label}: seed {v.seed} (T = {v.problem.T})")
    seed = "" if exam.seed is None else f" from run seed {exam.seed}"
    print(f"drew {len(exam.keyed)} version{'s' * (len(exam.keyed) != 1)}{seed} "
          f"({exam.rejected_text()})", flush=True)
    out = Path(args.out) if args.out else Path("output") / spec.name
    if args.pdf:
        cores = os.cpu_count() or 1
        print(f"compiling {2 + 2 * len(exam.keyed)} documents on {cores} "
              f"core{'s' * (cores != 1)} ...", flush=True)
    try:
        written = write_exam(exam, out, args.pdf, progress=bar, command=args.command_line)
    except CompileError as exc:
        print(f"symbolic-bptt: error: {exc}", file=sys.stderr)
        return 1
    versions = [p for p in written if p.parent.name == "variants"]
    for path in written:
        if path not in versions and path.suffix != ".log":
            print(f"wrote {path}")
    kinds = {}
    for path in versions:
        if path.suffix != ".log":
            kinds[path.suffix] = kinds.get(path.suffix, 0) + 1
    print(f"wrote {out / 'variants'}/: " + ", ".join(f"{n} {ext}" for ext, n in kinds.items()))
    return 0
