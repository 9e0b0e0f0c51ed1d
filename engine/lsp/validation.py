"""One validation run of a project, with the editor's unsaved buffers, as LSP diagnostics."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from cadenza.engine.lsp.index import ProjectIndex, build_index
from cadenza.engine.lsp.positions import source_lines, to_range
from cadenza.grammar.diagnostics import Diagnostic
from cadenza.playbooks.project import load_project

SOURCE = "cadenza"
_SEVERITY = {"error": types.DiagnosticSeverity.Error,
             "warning": types.DiagnosticSeverity.Warning}


@dataclass(frozen=True, slots=True)
class Validation:
    root: Path
    by_file: dict[str, list[types.Diagnostic]]  # file path -> its diagnostics
    index: ProjectIndex


def validate(root: Path, buffers: Mapping[Path, str], codec: PositionCodec) -> Validation:
    """What `cadenza validate ROOT` reports, with `buffers` (by resolved path) read instead of
    those files on disk."""
    loaded = load_project(root, buffers)
    lines = {name: source_lines(text) for name, text in loaded.sources.items()}
    by_file: dict[str, list[types.Diagnostic]] = {}
    for d in loaded.diagnostics:
        if not Path(d.file).is_file():
            continue  # "no .play files in DIR": about a folder, which an editor cannot show
        if d.file not in lines:  # cadenza.toml: not a source the loader keeps
            lines[d.file] = source_lines(Path(d.file).read_text("utf-8", errors="replace"))
        by_file.setdefault(d.file, []).append(to_lsp(d, lines, codec))
    return Validation(root=loaded.root, by_file=by_file, index=build_index(loaded))


def to_lsp(d: Diagnostic, lines: Mapping[str, list[str]], codec: PositionCodec,
           ) -> types.Diagnostic:
    message = d.message if not d.hint else f"{d.message}\nhelp: {d.hint}"
    related = [types.DiagnosticRelatedInformation(
        location=types.Location(uri=_uri(file), range=to_range(span, lines.get(file, []), codec)),
        message="see here") for file, span in d.related]
    return types.Diagnostic(
        range=to_range(d.span, lines.get(d.file, []), codec), message=message,
        severity=_SEVERITY[d.severity], code=d.code, source=SOURCE,
        related_information=related or None)


def _uri(file: str) -> str:
    return Path(file).resolve().as_uri()
