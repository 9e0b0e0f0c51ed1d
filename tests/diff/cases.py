"""Pairs of versions of examples/cart_recovery: each case edits a copy into HEAD (or BASE)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "cart_recovery"
PLAY = "cart_recovery.play"

Edit = tuple[str, str, str]  # file, old text, new text (the old text must be there)

WELCOME = """\
playbook welcome "Say hello once" {
  framework aarrr
  when event order_completed
  audience email_opt_in
  hello: send email "welcome" stage activation
  wait 3d
  send email "welcome" stage retention
}
"""
TEMPLATE = "---\nsubject: Welcome, {{ first_name }}\n---\n<p>Hello {{ first_name }}!</p>\n"


@dataclass(frozen=True)
class Case:
    head: tuple[Edit, ...] = ()
    base: tuple[Edit, ...] = ()  # edits that make BASE (the "remove" cases)
    files: dict[str, str] = field(default_factory=dict)  # new files in HEAD
    base_files: dict[str, str] = field(default_factory=dict)  # new files in BASE


CASES: dict[str, Case] = {
    "rename_step": Case(head=(
        (PLAY, "-> sms_nudge", "-> text_nudge"), (PLAY, "  sms_nudge: send", "  text_nudge: send"),
    )),
    "reorder_steps": Case(head=(
        (PLAY, '  loyal_offer: send email "loyal-offer" stage revenue\n  end\n\n', ""),
        (PLAY, "Reply STOP to opt out.\" stage revenue\n  end\n",
         "Reply STOP to opt out.\" stage revenue\n  end\n\n"
         '  loyal_offer: send email "loyal-offer" stage revenue\n  end\n'),
    )),
    "change_wait": Case(head=((PLAY, "  wait 1d\n", "  wait 2d\n"),)),
    "change_condition": Case(head=(
        (PLAY, "when segment sms_reachable ->",
         "when segment sms_reachable and not segment frequent_buyer ->"),
    )),
    "change_template": Case(head=(
        ("templates/last-chance.liquid", "a little longer.", "until midnight."),
        ("templates/last-chance.liquid", "subject: Last call", "subject: Final call"),
    )),
    "change_policy": Case(head=(
        (PLAY, "cap email 2 per 1d", "cap email 1 per 1d"),
        (PLAY, "  goal recovered", "  on change migrate {\n    sms_nudge -> last_chance\n  }\n"
                               "  goal recovered"),
    )),
    "add_playbook": Case(files={"welcome.play": WELCOME, "templates/welcome.liquid": TEMPLATE}),
    "remove_playbook": Case(base_files={"welcome.play": WELCOME,
                                        "templates/welcome.liquid": TEMPLATE}),
    "format_only": Case(head=(
        (PLAY, "  cap email 2 per 1d  # stricter than the project default (3 per day)\n", ""),
        (PLAY, '  owner "growth@shop.example"\n',
         '  owner   "growth@shop.example"\n  cap email 2 per 1d\n\n# a new comment\n'),
        (PLAY, "  wait 1h\n", "\n\n      wait 1h   # reformatted\n"),
        ("segments.play", "segment frequent_buyer \"Ordered at least twice in the last 30 "
                          "days\" =\n    count(order_completed in last 30d) >= 2\n\n", ""),
        ("segments.play", "# segments.play", "segment frequent_buyer \"Ordered at least twice in "
                          "the last 30 days\" = count(order_completed in last 30d) >= 2\n"
                          "# segments.play"),
    )),
}


def _apply(root: Path, edits: tuple[Edit, ...], files: dict[str, str]) -> None:
    for name, old, new in edits:
        path = root / name
        text = path.read_text("utf-8")
        assert old in text, f"case edit does not apply: {old!r} is not in {name}"
        path.write_text(text.replace(old, new), "utf-8")
    for name, text in files.items():
        (root / name).write_text(text, "utf-8")


def write_case(case: Case, base: Path, head: Path) -> None:
    """BASE and HEAD folders (play files and templates only; no sample data needed)."""
    for target in (base, head):
        shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("data"))
    _apply(base, case.base, case.base_files)
    _apply(head, case.head, case.files)
