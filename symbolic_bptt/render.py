"""Documents from templates: the Jinja2 environment, .tex output and PDF compilation."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import jinja2

from .document import Document
from .errors import ProblemError
from .files import write_atomic

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
FORMATS = ("article", "beamer")
LINE_LENGTH = {"article": 70, "beamer": 48}  # printed characters before a step breaks into rows


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
    template = environment().get_template(f"{fmt}.tex.j2")
    return template.render(doc=doc, setup=doc.setup, general=doc.general,
                           approx=doc.mode != "rounded", mode_sentence=arithmetic_note(doc),
                           max_len=LINE_LENGTH[fmt])


def write_tex(path: Path, text: str) -> Path:
    return write_atomic(path, text)


def compile_pdf(tex: Path) -> Path:
    """Run latexmk (pdflatex, no shell escape) in a scratch folder; move the PDF beside the .tex."""
    if shutil.which("latexmk") is None or shutil.which("pdflatex") is None:
        raise ProblemError("pdflatex/latexmk not found: install TeX Live, e.g. `make tex` or "
                           "apt-get install texlive-latex-extra texlive-lang-other latexmk")
    tex = tex.resolve()
    with tempfile.TemporaryDirectory(prefix="symbolic-bptt-") as build:
        cmd = ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error",
               "-no-shell-escape", f"-outdir={build}", tex.name]
        env = {**os.environ, "openout_any": "p", "openin_any": "p"}
        proc = subprocess.run(cmd, cwd=tex.parent, capture_output=True, text=True, env=env,
                              check=False)
        log = Path(build) / (tex.stem + ".log")
        if proc.returncode != 0 or not (Path(build) / (tex.stem + ".pdf")).exists():
            raise CompileError(_first_error(tex, log.read_text(errors="replace")
                                            if log.exists() else proc.stdout + proc.stderr))
        pdf = tex.with_suffix(".pdf")
        tmp = pdf.with_name(f".{pdf.name}.tmp")
        shutil.copyfile(Path(build) / pdf.name, tmp)
        os.replace(tmp, pdf)
        shutil.copyfile(log, tex.with_suffix(".log"))
    return pdf


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
