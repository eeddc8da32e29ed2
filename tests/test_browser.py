"""``ftscope check-book`` in a real headless Chromium, on pages made to break each way it looks for."""

from pathlib import Path

import pytest

from ftscope.book import browser

GOOD = "<html><body><h1>Fine</h1><p>All well.</p></body></html>"
BAD = """<html><body style="margin:0">
<script>throw new Error("boom from the page")</script>
<img src="missing.png">
<div style="width:300px"><table class="ftscope-table" id="wide" style="width:900px"><tr><td>x</td></tr></table></div>
<p>The value is {glue:text}`answer` here.</p>
<div class="plotly-graph-div"></div><script type="application/json">{"type":"sankey"}</script>
</body></html>"""
WIDE = '<html><body><div style="width:4000px">a page that scrolls sideways</div></body></html>'


@pytest.fixture(scope="module")
def checked(tmp_path_factory):
    root = tmp_path_factory.mktemp("html")
    (root / "index.html").write_text(GOOD)
    (root / "bad.html").write_text(BAD)
    (root / "wide.html").write_text(WIDE)
    for skipped in ("_static/x.html", "search.html"):
        (root / skipped).parent.mkdir(exist_ok=True)
        (root / skipped).write_text(BAD)
    shots = root.parent / "shots"
    return {r.page: r for r in browser.check_book(root, shots, width=800, settle_s=0.2, echo=lambda _: None)}, shots


def test_a_good_page_passes_and_every_page_gets_a_screenshot(checked):
    reports, shots = checked
    assert sorted(reports) == ["bad.html", "index.html", "wide.html"]  # static files and search left out
    assert reports["index.html"].problems == []
    for r in reports.values():
        assert Path(r.screenshot).parent == shots and Path(r.screenshot).read_bytes()[:4] == b"\x89PNG"


def test_each_kind_of_breakage_is_reported(checked):
    problems = "\n".join(checked[0]["bad.html"].problems)
    assert "boom from the page" in problems
    assert "image did not load: missing.png" in problems
    assert "table wider than its column: wide" in problems
    assert "glued value missing: {glue:text}`answer`" in problems
    assert "1 of 1 plotly figures did not render" in problems
    assert "carries a Sankey diagram but none was drawn" in problems


def test_a_page_wider_than_the_window_is_reported(checked):
    assert any("wider" in p and "than the window (800 px)" in p for p in checked[0]["wide.html"].problems)


REPO = Path(__file__).resolve().parents[1]


def _scorecard_page(root: Path, script: str) -> None:
    from ftscope.book import report

    hit = {"id": "hit", "chapter": "c1", "paper": "jain2024", "reference": "T", "statement": "s", "ours": 1.0,
           "paper_value": None, "criterion": ">= 0", "verdict": "reproduced"}
    claims = [hit, {**hit, "id": "miss", "verdict": "not reproduced"},
              {**hit, "id": "shaky", "fragile": True, "seeds": [1, -1], "seeds_meeting": 1},
              {**hit, "id": "hit2", "chapter": "c2"}]
    docs = {"c1": {"claims": claims[:3]}, "c2": {"claims": claims[3:]}}
    orig = report.results
    report.results = lambda project, preset: docs
    try:
        body = report.scorecard_markdown(None, "laptop").split("\n", 2)[2]
    finally:
        report.results = orig
    style = (REPO / "_static" / "ftscope.css").read_text()
    (root / "index.html").write_text(f"<html><head><style>{style}</style><script>{script}</script></head>"
                                     f"<body>{body}</body></html>")


def test_the_scorecard_switch_shows_exactly_the_misses(tmp_path):
    _scorecard_page(tmp_path, (REPO / "_static" / "ftscope.js").read_text())
    [page] = browser.check_book(tmp_path, tmp_path / "shots", settle_s=0.2, echo=lambda _: None)
    assert page.problems == []
    _scorecard_page(tmp_path, "")  # without the book's script the switch does nothing: caught
    [page] = browser.check_book(tmp_path, tmp_path / "shots", settle_s=0.2, echo=lambda _: None)
    assert page.problems == ["the misses-only switch shows 2 reproduced claims and 2 of 2 misses"]


def test_no_book_no_check(tmp_path):
    with pytest.raises(FileNotFoundError, match="ftscope build"):
        browser.check_book(tmp_path, tmp_path / "shots")


def test_a_page_that_never_finishes_loading_is_reported_not_waited_for(tmp_path, monkeypatch):
    import socket

    with socket.socket() as silent:  # listens, never answers: the image's request hangs, so does the load event
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        (tmp_path / "index.html").write_text(f'<html><body><img src="http://127.0.0.1:{port}/x.png"></body></html>')
        monkeypatch.setattr(browser, "LOAD_TIMEOUT_S", 1)
        [page] = browser.check_book(tmp_path, tmp_path / "shots", settle_s=0.1, echo=lambda _: None)
    assert page.problems == ["the page did not load in 1 s"]
