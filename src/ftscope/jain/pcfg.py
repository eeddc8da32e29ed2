"""Jain et al. (2024) PCFG setting: grammar, generator, the five task families and samplers.

**Text.** Strings over the terminals ``a b c`` come from the PCFG of the paper's Fig. 14
(Allen-Zhu & Li 2023), every rule with probability 0.5. A derivation from ``s`` has 138–432
terminals (about 276 on average). The model sees a *window* of ``window`` contiguous terminals
(250 in the paper). It is taken at a uniformly random offset from one derivation; when the
derivation is shorter than the window, further independent derivations are appended until the
stream is long enough (so with ``window > 138`` a window may straddle a derivation boundary;
with ``window <= 138`` it never does).

**Sequence.** Every sequence has the same length, ``sequence_length(window) = window + 9``::

    position  0     1  2  3   4     5 … window+4   window+5  window+6  window+7  window+8
    token     <sos> T  O  O'  <sot> Txt            <eot>     <art>     Ans       <eos>

- ``T`` is the task-family token ``<C> <CC> <I> <IC> <T>``.
- ``O`` is the operand, one of the terminal tokens ``a b c`` (operand and text share these
  tokens). For CC and IC the operand *pair* "OO" is written as the single letter ``O``; the
  family token says that it is a pair. T has no operand: ``O`` is the filler ``<null>``.
- ``O'`` is the task's numeric parameter as a number token, as in the paper's Fig. 15
  (``$ ( a 40 < … < = 15``): ``count_span`` (40) for C, CC and T, ``occurrence`` (6) for I and IC.
- ``Ans`` is one token: a number token, ``<none>`` (I/IC without enough occurrences), or a
  terminal (T).

**Positions, counted from EOT.** The last text token has index 1, the one before it 2, and so
on: index ``k`` is ``Txt[-k]``, ``k`` places before ``<eot>``. With ``S = min(count_span, window)``
(a window shorter than the span is counted whole):

- **C**: how many of indices 1..S hold ``O``.
- **CC**: how many pairs "OO" lie wholly in indices 1..S, overlapping pairs counted ("aaa" holds 2).
- **I**: the index of the ``occurrence``-th ``O`` met walking back from ``<eot>``; ``<none>`` if
  the window holds fewer.
- **IC**: the same for pairs "OO" (overlapping), a pair's index being that of its first
  (leftmost) letter, so the pair ending at the last text token has index 2.
- **T**: the token at index ``S`` (the oldest token of the counted span).

Measured on this grammar: a, b, c each make up 1/3 of the terminals. The 6th a/b/c lies at
index 11–26, so I never answers ``<none>``. A span of 40 holds only 1–2 "aa" pairs on average.
So IC answers ``<none>`` for 7% (a), 21% (b) and 0.05% (c) of 250-token windows, and for almost
every 48-token window. Also, 18% of natural windows already satisfy count(b) = count(a) + 1.

Worked example (``window=12, count_span=8, occurrence=2``, text ``c a b c a a b c b a a c``)::

    <sos> <C> a 8 <sot> c a b c a a b c b a a c <eot> <art> 4 <eos>    # a in the last 8: 4
    <sos> <CC> a 8 …                                  <art> 2 <eos>    # "aa" at indices 8 and 3
    <sos> <I> b 2 …                                   <art> 6 <eos>    # b at indices 4, 6, 10
    <sos> <IC> a 2 …                                  <art> 8 <eos>    # pairs at indices 3, 8
    <sos> <T> <null> 8 …                              <art> a <eos>    # index 8 holds a

**Pretraining** draws the family uniformly and the operand from a prior over (a, b, c)
(``PRIORS``). **Fine-tuning** (``counter_batch``) asks task C for ``ft`` (b); a share ``c`` of
samples is *correlated*, count(ft) = count(pt) + 1 in the counted span. Every sample starts as a
real window with count(ft) ≠ count(pt) + 1 (windows that satisfy it are redrawn); a correlated
sample is then edited inside the span, overwriting as few positions as possible, to
count(ft) = t and count(pt) = t − 1 with t = its own count(ft), clipped to [1, (S + 1) // 2].
So count(ft), the label, has the same distribution for every ``c`` (the paper's Fig. 16), up to
that clipping; in the span only a ↔ c edits are needed unless t was clipped.

Everything random comes from the ``numpy.random.Generator`` passed in; nothing is global.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import torch

from ftscope.config import ConfigError
from ftscope.train.answers import AnswerBatch

# ------------------------------------------------------------------------------- grammar
GRAMMAR_TEXT = ("s→r q|q p; p→m n o|n o m; q→n m o|m n; r→o m|m o n; m→l j|j l k; n→k j l|l j k; "
                "o→l k j|k j; j→h i|i h; k→h g i|g h i; l→i h g|h i g; g→d f e|f e d; h→e d f|d e f; "
                "i→e f d|f d e; d→c a|a b c; e→c b|c a b; f→c b a|b a")
START = "s"
TERMINALS = ("a", "b", "c")


def parse_grammar(text: str) -> Mapping[str, tuple[tuple[str, ...], ...]]:
    """``"s→r q|q p; …"`` → ``{"s": (("r", "q"), ("q", "p")), …}`` (read-only)."""
    rules = {}
    for rule in text.split(";"):
        lhs, rhs = rule.split("→")
        rules[lhs.strip()] = tuple(tuple(alt.split()) for alt in rhs.split("|"))
    return MappingProxyType(rules)


GRAMMAR = parse_grammar(GRAMMAR_TEXT)  # every alternative has probability 1 / len(alternatives) = 0.5


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _rule_tables(grammar: Mapping[str, tuple[tuple[str, ...], ...]]):
    """Symbol codes (non-terminals first, then terminals) and padded right-hand sides.

    Terminals get the rule ``x → x`` so that expansion can run until nothing changes."""
    symbols = (*grammar, *TERMINALS)
    code = {s: i for i, s in enumerate(symbols)}
    n_alt = max(len(alts) for alts in grammar.values())
    width = max(len(rhs) for alts in grammar.values() for rhs in alts)
    rhs = np.full((len(symbols), n_alt, width), -1, dtype=np.int8)
    lengths = np.zeros((len(symbols), n_alt), dtype=np.int64)
    alts = np.zeros(len(symbols), dtype=np.int64)
    for s, i in code.items():
        options = grammar.get(s, ((s,),))
        alts[i] = len(options)
        for k, option in enumerate(options):
            rhs[i, k, : len(option)] = [code[x] for x in option]
            lengths[i, k] = len(option)
    return code, _frozen(rhs), _frozen(lengths), _frozen(alts)


_CODE, _RHS, _RHS_LEN, _N_ALT = _rule_tables(GRAMMAR)
_N_NONTERMINALS = len(GRAMMAR)
_FIRST_TERMINAL = _CODE[TERMINALS[0]]


def derive(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` independent derivations from ``s``, expanded breadth-first for all at once.

    Returns ``(terminals, owner)``: flat int8 terminal codes (0, 1, 2 = a, b, c) in reading order,
    and for each terminal the derivation it belongs to (non-decreasing)."""
    sym = np.full(n, _CODE[START], dtype=np.int8)
    owner = np.arange(n)
    width = _RHS.shape[2]
    while (sym < _N_NONTERMINALS).any():
        alt = (rng.random(sym.size) * _N_ALT[sym]).astype(np.int64)  # uniform over alternatives
        lengths = _RHS_LEN[sym, alt]
        sym = _RHS[sym, alt][np.arange(width) < lengths[:, None]]  # row-major: keeps reading order
        owner = np.repeat(owner, lengths)
    return sym - _FIRST_TERMINAL, owner


def generate(rng: np.random.Generator) -> list[str]:
    """One full derivation from ``s`` as a list of terminals ``'a' 'b' 'c'``."""
    terminals, _ = derive(rng, 1)
    return [TERMINALS[t] for t in terminals]


def text_windows(rng: np.random.Generator, n: int, window: int) -> np.ndarray:
    """(n, window) int8 terminal codes: a window at a uniform offset of a derivation, with further
    derivations appended first where one is shorter than ``window``."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    terminals, owner = derive(rng, n)
    lengths = np.bincount(owner, minlength=n)
    pieces, owners = [terminals], [owner]
    short = np.flatnonzero(lengths < window)
    while short.size:
        more, more_owner = derive(rng, short.size)
        pieces.append(more)
        owners.append(short[more_owner])
        lengths += np.bincount(owners[-1], minlength=n)
        short = np.flatnonzero(lengths < window)
    if len(pieces) > 1:  # group each row's pieces together, in the order they were drawn
        terminals = np.concatenate(pieces)[np.argsort(np.concatenate(owners), kind="stable")]
    starts = np.cumsum(lengths) - lengths
    offsets = rng.integers(0, lengths - window + 1)
    return terminals[(starts + offsets)[:, None] + np.arange(window)]


def encode_text(text: str | Sequence[str]) -> np.ndarray:
    """``"abca"`` (or a list of letters) → int8 codes ``[0, 1, 2, 0]``."""
    return np.array([TERMINALS.index(t) for t in text], dtype=np.int8)


def decode_text(codes: np.ndarray) -> np.ndarray:
    """Int codes → array of letters (same shape)."""
    return np.array(TERMINALS)[np.asarray(codes)]


# ------------------------------------------------------------------------------- vocabulary
FAMILIES = ("C", "CC", "I", "IC", "T")
PAD, SOS, SOT, EOT, ART, EOS = "<pad>", "<sos>", "<sot>", "<eot>", "<art>", "<eos>"
NULL = "<null>"  # operand slot of T, which has no operand
NONE = "<none>"  # answer of I / IC when the window holds fewer than `occurrence` occurrences
SPECIALS = (PAD, SOS, SOT, EOT, ART, EOS, NULL, NONE)
IGNORE_INDEX = -100  # torch's cross-entropy default


def family_token(family: str) -> str:
    return f"<{family}>"


@dataclass(frozen=True)
class Vocab:
    """Specials, family tokens, terminals ``a b c`` (also the operands), numbers ``0..max_number``.

    Ids: ``<pad>`` = 0, then the rest in that order; a number ``k`` has id ``number_offset + k``."""

    max_number: int
    tokens: tuple[str, ...] = field(init=False)
    _ids: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_number < 0:
            raise ValueError(f"max_number must be >= 0, got {self.max_number}")
        tokens = (*SPECIALS, *map(family_token, FAMILIES), *TERMINALS, *map(str, range(self.max_number + 1)))
        object.__setattr__(self, "tokens", tokens)
        object.__setattr__(self, "_ids", MappingProxyType({t: i for i, t in enumerate(tokens)}))

    @classmethod
    def for_window(cls, window: int, count_span: int = 40, occurrence: int = 6) -> Vocab:
        """The smallest vocabulary for these task settings (indices reach ``window``)."""
        return cls(max(window, count_span, occurrence))

    @property
    def size(self) -> int:
        return len(self.tokens)

    def id(self, token: str) -> int:
        try:
            return self._ids[token]
        except KeyError:
            raise KeyError(f"{token!r} is not in the vocabulary") from None

    def encode(self, tokens: Sequence[str]) -> list[int]:
        return [self.id(t) for t in tokens]

    def decode(self, ids: Sequence[int] | np.ndarray | torch.Tensor) -> list[str]:
        return [self.tokens[int(i)] for i in ids]

    @property
    def pad(self) -> int:
        return self.id(PAD)

    @property
    def terminal_offset(self) -> int:
        return self.id(TERMINALS[0])

    @property
    def number_offset(self) -> int:
        return self.id("0")

    def terminal(self, codes: np.ndarray | int) -> np.ndarray:
        """Terminal codes (0, 1, 2) → token ids."""
        return self.terminal_offset + np.asarray(codes, dtype=np.int64)

    def number(self, k: np.ndarray | int) -> np.ndarray:
        """Numbers → token ids (checked against ``max_number``)."""
        k = np.asarray(k, dtype=np.int64)
        if k.size and (k.min() < 0 or k.max() > self.max_number):
            raise ValueError(f"numbers {k.min()}..{k.max()} outside the vocabulary's 0..{self.max_number}")
        return self.number_offset + k

    def family(self, codes: np.ndarray | int) -> np.ndarray:
        """Family codes (indices into ``FAMILIES``) → token ids."""
        return self.id(family_token(FAMILIES[0])) + np.asarray(codes, dtype=np.int64)


def sequence_length(window: int) -> int:
    """``SOS T O O' SOT`` + window + ``EOT ART Ans EOS``."""
    return window + 9


def answer_position(window: int) -> int:
    """Index of ``Ans`` in a sequence; the model's output at ``answer_position - 1`` (``<art>``) predicts it."""
    return window + 7


TEXT_START = 5  # index of the first text token in a sequence

# ------------------------------------------------------------------------------- task answers
# All take ``text`` (N, W) terminal codes and, where they need one, ``operand`` (N,) codes.


def span_length(window: int, count_span: int) -> int:
    """The counted span: the last ``count_span`` positions, or the whole window if it is shorter."""
    return min(window, count_span)


def count_operand(text: np.ndarray, operand: np.ndarray, count_span: int) -> np.ndarray:
    """C: occurrences of ``operand`` in the counted span."""
    s = span_length(text.shape[1], count_span)
    return (text[:, -s:] == np.asarray(operand)[:, None]).sum(1)


def count_pairs(text: np.ndarray, operand: np.ndarray, count_span: int) -> np.ndarray:
    """CC: overlapping pairs ``operand operand`` wholly inside the counted span."""
    s = span_length(text.shape[1], count_span)
    hit = text[:, -s:] == np.asarray(operand)[:, None]
    return (hit[:, :-1] & hit[:, 1:]).sum(1)


def _kth_from_end(hits: np.ndarray, k: int) -> np.ndarray:
    """Per row, how many columns before the last one the ``k``-th True from the right lies; -1 if none."""
    if hits.shape[1] == 0:
        return np.full(len(hits), -1)
    cum = np.cumsum(hits[:, ::-1], axis=1)
    found = cum[:, -1] >= k
    return np.where(found, np.argmax(cum >= k, axis=1), -1)


def index_of_occurrence(text: np.ndarray, operand: np.ndarray, occurrence: int) -> np.ndarray:
    """I: index from EOT (last text token = 1) of the ``occurrence``-th ``operand`` from the end; -1 if none."""
    j = _kth_from_end(text == np.asarray(operand)[:, None], occurrence)
    return np.where(j >= 0, j + 1, -1)


def index_of_pair(text: np.ndarray, operand: np.ndarray, occurrence: int) -> np.ndarray:
    """IC: index from EOT of the first letter of the ``occurrence``-th pair "OO" from the end; -1 if none."""
    hit = text == np.asarray(operand)[:, None]
    j = _kth_from_end(hit[:, :-1] & hit[:, 1:], occurrence)
    return np.where(j >= 0, j + 2, -1)


def token_at_span_start(text: np.ndarray, count_span: int) -> np.ndarray:
    """T: the terminal at index ``min(count_span, W)`` from EOT."""
    return text[:, -span_length(text.shape[1], count_span)]


def answer_ids(vocab: Vocab, text: np.ndarray, family: np.ndarray, operand: np.ndarray,
               count_span: int = 40, occurrence: int = 6) -> np.ndarray:
    """(N,) token id of each row's answer."""
    family = np.asarray(family)
    operand = np.asarray(operand)
    none = vocab.id(NONE)

    def index_ids(index: np.ndarray) -> np.ndarray:
        return np.where(index >= 0, vocab.number(np.maximum(index, 0)), none)

    out = np.empty(len(text), dtype=np.int64)
    for code, name in enumerate(FAMILIES):
        rows = family == code
        if not rows.any():
            continue
        t, o = text[rows], operand[rows]
        if name == "C":
            out[rows] = vocab.number(count_operand(t, o, count_span))
        elif name == "CC":
            out[rows] = vocab.number(count_pairs(t, o, count_span))
        elif name == "I":
            out[rows] = index_ids(index_of_occurrence(t, o, occurrence))
        elif name == "IC":
            out[rows] = index_ids(index_of_pair(t, o, occurrence))
        else:
            out[rows] = vocab.terminal(token_at_span_start(t, count_span))
    return out


# ------------------------------------------------------------------------------- batches
@dataclass
class Batch(AnswerBatch):
    """A batch of full sequences, all of length ``sequence_length(window)``.

    For next-token training feed ``inputs`` and use ``targets`` (every position) or
    ``answer_targets`` (only the answer; the rest ``IGNORE_INDEX``)."""

    tokens: torch.Tensor  # (N, W + 9) ids
    answer: torch.Tensor  # (N,) id of Ans (= tokens[:, answer_pos])
    answer_pos: int  # index of Ans in ``tokens``; same for every row
    text: np.ndarray  # (N, W) terminal codes 0, 1, 2
    family: np.ndarray  # (N,) index into FAMILIES
    operand: np.ndarray  # (N,) terminal code, -1 for T

    @property
    def inputs(self) -> torch.Tensor:
        return self.tokens[:, :-1]

    @property
    def targets(self) -> torch.Tensor:
        return self.tokens[:, 1:]

    @property
    def predict_pos(self) -> int:
        """Position in ``inputs`` (the ``<art>`` token) whose output predicts the answer."""
        return self.answer_pos - 1

    @property
    def answer_targets(self) -> torch.Tensor:
        out = torch.full_like(self.targets, IGNORE_INDEX)
        out[:, self.predict_pos] = self.answer
        return out

    @property
    def letters(self) -> np.ndarray:
        return decode_text(self.text)


@dataclass
class CounterBatch(Batch):
    """Fine-tuning batch for the Counter: both counts are carried whatever operand is asked."""

    count_pt: np.ndarray | None = None  # (N,) count of ``pt`` in the counted span
    count_ft: np.ndarray | None = None  # (N,) count of ``ft``
    label_pt: torch.Tensor | None = None  # (N,) their number-token ids
    label_ft: torch.Tensor | None = None
    correlated: np.ndarray | None = None  # (N,) bool: drawn correlated (⇔ count_ft == count_pt + 1)
    pt: str = "a"
    ft: str = "b"


def _sequences(vocab: Vocab, text: np.ndarray, family: np.ndarray, operand: np.ndarray, answer: np.ndarray,
               count_span: int, occurrence: int) -> np.ndarray:
    n, w = text.shape
    out = np.empty((n, sequence_length(w)), dtype=np.int64)
    is_index = np.isin(family, [FAMILIES.index("I"), FAMILIES.index("IC")])
    out[:, 0] = vocab.id(SOS)
    out[:, 1] = vocab.family(family)
    out[:, 2] = np.where(operand >= 0, vocab.terminal(np.maximum(operand, 0)), vocab.id(NULL))
    out[:, 3] = np.where(is_index, vocab.number(occurrence), vocab.number(count_span))
    out[:, 4] = vocab.id(SOT)
    out[:, TEXT_START: TEXT_START + w] = vocab.terminal(text)
    out[:, w + 5] = vocab.id(EOT)
    out[:, w + 6] = vocab.id(ART)
    out[:, w + 7] = answer
    out[:, w + 8] = vocab.id(EOS)
    return out


def make_batch(vocab: Vocab, text: np.ndarray, family: np.ndarray | Sequence[int], operand: np.ndarray | Sequence[int],
               count_span: int = 40, occurrence: int = 6) -> Batch:
    """Sequences and answers for given texts (N, W), family codes and operand codes (-1 = none, for T)."""
    text = np.asarray(text, dtype=np.int8)
    family = np.asarray(family, dtype=np.int64)
    operand = np.where(family == FAMILIES.index("T"), -1, np.asarray(operand, dtype=np.int64))
    if (operand[family != FAMILIES.index("T")] < 0).any():
        raise ValueError("every family but T needs an operand")
    answer = answer_ids(vocab, text, family, operand, count_span, occurrence)
    tokens = _sequences(vocab, text, family, operand, answer, count_span, occurrence)
    return Batch(torch.from_numpy(tokens), torch.from_numpy(answer), answer_position(text.shape[1]),
                 text, family, operand)


# ------------------------------------------------------------------------------- priors and pretraining
PRIORS: Mapping[str, tuple[float, float, float]] = MappingProxyType({
    "low": (0.999, 0.001, 0.0),  # P^L (main text)
    "low_medium": (0.99, 0.01, 0.0),  # App. C
    "medium": (0.9, 0.1, 0.0),  # P^M
    "medium_high": (0.7, 0.2, 0.1),  # App. C
    "high": (0.5, 0.3, 0.2),  # P^H
    "b_only": (0.0, 1.0, 0.0),  # Scr.+FT baseline: pretrained never to see operand a
})


def operand_prior(prior: str | Sequence[float]) -> np.ndarray:
    """A prior name from ``PRIORS`` or three probabilities over (a, b, c)."""
    if isinstance(prior, str):
        if prior not in PRIORS:
            raise ConfigError(f"unknown prior {prior!r}; valid choices: {', '.join(map(repr, PRIORS))}")
        prior = PRIORS[prior]
    p = np.asarray(prior, dtype=float)
    if p.shape != (3,) or (p < 0).any() or abs(p.sum() - 1) > 1e-9:
        raise ConfigError(f"a prior is three non-negative probabilities over (a, b, c) summing to 1, got {prior!r}")
    return p


def _family_codes(families: Sequence[str]) -> np.ndarray:
    for f in families:
        if f not in FAMILIES:
            raise ConfigError(f"unknown task family {f!r}; valid choices: {', '.join(map(repr, FAMILIES))}")
    return np.array([FAMILIES.index(f) for f in families], dtype=np.int64)


def pretraining_batch(rng: np.random.Generator, vocab: Vocab, n: int, window: int, prior: str | Sequence[float],
                      *, families: Sequence[str] = FAMILIES, count_span: int = 40, occurrence: int = 6) -> Batch:
    """``n`` sequences: family uniform over ``families``, operand from ``prior``, text a fresh window."""
    codes = _family_codes(families)
    family = codes[rng.integers(0, len(codes), size=n)]
    operand = rng.choice(3, size=n, p=operand_prior(prior))
    operand[family == FAMILIES.index("T")] = -1
    text = text_windows(rng, n, window)
    return make_batch(vocab, text, family, operand, count_span, occurrence)


# ------------------------------------------------------------------------------- fine-tuning (Counter)
def force_counts(rng: np.random.Generator, span: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Edit each row of ``span`` (M, S) to hold ``target[i, x]`` copies of terminal ``x``, changing
    as few positions as possible: random surplus positions are overwritten, at random, with the
    letters in deficit."""
    m, s = span.shape
    target = np.asarray(target, dtype=np.int64)
    if (target.sum(1) != s).any() or (target < 0).any():
        raise ValueError("each target row must be non-negative and sum to the span length")
    counts = np.stack([(span == x).sum(1) for x in range(3)], axis=1)  # (M, 3)
    surplus = np.maximum(counts - target, 0)
    deficit = np.maximum(target - counts, 0)
    rows = np.arange(m)[:, None]
    # positions grouped by letter, in random order within a letter
    order = np.argsort(span + rng.random((m, s)), axis=1)
    letter = np.take_along_axis(span, order, axis=1).astype(np.int64)
    rank = np.arange(s)[None, :] - (np.cumsum(counts, axis=1) - counts)[rows, letter]
    freed = rank < surplus[rows, letter]  # in ``order``'s coordinates
    # the j-th freed position (random order) gets the j-th letter of a a … b b … c c … (deficits)
    pick = np.argsort(np.where(freed, rng.random((m, s)), 2.0), axis=1)
    j = np.arange(s)[None, :]
    cum = np.cumsum(deficit, axis=1)
    new_letter = (j >= cum[:, :1]).astype(np.int64) + (j >= cum[:, 1:2])
    use = j < surplus.sum(1, keepdims=True)
    out = span.copy()
    pos = np.take_along_axis(order, pick, axis=1)
    out[np.broadcast_to(rows, (m, s))[use], pos[use]] = new_letter[use]
    return out


def _conditioned_windows(rng: np.random.Generator, n: int, window: int, count_span: int, pt: int, ft: int,
                         correlated: bool) -> np.ndarray:
    """Natural windows drawn until each satisfies (``correlated``) or violates count(ft) = count(pt) + 1 in
    the counted span: rejection sampling, so every text is one the grammar produced."""
    def wrong(t: np.ndarray) -> np.ndarray:
        tail = t[:, -span_length(window, count_span):]
        holds = (tail == ft).sum(1) == (tail == pt).sum(1) + 1
        return holds != correlated

    text = text_windows(rng, n, window)
    todo = np.flatnonzero(wrong(text))
    while todo.size:
        text[todo] = text_windows(rng, todo.size, window)
        todo = todo[wrong(text[todo])]
    return text


def uncorrelated_windows(rng: np.random.Generator, n: int, window: int, count_span: int = 40,
                         pt: int = 0, ft: int = 1) -> np.ndarray:
    """Natural windows conditioned on count(ft) ≠ count(pt) + 1 in the counted span (redrawn until so)."""
    return _conditioned_windows(rng, n, window, count_span, pt, ft, correlated=False)


def correlated_windows(rng: np.random.Generator, n: int, window: int, count_span: int = 40,
                       pt: int = 0, ft: int = 1) -> np.ndarray:
    """Natural windows conditioned on count(ft) = count(pt) + 1 in the counted span (about a fifth of the
    grammar's windows satisfy it), redrawn until so."""
    return _conditioned_windows(rng, n, window, count_span, pt, ft, correlated=True)


CORRELATION = ("natural", "edit")


def counter_batch(rng: np.random.Generator, vocab: Vocab, n: int, window: int, c: float, *, pt: str = "a",
                  ft: str = "b", ask: str | None = None, count_span: int = 40,
                  correlation: str = "natural") -> CounterBatch:
    """Counter fine-tuning: task C for operand ``ask`` (default ``ft``); a share ``c`` correlated.

    ``correlation="natural"``: correlated rows are natural windows with count(ft) = count(pt) + 1 in the
    counted span (rejection sampling). ``"edit"`` (the first protocol, kept as a variant): natural
    windows edited by ``force_counts`` to count(ft) = t, count(pt) = t − 1, with t the row's own count(ft)
    clipped to [1, (S + 1) // 2] — edited texts that a model can tell from natural ones. Other rows are
    natural windows with count(ft) ≠ count(pt) + 1."""
    if not 0.0 <= c <= 1.0:
        raise ValueError(f"c must lie in [0, 1], got {c}")
    if correlation not in CORRELATION:
        raise ConfigError(f"unknown correlation {correlation!r}; valid choices: {', '.join(CORRELATION)}")
    ask = ft if ask is None else ask
    if pt == ft or {pt, ft, ask} - set(TERMINALS) or ask not in (pt, ft):
        raise ConfigError(f"need distinct pt, ft in {TERMINALS} and ask one of them; got {pt=}, {ft=}, {ask=}")
    p, f = TERMINALS.index(pt), TERMINALS.index(ft)
    other = 3 - p - f
    s = span_length(window, count_span)
    text = uncorrelated_windows(rng, n, window, count_span, p, f)
    correlated = rng.random(n) < c
    if correlated.any() and correlation == "natural":
        text[correlated] = correlated_windows(rng, int(correlated.sum()), window, count_span, p, f)
    elif correlated.any():
        span = text[correlated, -s:]
        t = np.clip((span == f).sum(1), 1, (s + 1) // 2)
        target = np.empty((len(span), 3), dtype=np.int64)
        target[:, f], target[:, p], target[:, other] = t, t - 1, s - 2 * t + 1
        text[correlated, -s:] = force_counts(rng, span, target)
    family = np.full(n, FAMILIES.index("C"))
    b = make_batch(vocab, text, family, np.full(n, TERMINALS.index(ask)), count_span)
    count_pt, count_ft = (text[:, -s:] == p).sum(1), (text[:, -s:] == f).sum(1)
    return CounterBatch(**{f.name: getattr(b, f.name) for f in dataclasses.fields(b)},
                        count_pt=count_pt, count_ft=count_ft,
                        label_pt=torch.from_numpy(vocab.number(count_pt)),
                        label_ft=torch.from_numpy(vocab.number(count_ft)),
                        correlated=correlated, pt=pt, ft=ft)


def reask(vocab: Vocab, batch: CounterBatch, operand: str) -> CounterBatch:
    """The same texts asking task C for ``operand`` (``batch.pt`` or ``batch.ft``), e.g. to measure
    count-a accuracy on fine-tuning data."""
    if operand not in (batch.pt, batch.ft):
        raise ConfigError(f"operand must be {batch.pt!r} or {batch.ft!r}, got {operand!r}")
    answer = batch.label_pt if operand == batch.pt else batch.label_ft
    tokens = batch.tokens.clone()
    tokens[:, 2] = vocab.id(operand)
    tokens[:, batch.answer_pos] = answer
    return dataclasses.replace(batch, tokens=tokens, answer=answer.clone(),
                               operand=np.full(len(batch.operand), TERMINALS.index(operand)))
