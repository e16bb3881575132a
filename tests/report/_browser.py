"""Load an HTML page in headless Chromium over the DevTools protocol and say what went wrong.

:func:`check_page` starts the system ``chromium`` (or ``chromium-browser``,
``google-chrome``) headless with a fresh profile, opens the page from its
``file://`` path and reports, in a :class:`PageCheck`:

- every request whose URL is not a ``file://`` URL under the page's folder
  (``Network.requestWillBeSent``; ``data:`` URLs are inline and allowed), and
  every request that failed (``Network.loadingFailed``);
- every console error (``Runtime.consoleAPICalled`` of type ``error`` or
  ``assert``), uncaught exception (``Runtime.exceptionThrown``) and browser log
  entry of level ``error`` (``Log.entryAdded``: a failed image load lands here);
- every ``<img>`` that has not loaded (``img.complete && img.naturalWidth > 0``
  is false, via ``Runtime.evaluate``);
- a PNG screenshot of the first ``height`` pixels at ``width`` pixels wide.

Host names never resolve in that browser (``--host-resolver-rules``), so a page
that asks for ``https://cdn...`` fails at once, offline or not, and is recorded.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: the browsers looked for on PATH, in this order
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    """The path of the first of :data:`BROWSERS` on PATH, or None."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageCheck:
    """What a headless load of one page showed.

    Attributes
    ----------
    outside_requests : list of str
        URLs requested that are not files under the page's folder (nor ``data:``).
    failed_requests : list of str
        ``url: error text`` of each request that failed.
    console_errors : list of str
        Console errors, uncaught exceptions and browser log errors.
    broken_images : list of str
        ``src`` of each ``<img>`` that did not load.
    images : int
        How many ``<img>`` elements the page has.
    screenshot : numpy.ndarray
        ``(height, width, channels)`` floats in [0, 1].
    """

    outside_requests: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    broken_images: list[str] = field(default_factory=list)
    images: int = 0
    screenshot: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 3)))

    def problems(self) -> list[str]:
        """Every finding that makes the page fail, one line each (empty: the page is fine)."""
        return ([f"request outside the folder: {u}" for u in self.outside_requests]
                + [f"failed request: {u}" for u in self.failed_requests]
                + [f"console error: {m}" for m in self.console_errors]
                + [f"broken image: {s}" for s in self.broken_images])


def inked_fraction(image: np.ndarray, *, tol: float = 0.02) -> float:
    """Fraction of pixels that differ from the most common colour by more than ``tol``
    (in [0, 1] units, any channel): 0 for a blank screenshot of one colour."""
    rgb = np.asarray(image, dtype=float)[..., :3].reshape(-1, 3)
    levels = np.round(rgb * 255).astype(np.int64)
    keys = (levels[:, 0] << 16) | (levels[:, 1] << 8) | levels[:, 2]
    values, counts = np.unique(keys, return_counts=True)
    background = values[np.argmax(counts)]
    bg = np.array([(background >> 16) & 255, (background >> 8) & 255, background & 255]) / 255
    return float(np.mean(np.abs(rgb - bg).max(axis=1) > tol))


class _DevTools:
    """A minimal DevTools client over one page target's websocket."""

    def __init__(self, url: str, timeout: float):
        import websocket

        self.ws = websocket.create_connection(url, timeout=timeout, suppress_origin=True)
        self.events: list[dict] = []
        self._id = 0

    def call(self, method: str, **params):
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"DevTools {method} failed: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_for(self, method: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(e["method"] == method for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method} within {timeout} s")
            message = json.loads(self.ws.recv())
            if "method" in message:
                self.events.append(message)

    def drain(self, seconds: float) -> None:
        """Collect the events that arrive within ``seconds`` (late console messages)."""
        import websocket

        timeout = self.ws.gettimeout()
        self.ws.settimeout(seconds)
        try:
            while True:
                message = json.loads(self.ws.recv())
                if "method" in message:
                    self.events.append(message)
        except websocket.WebSocketTimeoutException:  # nothing more arrived: the wait is over
            pass
        finally:
            self.ws.settimeout(timeout)

    def close(self) -> None:
        self.ws.close()


def _devtools_port(profile: Path, process: subprocess.Popen, timeout: float) -> int:
    """The port Chromium chose (``--remote-debugging-port=0`` writes it to DevToolsActivePort)."""
    deadline = time.monotonic() + timeout
    marker = profile / "DevToolsActivePort"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the browser exited with status {process.returncode} before "
                               f"opening its DevTools port")
        if marker.exists():
            text = marker.read_text().split()
            if text:
                return int(text[0])
        time.sleep(0.05)
    raise TimeoutError(f"the browser opened no DevTools port within {timeout} s")


def _stop(process: subprocess.Popen) -> None:
    """End the browser and its helper processes: the process group it leads (its own session)."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue


def check_page(page: str | os.PathLike, *, browser: str | None = None, width: int = 1280,
               height: int = 2000, timeout: float = 60.0) -> PageCheck:
    """Open ``page`` (a local HTML file) in headless Chromium and record what went wrong.

    Parameters
    ----------
    page : str or os.PathLike
        The HTML file; requests are allowed to files under its folder only.
    browser : str, optional
        The browser executable (default: :func:`find_browser`).
    width, height : int
        The viewport, in CSS pixels, and so the screenshot's size.
    timeout : float
        Seconds allowed for the browser to start and for the page to load.

    Returns
    -------
    PageCheck
        The findings and the screenshot.
    """
    from matplotlib.image import imread

    page = Path(page).resolve()
    folder_url = page.parent.as_uri() + "/"
    browser = browser or find_browser()
    if browser is None:
        raise FileNotFoundError(f"no browser found on PATH (looked for {', '.join(BROWSERS)})")
    # the browser's helper processes may still write to the profile as it shuts down
    with tempfile.TemporaryDirectory(prefix="pm-chromium-", ignore_cleanup_errors=True) as profile:
        process = subprocess.Popen(
            [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--mute-audio",
             "--disable-background-networking", "--disable-component-update",
             "--host-resolver-rules=MAP * ~NOTFOUND", "--remote-allow-origins=*",
             "--remote-debugging-port=0", f"--user-data-dir={profile}",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            port = _devtools_port(Path(profile), process, timeout)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout) as r:
                targets = json.load(r)
            target = next(t for t in targets if t.get("type") == "page")
            tools = _DevTools(target["webSocketDebuggerUrl"], timeout)
            try:
                for domain in ("Page", "Runtime", "Network", "Log"):
                    tools.call(f"{domain}.enable")
                tools.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                           deviceScaleFactor=1, mobile=False)
                tools.call("Page.navigate", url=page.as_uri())
                tools.wait_for("Page.loadEventFired", timeout)
                tools.drain(0.5)
                found = tools.call("Runtime.evaluate", returnByValue=True, expression=(
                    "(() => { const all = Array.from(document.images);"
                    " return {count: all.length, broken: all.filter("
                    "i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)}; })()"))
                value = found["result"]["value"]
                shot = tools.call("Page.captureScreenshot", format="png")
            finally:
                tools.close()
        finally:
            _stop(process)

    import base64

    result = PageCheck(images=int(value["count"]), broken_images=list(value["broken"]),
                       screenshot=imread(io.BytesIO(base64.b64decode(shot["data"])), format="png"))
    urls: dict[str, str] = {}
    for event in tools.events:
        method, params = event["method"], event.get("params", {})
        if method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            urls[params.get("requestId", "")] = url
            if not (url.startswith(folder_url) or url.startswith("data:")):
                result.outside_requests.append(url)
        elif method == "Network.loadingFailed":
            url = urls.get(params.get("requestId", ""), params.get("requestId"))
            result.failed_requests.append(f"{url}: {params.get('errorText')}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            texts = [str(a.get("value", a.get("description", ""))) for a in params.get("args", [])]
            result.console_errors.append(" ".join(texts))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            result.console_errors.append(
                str(details.get("exception", {}).get("description", details.get("text", ""))))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            result.console_errors.append(f"{entry.get('text')} ({entry.get('url', '')})")
    return result
