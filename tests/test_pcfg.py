"""The PCFG chapter's data layer: grammar, task answers, priors, and the Counter fine-tuning sampler."""

from functools import cache

import numpy as np
import pytest
import torch

from ftscope.config import ConfigError
from ftscope.jain.pcfg import (
    FAMILIES,
    GRAMMAR,
    IGNORE_INDEX,
    PRIORS,
    START,
    TERMINALS,
    Vocab,
    answer_ids,
    correlated_windows,
    count_operand,
    count_pairs,
    counter_batch,
    encode_text,
    force_counts,
    generate,
    index_of_occurrence,
    index_of_pair,
    make_batch,
    pretraining_batch,
    reask,
    sequence_length,
    text_windows,
    token_at_span_start,
)


# ------------------------------------------------------------------------------- grammar
def derivable(text: str, symbol: str = START) -> bool:
    """Recursive-descent recogniser: does ``symbol`` derive exactly ``text``?"""

    @cache
    def ends(sym: str, i: int) -> frozenset[int]:  # every j with sym ⇒* text[i:j]
        if sym in TERMINALS:
            return frozenset({i + 1}) if text[i: i + 1] == sym else frozenset()
        out: set[int] = set()
        for rhs in GRAMMAR[sym]:
            positions = {i}
            for part in rhs:
                positions = {j for p in positions for j in ends(part, p)}
            out |= positions
        return frozenset(out)

    return len(text) in ends(symbol, 0)


def test_generate_yields_terminals_reproducibly():
    strings = [generate(np.random.default_rng(s)) for s in range(5)]
    assert all(set(x) <= set(TERMINALS) for x in strings)
    assert generate(np.random.default_rng(3)) == strings[3]
    assert len({"".join(x) for x in strings}) == 5
    assert all(138 <= len(x) <= 432 for x in strings)  # the grammar's shortest and longest derivations


def test_generated_strings_are_derivable_and_corruptions_are_not():
    rng = np.random.default_rng(0)
    for _ in range(4):
        text = "".join(generate(rng))
        assert derivable(text)
        # every terminal unit (d, e, f) ends in ca, bc, cb, ab or ba, so no string ends in "aa"
        assert not derivable(text[:-2] + "aa")
        assert not derivable(text + "c")
    assert derivable("caca", "m") is False  # m derives at least 30 terminals
    assert not derivable("a" * 200)  # every d derives a c


# ------------------------------------------------------------------------------- task answers
def _rows(text: str) -> np.ndarray:
    return encode_text(text)[None, :]


A, B, C = (np.array([i]) for i in range(3))


def test_worked_example_of_the_docstring():
    vocab = Vocab.for_window(12, count_span=8, occurrence=2)
    text = np.repeat(_rows("cabcaabcbaac"), 5, axis=0)
    family = np.arange(5)  # C, CC, I, IC, T
    operand = encode_text("aabaa")
    batch = make_batch(vocab, text, family, operand, count_span=8, occurrence=2)
    words = [" ".join(vocab.decode(row)) for row in batch.tokens]
    body = "<sot> c a b c a a b c b a a c <eot> <art>"
    assert words == [f"<sos> <C> a 8 {body} 4 <eos>",
                     f"<sos> <CC> a 8 {body} 2 <eos>",
                     f"<sos> <I> b 2 {body} 6 <eos>",
                     f"<sos> <IC> a 2 {body} 8 <eos>",
                     f"<sos> <T> <null> 8 {body} a <eos>"]


def test_count_and_count_pairs():
    text = _rows("bb" + "c" * 5 + "aaab" + "ca")  # span 10 starts after the first "bbc"
    assert count_operand(text, A, 10)[0] == 4
    assert count_operand(text, B, 10)[0] == 1  # the two leading b's lie outside the span
    assert count_pairs(text, A, 10)[0] == 2  # "aaa" holds two overlapping pairs
    assert count_pairs(text, C, 10)[0] == 3  # "cccc" inside the span (the fifth c is outside)
    assert count_pairs(_rows("aab"), A, 2)[0] == 0  # a pair must lie wholly in the span


def test_window_shorter_than_count_span_is_counted_whole():
    text = _rows("abaca")
    assert count_operand(text, A, 40)[0] == 3
    assert count_pairs(_rows("aacaa"), A, 40)[0] == 2
    assert token_at_span_start(text, 40)[0] == 0  # T falls back to the first token
    assert token_at_span_start(text, 2)[0] == 2  # "c": index 2 from EOT


def test_index_from_eot_and_too_few_occurrences():
    text = _rows("abcabcbba")  # b at indices 2, 3, 5, 8 (last token = index 1)
    assert index_of_occurrence(text, B, 1)[0] == 2
    assert index_of_occurrence(text, B, 4)[0] == 8
    assert index_of_occurrence(text, B, 5)[0] == -1
    assert index_of_occurrence(text, A, 1)[0] == 1
    pairs = _rows("aaacbaab")  # pairs "aa" start at indices 8, 7 and 3
    assert index_of_pair(pairs, A, 1)[0] == 3
    assert index_of_pair(pairs, A, 3)[0] == 8
    assert index_of_pair(pairs, A, 4)[0] == -1
    vocab = Vocab.for_window(9, count_span=4, occurrence=5)
    none = answer_ids(vocab, np.repeat(text, 2, 0), np.array([2, 3]), np.array([1, 1]), 4, 5)
    assert vocab.decode(none) == ["<none>", "<none>"]


# ------------------------------------------------------------------------------- sequences
def test_sequence_layout():
    window = 48
    vocab = Vocab.for_window(window)
    batch = pretraining_batch(np.random.default_rng(0), vocab, 64, window, "high")
    assert batch.tokens.shape == (64, sequence_length(window)) == (64, 57)
    assert batch.tokens.dtype == torch.long
    for row, fam in zip(batch.tokens, batch.family):
        words = vocab.decode(row)
        assert words[0] == "<sos>" and words[1] == f"<{FAMILIES[fam]}>" and words[4] == "<sot>"
        assert words[2] in (("<null>",) if FAMILIES[fam] == "T" else TERMINALS)
        assert words[3] == ("6" if FAMILIES[fam] in ("I", "IC") else "40")
        assert set(words[5: 5 + window]) <= set(TERMINALS)
        assert words[-4:-2] == ["<eot>", "<art>"] and words[-1] == "<eos>"
        assert words[batch.answer_pos] == words[-2]
    assert torch.equal(batch.tokens[:, batch.answer_pos], batch.answer)
    assert batch.inputs.shape == batch.targets.shape == (64, 56)
    masked = batch.answer_targets
    assert torch.equal(masked[:, batch.predict_pos], batch.answer)
    assert (masked[:, : batch.predict_pos] == IGNORE_INDEX).all() and (masked[:, -1] == IGNORE_INDEX).all()
    assert vocab.encode(vocab.decode(batch.tokens[0])) == batch.tokens[0].tolist()
    assert vocab.size == 8 + 5 + 3 + 49


def test_long_windows_concatenate_derivations():
    text = text_windows(np.random.default_rng(0), 20, 500)  # longer than any single derivation (≤ 432)
    assert text.shape == (20, 500) and set(np.unique(text)) <= {0, 1, 2}
    assert np.array_equal(text, text_windows(np.random.default_rng(0), 20, 500))


# ------------------------------------------------------------------------------- priors
@pytest.mark.parametrize("prior", ["low", "medium", "medium_high", "high", (0.2, 0.2, 0.6)])
def test_operand_frequencies_follow_the_prior(prior):
    vocab = Vocab.for_window(48)
    batch = pretraining_batch(np.random.default_rng(1), vocab, 5000, 48, prior)
    with_operand = batch.family != FAMILIES.index("T")
    assert (batch.operand[~with_operand] == -1).all()
    freq = np.bincount(batch.operand[with_operand], minlength=3) / with_operand.sum()
    expected = np.asarray(PRIORS.get(prior, prior) if isinstance(prior, str) else prior)
    assert np.abs(freq - expected).max() < 0.02
    assert np.abs(np.bincount(batch.family, minlength=5) / 5000 - 0.2).max() < 0.03


def test_b_only_prior_and_bad_priors():
    vocab = Vocab.for_window(48)
    batch = pretraining_batch(np.random.default_rng(2), vocab, 500, 48, "b_only", families=("C", "I"))
    assert set(batch.operand.tolist()) == {1}
    assert set(batch.family.tolist()) == {FAMILIES.index("C"), FAMILIES.index("I")}
    with pytest.raises(ConfigError, match="valid choices"):
        pretraining_batch(np.random.default_rng(2), vocab, 5, 48, "lowest")
    with pytest.raises(ConfigError, match="summing to 1"):
        pretraining_batch(np.random.default_rng(2), vocab, 5, 48, (0.5, 0.5, 0.5))


# ------------------------------------------------------------------------------- fine-tuning
def test_force_counts_reaches_targets_with_fewest_edits():
    rng = np.random.default_rng(3)
    span = rng.integers(0, 3, (200, 40)).astype(np.int8)
    t = rng.integers(1, 21, 200)
    target = np.stack([t - 1, t, 40 - 2 * t + 1], axis=1)
    out = force_counts(rng, span, target)
    counts = np.stack([(out == x).sum(1) for x in range(3)], axis=1)
    assert np.array_equal(counts, target)
    before = np.stack([(span == x).sum(1) for x in range(3)], axis=1)
    assert np.array_equal((out != span).sum(1), np.maximum(before - target, 0).sum(1))


@pytest.mark.parametrize("c", [0.0, 0.5, 1.0])
def test_counter_correlation_share(c):
    vocab = Vocab.for_window(48)
    batch = counter_batch(np.random.default_rng(4), vocab, 2000, 48, c)
    assert abs(batch.correlated.mean() - c) < 0.03
    assert np.array_equal(batch.correlated, batch.count_ft == batch.count_pt + 1)  # both ways
    text = batch.text[:, -40:]
    assert np.array_equal(batch.count_pt, (text == 0).sum(1)) and np.array_equal(batch.count_ft, (text == 1).sum(1))
    assert set(vocab.decode(batch.tokens[:, 2])) == {"b"} and set(vocab.decode(batch.tokens[:, 1])) == {"<C>"}
    assert torch.equal(batch.answer, batch.label_ft)
    assert torch.equal(batch.label_pt, torch.from_numpy(vocab.number(batch.count_pt)))


@pytest.mark.parametrize("window", [48, 20])
def test_edited_correlation_keeps_the_label_distribution(window):
    vocab = Vocab.for_window(window)
    rng = np.random.default_rng(5)
    n_b = [counter_batch(rng, vocab, 5000, window, c, correlation="edit").count_ft for c in (0.0, 1.0)]
    p, q = (np.bincount(x, minlength=window + 1) / len(x) for x in n_b)
    assert 0.5 * np.abs(p - q).sum() < 0.1


def test_natural_correlation_draws_unedited_grammar_windows():
    """Correlated rows are windows the grammar produced (rejection sampling): the same generator state
    gives the same rows as drawing natural windows and keeping those that satisfy the relation."""
    vocab, window = Vocab.for_window(40), 40
    batch = counter_batch(np.random.default_rng(7), vocab, 400, window, 1.0)
    assert (batch.count_ft == batch.count_pt + 1).all()
    drawn = correlated_windows(np.random.default_rng(8), 300, window)
    pool = text_windows(np.random.default_rng(8), 300, window)
    tail = pool[:, -40:]
    holds = (tail == 1).sum(1) == (tail == 0).sum(1) + 1
    assert np.array_equal(drawn[holds], pool[holds])  # rows that held at the first draw are kept as drawn
    with pytest.raises(ConfigError, match="valid choices"):
        counter_batch(np.random.default_rng(7), vocab, 4, window, 1.0, correlation="forged")


def test_reask_for_the_pretraining_operand():
    vocab = Vocab.for_window(48)
    batch = counter_batch(np.random.default_rng(6), vocab, 50, 48, 1.0)
    a = reask(vocab, batch, "a")
    assert set(vocab.decode(a.tokens[:, 2])) == {"a"}
    assert torch.equal(a.answer, batch.label_pt) and torch.equal(a.tokens[:, a.answer_pos], batch.label_pt)
    changed = (a.tokens != batch.tokens).any(0).nonzero().flatten().tolist()
    assert set(changed) <= {2, a.answer_pos} and 2 in changed
    assert torch.equal(make_batch(vocab, a.text, a.family, a.operand).tokens, a.tokens)
    with pytest.raises(ConfigError):
        reask(vocab, batch, "c")
