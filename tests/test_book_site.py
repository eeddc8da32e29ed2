"""What the built book carries: buttons only for a named repository, each chapter's re-run box, the
scorecard's HTML, and the script mend of the book's Sphinx extension."""

import json
import re

import nbformat
import pytest

from ftscope.book import report, site
from ftscope.book.sphinx_ext import drop_repeated_scripts
from ftscope.config import ConfigError

BASE = {"title": "t", "repository": {"url": "https://github.com/placeholder/x"},
        "html": {"use_repository_button": True},
        "sphinx": {"config": {"html_theme_options": {"repository_url": "https://github.com/placeholder/x",
                                                     "use_download_button": True}}}}


def test_without_a_repository_the_book_shows_no_repository_or_launch_button():
    cfg = site.book_config(BASE, {})
    assert "repository" not in cfg and cfg["html"]["use_repository_button"] is False
    assert "repository_url" not in cfg["sphinx"]["config"]["html_theme_options"]
    assert cfg["launch_buttons"]["colab_url"] == "" and cfg["launch_buttons"]["binderhub_url"] == ""
    assert cfg["sphinx"]["config"]["html_theme_options"]["use_download_button"] is True
    assert BASE["repository"]["url"].endswith("/x")  # the input is not changed


def test_a_named_repository_brings_its_button_and_colab_only_when_asked():
    env = {site.REPOSITORY_ENV: "https://github.com/someone/ftscope/", site.BRANCH_ENV: "pages"}
    cfg = site.book_config(BASE, env)
    assert cfg["repository"] == {"url": "https://github.com/someone/ftscope", "branch": "pages", "path_to_book": ""}
    assert cfg["html"]["use_repository_button"] is True and cfg["launch_buttons"]["colab_url"] == ""
    theme = cfg["sphinx"]["config"]["html_theme_options"]
    assert theme["repository_url"] == "https://github.com/someone/ftscope" and theme["repository_branch"] == "pages"
    assert site.book_config(BASE, {**env, site.COLAB_ENV: "1"})["launch_buttons"]["colab_url"] == site.COLAB_URL
    assert site.book_config(BASE, {site.REPOSITORY_ENV: "https://github.com/a/b"})["repository"]["branch"] == "main"


@pytest.mark.parametrize("url", ["github.com/a/b", "https://example.org/a/b", "https://github.com/a"])
def test_a_repository_url_that_is_not_github_is_refused_before_the_build(url):
    with pytest.raises(ConfigError, match="FTSCOPE_REPOSITORY_URL"):
        site.book_config(BASE, {site.REPOSITORY_ENV: url})


def test_the_rerun_box_gives_the_commands_the_measured_and_the_planned_time():
    record = {"duration_s": 578.3, "finished": "2026-12-03T02:07:43+00:00", "commit": "f14fbb258632b7ce",
              "machine": {"cpu": {"model": "AMD EPYC"}, "torch": {"threads": 2}}}
    box = site.rerun_box("02_tracr_finetuning", record, 7200.0)
    for preset in ("smoke", "laptop", "paper --device cuda"):
        assert f"ftscope run 02_tracr_finetuning --preset {preset}" in box
    assert "**2.0 h** on one H100" in box
    assert ("**10 min** in the run this book's numbers come from (commit f14fbb25, AMD EPYC, 2 threads, "
            "2026-12-03)") in box
    assert "{download}`02_tracr_finetuning.ipynb <02_tracr_finetuning.ipynb>`" in box
    bare = site.rerun_box("x", None, None)
    assert "At `laptop`: not recorded yet" in bare and "not in the performance plan yet" in bare


def test_the_box_goes_under_the_title_once(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_markdown_cell("# Title\n\nIntro text.")]
    path = tmp_path / "c.ipynb"
    nbformat.write(nb, path)
    site.add_rerun_box(path, site.rerun_box("c", None, None))
    site.add_rerun_box(path, site.rerun_box("c", None, None))
    src = nbformat.read(path, as_version=4).cells[1].source
    assert src.startswith("# Title\n\n:::{admonition} Re-run this chapter") and src.endswith("Intro text.")
    assert src.count("Re-run this chapter") == 1


def test_planned_seconds_read_the_plan_by_chapter_number(tmp_path):
    class P:
        root = tmp_path
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "plan-paper.json").write_text(json.dumps(
        {"works": [{"chapter": "02", "seconds": 10.0}, {"chapter": "02", "seconds": 5.0},
                   {"chapter": "03", "seconds": 1.0}]}))
    assert site.planned_seconds(P, "02_tracr_finetuning") == 15.0 and site.planned_seconds(P, "07_x") is None
    (tmp_path / "results" / "plan-paper.json").write_text("{not json")
    assert site.planned_seconds(P, "02_tracr_finetuning") is None


def test_the_scorecard_escapes_text_and_shortens_titles(monkeypatch):
    claim = {"id": "a", "chapter": "c1", "paper": "jain2024", "reference": "T", "paper_value": None, "ours": 1.0,
             "criterion": ">= 0.9 <b>", "verdict": "reproduced",
             "statement": "A statement that goes on for a long while, with <tags> in it, longer than one line can hold"}
    monkeypatch.setattr(report, "results", lambda project, preset: {"c1": {"notebook": "c1", "claims": [claim]}})
    md = report.scorecard_markdown(None, "laptop")
    assert "&lt;tags&gt;" in md and "<tags>" not in md and "&gt;= 0.9 &lt;b&gt;" in md
    assert "<summary>A statement that goes on for a long while, with &lt;tags&gt; in it, longer …</summary>" in md
    assert 'data-miss="0"' in md
    assert "\n\n" not in md.split("\n", 2)[2]  # one HTML block: a blank line would end it in Markdown


def test_a_chapter_with_claims_of_several_papers_is_counted_under_each_by_its_own_claims(monkeypatch):
    def claim(id, paper, verdict):
        return {"id": id, "chapter": "c9", "paper": paper, "reference": "T", "paper_value": None, "ours": 1.0,
                "criterion": ">= 1", "verdict": verdict, "statement": "s"}

    claims = [claim("a", "jain2024", "reproduced"), claim("b", "jain2024", "reproduced"),
              claim("c", "zhang2024", "not reproduced")]
    monkeypatch.setattr(report, "results", lambda project, preset: {"c9": {"notebook": "c9", "claims": claims}})
    rows = re.findall(r'<tr class="sc-(paper|chapter)">(.*?)</tr>', report.scorecard_markdown(None, "laptop"))
    chapter_rows = [row for kind, row in rows if kind == "chapter"]
    assert len(chapter_rows) == 2
    assert "2 reproduced" in chapter_rows[0] and "not reproduced" not in chapter_rows[0]
    assert "1 not reproduced" in chapter_rows[1] and "sc-reproduced" not in chapter_rows[1]


class _Script:
    def __init__(self, filename, **attributes):
        self.filename, self.attributes, self.priority = filename, attributes, 500


def test_a_repeated_inline_script_is_dropped_whatever_its_filename():
    scripts = [_Script(None, body="const A = 1"), _Script("_static/x.js"), _Script("", body="const A = 1"),
               _Script("_static/x.js"), _Script(None, body="const B = 2")]
    context = {"script_files": scripts}
    drop_repeated_scripts(None, "p", "page.html", context, None)
    assert [(s.filename, s.attributes.get("body")) for s in context["script_files"]] == [
        (None, "const A = 1"), ("_static/x.js", None), (None, "const B = 2")]


def test_a_cell_that_ends_in_glue_all_shows_nothing():
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from ftscope.book.chapter import Glued

    shell = InteractiveShell.instance()
    shell.user_ns["Glued"] = Glued
    with capture_output() as shown:
        shell.run_cell("Glued({'a': 1})")
    assert "'a'" not in shown.stdout and not shown.outputs  # (a terminal shell still prints its Out prompt)
    with capture_output() as shown:
        shell.run_cell("dict({'a': 1})")
    assert "'a': 1" in shown.stdout  # a plain dict would have been shown
