"""Browser tests: the real platform served by uvicorn on a loopback port, driven by Playwright
through Debian's Chromium (``/usr/bin/chromium``; Playwright's own browser download does not work
offline). Screenshots go to ``test-output/screenshots`` for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
CHROMIUM = os.environ.get("BROKERCARE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists() or shutil.which("fc-list") is None:
        message = f"Chromium not found at {CHROMIUM} (make test installs Debian's chromium and fonts-wqy-microhei)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


class LiveServer:
    def __init__(self, app) -> None:
        import uvicorn

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def shot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def served_demo(tmp_path_factory, name: str):
    """A 300-customer demo brokerage with every domain's demo history, served on a loopback port
    (a browser module's platform: ``yield from served_demo(tmp_path_factory, "web-data")``)."""
    from tests.module_platform import migrated_sqlite

    from brokercare.api import create_app
    from brokercare.demo.brokerage import generate_brokerage

    with migrated_sqlite(tmp_path_factory, name) as engine:
        generate_brokerage(engine, customers=300, seed=11, workers=1)
        with LiveServer(create_app()) as server:
            server.engine = engine
            yield server
