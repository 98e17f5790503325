"""Package data as the installed package reads it, and the message when a file is missing."""

from __future__ import annotations

import tomllib

from conftest import EXAMPLES, ROOT

from symbolic_bptt.cli.main import main
from symbolic_bptt.documents import render


def test_a_missing_template_is_an_incomplete_installation_not_a_write_error(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(render, "TEMPLATES", tmp_path / "nowhere")
    code = main(["render", str(EXAMPLES / "deck.toml"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1
    assert "incomplete installation: template 'article.tex.j2' is missing" in err
    assert "cannot write" not in err
    assert not (tmp_path / "out").exists()


def test_the_package_ships_every_template_and_example_of_the_repository():
    # the package's templates/ and examples/ are the repository's folders, not copies
    shipped = render.TEMPLATES
    assert sorted(p.name for p in shipped.iterdir()) == sorted(
        p.name for p in (ROOT / "templates").iterdir())
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = pyproject["tool"]["setuptools"]["package-data"]["symbolic_bptt"]
    assert "templates/*.j2" in globs and "examples/*.toml" in globs
    assert all(p.suffix == ".j2" for p in (ROOT / "templates").iterdir())


def test_license_is_the_spdx_string_and_the_file_says_mit():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
