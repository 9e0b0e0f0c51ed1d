"""Cadenza in a team's git and CI: pre-commit hooks, the pull-request workflow, .gitattributes.

The hooks are run the way pre-commit runs them (entry, then the staged files its `files`
pattern selects); the workflow's comment script runs under Node against a fake GitHub API.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from cadenza.engine.cli.init import run as init_project

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "mckinsey_cdj"
BIN = Path(sys.executable).parent
MARKER = "<!-- cadenza-diff -->"


def _hooks() -> dict[str, dict[str, Any]]:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text("utf-8"))
    return {h["id"]: h for h in hooks}


def _run_hook(hook_id: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """What `pre-commit run HOOK --all-files` does for the files of `folder`."""
    hook = _hooks()[hook_id]
    staged = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    chosen = [f for f in staged if re.search(hook["files"], f)]
    command = shlex.split(hook["entry"]) + hook.get("args", [])
    if hook.get("pass_filenames", True):
        command += chosen
    command[0] = str(BIN / command[0])
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, check=False,
                          timeout=120)


def _copy_example(tmp_path: Path) -> Path:
    return Path(shutil.copytree(EXAMPLE, tmp_path / EXAMPLE.name))


# ------------------------------------------------------------------ pre-commit hooks
def test_hook_definitions_follow_the_pre_commit_manifest() -> None:
    hooks = _hooks()
    assert set(hooks) == {"cadenza-validate", "cadenza-fmt"}
    for hook in hooks.values():
        assert {"id", "name", "entry", "language"} <= set(hook)
        assert hook["language"] == "python"  # pre-commit installs this repository to run it
        assert re.search(hook["files"], "playbooks/cart.play")
        assert not re.search(hook["files"], "templates/cart.liquid")
        assert not re.search(hook["files"], "notes.play.md")


def test_hooks_pass_on_a_clean_example(tmp_path: Path) -> None:
    project = _copy_example(tmp_path)
    for hook_id in ("cadenza-validate", "cadenza-fmt"):
        result = _run_hook(hook_id, project)
        assert result.returncode == 0, result.stdout + result.stderr


def test_validate_hook_checks_a_staged_file_with_its_whole_project(tmp_path: Path) -> None:
    """A file alone would not compile (its segments live in segments.play): the project does."""
    project = _copy_example(tmp_path)
    result = subprocess.run([str(BIN / "cadenza"), "validate", "consider_to_buy.play",
                             "enjoy_to_bond.play"], cwd=project, capture_output=True,
                            text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ok — 3 playbooks") == 1  # two files, one project, loaded once


def test_validate_hook_fails_on_a_broken_playbook(tmp_path: Path) -> None:
    project = _copy_example(tmp_path)
    play = project / "consider_to_buy.play"
    play.write_text(play.read_text("utf-8").replace("segment owner", "segment ownr", 1),
                    encoding="utf-8")
    result = _run_hook("cadenza-validate", project)
    assert result.returncode == 1
    assert "error[E011]: unknown segment 'ownr' — did you mean 'owner'?" in result.stdout


def test_fmt_hook_fails_on_a_file_out_of_layout_and_changes_nothing(tmp_path: Path) -> None:
    project = _copy_example(tmp_path)
    play = project / "segments.play"
    messy = play.read_text("utf-8").replace("segment owner", "segment   owner", 1)
    play.write_text(messy, encoding="utf-8")
    result = _run_hook("cadenza-fmt", project)
    assert result.returncode == 1
    assert "would reformat segments.play" in result.stdout
    assert play.read_text("utf-8") == messy


# ------------------------------------------------------------------ the GitHub workflow
@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("init") / "team"
    assert init_project(target) == 0
    return target


def test_a_new_project_passes_both_hooks(scaffolded: Path) -> None:
    """What `cadenza init` writes is valid and already in the layout `cadenza fmt` writes."""
    for hook_id in ("cadenza-validate", "cadenza-fmt"):
        result = _run_hook(hook_id, scaffolded)
        assert result.returncode == 0, result.stdout + result.stderr


def test_init_says_what_the_workflow_needs(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert init_project(tmp_path / "new") == 0
    out = capsys.readouterr().out
    assert ".github/workflows/cadenza.yml checks every pull request" in out
    assert "CADENZA_PACKAGE" in out


def test_init_scaffolds_the_workflow_documented_in_docs_ci(scaffolded: Path) -> None:
    made = (scaffolded / ".github" / "workflows" / "cadenza.yml").read_bytes()
    assert made == (REPO / "docs" / "ci" / "cadenza.yml").read_bytes()


def _workflow() -> dict[Any, Any]:
    data = yaml.safe_load((REPO / "docs" / "ci" / "cadenza.yml").read_text("utf-8"))
    assert isinstance(data, dict)
    return data


def _step(job: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in job["steps"] if s.get("name") == name)


def test_workflow_validates_tests_and_diffs_each_pull_request() -> None:
    data = _workflow()
    # YAML 1.1 reads the key `on` as True; GitHub reads it as "on".
    assert "pull_request" in data[True]
    assert data["permissions"]["pull-requests"] == "write"
    job = data["jobs"]["playbooks"]
    checkout = job["steps"][0]
    assert checkout["uses"].startswith("actions/checkout@")
    assert checkout["with"]["fetch-depth"] == 0
    assert _step(job, "Validate")["run"] == "cadenza validate ."
    assert _step(job, "Formatted")["run"] == "cadenza fmt --check ."
    assert _step(job, "Playbook tests")["run"] == "cadenza test ."
    diff = _step(job, "Diff against the base branch")
    assert ("cadenza diff origin/${{ github.base_ref }} HEAD --format markdown"
            in diff["run"])
    assert "!cancelled()" in diff["if"]  # reviewers get the diff even when a test fails
    post = _step(job, "Post the diff as the pull request's Cadenza comment")
    assert post["uses"].startswith("actions/github-script@")
    assert MARKER in post["with"]["script"]


class _Calls:
    def __init__(self, out: str) -> None:
        self.calls = [json.loads(line) for line in out.splitlines() if line.strip()]


def _comment_script(tmp_path: Path, existing: list[dict[str, Any]], diff: str,
                    outcome: str = "success") -> _Calls:
    """Run the workflow's github-script body under Node with a recording fake `github`."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the comment script cannot be run here")
    script = _step(_workflow()["jobs"]["playbooks"],
                   "Post the diff as the pull request's Cadenza comment")["with"]["script"]
    (tmp_path / "cadenza-diff.md").write_text(diff, encoding="utf-8")
    harness = f"""
const existing = {json.dumps(existing)};
const record = (name) => async (args) => {{
  console.log(JSON.stringify({{ call: name, args }})); return {{ data: existing }};
}};
const github = {{
  rest: {{ issues: {{ listComments: record('list'), updateComment: record('update'),
                      createComment: record('create') }} }},
  paginate: async (fn, args) => {{ await fn(args); return existing; }},
}};
const context = {{ repo: {{ owner: 'team', repo: 'playbooks' }}, issue: {{ number: 7 }},
                  serverUrl: 'https://github.com', runId: 99 }};
(async () => {{
{script}
}})().catch((e) => {{ console.error(e); process.exit(1); }});
"""
    (tmp_path / "harness.js").write_text(harness, encoding="utf-8")
    result = subprocess.run([node, str(tmp_path / "harness.js")], capture_output=True,
                            text=True, check=False, timeout=60,
                            env={"RUNNER_TEMP": str(tmp_path), "PATH": "/usr/bin:/bin",
                                 "DIFF_OUTCOME": outcome})
    assert result.returncode == 0, result.stderr
    return _Calls(result.stdout)


def test_first_push_creates_the_comment_with_the_marker(tmp_path: Path) -> None:
    human = {"id": 1, "user": {"type": "User"}, "body": f"quoting {MARKER}"}
    calls = _comment_script(tmp_path, [human], "## Playbook changes\n").calls
    assert [c["call"] for c in calls] == ["list", "create"]
    assert calls[1]["args"]["issue_number"] == 7
    assert calls[1]["args"]["body"] == f"{MARKER}\n## Playbook changes\n"


def test_later_pushes_update_the_one_comment(tmp_path: Path) -> None:
    ours = {"id": 42, "user": {"type": "Bot"}, "body": f"{MARKER}\nold diff"}
    other_bot = {"id": 43, "user": {"type": "Bot"}, "body": "coverage: 90%"}
    calls = _comment_script(tmp_path, [other_bot, ours], "new diff").calls
    assert [c["call"] for c in calls] == ["list", "update"]
    assert calls[1]["args"]["comment_id"] == 42
    assert calls[1]["args"]["body"] == f"{MARKER}\nnew diff"


def test_a_failed_diff_replaces_the_old_one_with_the_reason(tmp_path: Path) -> None:
    ours = {"id": 42, "user": {"type": "Bot"}, "body": f"{MARKER}\nold diff"}
    calls = _comment_script(tmp_path, [ours], "error[E011]: unknown segment 'vps'",
                            outcome="failure").calls
    assert [c["call"] for c in calls] == ["list", "update"]
    body = calls[1]["args"]["body"]
    assert body.startswith(f"{MARKER}\n**cadenza diff failed on this push**")
    assert "https://github.com/team/playbooks/actions/runs/99" in body
    assert "```\nerror[E011]: unknown segment 'vps'\n```" in body


def test_an_oversized_diff_is_cut_below_githubs_limit(tmp_path: Path) -> None:
    calls = _comment_script(tmp_path, [], "x" * 70_000).calls
    body = calls[-1]["args"]["body"]
    assert len(body) < 65_536
    assert body.endswith("the whole diff is in the job summary.")


# ------------------------------------------------------------------ .gitattributes, git diff
GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "PATH": "/usr/bin:/bin",
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True,
                          env=GIT_ENV).stdout


def _committed(scaffolded: Path, tmp_path: Path, *, attributes: bool) -> Path:
    repo = Path(shutil.copytree(scaffolded, tmp_path / "origin"))
    if not attributes:
        (repo / ".gitattributes").unlink()
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "init")
    return repo


@pytest.mark.parametrize(("attributes", "clean"), [(True, True), (False, False)])
def test_eol_lf_keeps_fmt_check_green_on_crlf_checkouts(
        scaffolded: Path, tmp_path: Path, attributes: bool, clean: bool) -> None:
    """A Windows-style checkout (core.autocrlf) writes CRLF unless .gitattributes says eol=lf."""
    origin = _committed(scaffolded, tmp_path, attributes=attributes)
    _git(tmp_path, "clone", "-q", "-c", "core.autocrlf=true", str(origin), "clone")
    clone = tmp_path / "clone"
    assert (b"\r\n" in (clone / "welcome.play").read_bytes()) != clean
    assert (_run_hook("cadenza-fmt", clone).returncode == 0) == clean


def test_git_diff_hunks_already_name_the_playbook(scaffolded: Path, tmp_path: Path) -> None:
    """Declarations start in column 0 and their bodies are indented, so git's default hunk
    header is the enclosing playbook: no diff driver is needed (docs/ci.md says so)."""
    repo = _committed(scaffolded, tmp_path, attributes=True)
    play = repo / "welcome.play"
    play.write_text(play.read_text("utf-8").replace("wait 2d", "wait 3d"), encoding="utf-8")
    hunk = next(line for line in _git(repo, "diff").splitlines() if line.startswith("@@"))
    assert hunk.endswith('@@ playbook welcome "Welcome new sign-ups" {')
