"""The `cadenza lsp` console script as an editor starts it: it announces what it can do, keeps
stdout for the protocol, and exits cleanly when asked."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.lsp.client import LspClient

pytestmark = pytest.mark.timeout(60)

CONSOLE_SCRIPT = Path(sys.executable).parent / "cadenza"


@pytest.mark.skipif(not CONSOLE_SCRIPT.exists(), reason="the cadenza console script is not "
                    "installed next to this Python (pip install -e '.[dev]' installs it)")
def test_the_console_script_serves_and_exits_cleanly(tmp_path: Path) -> None:
    client = LspClient(cwd=tmp_path, cadenza=(str(CONSOLE_SCRIPT),))
    try:
        result = client.initialize(tmp_path)
        caps = result["capabilities"]
        assert result["serverInfo"]["name"] == "cadenza"
        assert set(caps["completionProvider"]["triggerCharacters"]) == {".", " ", '"'}
        assert caps["definitionProvider"]
        assert caps["documentFormattingProvider"]
        assert caps["textDocumentSync"]["openClose"]
    finally:
        code = client.close()
    assert code == 0
    assert not b"".join(client.stderr).strip()  # nothing logged on a clean run
