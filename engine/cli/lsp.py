"""`cadenza lsp [--stdio]`: the language server for editors, speaking LSP over stdin/stdout."""

from __future__ import annotations

import logging
import sys

import click
import structlog

from cadenza.engine.cli.output import finish


def _logs_to_stderr(verbose: bool) -> None:
    """stdout carries the protocol: every log line, ours or a library's, goes to stderr."""
    logging.basicConfig(stream=sys.stderr, level=logging.INFO if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))


def run(verbose: bool) -> int:
    # pygls loads only for the server: the other commands start no slower for it.
    from cadenza.engine.lsp.server import build_server  # noqa: PLC0415

    _logs_to_stderr(verbose)
    protocol_out = sys.stdout.buffer
    # A stray print() anywhere would corrupt the protocol stream; send it to stderr instead.
    sys.stdout = sys.stderr
    build_server().start_io(sys.stdin.buffer, protocol_out)
    return 0


@click.command("lsp")
@click.option("--stdio", is_flag=True, default=True,
              help="Speak LSP over stdin/stdout (the default and only transport; accepted "
                   "because editors pass it).")
@click.option("--clientProcessId", "client_pid", type=int, hidden=True,
              help="Added by vscode-languageclient to some launches; not needed over stdio, "
                   "where the server ends when its input closes.")
@click.option("--verbose", "-v", is_flag=True, help="Log validation timings to stderr.")
def command(stdio: bool, client_pid: int | None, verbose: bool) -> None:
    """Run the language server: diagnostics, completion, go-to-definition and formatting."""
    del stdio, client_pid  # the only transport there is; see the options' help
    finish(run(verbose))
