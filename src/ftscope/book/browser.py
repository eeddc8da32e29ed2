"""``ftscope check-book``: every page of the built book opened in headless Chromium, as a reader would.

Playwright drives Debian's ``chromium`` (``executable_path``; Playwright's own browser download is not used).
Each page is loaded at a given window width; the check fails when a page

- throws a JavaScript error or logs one (a failed resource load included),
- shows an image that did not load,
- has a plotly figure that did not render (and, where the page carries a Sankey diagram, no Sankey drawn),
- shows a glue role that was not replaced by its value,
- is wider than the window (the page scrolls sideways), or has a scorecard or status table wider than its column,
- has a scorecard whose misses-only switch does not show exactly the misses (or, switched off, everything).

A full-page screenshot of each page is saved under ``_build/screenshots/``.
"""

from __future__ import annotations

import json
import os
import shutil
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


LOAD_TIMEOUT_S = 60  # s: a page that has not fired its load event by then is reported
MAX_SHOT_HEIGHT = 16000  # px: a screenshot stops here, as tall as a PNG comfortably gets


def _check_page(page, path: Path, rel: str, shots: Path, settle_s: float) -> PageReport:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    errors: list[str] = []

    def on_error(err) -> None:
        errors.append(str(err))

    def on_console(msg) -> None:
        if msg.type == "error":
            errors.append(f"{msg.text} {msg.location.get('url', '')}".strip())

    page.on("pageerror", on_error)
    page.on("console", on_console)
    try:
        try:
            page.goto(path.resolve().as_uri(), wait_until="load", timeout=LOAD_TIMEOUT_S * 1000)
        except PlaywrightTimeout:
            return PageReport(rel, [f"the page did not load in {LOAD_TIMEOUT_S} s"])
        page.wait_for_timeout(settle_s * 1000)  # plotly and MathJax draw after the load event
        probe = json.loads(page.evaluate(PROBE))
        out = shots / (rel.removesuffix(".html").replace("/", "__") + ".png")
        height = min(int(probe["height"]), MAX_SHOT_HEIGHT)
        page.screenshot(path=out, full_page=True, clip={"x": 0, "y": 0, "width": page.viewport_size["width"],
                                                        "height": height})
    finally:
        page.remove_listener("pageerror", on_error)
        page.remove_listener("console", on_console)
    return PageReport(rel, problems_of(probe, errors), screenshot=str(out))


def check_book(html_root: Path, shots: Path, width: int = 1280, settle_s: float = 1.5,
               echo=print) -> list[PageReport]:
    """Open every page under ``html_root`` at ``width`` px; one report per page (empty problems = fine)."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    if not (html_root / "index.html").exists():
        raise FileNotFoundError(f"no built book at {html_root} (run `ftscope build` first)")
    shots.mkdir(parents=True, exist_ok=True)
    reports = []
    with sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(executable_path=find_chromium(),
                                         args=["--no-sandbox", "--disable-gpu", "--allow-file-access-from-files"])
        except PlaywrightError as err:
            raise RuntimeError(f"Chromium did not start: {str(err).splitlines()[0]}") from None
        try:
            page = browser.new_page(viewport={"width": width, "height": WINDOW_HEIGHT})
            for path in pages(html_root):
                rel = path.relative_to(html_root).as_posix()
                report = _check_page(page, path, rel, shots, settle_s)
                echo(f"[check-book] {rel}: " + ("ok" if not report.problems else "; ".join(report.problems)))
                reports.append(report)
        finally:
            browser.close()
    return reports
