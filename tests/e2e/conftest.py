"""Fixtures for the browser end-to-end tests.

The server under test is `$SWITCHBOARD_BIN serve --host 127.0.0.1 --port <free port>`,
started from the repository root (so it finds Public/). Browsers are Debian's
headless Chromium driven by Debian's chromedriver. Screenshots, server logs and
browser console logs go to $E2E_ARTIFACTS (default tests/e2e/artifacts).
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("E2E_ARTIFACTS", REPO_ROOT / "tests" / "e2e" / "artifacts")).resolve()
CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("E2E_CHROMEDRIVER", "/usr/bin/chromedriver")
STARTUP_TIMEOUT = 60.0
WAIT = float(os.environ.get("E2E_WAIT", "15"))

# Records every WebSocket the page opens (window.__sbSockets) so a test can cut
# one without a debug hook in the page itself.
SOCKET_SPY = """
(() => {
  const Native = window.WebSocket;
  window.__sbSockets = [];
  window.WebSocket = class extends Native {
    constructor(...args) { super(...args); window.__sbSockets.push(this); }
  };
})();
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:80]


class ServerProcess:
    """The server binary on a fixed port; can be stopped and started again."""

    def __init__(self, binary: str, port: int, artifacts: Path):
        self.binary = binary
        self.host = "127.0.0.1"
        self.port = port
        self.artifacts = artifacts
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self._log = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def health(self) -> int | None:
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code
        except (OSError, ValueError):
            return None

    def start(self) -> None:
        assert self.proc is None, "server already running"
        self.starts += 1
        log_path = self.artifacts / f"server-{self.starts}.log"
        self._log = open(log_path, "wb")
        cmd = [self.binary, "serve", "--host", self.host, "--port", str(self.port)]
        self._log.write(("$ " + " ".join(cmd) + "\n").encode())
        self._log.flush()
        self.proc = subprocess.Popen(
            cmd, cwd=REPO_ROOT, stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.proc.returncode} before answering /healthz; see {log_path}")
            if self.health() == 200:
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not answer GET /healthz with 200 within {STARTUP_TIMEOUT:.0f} s; see {log_path}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        # anything the server itself started and left behind in its own session
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self._log:
            self._log.close()
            self._log = None


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def server(artifacts):
    binary = os.environ.get("SWITCHBOARD_BIN")
    if not binary:
        pytest.fail("SWITCHBOARD_BIN is not set: point it at the built server executable", pytrace=False)
    if not os.access(binary, os.X_OK):
        pytest.fail(f"SWITCHBOARD_BIN={binary} is not an executable file", pytrace=False)
    srv = ServerProcess(binary, free_port(), artifacts)
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def running_server(server):
    """The session server, started again if an earlier test left it stopped."""
    if server.proc is None:
        server.start()
    return server


class ChatPage:
    """One browser session on the chat page, with explicit waits for everything."""

    def __init__(self, driver: webdriver.Chrome, name: str, base_url: str, artifacts: Path):
        self.driver = driver
        self.name = name
        self.base_url = base_url
        self.artifacts = artifacts

    # -- generic helpers
    def wait(self, cond, timeout: float = WAIT, message: str = ""):
        return WebDriverWait(self.driver, timeout, poll_frequency=0.1,
                             ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda d: cond(), message=f"[{self.name}] {message}")

    def q(self, css: str):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def qa(self, css: str):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def screenshot(self, step: str) -> Path:
        path = self.artifacts / f"{slug(step)}-{self.name}.png"
        self.driver.save_screenshot(str(path))
        return path

    # -- page actions
    def open(self):
        self.driver.get(self.base_url + "/")
        self.wait(lambda: self.q("#login-button").is_displayed(), message="login form not shown")

    def login(self, username: str, password: str = ""):
        self.open()
        self.q("#username").clear()
        self.q("#username").send_keys(username)
        if password:
            self.q("#password").send_keys(password)
        self.q("#login-button").click()

    def status(self) -> str:
        return self.q("#status").text

    def wait_connected(self, timeout: float = WAIT):
        self.wait(lambda: re.search(r"\bconnected\b", self.status()), timeout,
                  "status never showed 'connected'")

    def members(self) -> set[str]:
        return {e.get_attribute("data-user") for e in self.qa("#members [data-user]")}

    def rooms(self) -> list[str]:
        return [e.get_attribute("data-room") for e in self.qa("#rooms [data-room]")]

    def active_room(self) -> str | None:
        items = self.qa("#rooms [data-room].active")
        return items[0].get_attribute("data-room") if items else None

    def messages(self):
        """[(room, seq, from, text)] of the messages shown, in page order."""
        return self.js("""
            return [...document.querySelectorAll('#messages .message')].map(m => [
              m.dataset.room, m.dataset.seq,
              m.querySelector('.from') && m.querySelector('.from').textContent,
              m.querySelector('.text') && m.querySelector('.text').textContent]);
        """)

    def wait_message(self, text: str, sender: str | None = None, timeout: float = WAIT):
        def found():
            for room, seq, frm, txt in self.messages():
                if txt == text and (sender is None or frm == sender):
                    return room, seq, frm, txt
            return None
        return self.wait(found, timeout, f"message {text!r} never shown")

    def send(self, text: str):
        box = self.q("#message-input")
        self.wait(lambda: box.is_enabled(), message="composer disabled")
        # send_keys types the text; set it via JS when it holds characters
        # chromedriver cannot type (outside the BMP) or newlines (typed as Enter)
        if all(ord(c) <= 0xFFFF and c not in "\r\n" for c in text):
            box.send_keys(text)
        else:
            self.js("arguments[0].value = arguments[1];"
                    "arguments[0].dispatchEvent(new Event('input'));", box, text)
        box.send_keys(Keys.ENTER)

    def join(self, room: str):
        self.q("#room-input").send_keys(room)
        self.q("#join-button").click()

    def activate(self, room: str):
        self.q(f'#rooms [data-room="{room}"]').click()
        self.wait(lambda: self.active_room() == room, message=f"room {room} not activated")

    def drop_connection(self, code: int = 4000):
        """Closes the page's current WebSocket from the client side."""
        return self.js("""
            const s = (window.__sbSockets || []).filter(s => s.readyState === 1);
            s.forEach(x => x.close(arguments[0], 'test drop'));
            return s.length;""", code)


@pytest.fixture
def browser_factory(artifacts, running_server, request):
    drivers: list[ChatPage] = []

    def make(name: str) -> ChatPage:
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                    "--window-size=1280,800", "--disable-gpu", "--no-first-run",
                    "--disable-extensions", "--lang=en-US"):
            opts.add_argument(arg)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(executable_path=CHROMEDRIVER,
                          log_output=str(artifacts / f"chromedriver-{name}.log"))
        driver = webdriver.Chrome(service=service, options=opts)
        driver.set_page_load_timeout(30)
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": SOCKET_SPY})
        page = ChatPage(driver, name, running_server.url, artifacts)
        drivers.append(page)
        return page

    yield make

    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    test = slug(request.node.name)
    for page in drivers:
        try:
            if failed:
                page.screenshot(f"{test}-FAILED")
            logs = page.driver.get_log("browser")
            with open(artifacts / f"{test}-{page.name}-console.log", "w") as f:
                for entry in logs:
                    f.write(json.dumps(entry) + "\n")
        except WebDriverException:
            pass
        finally:
            page.driver.quit()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
