from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lsp.client import LspClient

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cart_recovery"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A private copy of the cart recovery example: tests may break its files."""
    root = tmp_path / "cart_recovery"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".cadenza", "data"))
    return root


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LspClient]:
    """One server process per test module (each test opens files of its own project copy)."""
    home = tmp_path_factory.mktemp("lsp")
    client = LspClient(cwd=home)
    client.initialize(home)
    yield client
    assert client.close() == 0, "the server did not exit cleanly after shutdown and exit"
    logged = b"".join(client.stderr).decode(errors="replace")
    assert "Traceback" not in logged, logged
