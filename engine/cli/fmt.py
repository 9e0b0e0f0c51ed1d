"""`cadenza fmt [PATHS] [--check] [--diff]`: the canonical layout, comments kept."""

from __future__ import annotations

import difflib
from pathlib import Path

import click

from cadenza.engine.cli.output import finish, print_diagnostics
from cadenza.grammar.formatter import format_document
from cadenza.grammar.parser import parse_bytes
from cadenza.playbooks.project import play_files, project_roots


def _files(paths: tuple[Path, ...]) -> list[Path]:
    """Every .play file named, or under a folder named (nested projects included)."""
    out: list[Path] = []
    for p in paths or (Path("."),):
        if p.is_dir():
            out.extend(f for root in project_roots(p) for f in play_files(root))
        else:
            out.append(p)
    return list(dict.fromkeys(out))


def _format(path: Path) -> tuple[str, str] | None:
    data = path.read_bytes()
    doc, problems = parse_bytes(data, str(path))
    if problems or doc is None:
        print_diagnostics(problems, {str(path): data.decode("utf-8", errors="replace")})
        return None
    source = data.decode("utf-8-sig")
    return source, format_document(doc, source)


def run(paths: tuple[Path, ...], check: bool, show_diff: bool) -> int:
    changed, broken = 0, 0
    for path in _files(paths):
        result = _format(path)
        if result is None:
            broken += 1
            continue
        before, after = result
        if before == after:
            continue
        changed += 1
        if show_diff:
            click.echo("".join(difflib.unified_diff(
                before.splitlines(keepends=True), after.splitlines(keepends=True),
                fromfile=f"{path} (before)", tofile=f"{path} (formatted)")), nl=False)
        if check:
            click.echo(f"would reformat {path}")
        elif not show_diff:
            path.write_text(after, encoding="utf-8", newline="\n")
            click.echo(f"formatted {path}")
    if broken:
        click.echo(f"{broken} file(s) could not be formatted because of syntax errors.",
                   err=True)
        return 1
    return 1 if check and changed else 0


@click.command("fmt")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--check", is_flag=True, help="Change nothing; fail if a file would change.")
@click.option("--diff", "show_diff", is_flag=True, help="Print what would change; write nothing.")
def command(paths: tuple[Path, ...], check: bool, show_diff: bool) -> None:
    """Rewrite .play files in the canonical layout (directories are searched recursively)."""
    finish(run(paths, check, show_diff))
