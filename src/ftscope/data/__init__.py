"""Corpora for Part III (Horn & Elliott 2024): Python, Lua, English and stories.

``make data`` (``ftscope data fetch``) downloads and normalises them into ``data/<corpus>/``;
``load_corpus`` reads them back. See ``corpora`` for loading and ``fetch`` for how they are built.
"""

from ftscope.data.corpora import CORPORA, Doc, MissingData, corpus_manifest, load_corpus, split_docs
from ftscope.data.fetch import FetchError, fetch_all, verify

__all__ = ["CORPORA", "Doc", "FetchError", "MissingData", "corpus_manifest", "fetch_all", "load_corpus",
           "split_docs", "verify"]
