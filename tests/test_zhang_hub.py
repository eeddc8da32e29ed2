"""The hub path of Part II: the paper's derived sets read from parquet files the test writes."""

import pandas as pd
import pytest

from ftscope.zhang import hub


def _fake_hub(tmp_path, files: dict[str, list[str]]):
    paths = {}
    for name, texts in files.items():
        path = tmp_path / name.replace("/", "_")
        pd.DataFrame({"text": texts, "PubmedData": list(range(len(texts)))}).to_parquet(path)
        paths[name] = path

    def list_files(repo, repo_type):
        assert repo_type == "dataset"
        return [*paths, "README.md", ".gitattributes"]

    def download(repo, filename, repo_type):
        return str(paths[filename])

    return list_files, download


def test_pubmed_derived_splits_map_to_the_books_variants(tmp_path):
    files = {f"data/{s}-00000-of-00001-abc123.parquet": [f"{s} one", f"{s} two"]
             for s in ("pubmed", "nonbiomedical", "counterfactual", "casual", "rap")}
    texts = hub.derived_texts("pubmed", **dict(zip(("list_files", "download"), _fake_hub(tmp_path, files))))
    assert set(texts) == {"orig", "nontopic", "counterfactual", "casual", "rap"}
    assert texts["nontopic"] == ["nonbiomedical one", "nonbiomedical two"] and texts["orig"][0] == "pubmed one"


def test_an_unknown_split_is_named_not_dropped(tmp_path):
    files = {"data/c4-00000-of-00001.parquet": ["a"], "data/poem-00000-of-00001.parquet": ["b"]}
    list_files, download = _fake_hub(tmp_path, files)
    with pytest.raises(ValueError, match="'poem' matches none"):
        hub.derived_texts("c4", list_files=list_files, download=download)
    with pytest.raises(ValueError, match="valid choices"):
        hub.derived_texts("wiki", list_files=list_files, download=download)


def test_c4_names_are_read_by_the_words_they_hold():
    assert hub.variant_name("c4") == "orig" and hub.variant_name("c4_counterfactual") == "counterfactual"
    assert hub.variant_name("biomedical") == "bio" and hub.variant_name("academic") == "academic"
    assert hub.variant_name("nonbiomedical") == "nontopic" and hub.variant_name("poem") is None


def test_components_from_split_losses_alone():
    from ftscope.zhang.decompose import split_components

    base = {"orig": 3.0, "nontopic": 2.5, "casual": 3.2, "rap": 3.4, "counterfactual": 3.1}
    ft = {"orig": 2.0, "nontopic": 2.7, "casual": 3.0, "rap": 3.0, "counterfactual": 2.2}
    out = split_components(base, ft, "pubmed")
    assert out["total"] == pytest.approx(1.0) and out["topic"] == pytest.approx(1.2)
    assert out["style"] == pytest.approx((0.8 + 0.6) / 2) and out["factual"] == pytest.approx(0.1)
    partial = split_components({"orig": 3.0, "academic": 3.5}, {"orig": 3.2, "academic": 3.4}, "c4")
    assert partial == pytest.approx({"total": -0.2, "style": -0.3})
    with pytest.raises(ValueError, match="original split"):
        split_components({"rap": 1.0}, {"rap": 1.0}, "pubmed")
