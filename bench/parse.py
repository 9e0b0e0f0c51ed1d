"""Front-end speed: parse, and parse + compile + validate, on a synthetic >= 10,000-line project.

Prints, side by side in one run: Lark alone building a bare tree (the raw limit of the parsing
library), our parser (Lark + recovery + AST), and the whole front end (load_project: parse,
compile, every check, templates); then the wall time of `cadenza validate examples/*` as a
user runs it (a fresh process each time).

    .venv/bin/python bench/parse.py [--playbooks 260] [--repeat 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cadenza.grammar.parser import build_parser, parse_text
from cadenza.playbooks.project import load_project

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


def best(fn: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--playbooks", type=int, default=260)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "synthetic"
        lines = make_project(root, args.playbooks)
        texts = [(str(p), p.read_text("utf-8")) for p in sorted(root.glob("*.play"))]
        lark = build_parser()
        raw = best(lambda: [lark.parse(t) for _, t in texts], args.repeat)
        ours = best(lambda: [parse_text(t, f) for f, t in texts], args.repeat)
        loaded = load_project(root)
        assert loaded.ok, loaded.diagnostics[:3]
        whole = best(lambda: load_project(root), args.repeat)
    examples = sorted(str(p) for p in (REPO / "examples").iterdir() if p.is_dir())
    cli = [str(Path(sys.executable).with_name("cadenza")), "validate", *examples]
    validate = best(lambda: subprocess.run(cli, check=True, capture_output=True), args.repeat)
    print(f"synthetic project: {args.playbooks} playbooks, {lines:,} lines (best of {args.repeat})")
    print(f"{'stage':44} {'seconds':>8} {'lines/s':>10} {'vs raw':>7}")
    for name, secs in (("lark alone (tree, positions; the raw limit)", raw),
                       ("parse: lark + recovery + AST", ours),
                       ("front end: parse + compile + all checks", whole)):
        print(f"{name:44} {secs:8.3f} {lines / secs:10,.0f} {raw / secs:7.2f}")
    verdict = "meets" if lines / whole >= 20_000 else "MISSES"
    print(f"target >= 20,000 lines/s for the whole front end: {verdict}")
    ok = "meets" if validate < 1.0 else "MISSES"
    print(f"cadenza validate examples/* ({len(examples)} projects, fresh process): "
          f"{validate:.2f} s wall; target < 1 s: {ok}")


if __name__ == "__main__":
    main()
