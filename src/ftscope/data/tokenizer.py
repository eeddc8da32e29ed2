"""Byte-level BPE tokenizers trained with HF ``tokenizers`` (Horn & Elliott's Mistral tokenizer is
not reachable offline; a small BPE trained on the union of the corpora stands in for it).

``<s>`` is id 0 and starts every document, as Mistral's tokenizer prepends BOS.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

SPECIAL = ("<s>", "</s>", "<pad>")


def train_bpe(texts: Iterable[str], vocab_size: int, *, special: tuple[str, ...] = SPECIAL):
    """A byte-level BPE of ``vocab_size`` tokens (specials first, then the 256 bytes, then merges)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(special), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def from_str(text: str):
    """A tokenizer from its JSON (``tok.to_str()``)."""
    from tokenizers import Tokenizer

    return Tokenizer.from_str(text)


def bos_id(tok) -> int:
    return tok.token_to_id(SPECIAL[0])


def encode_docs(tok, texts: Iterable[str], *, bos: bool = True) -> np.ndarray:
    """One token stream: every document's ids, each document preceded by ``<s>``."""
    texts = list(texts)
    dtype = np.uint16 if tok.get_vocab_size() <= np.iinfo(np.uint16).max else np.int32
    b = bos_id(tok)
    parts = []
    for enc in tok.encode_batch(texts, add_special_tokens=False):
        if bos:
            parts.append(np.array([b], dtype=dtype))
        parts.append(np.asarray(enc.ids, dtype=dtype))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def token_strings(tok) -> list[str]:
    """Readable text of every id (``decode`` of the single token; spaces kept)."""
    return [tok.decode([i], skip_special_tokens=False) for i in range(tok.get_vocab_size())]
