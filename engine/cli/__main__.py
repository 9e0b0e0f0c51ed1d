"""`python -m cadenza.engine.cli`: the same as the `cadenza` console script."""

from cadenza.engine.cli.main import entry

entry()
