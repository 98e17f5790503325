"""The hostile-input corpus (tests/hostile_corpus.py), each case run as a user would run it.

For every case: success, or exit 2 with exactly one line on stderr; never a traceback; nothing
outside the output folder created or changed; the output folder exactly as before when the run
fails; no marker file (a command smuggled in through TeX or Python never runs); JSON output is
JSON; bounded in time. Most cases run in this process (fast); a sample, and the cases that need
signals, run as real processes under a memory limit.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT
from hostile_corpus import MARKER, Case, cases
from texutil import require_tex

from symbolic_bptt.cli.main import main

CASES = cases()
TIME_LIMIT = 90  # seconds per case: generous, a hang shows up as a failure, not a stuck run
MEMORY_LIMIT = 3 * 2**30  # bytes of address space for the processes of the subprocess sample
SAMPLE = {c.id for c in CASES[::25]}  # also run as real processes


class CaseTimeout(BaseException):
    """The case ran past TIME_LIMIT (raised by SIGALRM, through every except Exception)."""


def _alarm(signum, frame):
    raise CaseTimeout


def snapshot(folder: Path, skip: Path | None = None) -> dict[str, str]:
    """Every entry under `folder` (not under `skip`): a file's hash, a link's target, 'dir'."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if skip is not None and (path == skip or skip in path.parents):
            continue
        key = str(path.relative_to(folder))
        if path.is_symlink():
            out[key] = "link:" + os.readlink(path)
        elif path.is_dir():
            out[key] = "dir"
        elif path.is_file():
            out[key] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[key] = "special"
    return out


def prepare(case: Case, folder: Path) -> list[str]:
    """Create the case's files in `folder` and an output folder with a file of a past run."""
    fill = str(folder)
    for name, content in case.files:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    for name in case.fifos:
        os.mkfifo(folder / name)
    (folder / "out").mkdir(exist_ok=True)
    (folder / "out" / "earlier-run.txt").write_text("an earlier run's file\n")
    for name, target in case.links:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).symlink_to(target.replace("{dir}", fill))
    return [a.replace("{dir}", fill) for a in case.argv]


def run_inprocess(argv: list[str], cwd: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT)
    here = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse
                code = exc.code
    except CaseTimeout:
        pytest.fail(f"ran past {TIME_LIMIT} s")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        os.chdir(here)
    return code, out.getvalue(), err.getvalue()


# The command under a memory limit, set in the child before the package is imported.
LAUNCH = ("import resource, runpy, sys; "
          f"resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_LIMIT}, {MEMORY_LIMIT})); "
          "sys.argv[0] = 'symbolic-bptt'; runpy.run_module('symbolic_bptt', run_name='__main__')")


def run_process(argv: list[str], cwd: Path, interrupt: int | None = None) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(cwd / "tmp")}
    (cwd / "tmp").mkdir(exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", LAUNCH, *argv], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            errors="replace")
    if interrupt is not None:
        deadline = time.monotonic() + TIME_LIMIT
        while not list((cwd / "tmp").glob("symbolic-bptt-*/*.log")) and \
                time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(interrupt)
    try:
        out, err = proc.communicate(timeout=TIME_LIMIT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"ran past {TIME_LIMIT} s")
    return proc.returncode, out, err


def _no_json_constants(text: str):
    raise AssertionError(f"not JSON: {text}")


def check(case: Case, folder: Path, code: int, out: str, err: str,
          before_out: dict, before_rest: dict) -> None:
    assert "Traceback" not in err and "Traceback" not in out, err[-2000:]
    assert "\x1b" not in out and "\x1b" not in err, "a terminal escape code reached the terminal"
    if "SIGINT" in case.tags:
        assert code == 130 and err == "symbolic-bptt: error: interrupted\n", err
    elif "SIGTERM" in case.tags:
        assert code == 143 and err == "symbolic-bptt: error: terminated\n", err
    elif code == 2 or code not in (0, 1):
        assert code == 2, (code, err[-500:])
        assert err.count("\n") == 1 and err.startswith("symbolic-bptt: error: "), err[:500]
        assert len(err) < 2000, len(err)
    else:  # success: verify and check say 1 for "fails" / "something wrong"
        assert code == 0 or case.argv[0] in ("verify", "check"), (code, err[-500:])
        if "--json" in case.argv:
            json.loads(out, parse_constant=_no_json_constants)
    succeeded = code == 0 or (code == 1 and case.argv[0] in ("verify", "check"))
    if case.tags & {"SIGINT", "SIGTERM"}:
        succeeded = False  # stopped: the output folder must be as it was
    if not succeeded:
        assert snapshot(folder / "out") == before_out, "a failed run changed the output folder"
    rest = snapshot(folder, skip=folder / "out")
    rest.pop("tmp", None)
    assert rest == before_rest, "a file outside the output folder changed"
    assert not list(folder.rglob(MARKER)) and not Path(MARKER).exists()
    assert not list(folder.rglob(".symbolic-bptt-*")), "a scratch folder was left behind"
    for log in (folder / "out").rglob("*.log"):
        assert "runsystem(" not in log.read_text(errors="replace")


@pytest.mark.parametrize("case", [c for c in CASES if not c.pdf and not c.subprocess],
                         ids=lambda c: c.id)
def test_case_in_process(case, tmp_path):
    argv = prepare(case, tmp_path)
    before_out, before_rest = snapshot(tmp_path / "out"), snapshot(tmp_path, skip=tmp_path / "out")
    code, out, err = run_inprocess(argv, tmp_path)
    check(case, tmp_path, code, out, err, before_out, before_rest)


@pytest.mark.tex
@pytest.mark.parametrize("case", [c for c in CASES if c.pdf or c.subprocess or c.id in SAMPLE],
                         ids=lambda c: c.id)
def test_case_as_a_process(case, tmp_path):
    if case.pdf:
        require_tex()
    argv = prepare(case, tmp_path)
    before_out, before_rest = snapshot(tmp_path / "out"), snapshot(tmp_path, skip=tmp_path / "out")
    interrupt = next((getattr(signal, s) for s in ("SIGINT", "SIGTERM") if s in case.tags), None)
    code, out, err = run_process(argv, tmp_path, interrupt)
    check(case, tmp_path, code, out, err, before_out, before_rest)
    assert not list((tmp_path / "tmp").iterdir()), "temporary files left in TMPDIR"


def test_the_corpus_is_large_and_covers_every_subcommand():
    assert len(CASES) >= 500
    assert {c.argv[0] for c in CASES} >= {"solve", "render", "check", "verify", "exam"}
    assert len({c.id for c in CASES}) == len(CASES)
