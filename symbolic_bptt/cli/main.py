"""The `symbolic-bptt` command: wires the stages together; no mathematics here."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shlex
import sys

from .. import __version__
from ..errors import MissingResource, ProblemError, one_line, quoted


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake in one line with exit code 2."""

    def error(self, message: str):
        command = self.prog.split(" ", 1)[1] + ": " if " " in self.prog else ""
        self.exit(2, f"symbolic-bptt: error: {one_line(command + message)}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="symbolic-bptt",
                     description="Exact Backpropagation Through Time, written up and checked.")
    parser.add_argument("--version", action="version", version=f"symbolic-bptt {__version__}")
    _quiet_option(parser, False)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    solve = sub.add_parser("solve", help="print every forward and BPTT quantity of a problem")
    solve.add_argument("problem", help=PROBLEM_HELP)
    _arithmetic_options(solve)
    solve.add_argument("-j", "--json", action="store_true", help='print {"quantities": {...}}')
    solve.add_argument("--only", metavar="PATTERNS", type=_patterns, default=[],
                       help="print only the quantities these comma-separated names or shell "
                            "patterns match, e.g. 'h_*,dL/dW_h?' (dL/dW_h? leaves out the "
                            "per-step terms dL/dW_hh^(t)); all are still computed")
    solve.add_argument("--gradients", action="store_true",
                       help="print only L and each parameter's gradient (with --only: those "
                            "too)")
    render = sub.add_parser("render", help="write a worked solution or slides as LaTeX (and PDF)")
    render.add_argument("problem", help=PROBLEM_HELP)
    render.add_argument("--format", choices=("article", "beamer"), default="article",
                        help="article: worked solution; beamer: slides (default: article)")
    _arithmetic_options(render)
    render.add_argument("-o", "--out", help="output folder (default: output/<problem name>/)")
    render.add_argument("--pdf", action="store_true", help="also compile the PDF with latexmk")
    render.add_argument("--notation", choices=_Notations(), default="deck",
                        help="symbol names: the deck's (W_xh, W_hy, delta h_t), d2l's (W_hx, W_qh;"
                             " for lstm and gru_cho I_t, F_t, C~_t ...), a source's (goodfellow: "
                             "U, W, V, h^{(t)}; britz: U, W, V, s_t, E_t; cs224n: W_h, W_e, U, "
                             "J^{(t)}), colah's (lstm) or Cho et al.'s (gru_cho); default: the "
                             "problem's notation")
    render.add_argument("--row-convention", action="store_true",
                        help="write x_t W_xh + h_{t-1} W_hh (row vectors, transposed weights), "
                             "as the deck's section 2 does")
    render.add_argument("--all-steps", action="store_true",
                        help="show every time step (default: long sequences show the first two "
                             "and the last)")
    render.add_argument("--reveal", action="store_true",
                        help="slides: each step's lines appear one at a time (beamer overlays)")
    render.add_argument("--handout", action="store_true",
                        help="slides: one page per frame, for printing (overlays collapsed)")
    render.add_argument("--theme", metavar="NAME", default="",
                        help="slides: a beamer theme, e.g. Madrid (default: the plain look)")
    render.add_argument("--no-figures", dest="figures", action="store_false",
                        help="leave out the figures (unrolled graph, gradient norms, loss curve)")
    check = sub.add_parser("check", help="audit a hand calculation: a verdict for every claimed number")
    check.add_argument("problem", help=PROBLEM_HELP)
    check.add_argument("claims", help="claims file (.toml): [claims] quantity = number; "
                                      "- reads it from standard input")
    check.add_argument("-j", "--json", action="store_true", help='print {"verdicts": [...]}')
    check.add_argument("--report", metavar="DIR",
                       help="also write DIR/audit.tex and DIR/audit.pdf: the worked solution "
                            "with each claimed step marked")
    demo = sub.add_parser("demo", help="the main job: reproduce the lecture deck's example into output/deck/")
    demo.add_argument("-o", "--out", default="output",
                      help="folder for the generated files (default: output of this folder)")
    demo.add_argument("--no-pdf", action="store_true", help="write the .tex files only")
    verify = sub.add_parser("verify", help="check a BPTT identity for every t and T = 1..N")
    verify.add_argument("problem", help="problem file (.toml): its model is used, not its "
                                        "numbers; - reads it from standard input")
    formula = verify.add_mutually_exclusive_group(required=True)
    formula.add_argument("--latex", metavar="FORMULA", action="append",
                         help=r"the identity in LaTeX, e.g. '\delta h_t = W_{hy}^\top \delta o_t';"
                              " repeat it to check several lines of a derivation in one call")
    formula.add_argument("--sympy", metavar="FORMULA",
                         help="the identity in SymPy syntax, e.g. 'dL_dh(t) = W_hy*dL_do(t)'")
    verify.add_argument("--max-T", dest="max_T", type=int, default=5,
                        help="check T = 1..N (default: 5)")
    verify.add_argument("--notation", metavar="NAME",
                        help="read the formula in a source's symbols: deck (the default), d2l, "
                             "goodfellow, britz, cs224n (overrides the problem's notation = NAME;"
                             " its [symbols] still apply)")
    verify.add_argument("-j", "--json", action="store_true",
                        help='print {"holds", "checked", "counterexample", "code", "explanation"}')
    from .exam import add_exam_parser
    add_exam_parser(sub)
    from .grade import add_grade_parser
    add_grade_parser(sub)
    for command in sub.choices.values():  # -q after the command too; absent, it keeps main's
        _quiet_option(command, argparse.SUPPRESS)
    return parser


PROBLEM_HELP = "problem file (.toml); - reads it from standard input"


def notations() -> tuple[str, ...]:
    """The notations documents may use: the preset files of model/notations/, and the gated
    cells' textbook names (colah, cho)."""
    from ..formulas.reading import preset_names
    from ..model.gated_notation import NAMES

    return tuple(dict.fromkeys([*preset_names(), *NAMES]))


class _Notations:
    """notations() read when argparse checks a value or prints the help, not for every command
    (the presets and the gated cells' names import SymPy's model side)."""

    def __contains__(self, name) -> bool:
        return name in notations()

    def __iter__(self):
        return iter(notations())


def _quiet_option(p: argparse.ArgumentParser, default) -> None:
    p.add_argument("-q", "--quiet", action="store_true", default=default,
                   help="print only errors (the exit code tells the outcome)")


def _arithmetic_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-m", "--mode", choices=("exact", "float", "rounded"),
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


def _patterns(text: str) -> list[str]:
    patterns = [p.strip() for p in text.split(",") if p.strip()]
    if not patterns:
        raise argparse.ArgumentTypeError("expected a name or a pattern, e.g. 'L,dL/dW_hh'")
    return patterns


def cmd_solve(args: argparse.Namespace) -> int:
    with _collector_paused():
        return _solve(args)


def _solve(args: argparse.Namespace) -> int:
    from ..evaluate.arithmetic import evaluate
    from ..evaluate.solution import quantities_json, select, table_rows
    from ..inputs.problem import load_problem
    from ..tape import unroll
    from .progress import ProgressBar

    problem = load_problem(args.problem)
    tape = unroll(problem)
    names = select(tape, args.only, args.gradients) if args.only or args.gradients else None
    ev = evaluate(tape, args.mode, args.decimals, progress=ProgressBar())
    if args.json:
        # one write: json.dump writes every token on its own (3 s of a T = 1000 LSTM's output)
        sys.stdout.write(quantities_json(ev, names))
        sys.stdout.write("\n")
        return 0
    rows = table_rows(ev, names)
    width = max(len(name) for name, _ in rows)
    title = one_line(problem.title or problem.name)  # a file name may hold escape codes
    extra = f", {ev.decimals} decimals" if ev.mode == "rounded" else ""
    print(f"{title}: T = {problem.T}, {ev.mode} arithmetic{extra}")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..documents.document import Options
    from ..documents.render import CompileError, problem_tex, publish
    from ..inputs.problem import load_problem

    problem = load_problem(args.problem)
    out = Path(args.out) if args.out else Path("output") / problem.name
    text = problem_tex(problem, args.format, args.mode, args.decimals,
                       Options(notation=args.notation, all_steps=args.all_steps,
                               row_convention=args.row_convention, figures=args.figures,
                               reveal=args.reveal, handout=args.handout, theme=args.theme),
                       args.command_line)
    if args.pdf:
        print(f"compiling {one_line(str(out / (args.format + '.pdf')))} ...", flush=True)
    try:
        written = publish(text, out / f"{args.format}.tex", args.pdf)
    except CompileError as exc:
        return _error(str(exc), 1)
    for path in written:
        print(f"wrote {one_line(str(path))}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from ..audit.check import check, format_audit
    from ..inputs.claims import load_claims
    from ..inputs.problem import load_problem
    from ..tape import unroll

    if args.problem == "-" and args.claims == "-":
        raise ProblemError("only one of PROBLEM and CLAIMS can be read from standard input (-)")
    tape = unroll(load_problem(args.problem))
    audit = check(tape, load_claims(args.claims, tape))
    if args.report:
        from pathlib import Path

        from ..audit.report import audit_document
        from ..documents.render import CompileError, publish, render_tex

        try:
            written = publish(render_tex("article", audit_document(audit, tape),
                                         args.command_line),
                              Path(args.report) / "audit.tex", pdf=True)
        except CompileError as exc:
            return _error(str(exc), 2)
        for path in written if not args.quiet else ():
            print(f"wrote {one_line(str(path))}", file=sys.stderr)
    if args.json:
        json.dump(audit.as_json(), sys.stdout, indent=1, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(format_audit(audit))
    return audit.exit_code


def cmd_verify(args: argparse.Namespace) -> int:
    with _collector_paused():
        return _verify(args)


@contextlib.contextmanager
def _collector_paused():
    """No cyclic garbage collection inside: a verify or solve call is bounded (--max-T, the
    formula's size; the limits on T and sizes) and frees its objects by reference counting,
    but the collector would walk SymPy's heap and the tape again and again (about a tenth of a
    verify call, a quarter of a T = 1000 LSTM's solve)."""
    import gc

    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _verify(args: argparse.Namespace) -> int:
    from ..formulas.verify import verify_formula
    from ..inputs.problem import load_problem

    problem = load_problem(args.problem)
    if args.latex is None or len(args.latex) == 1:
        verdict = verify_formula(problem, args.latex and args.latex[0], args.sympy, args.max_T,
                                 args.notation)
        if args.json:
            json.dump(verdict.as_dict(), sys.stdout, indent=1, ensure_ascii=False)
            sys.stdout.write("\n")
        else:
            print(verdict.text())
        return 0 if verdict.holds else 1
    # several lines: each read and checked in turn, one process (the model unrolled once)
    verdicts = [verify_formula(problem, latex, None, args.max_T, args.notation)
                for latex in args.latex]
    if args.json:
        json.dump({"formulas": [{"latex": latex} | v.as_dict()
                                for latex, v in zip(args.latex, verdicts)]},
                  sys.stdout, indent=1, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        for k, (latex, v) in enumerate(zip(args.latex, verdicts), 1):
            print(f"[{k}] {latex}\n{v.text()}")
    return 0 if all(v.holds for v in verdicts) else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from ..documents.render import CompileError
    from .demo import run_demo

    try:
        for line in run_demo(args.out, pdf=not args.no_pdf, command=args.command_line):
            print(line, flush=True)
    except CompileError as exc:
        return _error(str(exc), 1)
    return 0


def cmd_exam(args: argparse.Namespace) -> int:
    from .exam import run_exam

    return run_exam(args)


def cmd_grade(args: argparse.Namespace) -> int:
    from .grade import run_grade

    return run_grade(args)


COMMANDS = {"solve": cmd_solve, "render": cmd_render, "check": cmd_check, "demo": cmd_demo,
            "exam": cmd_exam, "verify": cmd_verify, "grade": cmd_grade}


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that every cleanup on the way out runs."""


def _terminate(signum, frame) -> None:
    raise Terminated


def main(argv: list[str] | None = None) -> int:
    """Run the command line; a ProblemError is one line on stderr and exit code 2; Ctrl-C and
    SIGTERM stop the run (temporary files removed, latexmk stopped) with one line. Without
    arguments, print the usage (as pip does)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    if not argv:
        parser.print_help()
        return 0
    args = parser.parse_args(argv)
    args.command_line = shlex.join(["symbolic-bptt", *argv])  # for the .tex headers
    previous = _on_sigterm(_terminate)
    try:
        if args.quiet:  # errors still reach stderr: they are printed below, or by the command
            with contextlib.redirect_stdout(io.StringIO()):
                return COMMANDS[args.command](args)
        return COMMANDS[args.command](args)
    except ProblemError as exc:
        return _error(str(exc), 2)
    except MissingResource as exc:
        return _error(f"incomplete installation: {exc} (reinstall symbolic-bptt)", 1)
    except BrokenPipeError:
        return 0
    except OSError as exc:  # an output folder that cannot be made or written
        where = f" {quoted(exc.filename)}" if exc.filename else ""
        return _error(f"cannot write{where}: {exc.strerror or exc}", 2)
    except (RecursionError, MemoryError, OverflowError) as exc:
        return _error(f"the input is too large or too deeply nested to work with "
                      f"({type(exc).__name__}); see the limits in the README", 2)
    except KeyboardInterrupt:
        return _error("interrupted", 130)
    except Terminated:
        return _error("terminated", 143)
    finally:
        _on_sigterm(previous)


def _error(message: str, code: int) -> int:
    print(f"symbolic-bptt: error: {one_line(message)}", file=sys.stderr)
    return code


def _on_sigterm(handler):
    """Install a SIGTERM handler (main thread only); returns the previous one."""
    import signal
    import threading

    if handler is None or threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, handler)
