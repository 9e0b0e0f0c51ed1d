"""`cadenza init DIR`: a new playbook project that validates, simulates and tests as it is."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import click

from cadenza.engine.cli.output import finish

FILES: dict[str, str] = {
    "cadenza.toml": """\
[project]
name = "{name}"
timezone = "America/New_York"  # for customers whose own time zone is unknown
""",
    "schema.play": """\
# What customers and events look like. Conditions and templates are checked against this.
schema {
  customer {
    first_name: string
    email_opt_in: bool
    signed_up_at: timestamp
  }
  event signed_up {
    source: string
  }
  event activated {
  }
}
""",
    "defaults.play": """\
# Policies for every playbook of the project; a playbook may override them.
defaults {
  quiet hours 21:00-08:00
  cap email 3 per 7d
  consent email: email_opt_in
}
""",
    "welcome.play": """\
playbook welcome "Welcome new sign-ups" {
  framework aarrr
  touch low
  owner "growth@example.com"

  when event signed_up
  audience email_opt_in
  exit when event activated
  goal activated: event activated within 14d

  hello: send email "welcome" stage acquisition
  wait 2d
  send email "getting-started" stage activation
  end
}
""",
    "tests.play": """\
test "a new sign-up gets the welcome mail at once and the guide two days later" {
  playbook welcome
  customer {
    first_name = "Ana",
    email = "ana@example.com",
    email_opt_in = true,
    timezone = "Europe/London"
  }
  event signed_up at 2026-03-02T10:00Z { source = "ads" }
  expect email "welcome" at 2026-03-02T10:00Z
  expect email "getting-started" at 2026-03-04T10:00Z
}

test "activating stops the series" {
  playbook welcome
  customer {
    first_name = "Bo",
    email = "bo@example.com",
    email_opt_in = true,
    timezone = "Europe/London"
  }
  event signed_up at 2026-03-02T10:00Z { source = "ads" }
  event activated at 2026-03-03T09:00Z
  expect email "welcome" at 2026-03-02T10:00Z
}
""",
    "templates/welcome.liquid": """\
---
subject: Welcome, {{ first_name }}!
---
<p>Hi {{ first_name }}, thanks for signing up.</p>
""",
    "templates/getting-started.liquid": """\
---
subject: Three things to try first
---
<p>{{ first_name }}, here is how to get going.</p>
""",
    "data/customers.jsonl": """\
{"id": "c1", "email": "ana@example.com", "timezone": "Europe/London", "first_name": "Ana", "email_opt_in": true}
{"id": "c2", "email": "bo@example.com", "timezone": "America/New_York", "first_name": "Bo", "email_opt_in": true}
{"id": "c3", "email": "cy@example.com", "timezone": "Asia/Tokyo", "first_name": "Cy", "email_opt_in": false}
""",
    "data/events.jsonl": """\
{"customer_id": "c1", "event": "signed_up", "timestamp": "2026-03-02T10:00:00Z", "properties": {"source": "ads"}}
{"customer_id": "c2", "event": "signed_up", "timestamp": "2026-03-02T15:00:00Z", "properties": {"source": "blog"}}
{"customer_id": "c2", "event": "activated", "timestamp": "2026-03-03T16:00:00Z", "properties": {}}
{"customer_id": "c3", "event": "signed_up", "timestamp": "2026-03-03T01:00:00Z", "properties": {"source": "ads"}}
""",
    ".gitattributes": "*.play text eol=lf linguist-language=HCL\n",
    # `cadenza serve .` keeps its SQLite store here: state, not source.
    ".gitignore": "# cadenza serve's embedded store (state, not source)\n.cadenza/\n",
}
WORKFLOW = ".github/workflows/cadenza.yml"


def workflow() -> str:
    """The GitHub Actions workflow; docs/ci/cadenza.yml is the same file."""
    return files("cadenza.engine.cli").joinpath("github-workflow.yml").read_text("utf-8")


def run(directory: Path) -> int:
    if directory.exists() and any(directory.iterdir()):
        click.echo(f"error: '{directory}' is not empty; choose a new or empty directory.",
                   err=True)
        return 1
    name = directory.resolve().name
    scaffold = {**{rel: text.replace("{name}", name) for rel, text in FILES.items()},
                WORKFLOW: workflow()}
    for rel, text in scaffold.items():
        target = directory / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8", newline="\n")
    click.echo(f"created a playbook project in {directory}; next: cadenza validate {directory}")
    click.echo(f"on GitHub, {WORKFLOW} checks every pull request once the repository variable "
               "CADENZA_PACKAGE names what pip installs Cadenza from.")
    return 0


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def command(directory: Path) -> None:
    """Create a new playbook project in DIRECTORY."""
    finish(run(directory))
