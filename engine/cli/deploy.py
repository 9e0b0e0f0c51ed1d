"""`cadenza plan PROJECT --db URL` and `cadenza apply PROJECT --db URL`."""

from __future__ import annotations

import time
from pathlib import Path

import click

from cadenza.engine.boot import git_commit
from cadenza.engine.cli.output import finish, print_diagnostics
from cadenza.engine.db import NoStoreError, StoreError, open_engine, open_existing
from cadenza.engine.deploy import apply, plan, source_hash
from cadenza.engine.store import Store
from cadenza.playbooks.project import load_project


def run(project_dir: Path, db: str, *, do_apply: bool) -> int:
    loaded = load_project(project_dir)
    if loaded.project is None:
        print_diagnostics(loaded.diagnostics, loaded.sources)
        click.echo("refused: the project has errors; nothing was changed.", err=True)
        return 1
    try:
        store = Store(open_engine(db) if do_apply else open_existing(db))
    except NoStoreError as exc:
        # A first plan, before any apply, has nothing to compare with; a mistyped path looks
        # the same, so say it, and leave no empty file behind.
        click.echo(f"note: {exc} The plan is against an empty store.", err=True)
        store = Store(open_engine("sqlite://"))
    except StoreError as exc:
        click.echo(f"error: {exc}", err=True)
        return 1
    digest = source_hash(loaded.root, list(loaded.sources))
    try:
        if not do_apply:
            click.echo(plan(store, loaded.project, digest).render())
            return 0
        done = apply(store, loaded.project, digest, int(time.time()), git_commit(loaded.root))
        click.echo(done.render())
        if not done.same_source:
            click.echo("Applied.")
        return 0
    finally:
        store.engine.dispose()


_project = click.argument("project", type=click.Path(exists=True, file_okay=False,
                                                     path_type=Path))
_db = click.option("--db", required=True, help="The store `serve` runs on.")


@click.command("plan")
@_project
@_db
def plan_command(project: Path, db: str) -> None:
    """Show what `apply` would change, and what happens to customers in flight."""
    finish(run(project, db, do_apply=False))


@click.command("apply")
@_project
@_db
def apply_command(project: Path, db: str) -> None:
    """Deploy PROJECT: record new playbook versions and apply each change policy."""
    finish(run(project, db, do_apply=True))
