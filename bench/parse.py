"""Front-end speed: parse, and parse + compile + validate, on a synthetic >= 10,000-line project.

Prints, side by side in one run (stages interleaved, best of --repeat): Lark alone building a
bare tree (stock Lark usage: contextual lexer, tree with positions; the baseline), the stock
parse (Lark + error recovery + AST: what the parser falls back to on a syntax error), the fast
path (our tokenizer feeding Lark's LALR tables, AST built in the reductions), the front end
without the cross-playbook pass, that pass alone (W060-W063, pairwise over playbooks), and the
whole front end as `cadenza validate` runs it (load_project). Then the wall (and CPU) time of
`cadenza validate examples/*` in a fresh process, with Python's bytecode cache as an installed
package has it, and as run here when PYTHONDONTWRITEBYTECODE is set (every module compiled
from source on each run).

    .venv/bin/python bench/parse.py [--playbooks 260] [--repeat 10] [--repeat-slow 3] [--cpu]

The machine may be shared: stages are interleaved so that load hits them alike, and the
ratios to the Lark baseline are steadier than the absolute figures.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cadenza.grammar.gcpause import gc_paused
from cadenza.grammar.parser import build_parser, parse_bytes, parse_stock, parse_text
from cadenza.playbooks.compiler import ProjectInput, compile_project
from cadenza.playbooks.conflicts import find_conflicts
from cadenza.playbooks.project import _templates, load_project, play_files

REPO = Path(__file__).resolve().parents[1]

SCHEMA = """\
schema {
  customer {
    first_name: string
    plan: enum(free, pro, team)
    ltv: number
    email_opt_in: bool
    sms_opt_in: bool
    renewal_date: timestamp
  }
  event cart_abandoned {
    cart_value: number
    cart_url: string
  }
  event order_completed {
    order_value: number
  }
}

defaults {
  quiet hours 21:00-08:00
  cap email 3 per 7d
  consent sms: sms_opt_in
}
"""

PLAYBOOK = """\
# Playbook {i}: a cart-recovery variant with a branch, a split and an SMS fallback.
segment frequent_{i} "buys at least monthly" = count(order_completed in last 30d) >= 1
segment big_{i} = sum(order_completed.order_value in last 90d) > {i} and plan in ["pro", "team"]

playbook cart_{i} "Win back abandoned carts, variant {i}" {
  framework aarrr
  touch low
  owner "growth@shop.example"
  when event cart_abandoned where event.cart_value >= {i}
  audience email_opt_in and not segment big_{i}
  reenter after 7d
  exit when event order_completed
  goal recovered: event order_completed within 7d
  quiet hours sms 20:00-09:00
  cap email 2 per 1d else skip

  reminder: send email "cart" stage activation
  wait 1h
  branch {
    when segment frequent_{i} -> loyal
    when ltv > 500 or plan == "team" -> loyal
    else -> nudge
  }

  loyal: send email "cart" stage retention
  wait until monday 09:00
  split offer_{i} {
    45% -> a
    45% -> b
    holdout 10%
  }
  a: send email "cart" stage revenue
  end
  b: update ltv = 1
  end

  nudge: wait for event order_completed as order timeout 1d else -> sms
  end
  sms: send sms text "{{ first_name }}, your cart: {{ event.cart_url }}" stage revenue
  wait 2d
  send email "cart" stage revenue
}
"""

TEMPLATE = "---\nsubject: Your cart, {{ first_name }}\n---\n<a href='{{ event.cart_url }}'>x</a>\n"


def make_project(root: Path, playbooks: int) -> int:
    (root / "templates").mkdir(parents=True)
    (root / "templates" / "cart.liquid").write_text(TEMPLATE, encoding="utf-8")
    (root / "schema.play").write_text(SCHEMA, encoding="utf-8")
    for i in range(playbooks):
        (root / f"cart_{i}.play").write_text(PLAYBOOK.replace("{i}", str(i + 1)), encoding="utf-8")
    return sum(len(p.read_text("utf-8").splitlines()) for p in root.glob("*.play"))


def best_of(stages: dict[str, Callable[[], object]], repeat: int, clock: Callable[[], float],
            ) -> dict[str, float]:
    """Each stage's best time, the stages taking turns so that a busy spell hits them alike."""
    best = dict.fromkeys(stages, float("inf"))
    for _ in range(repeat):
        for name, fn in stages.items():
            start = clock()
            fn()
            best[name] = min(best[name], clock() - start)
    return best


def without_conflicts(root: Path) -> None:
    """load_project's work but the cross-playbook pass: read, parse, templates, compile."""
    with gc_paused():  # as load_project does
        docs = [d for p in play_files(root) for d in [parse_bytes(p.read_bytes(), str(p))[0]]
                if d is not None]
        templates, _ = _templates(root, [])
        compile_project(ProjectInput(name=root.name, root=str(root), timezone="UTC",
                                     documents=docs, templates=templates))


def validate_runs(repeat: int) -> dict[str, tuple[float, float]]:
    """Best wall time and best CPU time (user + system) of `cadenza validate examples/*`."""
    examples = sorted(str(p) for p in (REPO / "examples").iterdir() if p.is_dir())
    cli = [str(Path(sys.executable).with_name("cadenza")), "validate", *examples]
    with tempfile.TemporaryDirectory() as cache:
        installed = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        installed["PYTHONPYCACHEPREFIX"] = cache
        runs = {"bytecode cached (as installed)": installed}
        if os.environ.get("PYTHONDONTWRITEBYTECODE"):
            runs["PYTHONDONTWRITEBYTECODE set (as here)"] = dict(os.environ)
        subprocess.run(cli, check=True, capture_output=True, env=installed)  # fills the cache
        best = {name: (float("inf"), float("inf")) for name in runs}
        for _ in range(repeat):
            for name, env in runs.items():
                before, start = os.times(), time.perf_counter()
                subprocess.run(cli, check=True, capture_output=True, env=env)
                wall, after = time.perf_counter() - start, os.times()
                cpu = (after.children_user - before.children_user
                       + after.children_system - before.children_system)
                best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
        return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--playbooks", type=int, default=260)
    ap.add_argument("--repeat", type=int, default=10,
                    help="runs of each parse/compile stage, and of validate")
    ap.add_argument("--repeat-slow", type=int, default=3,
                    help="runs of the stages with the cross-playbook pass")
    ap.add_argument("--cpu", action="store_true", help="process CPU time instead of wall time")
    args = ap.parse_args()
    clock = time.process_time if args.cpu else time.perf_counter
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "synthetic"
        lines = make_project(root, args.playbooks)
        texts = [(str(p), p.read_text("utf-8")) for p in sorted(root.glob("*.play"))]
        lark = build_parser()
        loaded = load_project(root)
        assert loaded.project is not None, loaded.diagnostics[:3]
        project = loaded.project
        times = best_of({
            "lark alone: tree with positions (baseline)": lambda: [lark.parse(t) for _, t in texts],
            "stock parse: lark + recovery + AST": lambda: [parse_stock(t, f) for f, t in texts],
            "parse: fast path (AST in LALR reductions)": lambda: [parse_text(t, f)
                                                                  for f, t in texts],
            "front end without cross-playbook pass": lambda: without_conflicts(root),
        }, args.repeat, clock)
        times |= best_of({
            "cross-playbook pass alone (W060-W063)": lambda: find_conflicts(project),
            "whole front end: load_project": lambda: load_project(root),
        }, args.repeat_slow, clock)
    validate = validate_runs(args.repeat)
    pairs = args.playbooks * (args.playbooks - 1) // 2
    kind = "CPU" if args.cpu else "wall"
    print(f"synthetic project: {args.playbooks} playbooks ({pairs:,} pairs), {lines:,} lines; "
          f"best of {args.repeat} (slow stages {args.repeat_slow}), {kind} time; "
          f"load average {load_before:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'stage':46} {'seconds':>8} {'lines/s':>10} {'vs lark':>8}")
    raw = next(iter(times.values()))
    for name, secs in times.items():
        print(f"{name:46} {secs:8.3f} {lines / secs:10,.0f} {raw / secs:8.2f}")
    for name in ("front end without cross-playbook pass", "whole front end: load_project"):
        rate = lines / times[name]
        verdict = "meets" if rate >= 20_000 else "MISSES"
        print(f"target >= 20,000 lines/s, {name}: {verdict} ({rate:,.0f})")
    for name, (wall, cpu) in validate.items():
        ok = "meets" if wall < 1.0 else "MISSES"
        print(f"cadenza validate examples/*, fresh process, {name}: {wall:.2f} s wall "
              f"({cpu:.2f} s CPU); target < 1 s wall: {ok}")


if __name__ == "__main__":
    main()
