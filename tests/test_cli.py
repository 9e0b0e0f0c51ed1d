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
    """`cadenza validate examples/*` exits 0 with no error and no warning but known conflicts.

    Three examples hold lifecycle playbooks whose sends can line up over a shared cap (W060);
    tests/playbooks/test_conflicts.py names them.
    """
    code, output = _run("validate", *map(str, EXAMPLES))
    assert code == 0, output
    assert len(EXAMPLES) >= 9
    assert output.count("ok — ") == len(EXAMPLES)
    assert "0 errors, 0 warnings" in output
    assert output.count("warning[") == output.count("warning[W060]"), output


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_every_example_draws_as_mermaid(example: Path) -> None:
    """`cadenza graph DIR` prints a Mermaid flowchart for every playbook of the example."""
    code, output = _run("graph", str(example))
    assert code == 0, output
    playbooks = output.count("flowchart TD\n")
    assert playbooks >= 1
    assert '__end(("end"))' in output
    if playbooks == 1:
        assert output.startswith("flowchart TD\n")
    else:  # each diagram says which playbook it is
        assert output.count("%% playbook ") == playbooks
        assert output.startswith("%% playbook ")


def test_graph_markdown_gives_a_mermaid_block_per_playbook() -> None:
    """--format markdown: a heading and a fenced Mermaid block for each playbook."""
    code, output = _run("graph", str(REPO / "examples" / "mckinsey_cdj"), "--format", "markdown")
    assert code == 0, output
    assert output.startswith("## consider_to_buy\n\n```mermaid\nflowchart TD\n")
    assert output.count("```mermaid\n") == 3
    assert output.count("```") == 6


def test_graph_dot_format() -> None:
    """--format dot prints a Graphviz digraph."""
    code, output = _run("graph", str(EXAMPLES[0]), "--format", "dot")
    assert code == 0
    assert output.startswith("digraph ")


def test_graph_shows_exits_and_goals() -> None:
    """What ends a journey early and what counts as success hold at every step: one note
    beside the steps, in both formats (a trial found `graph` showed neither)."""
    cart = str(REPO / "examples" / "cart_recovery")
    note = "exit when event order_completed<br/>goal recovered: event order_completed within 7d"
    assert f'  rules>"{note}"]\n' in _run("graph", cart)[1]
    assert ('  rules [label="exit when event order_completed\\ngoal recovered: event '
            'order_completed within 7d", shape=note];') in _run("graph", cart, "--format", "dot")[1]


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
    # serve's embedded store lives in the checkout; git must not pick it up.
    assert ".cadenza/" in (tmp_path / "new" / ".gitignore").read_text("utf-8").splitlines()


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


def test_validate_a_folder_of_projects_checks_each_on_its_own() -> None:
    """`cadenza validate examples` is every example, each its own project (names repeat
    across examples: merged, they would clash)."""
    code, output = _run("validate", str(REPO / "examples"))
    assert code == 0, output
    assert output.count("ok — ") == len(EXAMPLES)
    assert "error[" not in output


def test_fmt_check_on_a_folder_of_projects_reaches_each_project(tmp_path: Path) -> None:
    """`cadenza fmt --check projects/` looks inside every project below, not only loose files."""
    for name in ("a", "b"):
        _run("init", str(tmp_path / name))
    play = tmp_path / "b" / "welcome.play"
    play.write_text(play.read_text("utf-8").replace("\n  ", "\n      "), "utf-8")
    code, output = _run("fmt", "--check", str(tmp_path))
    assert code == 1
    assert f"would reformat {play}" in output
    assert str(tmp_path / "a") not in output


def test_validate_counts_the_playbooks_of_a_failing_project(tmp_path: Path) -> None:
    """The summary of a project with errors still counts the playbooks written in it."""
    _run("init", str(tmp_path / "p"))
    play = tmp_path / "p" / "welcome.play"
    play.write_text(play.read_text("utf-8").replace('"welcome"', '"welcom"'), "utf-8")
    code, output = _run("validate", str(tmp_path / "p"))
    assert code == 1
    assert "failed — 1 playbook, 1 error, 0 warnings" in output


def test_a_test_customer_whose_address_a_provider_refuses_is_a_diagnostic(
        tmp_path: Path) -> None:
    """An email or phone that simulate would drop from the audience is an error in a test
    (it passed, sending to it); a phone with dashes is taken in its E.164 form."""
    _run("init", str(tmp_path / "p"))
    tests = tmp_path / "p" / "tests.play"
    text = (tests.read_text("utf-8")
            .replace('email = "ana@example.com",',
                     'email = "ana@example.com", phone = "312-555-0101",')
            .replace('email = "bo@example.com"', 'email = "bo-at-example.com"'))
    tests.write_text(text + """
test "a phone with dashes" {
  playbook welcome
  customer { first_name = "Cy", email = "cy@example.com", phone = "+1 (415) 555-0123",
             email_opt_in = true }
  event signed_up at 2026-03-02T10:00Z { source = "ads" }
  expect email "welcome" at 2026-03-02T10:00Z
}
""", "utf-8")
    code, output = _run("validate", str(tmp_path / "p"))
    assert code == 1
    assert ("error[E021]: the test customer's phone: '312-555-0101' is not a phone number in "
            "E.164 form: '+', the country code and the number, such as '+14155550123'."
            in output)
    assert ("error[E021]: the test customer's email: 'bo-at-example.com' is not an email "
            "address (name@domain.example)." in output)
    assert "'+1 (415) 555-0123'" not in output
    assert "failed — 1 playbook, 2 errors" in output


def test_a_test_customer_in_an_unknown_zone_is_a_diagnostic(tmp_path: Path) -> None:
    """validate reports it (E021) and `cadenza test` refuses the project, never crashes."""
    _run("init", str(tmp_path / "p"))
    tests = tmp_path / "p" / "tests.play"
    tests.write_text(tests.read_text("utf-8").replace('"Europe/London"', '"Mars/Base"'),
                     "utf-8")
    code, output = _run("validate", str(tmp_path / "p"))
    assert code == 1
    assert "error[E021]: unknown time zone 'Mars/Base' for the test customer." in output
    assert 'help: use an IANA zone name such as "America/New_York"' in output
    code, output = _run("test", str(tmp_path / "p"))
    assert code == 1
    assert "internal error" not in output
    assert "cannot test a project with errors" in output


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
