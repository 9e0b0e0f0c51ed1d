"""A small project factory: a shared schema plus the snippet under test."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from cadenza.playbooks.project import LoadedProject, load_project

SCHEMA = """\
schema {
  customer {
    first_name: string
    plan: enum(free, pro)
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

segment buyers = count(order_completed in last 30d) >= 1
"""

TEMPLATES = {
    "welcome": "---\nsubject: Hi {{ first_name }}\n---\n<p>Welcome {{ first_name }}</p>\n",
    "cart": "---\nsubject: Your cart\n---\n<a href='{{ event.cart_url }}'>back</a>\n",
}

Make = Callable[..., LoadedProject]


@pytest.fixture
def make_project(tmp_path: Path) -> Make:
    def make(play: str, *, templates: dict[str, str] | None = None,
             extra: dict[str, str] | None = None) -> LoadedProject:
        (tmp_path / "schema.play").write_text(SCHEMA, encoding="utf-8")
        (tmp_path / "main.play").write_text(play, encoding="utf-8")
        for name, text in (extra or {}).items():
            (tmp_path / name).write_text(text, encoding="utf-8")
        folder = tmp_path / "templates"
        folder.mkdir(exist_ok=True)
        for name, text in {**TEMPLATES, **(templates or {})}.items():
            (folder / f"{name}.liquid").write_text(text, encoding="utf-8")
        return load_project(tmp_path)

    return make
