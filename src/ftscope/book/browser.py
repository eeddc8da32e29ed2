"""``ftscope check-book``: every page of the built book opened in headless Chromium, as a reader would.

Chromium is driven over its DevTools protocol (tornado's websocket client, already a dependency of the
notebook stack), so the check needs nothing beyond Debian's ``chromium`` package. Each page is loaded at a
given window width; the check fails when a page

- throws a JavaScript error or logs one (a failed resource load included),
- shows an image that did not load,
- has a plotly figure that did not render (and, where the page carries a Sankey diagram, no Sankey drawn),
- shows a glue role that was not replaced by its value,
- is wider than the window (the page scrolls sideways), or has a scorecard or status table wider than its column,
- has a scorecard whose misses-only switch does not show exactly the misses (or, switched off, everything).

A full-page screenshot of each page is saved under ``_build/screenshots/``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
SKIP_DIRS = {"_static", "_sources", "_images", "_downloads", "_sphinx_design_static"}
WINDOW_HEIGHT = 900  # px: the window a page loads in (its screenshot is then taken at the page's full height)
SKIP_PAGES = {"genindex.html", "search.html"}  # Sphinx's own index pages, no content of ours
# Run in the page once it has loaded: what a reader would see broken.
PROBE = r"""
(() => {
  const out = {};
  out.broken_images = [...document.images].filter(i => !(i.complete && i.naturalWidth > 0))
                                         .map(i => i.getAttribute('src'));
  const plots = [...document.querySelectorAll('.plotly-graph-div')];
  out.plotly = plots.length;
  out.plotly_unrendered = plots.filter(p => !p.querySelector('.main-svg')).length;
  out.sankey_expected = document.documentElement.innerHTML.includes('"type":"sankey"');
  out.sankey_drawn = document.querySelectorAll('.sankey').length;
  out.glue_left = (document.body.innerText.match(/\{glue(:[a-z]+)?\}`[^`]*`/g) || []);
  out.page_width = document.documentElement.scrollWidth;
  out.window_width = window.innerWidth;
  out.wide_tables = [...document.querySelectorAll('table.ftscope-table')]
      .filter(t => t.getBoundingClientRect().width > t.parentElement.clientWidth + 1)
      .map(t => t.id || t.className);
  const box = document.getElementById('sc-misses-only');  // the scorecard's misses-only switch, tried
  if (box) {
    const shown = (sel) => [...document.querySelectorAll(sel)].filter(r => r.offsetParent !== null).length;
    box.click();
    out.filter = {hits_shown: shown('tr[data-miss="0"]'), misses_shown: shown('tr[data-miss="1"]'),
                  misses: document.querySelectorAll('tr[data-miss="1"]').length};
    box.click();
    out.filter.hits_after = shown('tr[data-miss="0"]');
    out.filter.hits = document.querySelectorAll('tr[data-miss="0"]').length;
  }
  out.height = document.documentElement.scrollHeight;
  return JSON.stringify(out);
})()
"""


@dataclass
class PageReport:
    page: str
    problems: list[str] = field(default_factory=list)
    screenshot: str = ""


def find_chromium() -> str:
    for name in (os.environ.get("FTSCOPE_CHROMIUM"), *CHROMIUM_NAMES):
        if name and shutil.which(name):
            return shutil.which(name)
    raise FileNotFoundError("no Chromium found (install Debian's `chromium` package: `make check-book` does, "
                            "or set FTSCOPE_CHROMIUM to its path)")


def pages(html_root: Path) -> list[Path]:
    """Every page of the built book (Sphinx's index pages and static folders left out)."""
    return sorted(p for p in html_root.rglob("*.html")
                  if not SKIP_DIRS.intersection(p.relative_to(html_root).parts) and p.name not in SKIP_PAGES)


def problems_of(probe: dict, errors: list[str]) -> list[str]:
    """What a reader would see broken, from the page probe and the errors the page logged."""
    out = [f"JavaScript error: {e}" for e in errors]
    out += [f"image did not load: {src}" for src in probe["broken_images"]]
    if probe["plotly_unrendered"]:
        out.append(f"{probe['plotly_unrendered']} of {probe['plotly']} plotly figures did not render")
    if probe["sankey_expected"] and not probe["sankey_drawn"]:
        out.append("the page carries a Sankey diagram but none was drawn")
    out += [f"glued value missing: {g}" for g in probe["glue_left"]]
    if probe["page_width"] > probe["window_width"]:
        out.append(f"the page is wider ({probe['page_width']} px) than the window ({probe['window_width']} px)")
    out += [f"table wider than its column: {t}" for t in probe["wide_tables"]]
    if f := probe.get("filter"):
        if f["hits_shown"] or f["misses_shown"] != f["misses"]:
            out.append(f"the misses-only switch shows {f['hits_shown']} reproduced claims and "
                       f"{f['misses_shown']} of {f['misses']} misses")
        if f["hits_after"] != f["hits"]:
            out.append(f"switched off, the scorecard shows {f['hits_after']} of {f['hits']} reproduced claims")
    return out


class _Page:
    """One Chromium tab over the DevTools protocol."""

    def __init__(self, ws):
        self.ws, self.next_id, self.events = ws, 0, []

    async def call(self, method: str, **params):
        self.next_id += 1
        my_id = self.next_id
        await self.ws.write_message(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            raw = await self.ws.read_message()
            if raw is None:
                raise ConnectionError("Chromium closed the DevTools connection")
            msg = json.loads(raw)
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    async def viewport(self, width: int, height: int) -> None:
        await self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                        mobile=False)

    async def drain(self, seconds: float) -> None:
        """Collect events for ``seconds``."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while (left := end - loop.time()) > 0:
            try:
                raw = await asyncio.wait_for(self.ws.read_message(), left)
            except TimeoutError:
                return
            if raw is None:
                return
            self.events.append(json.loads(raw))

    def errors(self) -> list[str]:
        out = []
        for ev in self.events:
            m, p = ev.get("method"), ev.get("params", {})
            if m == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                out.append(d.get("exception", {}).get("description") or d.get("text", "exception"))
            elif m == "Runtime.consoleAPICalled" and p.get("type") == "error":
                out.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
            elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
                out.append(f"{p['entry'].get('text', '')} {p['entry'].get('url', '')}".strip())
        return out


async def _check(pages_: list[Path], html_root: Path, shots: Path, port: int, width: int,
                 settle_s: float, echo) -> list[PageReport]:
    from tornado.websocket import websocket_connect

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as resp:
        targets = [t for t in json.load(resp) if t.get("type") == "page"]
    page = _Page(await websocket_connect(targets[0]["webSocketDebuggerUrl"], max_message_size=1 << 30))
    for method in ("Page.enable", "Runtime.enable", "Log.enable"):
        await page.call(method)
    await page.viewport(width, WINDOW_HEIGHT)
    reports = []
    for path in pages_:
        rel = path.relative_to(html_root).as_posix()
        page.events = []
        await page.call("Page.navigate", url=path.resolve().as_uri())
        for _ in range(600):  # wait for the load event (up to a minute)
            if any(e.get("method") == "Page.loadEventFired" for e in page.events):
                break
            await page.drain(0.1)
        await page.drain(settle_s)  # plotly and MathJax draw after the load event
        got = await page.call("Runtime.evaluate", expression=PROBE, returnByValue=True)
        probe = json.loads(got["result"]["value"])
        report = PageReport(rel, problems_of(probe, page.errors()))
        height = min(int(probe["height"]), 16000)  # the whole page, as tall as a PNG comfortably gets
        await page.viewport(width, height)
        await page.drain(0.3)
        shot = await page.call("Page.captureScreenshot", format="png")
        await page.viewport(width, WINDOW_HEIGHT)
        out = shots / (rel.removesuffix(".html").replace("/", "__") + ".png")
        out.write_bytes(base64.b64decode(shot["data"]))
        report.screenshot = str(out)
        echo(f"[check-book] {rel}: " + ("ok" if not report.problems else "; ".join(report.problems)))
        reports.append(report)
    return reports


def check_book(html_root: Path, shots: Path, width: int = 1280, settle_s: float = 1.5,
               echo=print) -> list[PageReport]:
    """Open every page under ``html_root`` at ``width`` px; one report per page (empty problems = fine)."""
    if not (html_root / "index.html").exists():
        raise FileNotFoundError(f"no built book at {html_root} (run `ftscope build` first)")
    shots.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ftscope-chromium-", ignore_cleanup_errors=True) as profile:
        (Path(profile) / "pid").write_text(str(os.getpid()))  # in use: `ftscope clean-cache` leaves it
        proc = subprocess.Popen(
            [find_chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-extensions", "--remote-debugging-port=0", f"--user-data-dir={profile}",
             "--allow-file-access-from-files", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            port = None
            for line in proc.stderr:
                if m := re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line):
                    port = int(m.group(1))
                    break
            if port is None:
                raise RuntimeError("Chromium did not start its DevTools endpoint")
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep its log pipe from filling
            return asyncio.run(_check(pages(html_root), html_root, shots, port, width, settle_s, echo))
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
