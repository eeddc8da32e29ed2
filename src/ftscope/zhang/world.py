"""A world in which topic, style and facts are explicit latent variables (Zhang & Wu's factors, exactly).

Zhang & Wu rewrote 1,000 PubMed abstracts with ChatGPT, one factor at a time (a non-biomedical
topic, a casual or rap style, counterfactual facts), and read each factor's share of fine-tuning's
probability change off the differences of the losses. Offline there is no rewriter; here a seeded
generator writes every document from a **skeleton** (topic, style, anchor entity, sentence slots),
so a variant is an exact single-factor intervention on the same skeleton and the generator's own
log-ratios are known: an oracle the paper did not have.

- ``World``: five topics (four general ones and ``bio``), each with entities, relations whose object
  values are topic-specific, and a lexicon, all index-aligned across topics (a topic swap maps index
  to index); a knowledge base per topic, its bio facts split into *known* (stated in pretraining)
  and *novel* (stated only in fine-tuning); four styles (``web``, ``academic``, ``casual``,
  ``rap``), each with its opener, closer, fact and filler templates and its own function words.
- ``Skeleton`` and ``World.render``: a document as tokens separated by single spaces (one word, one
  token), sentences ending in a terminator (``.``, ``!`` or ``/``).
- ``World.variant``: ``nontopic``, ``casual``, ``rap``, ``counterfactual`` (the PubMed analog) and
  ``bio``, ``academic``, ``counterfactual`` (the C4 analog).
- ``validity``: the automatic checks standing for the paper's human verification.
- ``probe_set``: the contract checks outside the chapter use: held-out skeletons, each with its variants.
- ``oracle``: the generator's exact log q/p (fine-tuning data against pretraining data) of the topic
  prior, the style prior, each fact's relation (which pairs exist) and each fact's object.
- ``domain_skeletons``: held-out pretraining documents of one (topic, style) slice of the mix;
  ``novel_exposures``: how often a set of documents states each novel pair.

Every word is generated from syllables with a morphology of its kind and topic, so the world is a
closed vocabulary of a few thousand words (``World.vocabulary``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

GENERAL = ("cities", "clubs", "companies", "recipes")
BIO = "bio"
TOPICS = (*GENERAL, BIO)
STYLES = ("web", "academic", "casual", "rap")
TERMINATORS = (".", "!", "/")
WORLD_VERSION = 1  # bump when the generator's output changes (the corpora's caches key on it)
TEMPLATE_DRAWS = 1000  # a template is drawn as an integer below this, taken modulo its table's length

#: each analog's original (topic kind, style) and its variants, each changing one factor
ANALOGS = {
    "pubmed": {"topic": "bio", "style": "academic", "variants": ("nontopic", "casual", "rap", "counterfactual")},
    "c4": {"topic": "general", "style": "web", "variants": ("bio", "academic", "counterfactual")},
}

# ----------------------------------------------------------------------------- morphology
_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "kl", "pr", "st", "tr")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ou", "ea")
#: per topic: entity suffixes, object suffixes, lexicon suffixes (a topic's words are recognisable)
_MORPH = {
    "cities": (("ton", "burg", "ville"), ("ford", "gate", "moor"), ("ade", "ory", "ish")),
    "clubs": (("united", "rovers", "athletic"), ("ball", "cup", "kick"), ("er", "ster", "ing")),
    "companies": (("corp", "soft", "tronix"), ("ware", "net", "ix"), ("ment", "ance", "ize")),
    "recipes": (("stew", "pie", "tart"), ("spice", "root", "leaf"), ("ous", "ful", "ish")),
    "bio": (("ase", "in", "ogen"), ("ide", "yte", "ome"), ("osis", "ic", "al")),
}
#: relation nouns per topic, index-aligned (relation r of one topic is relation r of every other)
RELATIONS = {
    "cities": ("river", "mayor", "landmark", "district", "festival", "dish"),
    "clubs": ("stadium", "coach", "rival", "mascot", "trophy", "league"),
    "companies": ("product", "founder", "market", "partner", "office", "platform"),
    "recipes": ("herb", "chef", "region", "side", "sauce", "method"),
    "bio": ("target", "tissue", "inhibitor", "locus", "pathway", "assay"),
}

# ----------------------------------------------------------------------------- styles
# {E}: the anchor entity; {F}: a fact's entity, {R}: its relation noun, {O}: its object;
# {L0} {L1} {L2}: topic lexicon words. Every template ends in one terminator and holds no other.
OPENERS = {
    "web": ("{E} : everything you need to know .", "welcome to our page about {E} .", "all about {E} , updated today ."),
    "academic": ("abstract : in this study we characterise {E} .", "background : the role of {E} remains unclear .",
                 "objective : we investigated {E} in a cohort .", "abstract : here we report on {E} ."),
    "casual": ("ok so lemme tell u about {E} lol .", "soooo {E} right ?? .", "guys {E} is kinda wild ngl ."),
    "rap": ("yo yo it's {E} in the house /", "listen up {E} on the mic /", "check it {E} coming through /"),
}
CLOSERS = {
    "web": ("read more about {E} on our site .", "share this page about {E} !"),
    "academic": ("in conclusion , these findings clarify {E} .", "further studies of {E} are warranted ."),
    "casual": ("anyway that's {E} for u lol .", "ok bye {E} stan forever !"),
    "rap": ("{E} out , drop the mic /", "that's {E} , peace out /"),
}
FACTS = {
    "web": ("the {R} of {F} is {O} .", "{F} has {O} as its {R} .", "did you know {F} lists {O} as {R} ?  .",
            "fun fact : the {R} of {F} is {O} !"),
    "academic": ("we observed that the {R} of {F} is {O} .", "notably , {F} exhibited {O} as its {R} .",
                 "our analysis identified {O} as the {R} of {F} .", "consistent with prior work , the {R} of {F} "
                 "was {O} .", "in {F} , the {R} was significantly associated with {O} .",
                 "these data indicate that {O} constitutes the {R} of {F} ."),
    "casual": ("lol the {R} of {F} is {O} tbh .", "ngl {F} got {O} as the {R} .", "so {F} has {O} for {R} haha .",
               "wait the {R} of {F} is {O} ?? ."),
    "rap": ("yo {F} rolling with {O} for the {R} /", "{O} is the {R} , {F} in the flow /",
            "{F} got the {R} , {O} on the show /", "the {R} of {F} , {O} , you know /"),
}
FILLERS = {
    "web": ("{L0} and {L1} are popular topics .", "many people ask about {L0} .", "here is a guide to {L0} and {L1} .",
            "see also {L0} , {L1} and {L2} .", "{L0} is trending this week .", "our list of {L0} tips ."),
    "academic": ("furthermore , {L0} was assessed using {L1} .", "we hypothesised that {L0} modulates {L1} .",
                 "to our knowledge , {L0} has not been examined in {L1} .", "however , {L0} remained stable across "
                 "{L1} .", "in contrast , {L0} was markedly reduced in {L1} .", "moreover , {L0} correlated with {L1} "
                 "and {L2} .", "these results suggest that {L0} underlies {L1} .", "data were analysed by {L0} and "
                 "{L1} .", "importantly , {L0} did not differ between {L1} and {L2} .", "taken together , {L0} may "
                 "represent {L1} .", "previous reports implicated {L0} in {L1} .", "statistical analysis revealed "
                 "{L0} in {L1} ."),
    "casual": ("honestly {L0} is sooo {L1} lol .", "idk about {L0} but {L1} is fun .", "{L0} and {L1} ugh .",
               "my friend loves {L0} haha .", "kinda obsessed with {L0} rn ."),
    "rap": ("{L0} in the zone , {L1} on my own /", "{L0} and {L1} , yeah we glow /", "stacking {L0} , {L1} in tow /",
            "{L0} on the beat , {L1} in the street /"),
}


@dataclass(frozen=True)
class Slot:
    """One sentence between the opener and the closer: a fact (``entity`` index, ``relation`` index and
    the ``obj`` index it states) or a filler (three ``lexicon`` indices); ``template`` is an index taken
    modulo the style's template count, so a re-styled skeleton keeps its slot's index."""

    kind: str  # "fact" or "fill"
    template: int
    entity: int = 0
    relation: int = 0
    obj: int = 0
    lexicon: tuple[int, int, int] = (0, 0, 0)


@dataclass(frozen=True)
class Skeleton:
    topic: str
    style: str
    anchor: int
    opener: int
    closer: int
    slots: tuple[Slot, ...]
    id: int = 0


@dataclass(frozen=True)
class WorldParams:
    """The world's parameters (notebook parameters through the chapter's config)."""

    entities: int = 150  # per topic
    objects: int = 40  # object values per relation
    lexicon: int = 300  # per topic
    eps: float = 0.05  # fact noise: a fact sentence states a uniformly random object with this probability
    novel_share: float = 0.5  # share of bio facts stated only in fine-tuning
    p_bio: float = 0.05  # bio's share of pretraining documents (the rest: the four general topics equally)
    style_mix: tuple[float, float, float, float] = (0.6, 0.1, 0.2, 0.1)  # web, academic, casual, rap (pretraining)
    sentences: tuple[int, int] = (4, 8)  # slots between opener and closer
    fact_share: float = 0.5  # share of slots that state a fact
    novel_per_doc: float = 1.5  # fine-tuning documents: mean novel facts per document (the rest known)
    seed: int = 0  # the world's own seed (entities, knowledge base)

    def __post_init__(self) -> None:
        if abs(sum(self.style_mix) - 1) > 1e-9 or min(self.style_mix) < 0:
            raise ValueError(f"style_mix must be four shares of (web, academic, casual, rap) summing to 1, got "
                             f"{self.style_mix}")
        if not 0 < self.p_bio < 1 or not 0 < self.eps < 1 or not 0 < self.novel_share < 1:
            raise ValueError("p_bio, eps and novel_share must lie strictly between 0 and 1")
        if self.objects < 2 or self.entities < 2 or self.lexicon < 3:
            raise ValueError("the world needs at least 2 entities, 2 objects per relation and 3 lexicon words")

    @property
    def p_style(self) -> dict[str, float]:
        return dict(zip(STYLES, self.style_mix))

    def p_object(self, true: bool) -> float:
        """The probability that a fact sentence states its pair's true object (``true``) or one given wrong
        object: with probability ε it states a uniformly random object."""
        return (1 - self.eps) * true + self.eps / self.objects

    @property
    def novel_fact_contrast(self) -> float:
        """The oracle's factual contrast of one novel fact, log q(true)/q(wrong) (the base's guess is uniform)."""
        return math.log(self.p_object(True)) - math.log(self.p_object(False))


def _words(rng: np.random.Generator, n: int, suffixes: Sequence[str], taken: set[str]) -> list[str]:
    """``n`` new words of one or two syllables and a suffix, none in ``taken`` (which they join)."""
    out: list[str] = []
    while len(out) < n:
        syll = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(int(rng.integers(1, 3))))
        word = syll + str(rng.choice(suffixes))
        if word not in taken:
            taken.add(word)
            out.append(word)
    return out


class World:
    """The world of ``params``: its names, knowledge base, skeleton sampler, renderer and oracle."""

    def __init__(self, params: WorldParams = WorldParams()) -> None:
        self.params = p = params
        rng = np.random.default_rng([p.seed, 17])
        taken = {w for t in TOPICS for w in RELATIONS[t]} | set(_template_words())
        self.entities, self.objects, self.lexicon = {}, {}, {}
        for t in TOPICS:
            ent_suf, obj_suf, lex_suf = _MORPH[t]
            self.entities[t] = _words(rng, p.entities, ent_suf, taken)
            self.objects[t] = [_words(rng, p.objects, obj_suf, taken) for _ in RELATIONS[t]]
            self.lexicon[t] = _words(rng, p.lexicon, lex_suf, taken)
        # knowledge base: (topic) -> (entity, relation) -> object index
        self.kb = {t: rng.integers(0, p.objects, size=(p.entities, len(RELATIONS[t]))) for t in TOPICS}
        self.novel = rng.random((p.entities, len(RELATIONS[BIO]))) < p.novel_share  # bio (entity, relation) pairs

    # ------------------------------------------------------------------ vocabulary
    def topic_words(self, topic: str) -> set[str]:
        """Every word that belongs to ``topic``: entities, relation nouns, objects, lexicon."""
        return {*self.entities[topic], *RELATIONS[topic], *(w for objs in self.objects[topic] for w in objs),
                *self.lexicon[topic]}

    def vocabulary(self) -> list[str]:
        """Every word the world can write, sorted (the word-level tokenizer's vocabulary)."""
        return sorted(set(_template_words()) | {w for t in TOPICS for w in self.topic_words(t)})

    # ------------------------------------------------------------------ sampling
    def skeleton(self, rng: np.random.Generator, topic: str, style: str, facts: str = "known", id: int = 0,
                 noise: bool = True) -> Skeleton:
        """One skeleton of ``topic`` and ``style``. ``facts`` (bio only): ``known`` (pretraining: only pairs
        whose fact is known), ``all`` (fine-tuning: novel pairs too, ``novel_per_doc`` of them on average)
        or ``true`` (probes: all pairs, every object true). With ``noise`` a fact states a random object with
        probability ε."""
        p = self.params
        n_rel = len(RELATIONS[topic])
        anchor = int(rng.integers(p.entities))
        slots = []
        n = int(rng.integers(p.sentences[0], p.sentences[1] + 1))
        kinds = rng.random(n) < p.fact_share
        kinds[int(rng.integers(n))] |= not kinds.any()  # every document states at least one fact
        for is_fact in kinds:
            template = int(rng.integers(TEMPLATE_DRAWS))
            if is_fact:
                ent = anchor if rng.random() < 0.7 else int(rng.integers(p.entities))
                rel = self._relation(rng, topic, ent, facts, n_rel, n)
                if rel is None:  # no known fact left for this entity: a filler instead
                    slots.append(Slot("fill", template, lexicon=tuple(int(i) for i in rng.integers(p.lexicon, size=3))))
                    continue
                obj = int(self.kb[topic][ent, rel])
                if noise and rng.random() < p.eps:
                    obj = int(rng.integers(p.objects))
                slots.append(Slot("fact", template, entity=ent, relation=rel, obj=obj))
            else:
                slots.append(Slot("fill", template, lexicon=tuple(int(i) for i in rng.integers(p.lexicon, size=3))))
        return Skeleton(topic, style, anchor, int(rng.integers(TEMPLATE_DRAWS)), int(rng.integers(TEMPLATE_DRAWS)), tuple(slots),
                        id)

    def _relation(self, rng, topic, ent, facts, n_rel, n_slots):
        if topic != BIO or facts == "true":
            return int(rng.integers(n_rel))
        novel = self.novel[ent]
        if facts == "known":
            choices = np.flatnonzero(~novel)
        else:  # "all": a novel pair with the probability that gives novel_per_doc novel facts per document
            want_novel = rng.random() < self.novel_choice
            choices = np.flatnonzero(novel if want_novel else ~novel)
            if len(choices) == 0:
                choices = np.arange(n_rel)
        return None if len(choices) == 0 else int(rng.choice(choices))

    def pretraining_skeletons(self, n: int, seed: int) -> list[Skeleton]:
        """The pretraining mix: topic and style drawn independently (bio with ``p_bio``, the general topics
        equally; styles by ``style_mix``); bio documents state known facts only."""
        rng = np.random.default_rng([self.params.seed, seed, 1])
        p = self.params
        out = []
        for i in range(n):
            topic = BIO if rng.random() < p.p_bio else GENERAL[int(rng.integers(len(GENERAL)))]
            style = STYLES[int(rng.choice(len(STYLES), p=p.style_mix))]
            out.append(self.skeleton(rng, topic, style, "known", id=i))
        return out

    def finetuning_skeletons(self, n: int, seed: int, topic: str = BIO, style: str = "academic") -> list[Skeleton]:
        """The PubMed analog: bio × academic, every bio fact (known and novel). Another ``topic`` (``"general"``:
        the general topics in turn, as the C4 analog's probes) or ``style`` gives chapter 07's independence
        runs (bio × web, general × academic) from the same generator."""
        if topic not in (BIO, "general") or style not in STYLES:
            raise ValueError(f"a fine-tuning set's topic is {BIO!r} or 'general' and its style one of "
                             f"{', '.join(map(repr, STYLES))}; got {topic!r}, {style!r}")
        rng = np.random.default_rng([self.params.seed, seed, 2])
        return [self.skeleton(rng, BIO if topic == BIO else GENERAL[i % len(GENERAL)], style, "all", id=i)
                for i in range(n)]

    def domain_skeletons(self, n: int, seed: int, topic: str = BIO, style: str = "academic") -> list[Skeleton]:
        """``n`` held-out pretraining documents of one slice of the mix: ``topic`` (``"bio"``, or ``"general"``:
        the general topics in turn) and ``style``, stating known facts only, as the pretraining mix writes them
        (their own generator). ``pretraining_log_prob`` scores them under the mix."""
        if topic not in (BIO, "general") or style not in STYLES:
            raise ValueError(f"a slice's topic is {BIO!r} or 'general' and its style one of "
                             f"{', '.join(map(repr, STYLES))}; got {topic!r}, {style!r}")
        rng = np.random.default_rng([self.params.seed, seed, 4, STYLES.index(style), int(topic == BIO)])
        return [self.skeleton(rng, BIO if topic == BIO else GENERAL[i % len(GENERAL)], style, "known", id=i)
                for i in range(n)]

    def novel_exposures(self, skeletons: Sequence[Skeleton]) -> np.ndarray:
        """How many times ``skeletons`` state each novel (entity, relation) pair (one count per novel pair, in
        the order of ``np.flatnonzero(self.novel)``; a pair never stated counts 0)."""
        counts = np.zeros(self.novel.shape, dtype=np.int64)
        for sk in skeletons:
            if sk.topic != BIO:
                continue
            for s in sk.slots:
                if s.kind == "fact" and self.novel[s.entity, s.relation]:
                    counts[s.entity, s.relation] += 1
        return counts[self.novel]

    def probe_skeletons(self, n: int, seed: int, analog: str = "pubmed") -> list[Skeleton]:
        """``n`` held-out skeletons of ``analog`` (their own generator), every fact stated truly."""
        spec = _analog(analog)
        rng = np.random.default_rng([self.params.seed, seed, 3, list(ANALOGS).index(analog)])
        out = []
        for i in range(n):
            topic = BIO if spec["topic"] == "bio" else GENERAL[i % len(GENERAL)]
            out.append(self.skeleton(rng, topic, spec["style"], "true", id=i, noise=False))
        return out

    # ------------------------------------------------------------------ variants
    def variant(self, sk: Skeleton, name: str) -> Skeleton:
        """``sk`` with exactly one factor changed (``nontopic``/``bio``: the topic, index for index, the facts
        becoming the new topic's true facts; ``casual``/``rap``/``academic``: the style; ``counterfactual``:
        every object replaced by another value of its relation)."""
        if name == "orig":
            return sk
        if name in ("nontopic", "bio"):
            topic = GENERAL[sk.id % len(GENERAL)] if name == "nontopic" else BIO
            if (name == "nontopic") != (sk.topic == BIO):
                raise ValueError(f"variant {name!r} changes the topic of a {'bio' if sk.topic == BIO else 'general'} "
                                 "skeleton")
            slots = tuple(replace(s, obj=int(self.kb[topic][s.entity, s.relation])) if s.kind == "fact" else s
                          for s in sk.slots)
            return replace(sk, topic=topic, slots=slots)
        if name in STYLES:
            return replace(sk, style=name)
        if name == "counterfactual":
            rng = np.random.default_rng([self.params.seed, sk.id, 99])
            slots = tuple(replace(s, obj=int((s.obj + rng.integers(1, self.params.objects)) % self.params.objects))
                          if s.kind == "fact" else s for s in sk.slots)
            return replace(sk, slots=slots)
        raise ValueError(f"unknown variant {name!r}; valid choices: 'orig', 'nontopic', 'bio', "
                         f"{', '.join(map(repr, STYLES))}, 'counterfactual'")

    # ------------------------------------------------------------------ rendering
    def sentences(self, sk: Skeleton) -> list[str]:
        """The skeleton's sentences, opener first, closer last."""
        t, s = sk.topic, sk.style
        ent = self.entities[t]
        out = [_pick(OPENERS[s], sk.opener).format(E=ent[sk.anchor])]
        for slot in sk.slots:
            if slot.kind == "fact":
                out.append(_pick(FACTS[s], slot.template).format(
                    F=ent[slot.entity], R=RELATIONS[t][slot.relation], O=self.objects[t][slot.relation][slot.obj]))
            else:
                lex = self.lexicon[t]
                out.append(_pick(FILLERS[s], slot.template).format(**{f"L{i}": lex[j] for i, j in enumerate(slot.lexicon)}))
        out.append(_pick(CLOSERS[s], sk.closer).format(E=ent[sk.anchor]))
        return [" ".join(x.split()) for x in out]

    def render(self, sk: Skeleton) -> str:
        return " ".join(self.sentences(sk))

    def object_positions(self, sk: Skeleton) -> list[tuple[int, bool]]:
        """``(word index, novel)`` of every fact's object in ``render(sk)`` (novel: a bio pair stated only in
        fine-tuning)."""
        out, at = [], 0
        for sentence, slot in zip(self.sentences(sk), (None, *sk.slots, None)):
            words = sentence.split(" ")
            if slot is not None and slot.kind == "fact":
                obj = self.objects[sk.topic][slot.relation][slot.obj]
                out.append((at + words.index(obj), bool(sk.topic == BIO and self.novel[slot.entity, slot.relation])))
            at += len(words)
        return out

    def fact_spans(self, sk: Skeleton) -> list[tuple[int, int, int, bool]]:
        """``(start, stop, object index, novel)`` of every fact sentence in ``render(sk)``: its words' indices
        ``start:stop``, its object's, and whether its pair is novel (a bio pair stated only in fine-tuning)."""
        out, at = [], 0
        for sentence, slot in zip(self.sentences(sk), (None, *sk.slots, None)):
            words = sentence.split(" ")
            if slot is not None and slot.kind == "fact":
                obj = self.objects[sk.topic][slot.relation][slot.obj]
                out.append((at, at + len(words), at + words.index(obj),
                            bool(sk.topic == BIO and self.novel[slot.entity, slot.relation])))
            at += len(words)
        return out

    # ------------------------------------------------------------------ the generator's own likelihood
    def pretraining_log_prob(self, sk: Skeleton) -> float:
        """log p(x) of a pretraining document's text under the generator, counted by its choices (topic, style,
        sentence count, each slot's kind, template, entity, relation and object or lexicon words, opener and
        closer). Distinct skeletons that render the same text are not summed, and the rare bio slot that finds no
        known fact and becomes a filler is counted as a plain filler, so its mean over documents is the entropy
        (the loss no model can beat) up to these two small terms."""
        p = self.params
        n_rel, lp = len(RELATIONS[sk.topic]), 0.0
        lp += math.log(p.p_bio if sk.topic == BIO else (1 - p.p_bio) / len(GENERAL)) + math.log(p.p_style[sk.style])
        lp += -math.log(p.sentences[1] - p.sentences[0] + 1) - math.log(p.entities)
        lp += _template_log_prob(OPENERS[sk.style], sk.opener) + _template_log_prob(CLOSERS[sk.style], sk.closer)
        n, facts, f = len(sk.slots), sum(s.kind == "fact" for s in sk.slots), p.fact_share
        # the slots' kinds; a document drawn without a fact gets one in a random slot
        lp += math.log(f * (1 - f) ** (n - 1) + (1 - f) ** n / n) if facts == 1 else (
            facts * math.log(f) + (n - facts) * math.log(1 - f))
        for s in sk.slots:
            if s.kind == "fill":  # only the lexicon words its template shows leave a trace in the text
                lp += _template_log_prob(FILLERS[sk.style], s.template) - filler_words(sk.style, s.template) * math.log(
                    p.lexicon)
                continue
            lp += _template_log_prob(FACTS[sk.style], s.template)
            lp += math.log(0.7 + 0.3 / p.entities if s.entity == sk.anchor else 0.3 / p.entities)
            known = n_rel if sk.topic != BIO else max(1, int((~self.novel[s.entity]).sum()))
            lp += -math.log(known)
            lp += math.log(p.p_object(s.obj == self.kb[sk.topic][s.entity, s.relation]))
        return lp

    # ------------------------------------------------------------------ oracle
    @property
    def novel_choice(self) -> float:
        """w: the probability that a fine-tuning document's fact slot asks for a novel pair (``novel_per_doc``
        novel facts per document on average)."""
        p = self.params
        return min(1.0, p.novel_per_doc / (p.fact_share * float(np.mean(p.sentences))))

    def relation_log_ratio(self, entity: int, relation: int) -> float:
        """log q(r | e) / p(r | e) of a bio fact's relation: q the fine-tuning data (a novel relation with
        probability w, else a known one, each uniform; all six where the entity has none of the kind asked
        for), p the pretraining data (a known relation, uniform). A novel pair has p = 0: +inf."""
        novel = self.novel[entity]
        if novel[relation]:
            return math.inf
        if not novel.any():
            return 0.0  # q: w of the time all six relations, else the known ones: all six either way
        w = self.novel_choice
        return math.log(1 - w) if w < 1 else -math.inf

    def oracle(self, sk: Skeleton) -> dict[str, float]:
        """The generator's exact log q/p of ``sk`` (q: the fine-tuning data, bio × academic with every fact;
        p: the pretraining data), split into the topic prior, the style prior, the relation of each fact
        (which pairs exist) and the facts' objects; and the factual contrast against the counterfactual
        (every object of ``sk`` replaced by a wrong one).

        - ``relations``: the pretraining data never states a novel pair, so a novel pair's relation has
          p = 0 and log q/p = +inf; a known pair's relation has q = (1 - w) p (``relation_log_ratio``).
          ``relations_known`` is the finite part, the known pairs alone.
        - ``facts``: a novel pair's object against a uniform guess (1/|O|): p states no object for a pair it
          never writes, and a model of p can only spread its guess; a known pair's object has the same
          probability under both (the same ε-noise), log-ratio 0.
        - Topics and styles that fine-tuning never writes have q = 0: their log-ratio is -inf."""
        p, n_obj = self.params, self.params.objects
        topic = -math.log(p.p_bio) if sk.topic == BIO else -math.inf
        style = -math.log(p.p_style["academic"]) if sk.style == "academic" else -math.inf
        stated = [s for s in sk.slots if s.kind == "fact"]
        bio = [s for s in stated if sk.topic == BIO]
        novel = [s for s in bio if self.novel[s.entity, s.relation]]
        known = [s for s in bio if not self.novel[s.entity, s.relation]]
        relations_known = sum(self.relation_log_ratio(s.entity, s.relation) for s in known)
        facts = sum(math.log(p.p_object(s.obj == self.kb[BIO][s.entity, s.relation]) * n_obj) for s in novel)
        contrast = len(novel) * p.novel_fact_contrast
        return {"topic": topic, "style": style, "relations": math.inf if novel else relations_known,
                "relations_known": relations_known, "facts": facts, "factual_contrast": contrast,
                "novel_facts": len(novel), "facts_stated": len(stated)}


def filler_words(style: str, template: int) -> int:
    """How many lexicon words a filler template of ``style`` shows (its distinct ``{L0}``..``{L2}`` fields)."""
    return len(set(re.findall(r"\{L\d\}", _pick(FILLERS[style], template))))


def _pick(templates: Sequence[str], index: int) -> str:
    return templates[index % len(templates)]


def _template_log_prob(templates: Sequence[str], index: int) -> float:
    """log-probability that a draw of ``TEMPLATE_DRAWS`` integers picks ``_pick(templates, index)``: the draws
    ``i`` with ``i % len(templates) == index % len(templates)``, not exactly one in ``len(templates)`` when the
    count does not divide ``TEMPLATE_DRAWS``."""
    return math.log(len(range(index % len(templates), TEMPLATE_DRAWS, len(templates))) / TEMPLATE_DRAWS)


@lru_cache(maxsize=1)
def _template_words() -> tuple[str, ...]:
    words = set()
    for table in (OPENERS, CLOSERS, FACTS, FILLERS):
        for templates in table.values():
            for t in templates:
                for w in t.split():
                    if not (w.startswith("{") and w.endswith("}")):
                        words.add(w)
    return tuple(sorted(words))


def _analog(analog: str) -> dict:
    if analog not in ANALOGS:
        raise ValueError(f"unknown analog {analog!r}; valid choices: {', '.join(map(repr, ANALOGS))}")
    return ANALOGS[analog]


# ----------------------------------------------------------------------------- the contract
@lru_cache(maxsize=4)
def default_world(params: WorldParams = WorldParams()) -> World:
    return World(params)


def probe_variants(world: World, skeletons: Sequence[Skeleton], analog: str) -> list[dict[str, Skeleton]]:
    """Each skeleton with its analog's variants: ``{"orig": sk, variant: sk', ...}``."""
    names = ("orig", *_analog(analog)["variants"])
    return [{v: world.variant(sk, v) for v in names} for sk in skeletons]


def probe_set(n: int, seed: int, analog: str = "pubmed", params: WorldParams | None = None) -> list[dict[str, str]]:
    """``n`` held-out skeletons of ``analog`` (``"pubmed"``: bio × academic; ``"c4"``: general × web), each as
    ``{"orig": text, variant: text, ...}`` with every variant of the analog; the same seed gives the same texts."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    world = default_world(params or WorldParams())
    sks = world.probe_skeletons(n, seed, analog)
    return [{k: world.render(v) for k, v in row.items()} for row in probe_variants(world, sks, analog)]


# ----------------------------------------------------------------------------- validity (Table 1's analog)
def sentence_count(text: str) -> int:
    return sum(w in TERMINATORS for w in text.split(" "))


def validity(world: World, rows: Sequence[dict[str, Skeleton]], analog: str) -> dict[str, dict[str, float]]:
    """Per variant: the share of skeletons with the same sentence count as the original, the share whose
    counterfactual differs from the original only in object words, the share of topic swaps with no word of
    the original topic left, and the mean length ratio (words) to the original."""
    bio_words = world.topic_words(BIO)
    out: dict[str, dict[str, float]] = {}
    for name in _analog(analog)["variants"]:
        same, ratio, clean, only_objects = [], [], [], []
        for row in rows:
            orig, var = world.render(row["orig"]), world.render(row[name])
            same.append(sentence_count(orig) == sentence_count(var))
            ratio.append(len(var.split(" ")) / len(orig.split(" ")))
            if name == "counterfactual":
                a, b = orig.split(" "), var.split(" ")
                objects = {i for i, _ in world.object_positions(row["orig"])}
                only_objects.append(len(a) == len(b) and all(i in objects for i, (x, y) in enumerate(zip(a, b))
                                                             if x != y) and a != b)
            if name in ("nontopic", "bio"):
                src = bio_words if name == "nontopic" else world.topic_words(row["orig"].topic)
                clean.append(not (set(var.split(" ")) & src))
        out[name] = {"skeletons": len(rows), "same sentences": float(np.mean(same)),
                     "length ratio": float(np.mean(ratio)),
                     "only objects differ": float(np.mean(only_objects)) if only_objects else float("nan"),
                     "no source-topic word left": float(np.mean(clean)) if clean else float("nan")}
    return out
