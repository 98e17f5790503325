"""The `symbolic-bptt` command: wires the stages together; no mathematics here."""

from __future__ import annotations

import argparse
import json
import sys

from . import __version__
from .errors import ProblemError


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake in one line with exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="symbolic-bptt",
                     description="Exact Backpropagation Through Time, written up and checked.")
    parser.add_argument("--version", action="version", version=f"symbolic-bptt {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    solve = sub.add_parser("solve", help="print every forward and BPTT quantity of a problem")
    solve.add_argument("problem", help="problem file (.toml)")
    _arithmetic_options(solve)
    solve.add_argument("--json", action="store_true", help='print {"quantities": {...}}')
    demo = sub.add_parser("demo", help="the main job: reproduce the lecture deck's example into output/deck/")
    demo.add_argument("--out", default="output", help="folder for the generated files (default: output)")
    return parser


def _arithmetic_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mode", choices=("exact", "float", "rounded"),
                   help="arithmetic (default: the problem file's, else float)")
    p.add_argument("--decimals", type=_decimals, help="decimals carried in rounded mode")


def _decimals(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value <= 30:
        raise argparse.ArgumentTypeError(f"expected 0..30, got {value}")
    return value


def cmd_solve(args: argparse.Namespace) -> int:
    from .arithmetic import evaluate
    from .problem import load_problem
    from .solution import quantities, table_rows
    from .tape import unroll

    problem = load_problem(args.problem)
    ev = evaluate(unroll(problem), args.mode, args.decimals)
    if args.json:
        json.dump({"quantities": quantities(ev)}, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    rows = table_rows(ev)
    width = max(len(name) for name, _ in rows)
    title = problem.title or problem.name
    extra = f", {ev.decimals} decimals" if ev.mode == "rounded" else ""
    print(f"{title}: T = {problem.T}, {ev.mode} arithmetic{extra}")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    for line in run_demo(args.out):
        print(line, flush=True)
    return 0


COMMANDS = {"solve": cmd_solve, "demo": cmd_demo}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; a ProblemError is one line on stderr and exit code 2."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ProblemError as exc:
        print(f"symbolic-bptt: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
