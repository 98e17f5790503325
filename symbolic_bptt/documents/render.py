"""Documents from templates: the Jinja2 environment, .tex output and PDF compilation."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

import jinja2

from ..errors import ProblemError
from ..evaluate.arithmetic import evaluate
from ..inputs.files import write_atomic
from ..inputs.limits import check_sizes
from ..inputs.staging import Staging
from ..tape import unroll
from .document import Document, Options, build

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
FORMATS = ("article", "beamer")
LINE_LENGTH = {"article": 58, "beamer": 48}  # printed characters before a step breaks into rows


class CompileError(Exception):
    """pdflatex failed: the message names the file, line and TeX's complaint."""


def environment() -> jinja2.Environment:
    """Jinja2 with LaTeX-friendly delimiters; a missing variable is an error, not a blank."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        block_start_string="((*", block_end_string="*))",
        variable_start_string="(((", variable_end_string=")))",
        comment_start_string="((=", comment_end_string="=))",
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined, autoescape=False)


def arithmetic_note(doc: Document) -> str:
    if doc.mode == "rounded":
        return (f"Every intermediate result is rounded half up to {doc.decimals} decimals and the "
                "rounded value is carried forward, as by hand: each line can be checked with the "
                "numbers printed on it.")
    if doc.mode == "exact":
        return ("Arithmetic is exact; values are shown as exact expressions where short, with "
                f"decimals to {doc.decimals} places.")
    return f"Arithmetic is in floating point; values are shown to {doc.decimals} decimals."


def render_tex(fmt: str, doc: Document) -> str:
    """The LaTeX source of one document."""
    if fmt not in FORMATS:
        raise ProblemError(f"unknown format {fmt!r} (expected one of: {', '.join(FORMATS)})")
    name = f"cell_{fmt}" if doc.setup.get("equations") else fmt  # a cell of its own
    template = environment().get_template(f"{name}.tex.j2")
    return render_wide(template, doc=doc, setup=doc.setup, general=doc.general,
                       approx=doc.mode != "rounded", mode_sentence=arithmetic_note(doc),
                       max_len=LINE_LENGTH[fmt])


def render_wide(template: jinja2.Template, **variables) -> str:
    """Render a template; if a matrix has more than amsmath's default 10 columns, render it
    again with MaxMatrixCols raised (the preamble reads `matrix_cols`)."""
    text = template.render(**variables)
    cols = max((row.count("&") + 1 for body in _MATRIX.findall(text)
                for row in body.split("\\\\")), default=0)
    return template.render(**variables, matrix_cols=cols) if cols > 10 else text


_MATRIX = re.compile(r"\\begin\{[bpv]?matrix\}(.*?)\\end\{[bpv]?matrix\}", re.DOTALL)


def publish(text: str, tex: Path, pdf: bool, stage: Staging | None = None) -> list[Path]:
    """Stage `tex` (and, with pdf, its compiled PDF and log) in `stage`, or write them as a run
    of their own; a failure leaves the previous files untouched.

    The source is compiled in a scratch folder first; only when pdflatex succeeds are the new
    .tex, .pdf and .log staged. A failing source is kept as NAME.failed.tex to inspect.
    """
    tex = Path(tex)
    if stage is None:
        with Staging(tex.parent) as own:
            return publish(text, tex, pdf, own)
    if not pdf:
        return [stage.write(tex, text)]
    if shutil.which("latexmk") is None or shutil.which("pdflatex") is None:
        raise CompileError("pdflatex/latexmk not found: install TeX Live (`make tex`, or apt-get install "
                           "texlive-latex-extra texlive-lang-other latexmk)")
    with tempfile.TemporaryDirectory(prefix="symbolic-bptt-") as build:
        src = Path(build) / tex.name
        src.write_text(text, encoding="utf-8")
        cmd = ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error",
               "-no-shell-escape", src.name]
        # A fixed timestamp makes the same source give the same PDF bytes (reproducible keys).
        env = {"SOURCE_DATE_EPOCH": "1700000000", "FORCE_SOURCE_DATE": "1", **os.environ,
               "openout_any": "p", "openin_any": "p"}
        returncode, output = _run(cmd, build, env)
        log = src.with_suffix(".log")
        built = src.with_suffix(".pdf")
        if returncode < 0:  # stopped by a signal (stop_compiles): not the source's fault
            raise CompileError(f"{tex}: compilation stopped")
        if returncode != 0 or not built.exists():
            failed = write_atomic(tex.with_suffix(".failed.tex"), text)
            raise CompileError(_first_error(failed, log.read_text(errors="replace")
                                            if log.exists() else output))
        out_pdf = stage.add(tex.with_suffix(".pdf"), built)
        stage.add(tex.with_suffix(".log"), log)
        stage.write(tex, text)
        if os.path.lexists(tex.with_suffix(".failed.tex")):
            stage.remove(tex.with_suffix(".failed.tex"))
    return [tex, out_pdf]


_RUNNING: set[subprocess.Popen] = set()
_RUNNING_LOCK = threading.Lock()


def _run(cmd: list[str], cwd: str, env: dict) -> tuple[int, str]:
    """Run latexmk in a process group of its own: (exit code, output). Any exception while it
    runs (Ctrl-C, SIGTERM, stop_compiles) stops latexmk and the pdflatex it started."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                            errors="replace", start_new_session=True)
    with _RUNNING_LOCK:
        _RUNNING.add(proc)
    try:
        output, _ = proc.communicate()
        return proc.returncode, output
    except BaseException:
        _stop(proc)
        raise
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(proc)


def _stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def stop_compiles() -> None:
    """Stop every latexmk still running (the other threads of an interrupted exam --pdf)."""
    with _RUNNING_LOCK:
        running = list(_RUNNING)
    for proc in running:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _first_error(tex: Path, log: str) -> str:
    m = re.search(r"^(?P<file>[^\n:]+\.tex):(?P<line>\d+): (?P<msg>.+)$", log, re.MULTILINE)
    if m:
        return f"{tex}:{m['line']}: {m['msg'].strip()}"
    m = re.search(r"^! (?P<msg>.+)$", log, re.MULTILINE)
    if m:
        line = re.search(r"^l\.(\d+)", log[m.end():], re.MULTILINE)
        return f"{tex}:{line.group(1) if line else '?'}: {m['msg'].strip()}"
    return f"{tex}: pdflatex failed ({log.strip().splitlines()[-1] if log.strip() else 'no log'})"


def overfull_boxes(log_text: str) -> list[str]:
    """The overfull-box warnings of a LaTeX log (content sticking out of the page or frame)."""
    return re.findall(r"^Overfull \\[hv]box .*$", log_text, re.MULTILINE)


def problem_tex(problem, fmt: str, mode: str | None = None, decimals: int | None = None,
                options: Options | None = None) -> str:
    """problem -> tape -> evaluation -> document data -> LaTeX, in one call."""
    m = problem.model
    check_sizes(problem.T, max(m.input_size, m.hidden_size, m.output_size), document=True)
    ev = evaluate(unroll(problem), mode, decimals)
    if problem.custom_cell is not None:
        from .cell_document import build_cell
        return render_tex(fmt, build_cell(ev, options or Options()))
    return render_tex(fmt, build(ev, options or Options()))
