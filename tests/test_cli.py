"""The command line as a user meets it: exit codes and what is printed."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cadenza.engine.cli.main import cli, main

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p for p in (REPO / "examples").iterdir() if (p / "cadenza.toml").is_file())


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), color=False)
    return result.exit_code, result.output


def test_every_example_validates_cleanly() -> None:
    """`cadenza validate examples/*` exits 0 with no error and no warning."""
    code, output = _run("validate", *map(str, EXAMPLES))
    assert code == 0, output
    assert len(EXAMPLES) >= 9
    assert output.count("ok — ") == len(EXAMPLES)
    assert "0 errors, 0 warnings" in output
    assert "warning[" not in output


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_draws_as_mermaid(example: Path) -> None:
    """`cadenza graph DIR` prints a Mermaid flowchart for every playbook of the example."""
    code, output = _run("graph", str(example))
    assert code == 0, output
    assert output.startswith("flowchart TD\n")
    assert "__end((end))" in output


def test_graph_dot_format() -> None:
    """--format dot prints a Graphviz digraph."""
    code, output = _run("graph", str(EXAMPLES[0]), "--format", "dot")
    assert code == 0
    assert output.startswith("digraph ")


def test_graph_unknown_name_suggests(tmp_path: Path) -> None:
    """Asking for a playbook that does not exist names the close match and the choices."""
    _run("init", str(tmp_path / "p"))
    code, output = _run("graph", "welcom", "--project", str(tmp_path / "p"))
    assert code == 1
    assert output.strip() == ("error: no playbook is named 'welcom' — did you mean 'welcome'? "
                              "Playbooks here: welcome.")


def test_init_creates_a_valid_project(tmp_path: Path) -> None:
    """`cadenza init DIR` scaffolds a project that validates with no diagnostics."""
    code, output = _run("init", str(tmp_path / "new"))
    assert code == 0, output
    code, output = _run("validate", "--strict", str(tmp_path / "new"))
    assert code == 0, output
    assert (tmp_path / "new" / "templates" / "welcome.liquid").is_file()


def test_init_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    """init never overwrites: a non-empty target is refused with the reason."""
    (tmp_path / "keep.txt").write_text("mine", encoding="utf-8")
    code, output = _run("init", str(tmp_path))
    assert code == 1
    assert f"'{tmp_path}' is not empty" in output
    assert (tmp_path / "keep.txt").read_text(encoding="utf-8") == "mine"


def test_validate_strict_fails_on_warnings(tmp_path: Path) -> None:
    """Warnings pass by default and fail with --strict."""
    _run("init", str(tmp_path / "p"))
    play = tmp_path / "p" / "welcome.play"
    play.write_text(play.read_text("utf-8").replace(" stage activation", ""), "utf-8")
    assert _run("validate", str(tmp_path / "p"))[0] == 0
    code, output = _run("validate", "--strict", str(tmp_path / "p"))
    assert code == 1
    assert "warning[W041]" in output


def test_validate_missing_path_is_a_usage_error() -> None:
    """A path that does not exist is a usage error (exit 2) naming the path."""
    code, output = _run("validate", "no/such/dir")
    assert code == 2
    assert "'no/such/dir' does not exist" in output


def test_main_returns_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The console entry point returns 1 for a project with errors, never a traceback."""
    (tmp_path / "a.play").write_bytes(b"playbook \xff {")
    assert main(["validate", str(tmp_path)]) == 1
    out = capsys.readouterr()
    assert "error[E003]" in out.out
    assert "Traceback" not in out.out + out.err
