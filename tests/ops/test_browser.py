"""The status page in a real headless Chromium, served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from tests.ops.scenario import KEY, app, drive, service, step_counts
from tests.providers.http import free_port

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's /usr/bin/chromium "
                                "is not installed (apt-get install -y chromium)")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, dict[tuple[str, str], int]]]:
    """The page's URL with the key, and the counts the database holds."""
    h = drive(tmp_path, f"sqlite:///{tmp_path / 'store.db'}")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app(service(h)), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off", ws="none"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        thread.join(0.02)
    yield f"http://127.0.0.1:{port}/?key={KEY}", step_counts(h)
    server.should_exit = True
    thread.join(10)


def test_browser_shows_the_database_counts(served: tuple[str, dict[tuple[str, str], int]],
                                           tmp_path: Path) -> None:
    """Chromium renders every step's counts as the database has them, and a screenshot."""
    from playwright.sync_api import sync_playwright

    url, expected = served
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        response = page.goto(url)
        assert response is not None
        assert response.status == 200
        shown: dict[tuple[str, str], int] = {}
        for cell in page.locator("tr[data-step] td[data-count]").all():
            step = cell.locator("xpath=..").get_attribute("data-step") or ""
            value = int(cell.inner_text().strip())
            if value:
                shown[(step, cell.get_attribute("data-count") or "")] = value
        dead = page.locator("#dead [data-count=dead]").inner_text()
        title = page.title()
        shot = tmp_path / "status.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert shown == expected
    assert (dead, title) == ("1", "Cadenza · project")
    assert shot.stat().st_size > 10_000
