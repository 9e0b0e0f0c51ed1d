"""Diagnostics over stdio: the same findings as `cadenza validate`, per file, kept current."""

from __future__ import annotations

from pathlib import Path

import pytest

from cadenza.playbooks.project import load_project
from tests.lsp.client import LspClient

pytestmark = pytest.mark.timeout(120)

ERROR, WARNING = 1, 2


def _broken(text: str) -> str:
    """Three mistakes a marketer makes: a misspelt segment, a misspelt channel, no stage."""
    return (text.replace("when segment frequent_buyer and", "when segment frequnt_buyer and")
            .replace('send email "loyal-offer"', 'send emial "loyal-offer"')
            .replace('send email "last-chance" stage revenue', 'send email "last-chance"'))


def _key(d: dict[str, object]) -> tuple[object, ...]:
    r = d["range"]
    assert isinstance(r, dict)
    return (d["code"], r["start"]["line"], r["start"]["character"],
            r["end"]["line"], r["end"]["character"], d["severity"])


def test_a_bad_file_gets_the_diagnostics_validate_reports(server: LspClient,
                                                          project: Path) -> None:
    play = project / "cart_recovery.play"
    bad = _broken(play.read_text("utf-8"))
    uri = server.open(play, bad)  # unsaved: the file on disk is still fine
    found = server.diagnostics(uri, until=bool)

    by_code = {d["code"]: d for d in found}
    segment = by_code["E011"]
    assert segment["range"] == {"start": {"line": 25, "character": 17},
                                "end": {"line": 25, "character": 30}}
    assert segment["severity"] == ERROR
    assert segment["source"] == "cadenza"
    assert segment["message"].startswith(
        "unknown segment 'frequnt_buyer' — did you mean 'frequent_buyer'?")
    assert "segment NAME = CONDITION" in segment["message"]  # the hint travels with it
    assert by_code["E016"]["message"].startswith("unknown channel 'emial'")
    assert by_code["W041"]["severity"] == WARNING

    # Exactly what `cadenza validate` says about the same text saved to disk.
    play.write_text(bad, encoding="utf-8")
    expected = [d for d in load_project(project).diagnostics if d.file == str(play)]
    assert sorted(_key(d) for d in found) == sorted(
        (d.code, d.span.line - 1, d.span.col - 1, d.span.end_line - 1, d.span.end_col - 1,
         ERROR if d.is_error else WARNING) for d in expected)


def test_fixing_the_error_while_typing_clears_the_diagnostics(server: LspClient,
                                                              project: Path) -> None:
    play = project / "cart_recovery.play"
    good = play.read_text("utf-8")
    uri = server.open(play, good.replace("wait 1d", "wait 1d 2h x"))
    [syntax] = server.diagnostics(uri, until=bool)
    assert syntax["code"] == "E001"
    assert syntax["range"]["start"]["line"] == 23

    server.change(uri, good)
    assert server.diagnostics(uri) == []


def test_an_edit_in_one_file_reports_and_clears_errors_in_another(server: LspClient,
                                                                  project: Path) -> None:
    segments = project / "segments.play"
    playbook_uri = (project / "cart_recovery.play").resolve().as_uri()
    text = segments.read_text("utf-8")
    uri = server.open(segments)
    assert server.diagnostics(uri) == []

    server.change(uri, text.replace("segment frequent_buyer", "segment frequent_buyers"))
    [unknown] = server.diagnostics(playbook_uri, until=bool)  # a file that is not even open
    assert unknown["code"] == "E011"
    assert "did you mean 'frequent_buyers'?" in unknown["message"]

    server.change(uri, text, version=3)
    assert server.diagnostics(playbook_uri) == []


def test_saving_and_closing_validate_what_is_on_disk(server: LspClient, project: Path) -> None:
    play = project / "cart_recovery.play"
    uri = server.open(play, _broken(play.read_text("utf-8")))
    assert server.diagnostics(uri, until=bool)
    server.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    assert server.diagnostics(uri) == []  # the unsaved mistakes are gone with the buffer

    uri = server.open(play)
    assert server.diagnostics(uri) == []
    segments = project / "segments.play"  # changed behind the editor's back, then a save
    segments.write_text(segments.read_text("utf-8").replace(
        "segment sms_reachable", "segment reachable"), encoding="utf-8")
    server.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
    [unknown] = server.diagnostics(uri, until=bool)
    assert unknown["code"] == "E011"


def test_a_file_changed_on_disk_is_picked_up_when_the_editor_says_so(server: LspClient,
                                                                     project: Path) -> None:
    play = project / "cart_recovery.play"
    uri = server.open(play)
    assert server.diagnostics(uri) == []
    segments = project / "segments.play"
    segments.write_text(segments.read_text("utf-8").replace(
        "segment big_spender", "segment big_spenders"), encoding="utf-8")  # e.g. a checkout
    server.notify("workspace/didChangeWatchedFiles", {
        "changes": [{"uri": segments.resolve().as_uri(), "type": 2}]})
    [unknown] = server.diagnostics(uri, until=bool)
    assert "unknown segment 'big_spender'" in unknown["message"]


def test_columns_count_utf16_units_as_editors_do(server: LspClient, project: Path) -> None:
    play = project / "cart_recovery.play"
    text = play.read_text("utf-8").replace(
        'owner "growth@shop.example"', 'owner "🛒 growth" 5')
    uri = server.open(play, text)
    [syntax] = server.diagnostics(uri, until=bool)
    line = text.split("\n")[syntax["range"]["start"]["line"]]
    # The emoji is one code point but two UTF-16 units: the squiggle must still sit on "5".
    assert syntax["range"]["start"]["character"] == line.index("5") + 1
    assert syntax["range"]["end"]["character"] == line.index("5") + 2
    assert syntax["message"].startswith("unexpected '5'")


def test_a_project_that_cannot_be_read_is_reported_and_the_server_lives_on(
        project: Path) -> None:
    server = LspClient(cwd=project)  # its own server: this one is meant to log a traceback
    try:
        server.initialize(project)
        # A playbook whose every read fails with an I/O error (as root, permissions would not).
        (project / "drafts.play").symlink_to("/proc/self/mem")
        uri = server.open(project / "cart_recovery.play")
        shown = server.notification("window/showMessage")["params"]
        assert shown["type"] == 1  # an error
        assert "could not check the project" in shown["message"]
        assert "OSError" in shown["message"]
        (project / "drafts.play").unlink()
        server.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
        assert server.diagnostics(uri) == []
    finally:
        assert server.close() == 0
    assert b"Input/output error" in b"".join(server.stderr)  # the log has the details


def test_a_client_that_counts_utf8_bytes_gets_byte_columns(project: Path) -> None:
    server = LspClient(cwd=project)  # Neovim offers utf-8 first; the server takes it
    try:
        result = server.initialize(project, {"general": {"positionEncodings": ["utf-8"]}})
        assert result["capabilities"]["positionEncoding"] == "utf-8"
        play = project / "cart_recovery.play"
        text = play.read_text("utf-8").replace(
            'owner "growth@shop.example"', 'owner "🛒 growth" 5')
        uri = server.open(play, text)
        [syntax] = server.diagnostics(uri, until=bool)
        line = text.split("\n")[syntax["range"]["start"]["line"]]
        before = line[: line.index("5")]
        assert syntax["range"]["start"]["character"] == len(before.encode("utf-8"))
    finally:
        assert server.close() == 0
