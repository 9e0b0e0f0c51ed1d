"""BASE and HEAD as git refs (read with git, no checkout) and the errors a user can make."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.diff.cases import CASES, PLAY, write_case
from tests.diff.test_golden import GOLDEN
from tests.diff.test_golden import run_diff as diff


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=Test", "-c", "user.email=test@example.com",
                    "-c", "commit.gpgsign=false", *args], cwd=cwd, check=True,
                   capture_output=True)


def _commit(repo: Path, source: Path | None, message: str, tag: str) -> None:
    shop = repo / "shop"
    if shop.exists():
        shutil.rmtree(shop)
    if source is not None:
        shutil.copytree(source, shop)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    git(repo, "tag", tag)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """Commits: `empty` (no project yet), `broken`, `v1`, `v2` (wait 1d -> 2d; HEAD, main);
    origin/main points at v1, as after `git fetch` in a pull request's CI job."""
    write_case(CASES["change_wait"], tmp_path / "base", tmp_path / "head")
    broken = tmp_path / "broken"
    shutil.copytree(tmp_path / "base", broken)
    (broken / PLAY).write_text((broken / PLAY).read_text("utf-8").replace(
        "-> sms_nudge", "-> sms_nudg"), "utf-8")
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("playbooks\n", "utf-8")
    _commit(repo, None, "empty", "empty")
    for name in ("broken", "base", "head"):
        _commit(repo, tmp_path / name, name, {"base": "v1", "head": "v2"}.get(name, name))
    git(repo, "update-ref", "refs/remotes/origin/main", "v1")
    return repo


def test_ci_command_from_the_project_directory(repo: Path) -> None:
    """`cadenza diff origin/$BASE HEAD --format markdown` in the project folder of a checkout."""
    code, text = diff(repo / "shop", "origin/main", "HEAD", "--format", "markdown")
    expected = (GOLDEN / "change_wait.md").read_text("utf-8")
    assert code == 0, text
    assert text == expected.replace("`base` → `head`", "`origin/main` → `HEAD`")


def test_project_option_from_the_repository_top(repo: Path) -> None:
    """From elsewhere in the repository, --project names the folder at both refs."""
    code, text = diff(repo, "v1", "v2", "--project", "shop")
    expected = (GOLDEN / "change_wait.txt").read_text("utf-8")
    assert (code, text) == (0, expected.replace("base -> head", "v1 -> v2"))


def test_a_ref_against_a_directory(repo: Path, tmp_path: Path) -> None:
    """One side may be a directory: the working copy of HEAD against the merge base, say."""
    code, text = diff(repo / "shop", "v2", str(tmp_path / "head"), "--exit-code")
    assert (code, text.splitlines()[-1]) == (0, "No semantic change.")


def test_unknown_ref(repo: Path) -> None:
    code, text = diff(repo / "shop", "origin/mian", "HEAD")
    assert code == 2
    assert (f"error: 'origin/mian' is neither a directory nor a git ref of the repository at "
            f"'{repo}'; check the name with 'git branch -a'") in text
    assert "run 'git fetch' first" in text


def test_not_a_git_repository(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    code, text = diff(plain, "main", "HEAD")
    assert code == 2
    assert (f"error: 'main' is not a directory, and '{plain}' is not inside a git "
            "repository") in text
    assert "pass two project directories" in text


def test_project_missing_at_the_ref(repo: Path) -> None:
    code, text = diff(repo / "shop", "empty", "HEAD")
    assert code == 2
    assert ("error: the project folder 'shop' has no .play files at 'empty'; check that it "
            "existed there, or pass --project DIR") in text


def test_project_outside_the_repository(repo: Path, tmp_path: Path) -> None:
    code, text = diff(repo, "v1", "v2", "--project", str(tmp_path / "base"))
    assert code == 2
    assert f"the project folder '{tmp_path / 'base'}' is outside the git repository" in text


def test_base_that_does_not_compile(repo: Path) -> None:
    """The BASE side's diagnostics name files as ref:path, and the command says what to do."""
    code, text = diff(repo / "shop", "broken", "HEAD")
    assert code == 1
    assert "broken:shop/cart_recovery.play:" in text
    assert "unknown step 'sms_nudg'" in text
    assert ("error: the BASE side ('broken') does not compile (2 errors above); fix them "
            "there, or compare against a version where the project compiles.") in text


def test_head_directory_that_does_not_compile(tmp_path: Path) -> None:
    write_case(CASES["change_wait"], tmp_path / "base", tmp_path / "head")
    (tmp_path / "head" / PLAY).write_text("playbook p {\n  goto nowhere\n}\n", "utf-8")
    code, text = diff(tmp_path, "base", "head")
    assert code == 1
    assert "error: the HEAD side ('head') does not compile" in text


def test_events_need_customers(tmp_path: Path) -> None:
    write_case(CASES["change_wait"], tmp_path / "base", tmp_path / "head")
    (tmp_path / "events.jsonl").write_text("", "utf-8")
    code, text = diff(tmp_path, "base", "head", "--events", "events.jsonl")
    assert code == 2
    assert "--events needs --customers" in text


def test_exit_code_flag(tmp_path: Path) -> None:
    """--exit-code: 1 when there are changes, as with `git diff --exit-code`; 0 without it."""
    write_case(CASES["change_wait"], tmp_path / "base", tmp_path / "head")
    assert diff(tmp_path, "base", "head")[0] == 0
    assert diff(tmp_path, "base", "head", "--exit-code")[0] == 1


def test_a_folder_of_several_projects_is_not_one(repo: Path) -> None:
    """From a repository top holding two projects, diff read them as one and reported ~35
    false errors (names declared twice, templates missing); it now asks for --project."""
    (repo / "shop" / "cadenza.toml").write_text('[project]\nname = "shop"\n', "utf-8")
    shutil.copytree(repo / "shop", repo / "outlet")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "two projects")
    code, text = diff(repo, "HEAD", "HEAD")
    assert code == 2
    assert text == ("error: the folder '.' is not a project at 'HEAD': it holds several "
                    "projects (outlet, shop: each has a cadenza.toml); name the project with "
                    "--project outlet, or pass its folder as the other side (cadenza diff HEAD "
                    "outlet).\n")
    code, text = diff(repo, "HEAD", "HEAD", "--project", "shop")
    assert code == 0, text


def test_a_ref_beside_a_project_folder_reads_that_folder_at_the_ref(repo: Path) -> None:
    """From the repository top, `cadenza diff HEAD shop` compares shop at HEAD with the shop
    folder (it said the top "holds several projects" for one, and its advice failed again);
    the same with one project and `.` says which project to name."""
    (repo / "shop" / "cadenza.toml").write_text('[project]\nname = "shop"\n', "utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "a project folder")
    code, text = diff(repo, "HEAD", "shop")
    assert code == 0, text
    assert text.startswith("cadenza diff HEAD -> shop\n")
    code, text = diff(repo, "HEAD", ".")
    assert code == 2
    assert text == ("error: the folder '.' is not a project at 'HEAD': it holds the project "
                    "'shop' (its cadenza.toml is there); name the project with --project shop, "
                    "or pass its folder as the other side (cadenza diff HEAD shop).\n")
