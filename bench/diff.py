"""`cadenza diff` of two git versions of a ~2,000-line project, against `cadenza validate`.

Both run as a user runs them (a fresh process each time, best of N) on the same synthetic
project, side by side in one run: `validate` compiles one version; `diff` reads two versions
out of git, compiles both and compares them, so about twice `validate` is the floor.

    .venv/bin/python bench/diff.py [--playbooks 48] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from parse import make_project  # bench/parse.py: the synthetic cart-recovery project

CADENZA = str(Path(sys.executable).with_name("cadenza"))


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com",
                    "-c", "commit.gpgsign=false", *args], cwd=cwd, check=True,
                   capture_output=True)


def second_version(root: Path, playbooks: int) -> None:
    """A realistic pull request: waits, a renamed label, a condition and a template."""
    for i in range(1, playbooks + 1, 6):
        path = root / f"cart_{i - 1}.play"
        text = path.read_text("utf-8").replace("wait 1h", "wait 2h")
        text = text.replace("nudge", "gentle_nudge").replace("ltv > 500", "ltv > 400")
        path.write_text(text, "utf-8")
    template = root / "templates" / "cart.liquid"
    template.write_text(template.read_text("utf-8").replace("Your cart", "Still yours"), "utf-8")


def _cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def best(cmd: list[str], cwd: Path, repeat: int) -> tuple[float, float, str]:
    """Best wall time, best CPU time (what a loaded machine does not inflate) and the output."""
    walls, cpus, out = [], [], ""
    for _ in range(repeat):
        start, cpu = time.perf_counter(), _cpu()
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
        walls.append(time.perf_counter() - start)
        cpus.append(_cpu() - cpu)
        assert done.returncode == 0, done.stderr or done.stdout
        out = done.stdout
    return min(walls), min(cpus), out


Clock = Callable[[str, Callable[[], Any]], Any]


def _once(root: Path, clock: Clock) -> None:
    from cadenza.playbooks.conflicts import find_conflicts
    from cadenza.playbooks.diff import diff_projects
    from cadenza.playbooks.diff_render import render_text
    from cadenza.playbooks.diff_source import open_side
    from cadenza.playbooks.project import load_project

    old = os.getcwd()
    os.chdir(root)
    try:
        sides = clock("read both versions out of git",
                      lambda: [open_side(r, root, None) for r in ("HEAD~1", "HEAD")])
    finally:
        os.chdir(old)
    base, head = clock("compile both (load_project x2)",
                       lambda: [load_project(s.root).project for s in sides])
    clock("conflict checks of both (find_conflicts x2)",
          lambda: (find_conflicts(base), find_conflicts(head)))
    diff = clock("semantic diff, conflicts included", lambda: diff_projects(base, head))
    clock("render text", lambda: render_text(diff))
    for s in sides:
        s.close()


def in_process(root: Path, repeat: int) -> dict[str, float]:
    """Where a diff's time goes once Python and the CLI are loaded."""
    out: dict[str, float] = {}

    def clock(name: str, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        value = fn()
        out[name] = min(out.get(name, 1e9), time.perf_counter() - start)
        return value

    for _ in range(repeat):
        _once(root, clock)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--playbooks", type=int, default=48)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        root = repo / "shop"
        lines = make_project(root, args.playbooks)
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "v1")
        second_version(root, args.playbooks)
        git(repo, "commit", "-q", "-am", "v2")
        stages = in_process(root, args.repeat)
        runs = {
            "cadenza validate . (one version, baseline)": best(
                [CADENZA, "validate", "."], root, args.repeat),
            "cadenza --help (start-up alone)": best([CADENZA, "--help"], root, args.repeat),
            "cadenza diff HEAD~1 HEAD": best([CADENZA, "diff", "HEAD~1", "HEAD"], root,
                                             args.repeat),
            "cadenza diff HEAD~1 HEAD --format markdown": best(
                [CADENZA, "diff", "HEAD~1", "HEAD", "--format", "markdown"], root, args.repeat),
        }
    print(f"project: {args.playbooks} playbooks, {lines:,} lines; best of {args.repeat}, "
          f"a fresh process each time; load average {os.getloadavg()[0]:.1f}")
    print(f"plan: {runs['cadenza diff HEAD~1 HEAD'][2].strip().splitlines()[-1]}")
    print(f"{'command':44} {'wall s':>7} {'cpu s':>7} {'cpu vs validate':>16}")
    base = runs["cadenza validate . (one version, baseline)"][1]
    for name, (wall, cpu, _) in runs.items():
        print(f"{name:44} {wall:7.2f} {cpu:7.2f} {cpu / base:15.2f}x")
    print("in one process (seconds, best of the same runs):")
    for name, secs in stages.items():
        print(f"  {name:42} {secs:7.3f}")
    slowest = max(runs[n][0] for n in runs if "diff" in n)
    print(f"target: diff < 2 s wall: {'met' if slowest < 2.0 else 'MISSED'} ({slowest:.2f} s)")


if __name__ == "__main__":
    main()
