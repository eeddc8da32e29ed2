"""Reproduction records: written by the book's laptop run, fresh while the chapter's inputs are, checked by CI;
and the spot check that re-runs one chapter from an empty cache against its record."""

import json
import re
from pathlib import Path

import pytest

from ftscope.book import cli, records, runner, spotcheck
from ftscope.book.report import claims_report, scorecard_markdown, status_markdown


def quiet(*_):
    pass


def laptop(project, **kw):
    [outcome] = runner.run(project, ["toy_chapter"], preset="laptop", device="cpu", echo=quiet, **kw)
    assert outcome.status in ("executed", "cached"), outcome.error
    return outcome


def cli_records(project, monkeypatch, capsys) -> tuple[int, str]:
    monkeypatch.setenv("FTSCOPE_ROOT", str(project.root))
    code = cli.main(["records"])
    return code, capsys.readouterr().out


def test_a_record_is_written_by_the_book_run_goes_stale_with_its_inputs_and_is_refreshed(
        toy_project, monkeypatch, capsys):
    (toy_project.root / "requirements.lock").write_text("numpy==1\n")
    laptop(toy_project)
    path = records.path(toy_project, "toy_chapter")
    record = json.loads(path.read_text())
    assert record["chapter"] == "toy_chapter" and record["claims"][0]["id"] == "toy_final_loss"
    assert {"notebooks/toy_chapter.py", "requirements.lock", "src/ftscope/train/loop.py"} <= set(record["inputs"])
    assert record["machine"]["cpu"]["model"] and record["cells"] and record["duration_s"] > 0
    claims_report(toy_project, "laptop", strict=False, echo=quiet, write_expected=True)
    assert records.check(toy_project).failures == []
    assert cli_records(toy_project, monkeypatch, capsys) == (0, "[records] 1/1 chapters have a fresh laptop record; "
                                                                "every recorded verdict as expected\n")

    # a run that is not the book's own (an override, another seed) leaves the record alone
    before = path.read_text()
    laptop(toy_project, overrides={"steps": 60})
    assert path.read_text() == before

    # a module the chapter never imports: the record stays fresh
    (toy_project.root / "src" / "ftscope" / "zhang" / "claims.py").open("a").write("\n# an edit\n")
    assert records.check(toy_project).failures == []
    # the lock file, or a module it imports: stale, naming the chapter, the files and the command
    (toy_project.root / "requirements.lock").write_text("numpy==2\n")
    (toy_project.root / "src" / "ftscope" / "train" / "loop.py").open("a").write("\n# an edit\n")
    [failure] = records.check(toy_project).failures
    assert failure.startswith("toy_chapter: its record (commit ")
    assert "changed since: requirements.lock, src/ftscope/train/loop.py;" in failure
    assert "refresh it with `ftscope run toy_chapter --preset laptop`" in failure
    code, out = cli_records(toy_project, monkeypatch, capsys)
    assert code == 1 and "[records] FAIL toy_chapter: its record" in out and "0/1 chapters" in out
    assert "stale (2 inputs changed)" in status_markdown(toy_project, "laptop")

    # the one command refreshes it
    laptop(toy_project)
    assert records.check(toy_project).failures == []
    assert json.loads(path.read_text())["input_digest"] != record["input_digest"]
    assert cli_records(toy_project, monkeypatch, capsys)[0] == 0
    assert "<td>fresh</td>" in status_markdown(toy_project, "laptop")
    # the scorecard at laptop shows the record's numbers and says which run they come from
    path.write_text(path.read_text().replace(f'"commit": "{record["commit"]}"', '"commit": "abcdef0123456789"'))
    card = scorecard_markdown(toy_project, "laptop")
    assert '<p class="sc-source">Numbers from the record of commit abcdef01, ' in card


def test_a_missing_or_malformed_record_fails_the_check_naming_it(toy_project):
    [failure] = records.check(toy_project).failures
    assert "toy_chapter: no record at book/records/laptop/toy_chapter.json" in failure
    path = records.path(toy_project, "toy_chapter")
    path.parent.mkdir(parents=True)
    path.write_text('{"chapter": "toy_chapter"}')
    with pytest.raises(ValueError, match="book/records/laptop/toy_chapter.json is not a valid record.*ftscope run"):
        records.check(toy_project)


def test_the_spot_check_reruns_from_an_empty_cache_and_compares_with_the_record(toy_project, tmp_path, monkeypatch):
    monkeypatch.setenv("FTSCOPE_CACHE", str(tmp_path / "warm"))
    laptop(toy_project)
    claims_report(toy_project, "laptop", strict=False, echo=quiet, write_expected=True)
    lines = []
    assert spotcheck.spot_check(toy_project, "toy_chapter", echo=lines.append) == 0
    out = "\n".join(lines)
    assert "1 identical" in out and "every verdict as expected" in out
    [folder] = re.findall(r"executing at laptop from an empty cache \((.+?)\)", out)  # a temporary one, gone after the check
    assert "ftscope-spot-check-" in folder and not Path(folder).exists()
    assert sorted(p.name for p in toy_project.results("laptop").iterdir()) == ["toy_chapter.ipynb", "toy_chapter.json"]

    # a value the run does not reproduce is printed; a verdict the expectation does not allow fails
    path = records.path(toy_project, "toy_chapter")
    doc = json.loads(path.read_text())
    doc["claims"][0]["ours"] = 0.5
    path.write_text(json.dumps(doc))
    lines = []
    assert spotcheck.spot_check(toy_project, "toy_chapter", echo=lines.append) == 0
    assert any(line.strip().startswith("toy_final_loss: ours") and "record 0.5" in line for line in lines)
    expected = toy_project.root / "book" / "expected" / "laptop.yml"
    expected.write_text(expected.read_text().replace("toy_final_loss: reproduced", "toy_final_loss: not reproduced"))
    lines = []
    assert spotcheck.spot_check(toy_project, "toy_chapter", echo=lines.append) == 1
    assert any("FAIL: toy_chapter/toy_final_loss: not reproduced expected, reproduced now" in line for line in lines)


def test_the_spot_check_draws_every_chapter_from_commit_hashes():
    names = [f"{i:02d}_c" for i in range(1, 11)]
    drawn = {spotcheck.choose(names, f"{n:040x}") for n in range(0, 10_000, 7)}
    assert drawn == set(names)
    assert spotcheck.choose(names, "958a73c" + "0" * 33) == spotcheck.choose(names, "958a73c" + "0" * 33)
    assert spotcheck.differences([{"id": "a", "ours": 1.0, "seeds": [1.0, 2.0]}],
                                 [{"id": "a", "ours": 1.5, "seeds": [1.0, 2.0]}])[0] == (0.5, "a: ours", 1.0, 1.5)


def test_the_spot_check_refuses_an_unknown_chapter_or_a_missing_record(toy_project, monkeypatch, capsys):
    monkeypatch.setenv("FTSCOPE_ROOT", str(toy_project.root))
    assert cli.main(["spot-check", "nope"]) == 2
    assert "unknown notebook 'nope'; valid choices: 'toy_chapter'" in capsys.readouterr().err
    lines = []
    assert spotcheck.spot_check(toy_project, "toy_chapter", echo=lines.append) == 1
    assert "toy_chapter has no record to compare with; make it with `ftscope run toy_chapter --preset laptop`" in lines[0]
