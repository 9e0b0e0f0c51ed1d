"""The pygls server: document events -> project validation -> diagnostics per file; requests
-> completion, definition and formatting.

Each open `.play` file belongs to the project `find_root` gives for it; a change validates that
whole project (names resolve across files, so an edit here can fix or break a file there), with
every open buffer read instead of its file on disk. Typing is debounced; opening, saving and
closing validate at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from lsprotocol import types
from pygls import uris
from pygls.lsp.server import LanguageServer
from pygls.workspace import TextDocument

from cadenza.engine.lsp.completion import complete
from cadenza.engine.lsp.definition import Target, definition
from cadenza.engine.lsp.formatting import format_edits
from cadenza.engine.lsp.index import ProjectIndex
from cadenza.engine.lsp.positions import cursor, source_lines, to_position, to_range
from cadenza.engine.lsp.validation import validate
from cadenza.playbooks.project import find_root

NAME = "cadenza"
# Long enough that a burst of keystrokes validates once, short enough to feel immediate.
DEBOUNCE_S = 0.2
log = logging.getLogger(__name__)


class Session:
    """What the server remembers between messages, for one client connection."""

    def __init__(self, server: LanguageServer) -> None:
        self.server = server
        self.published: dict[Path, set[str]] = {}  # root -> URIs last given diagnostics
        self.indexes: dict[Path, ProjectIndex] = {}
        self.pending: dict[Path, asyncio.Task[None]] = {}

    # ------------------------------------------------------------------ documents
    def root_of(self, uri: str) -> Path | None:
        path = uris.to_fs_path(uri)
        return None if path is None else find_root(Path(path)).resolve()

    def buffers(self) -> dict[Path, str]:
        """Every open document's text, by resolved path."""
        docs = self.server.workspace.text_documents.values()
        return {Path(d.path).resolve(): d.source for d in docs
                if uris.to_fs_path(d.uri) is not None}

    def uri_for(self, file: str) -> str:
        """The client's own URI for an open file (it may spell it differently), else ours."""
        resolved = Path(file).resolve()
        for doc in self.server.workspace.text_documents.values():
            if uris.to_fs_path(doc.uri) is not None and Path(doc.path).resolve() == resolved:
                return str(doc.uri)
        return resolved.as_uri()

    def text_of(self, file: str) -> str:
        uri = self.uri_for(file)
        if uri in self.server.workspace.text_documents:
            return str(self.server.workspace.get_text_document(uri).source)
        return Path(file).read_text("utf-8-sig", errors="replace")

    # ------------------------------------------------------------------ diagnostics
    def refresh(self, root: Path) -> None:
        """Validate the project at `root` and publish per file, clearing files now clean."""
        self.cancel(root)
        started = time.perf_counter()
        try:
            result = validate(root, self.buffers(), self.server.workspace.position_codec)
        except Exception as exc:
            # A bug of ours must not take the server down with the user's unsaved work.
            log.exception("validating %s failed", root)
            self.server.window_show_message(types.ShowMessageParams(
                type=types.MessageType.Error,
                message=f"Cadenza could not check the project in '{root}': "
                        f"{type(exc).__name__}: {exc}. This is a bug in Cadenza, not in your "
                        "playbooks; please report it with the server's log."))
            return
        log.info("validated %s in %.0f ms: %d files with diagnostics", root,
                 (time.perf_counter() - started) * 1000, len(result.by_file))
        self.indexes[root] = result.index
        now = {self.uri_for(f): ds for f, ds in result.by_file.items()}
        for uri in self.published.get(root, set()) - now.keys():
            self.publish(uri, [])
        for uri in self.open_uris(root) - now.keys():
            self.publish(uri, [])  # an open file always hears its result, even "all clear"
        for uri, found in now.items():
            self.publish(uri, found)
        self.published[root] = set(now)

    def open_uris(self, root: Path) -> set[str]:
        return {uri for uri in self.server.workspace.text_documents if self.root_of(uri) == root}

    def publish(self, uri: str, found: list[types.Diagnostic]) -> None:
        self.server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=found))

    def schedule(self, root: Path) -> None:
        self.cancel(root)
        self.pending[root] = asyncio.get_running_loop().create_task(self._later(root))

    def cancel(self, root: Path) -> None:
        task = self.pending.pop(root, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _later(self, root: Path) -> None:
        await asyncio.sleep(DEBOUNCE_S)
        self.refresh(root)

    def index_for(self, uri: str) -> ProjectIndex | None:
        root = self.root_of(uri)
        if root is None:
            return None
        if root not in self.indexes:
            self.refresh(root)
        return self.indexes.get(root)

    # ------------------------------------------------------------------ requests
    def document(self, uri: str) -> tuple[TextDocument, list[str]]:
        doc = self.server.workspace.get_text_document(uri)
        return doc, source_lines(doc.source)

    def offset(self, lines: list[str], position: types.Position) -> tuple[int, int, int]:
        """(line, column, offset) in code points for an LSP position."""
        row, col = cursor(position, lines, self.server.workspace.position_codec)
        return row, col, sum(len(line) + 1 for line in lines[:row]) + col

    def completion(self, params: types.CompletionParams) -> types.CompletionList:
        doc, lines = self.document(params.text_document.uri)
        row, col, offset = self.offset(lines, params.position)
        # Typed trigger characters (space, dot, quote) open the list only where the context
        # names one; the keyword list after every space or decimal point would be noise.
        triggered = params.context is not None and \
            params.context.trigger_kind == types.CompletionTriggerKind.TriggerCharacter
        found = complete(doc.source, offset, self.index_for(doc.uri), contextual_only=triggered)
        codec = self.server.workspace.position_codec
        start = to_position(row + 1, col + 1 - len(found.prefix), lines, codec)
        end = to_position(row + 1, col + 1, lines, codec)
        replace = types.Range(start=start, end=end)
        items = [_with_edit(item, replace) for item in found.items]
        return types.CompletionList(is_incomplete=False, items=items)

    def definition(self, params: types.DefinitionParams) -> types.Location | None:
        doc, lines = self.document(params.text_document.uri)
        index = self.index_for(doc.uri)
        if index is None:
            return None
        _, _, offset = self.offset(lines, params.position)
        target = definition(doc.source, offset, index)
        return None if target is None else self.location(doc, target)

    def location(self, doc: TextDocument, target: Target) -> types.Location:
        if target.file is None:
            uri, text = doc.uri, doc.source
        else:
            uri, text = self.uri_for(target.file), self.text_of(target.file)
        span_range = to_range(target.span, source_lines(text), self.server.workspace.position_codec)
        return types.Location(uri=uri, range=span_range)

    def formatting(self, params: types.DocumentFormattingParams) -> list[types.TextEdit]:
        doc, _ = self.document(params.text_document.uri)
        return format_edits(doc.source, doc.path, self.server.workspace.position_codec)


def _with_edit(item: types.CompletionItem, replace: types.Range) -> types.CompletionItem:
    item.text_edit = types.TextEdit(range=replace, new_text=item.label)
    return item


def _version() -> str:
    try:
        return version("cadenza")
    except PackageNotFoundError:
        return "0"


def build_server() -> LanguageServer:
    server = LanguageServer(NAME, _version(),
                            text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
    session = Session(server)
    _register_documents(server, session)
    _register_requests(server, session)
    return server


def _register_documents(server: LanguageServer, session: Session) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(params: types.DidOpenTextDocumentParams) -> None:
        _now(session, params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(params: types.DidChangeTextDocumentParams) -> None:
        root = session.root_of(params.text_document.uri)
        if root is not None:
            session.schedule(root)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(params: types.DidSaveTextDocumentParams) -> None:
        _now(session, params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(params: types.DidCloseTextDocumentParams) -> None:
        _now(session, params.text_document.uri)  # the disk's text again, unsaved edits gone


    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    async def did_change_files(params: types.DidChangeWatchedFilesParams) -> None:
        # A checkout or a template edited outside the editor: validate each project once.
        roots = {session.root_of(change.uri) for change in params.changes}
        for root in roots:
            if root is not None:
                session.schedule(root)


def _now(session: Session, uri: str) -> None:
    root = session.root_of(uri)
    if root is not None:
        session.refresh(root)


def _register_requests(server: LanguageServer, session: Session) -> None:
    @server.feature(types.TEXT_DOCUMENT_COMPLETION,
                    types.CompletionOptions(trigger_characters=[".", " ", '"']))
    def completion(params: types.CompletionParams) -> types.CompletionList:
        return session.completion(params)

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    def definition_(params: types.DefinitionParams) -> types.Location | None:
        return session.definition(params)

    @server.feature(types.TEXT_DOCUMENT_FORMATTING)
    def formatting(params: types.DocumentFormattingParams) -> list[types.TextEdit]:
        return session.formatting(params)
