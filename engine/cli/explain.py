"""`cadenza explain --db PATH --customer ID`: one customer's journeys, step by step, and why."""

from __future__ import annotations

import json
from pathlib import Path

import click
from sqlalchemy import make_url

from cadenza.engine.cli.output import finish
from cadenza.engine.explain import ExplainError, as_json, explain, render_text


def store_path(db: str) -> Path:
    """`--db` as a file: a path, or the `sqlite:///PATH` URL that serve and plan take."""
    if "://" not in db:
        return Path(db)
    url = make_url(db)
    if url.get_backend_name() != "sqlite" or not url.database:
        raise ExplainError(f"explain reads a SQLite store file; '{db}' is not one. For a "
                           "PostgreSQL store ask the running server: GET "
                           "/v1/customers/ID/timeline (docs/api.md).")
    return Path(url.database)


def run(db: str, customer: str, playbook: str | None, output: str) -> int:
    try:
        timeline = explain(store_path(db), customer, playbook)
    except ExplainError as exc:
        click.echo(f"error: {exc}", err=True)
        return 1
    if output == "json":
        click.echo(json.dumps(as_json(timeline), indent=2, ensure_ascii=False))
    else:
        click.echo(render_text(timeline))
    return 0


@click.command("explain")
@click.option("--db", required=True,
              help="The store to read: a file kept by `cadenza simulate --db`, or a live "
                   "SQLite one (a path, or its sqlite:///PATH URL).")
@click.option("--customer", required=True, help="The customer's id.")
@click.option("--playbook", help="Only this playbook's journeys.")
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def command(db: str, customer: str, playbook: str | None, output: str) -> None:
    """Explain what happened to one customer: entries, steps, sends, suppressions, goals."""
    finish(run(db, customer, playbook, output))
