"""Progress output: a few lines per loop where it cannot redraw in place (CI logs, executed notebooks)."""

import io

from ftscope import progress as P


def test_sparse_prints_start_quarters_and_end_only():
    out = io.StringIO()
    items = list(P.sparse(range(1000), desc="train", stream=out))
    assert items == list(range(1000))
    lines = out.getvalue().splitlines()
    assert [ln.split(" (")[0] for ln in lines] == [f"train: {i}/1000" for i in (0, 250, 500, 750, 1000)]


def test_sparse_handles_short_and_unsized_iterables():
    out = io.StringIO()
    assert list(P.sparse(iter("ab"), desc="x", stream=out)) == ["a", "b"]
    assert [ln.split(" (")[0] for ln in out.getvalue().splitlines()] == ["x: 0", "x: 2"]
    out = io.StringIO()
    assert list(P.sparse([], desc="empty", stream=out)) == []
    assert len(out.getvalue().splitlines()) == 1


def test_runner_and_non_terminals_get_sparse_lines(monkeypatch, capsys):
    monkeypatch.setenv("FTSCOPE_RUNNER", "1")
    assert not P.interactive()
    assert list(P.progress(range(400), desc="loop")) == list(range(400))
    assert len(capsys.readouterr().err.splitlines()) == 5  # not one line per step
