"""Outputs: staged aside and swapped in together, never through a planted link, following the
umask; a failed or interrupted run leaves the output folder as it was."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import EXAMPLES, ROOT
from texutil import require_tex

from symbolic_bptt.cli.main import main
from symbolic_bptt.errors import ProblemError
from symbolic_bptt.inputs.staging import Staging


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry under `folder`: a file's SHA-256, a link's target, a folder's mark."""
    out = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        if path.is_symlink():
            out[key] = "link:" + os.readlink(path)
        elif path.is_dir():
            out[key] = "dir"
        else:
            out[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def run(capsys, *args) -> tuple[int, str]:
    try:
        code = main([*map(str, args)])
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def test_a_planted_link_is_replaced_not_followed(tmp_path, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out"
    out.mkdir()
    (out / "article.tex").symlink_to(victim)
    for name in ("article.pdf", ".article.pdf.tmp", ".article.tex.tmp"):
        (out / name).symlink_to(victim)
    code, _ = run(capsys, "render", EXAMPLES / "deck.toml", "--out", out)
    assert code == 0
    assert victim.read_text() == "precious"
    assert not (out / "article.tex").is_symlink()
    assert "\\documentclass" in (out / "article.tex").read_text()  # after the generated-by header


def test_a_linked_folder_inside_the_output_is_refused(tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "variants").symlink_to(elsewhere)
    before = snapshot(out)
    code, err = run(capsys, "exam", EXAMPLES / "exam.toml", "--out", out)
    assert code == 2 and err.count("\n") == 1 and "symbolic link" in err
    assert snapshot(out) == before and not list(elsewhere.iterdir())


def test_a_failed_commit_puts_everything_back(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.txt").write_text("old a")
    (out / "c").mkdir()  # a folder where a file should go: the commit fails there
    before = snapshot(out)
    with pytest.raises(ProblemError, match="it is a folder"), Staging(out) as stage:
        stage.write(out / "a.txt", "new a")
        stage.write(out / "new" / "b.txt", "new b")
        stage.write(out / "c", "new c")
    assert snapshot(out) == before


def test_an_exam_that_cannot_be_written_leaves_the_old_one(tmp_path, capsys):
    out = tmp_path / "out"
    assert run(capsys, "exam", EXAMPLES / "exam.toml", "--out", out, "--seed", "2026")[0] == 0
    before = snapshot(out)
    (out / "variants" / "02.toml").unlink()
    (out / "variants" / "02.toml").mkdir()  # the second version's file cannot be replaced
    before = snapshot(out)
    code, err = run(capsys, "exam", EXAMPLES / "exam.toml", "--out", out, "--seed", "7")
    assert code == 2 and err.count("\n") == 1
    assert snapshot(out) == before


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_files_follow_the_umask(tmp_path, umask):
    out = tmp_path / "out"
    code = (f"import os, sys; os.umask({umask:#o}); "
            "from symbolic_bptt.cli.main import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", code,
                           "exam", str(EXAMPLES / "exam.toml"), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {p.suffix for p in files} >= {".tex", ".json", ".csv", ".xml", ".toml"}
    for path in [*files, out / "variants"]:
        expected = (0o777 if path.is_dir() else 0o666) & ~umask
        assert path.stat().st_mode & 0o777 == expected, path


def test_two_runs_into_one_folder_do_not_collide(tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "symbolic_bptt", "render", str(EXAMPLES / "deck.toml"),
           "--out", str(out)]
    procs = [subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
             for _ in range(3)]
    assert [p.wait() for p in procs] == [0, 0, 0]
    assert sorted(p.name for p in out.iterdir()) == ["article.tex"]


def _start(args, tmp_path, tmpdir):
    env = {**os.environ, "TMPDIR": str(tmpdir), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "symbolic_bptt", *map(str, args)], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _latexmk_alive(tmpdir: Path) -> bool:
    """Any latexmk or pdflatex still running in a build folder under `tmpdir`."""
    for proc in Path("/proc").iterdir():
        try:
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if cwd.startswith(str(tmpdir)):
            return True
    return False


@pytest.mark.tex
@pytest.mark.parametrize("signum, code, word", [(signal.SIGTERM, 143, "terminated"),
                                                (signal.SIGINT, 130, "interrupted")])
def test_a_stopped_exam_cleans_up(tmp_path, signum, code, word):
    require_tex()
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    before = snapshot(out)
    proc = _start(["exam", EXAMPLES / "exam.toml", "--out", out, "--pdf"], tmp_path, tmpdir)
    deadline = time.monotonic() + 120
    while not list(tmpdir.glob("symbolic-bptt-*/*.log")) and time.monotonic() < deadline:
        time.sleep(0.05)  # until latexmk is at work
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code
    assert err == f"symbolic-bptt: error: {word}\n"
    assert not list(tmpdir.iterdir())
    assert snapshot(out) == before
    time.sleep(0.5)
    assert not _latexmk_alive(tmpdir)
