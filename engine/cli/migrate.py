"""`cadenza migrate --db URL`: create or upgrade a store's schema."""

from __future__ import annotations

import click

from cadenza.engine.cli.output import finish
from cadenza.engine.db import StoreError, open_engine, schema_version


def run(db: str) -> int:
    try:
        engine = open_engine(db)
    except StoreError as exc:
        click.echo(f"error: {exc}", err=True)
        return 1
    click.echo(f"the store is at schema version {schema_version(engine)}")
    engine.dispose()
    return 0


@click.command("migrate")
@click.option("--db", required=True, help="Database URL, e.g. postgresql+psycopg://host/db.")
def command(db: str) -> None:
    """Create or upgrade the store's tables to this Cadenza's schema version."""
    finish(run(db))
