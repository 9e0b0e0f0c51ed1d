"""Where a side of a diff comes from: a project directory, or a git ref read without checkout.

A git ref is read from the repository that contains the current directory; the project is the
current directory's path inside it (or `--project DIR`). Only what the compiler reads is
copied out (`*.play`, `*.liquid`, `cadenza.toml`), with one `git ls-tree` and one
`git cat-file --batch`, into a temporary folder named like the project (its name is the
default project name).
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

NEEDED_SUFFIXES = (".play", ".liquid")
CONFIG = "cadenza.toml"


class SourceError(Exception):
    """A side that cannot be read; the message is a full sentence with the fix."""


@dataclass(frozen=True)
class Side:
    given: str  # as typed: a directory or a ref
    root: Path  # the folder to load
    shown: str  # prefix for file names in messages: "" or "origin/main:examples/shop/"
    tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, compare=False)

    def close(self) -> None:
        if self.tmp is not None:
            self.tmp.cleanup()

    def label(self, file: str) -> str:
        """A file name as the user knows it (`ref:path` for a file read from git)."""
        if not self.shown:
            return file
        try:
            return self.shown + Path(file).relative_to(self.root).as_posix()
        except ValueError:
            return file


def _git(args: list[str], cwd: Path,
         stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True,
                          check=False)


def repo_top(cwd: Path, ref: str) -> Path:
    done = _git(["rev-parse", "--show-toplevel"], cwd)
    if done.returncode != 0:
        raise SourceError(
            f"'{ref}' is not a directory, and '{cwd}' is not inside a git repository, so it "
            "cannot be read as a git ref either; pass two project directories, or run the "
            "command inside your playbook repository.")
    return Path(done.stdout.decode().strip())


def commit_of(top: Path, ref: str) -> str:
    done = _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], top)
    if done.returncode != 0:
        raise SourceError(
            f"'{ref}' is neither a directory nor a git ref of the repository at '{top}'; "
            "check the name with 'git branch -a' or 'git log --oneline' (for a remote branch, "
            "run 'git fetch' first).")
    return done.stdout.decode().strip()


def project_prefix(top: Path, cwd: Path, project: Path | None) -> str:
    target = (cwd / project if project is not None else cwd).resolve()
    try:
        rel = target.relative_to(top.resolve())
    except ValueError:
        raise SourceError(
            f"the project folder '{project or cwd}' is outside the git repository at "
            f"'{top}'; pass --project with a folder inside it.") from None
    return rel.as_posix() if rel.parts else ""


def _wanted(path: str, prefix: str) -> bool:
    rel = PurePosixPath(path).relative_to(prefix) if prefix else PurePosixPath(path)
    return rel.suffix in NEEDED_SUFFIXES or rel.as_posix() == CONFIG


def _list(top: Path, commit: str, ref: str, prefix: str) -> list[str]:
    done = _git(["ls-tree", "-r", "-z", "--name-only", commit, "--", prefix or "."], top)
    names = [n for n in done.stdout.decode().split("\0") if n]
    _one_project(names, ref, prefix)
    files = [n for n in names if _wanted(n, prefix)]
    if not any(n.endswith(".play") for n in files):
        raise SourceError(
            f"the project folder '{prefix or '.'}' has no .play files at '{ref}'; check that "
            "it existed there, or pass --project DIR naming the folder that holds the "
            "playbooks at both refs.")
    return files


def _one_project(names: list[str], ref: str, prefix: str) -> None:
    """A folder of several projects (each with its cadenza.toml) is not one project: read as
    one, their names collide and each other's templates go missing."""
    inner = sorted(str(PurePosixPath(n).parent) for n in names
                   if PurePosixPath(n).name == CONFIG and str(PurePosixPath(n).parent) != (
                       prefix or "."))
    if inner and f"{prefix + '/' if prefix else ''}{CONFIG}" not in names:
        listed = ", ".join(inner[:5]) + (", ..." if len(inner) > 5 else "")
        held = (f"holds the project '{inner[0]}' (its {CONFIG} is there)" if len(inner) == 1
                else f"holds several projects ({listed}: each has a {CONFIG})")
        raise SourceError(f"the folder '{prefix or '.'}' is not a project at '{ref}': it "
                          f"{held}; name the project with --project {inner[0]}, or pass its "
                          f"folder as the other side (cadenza diff {ref} {inner[0]}).")


def _blobs(top: Path, commit: str, names: list[str]) -> list[bytes]:
    """Every file's content from one `git cat-file --batch` (one process, not one per file)."""
    query = "".join(f"{commit}:{n}\n" for n in names).encode()
    out = _git(["cat-file", "--batch"], top, stdin=query).stdout
    blobs, pos = [], 0
    for _ in names:
        head_end = out.index(b"\n", pos)
        size = int(out[pos:head_end].split()[2])
        blobs.append(out[head_end + 1:head_end + 1 + size])
        pos = head_end + 1 + size + 1
    return blobs


def from_ref(ref: str, cwd: Path, project: Path | None) -> Side:
    top = repo_top(cwd, ref)
    commit = commit_of(top, ref)
    prefix = project_prefix(top, cwd, project)
    names = _list(top, commit, ref, prefix)
    tmp = tempfile.TemporaryDirectory(prefix="cadenza-diff-")
    root = Path(tmp.name) / (PurePosixPath(prefix).name if prefix else top.name)
    for name, data in zip(names, _blobs(top, commit, names), strict=True):
        target = root / (PurePosixPath(name).relative_to(prefix) if prefix else name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return Side(ref, root, f"{ref}:{prefix + '/' if prefix else ''}", tmp)


def open_side(given: str, cwd: Path, project: Path | None) -> Side:
    """A directory is the project itself (--project is for git refs); else a git ref."""
    path = cwd / given
    if path.is_dir():
        return Side(given, path, "")
    return from_ref(given, cwd, project)
