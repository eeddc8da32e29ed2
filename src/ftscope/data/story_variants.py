"""Single-factor variants of the story world's stories (``ftscope.data.stories``), for likelihood contrasts
in Zhang & Wu's manner (chapter 10):

- ``twin_stories``: pairs written from one generator state with a twist and without, alike up to the ending;
- ``retopic``: the same story about other characters, places, animals and Words;
- ``restyle``: the same story told in a casual voice (``CASUAL``), its features' signature phrases untouched.

Kept apart from ``stories`` so that the generator's module, whose source keys every cached story corpus and
model, does not change with them.
"""

from __future__ import annotations

import re

import numpy as np

from ftscope.data.stories import (
    _SIZE,
    ADJECTIVES,
    ANIMALS,
    BAD_CLOSERS,
    CHARACTERS,
    CONFLICT_FORMS,
    FEATURES,
    FORESHADOWING_FORMS,
    FORESHADOWING_HINTS,
    FRIEND,
    HAPPY_CLOSERS,
    HAS_OBJECT,
    LIKES,
    MORAL_FORMS,
    OBJECTS,
    OPENINGS,
    PLACES,
    RECONCILE,
    SKELETONS,
    TWIST_FORMS,
    VERBS,
    WEATHER,
    Story,
    generate_story,
)


def twin_stories(n: int, seed: int, p_feature: float = 0.35) -> list[tuple[Story, Story]]:
    """``n`` pairs ``(with a twist, without)`` that differ only where the twist is written: both stories of a
    pair come from one generator state (``default_rng([seed, i])``) with the same other features, so their
    characters, objects, places and plot up to the ending are the same; the second keeps the first's summary.
    The other features are drawn with ``p_feature`` from their own generator."""
    out = []
    for i in range(n):
        draw = np.random.default_rng([seed, i, 1]).random(len(FEATURES))
        others = frozenset(f for f, u in zip(FEATURES, draw) if u < p_feature and f != "Twist")
        with_twist = generate_story(np.random.default_rng([seed, i]), others | {"Twist"})
        without = generate_story(np.random.default_rng([seed, i]), others)
        out.append((with_twist, Story(without.features, without.words, with_twist.summary, without.body)))
    return out


def _template_words() -> frozenset[str]:
    """Every word the templates write themselves: a story's topic word that is one of them is left alone by
    ``retopic`` (replacing "top" would also rewrite "on top of a roof")."""
    texts = [*OPENINGS, *WEATHER, *LIKES, *HAS_OBJECT, *FRIEND, *HAPPY_CLOSERS, *TWIST_FORMS, *FORESHADOWING_FORMS,
             *FORESHADOWING_HINTS, *BAD_CLOSERS, *MORAL_FORMS, *CONFLICT_FORMS, *RECONCILE, *_SIZE]
    for sk in SKELETONS:
        for part in (sk.problem, sk.attempt, sk.happy, sk.bad, sk.morals, sk.summary_happy, sk.summary_bad):
            texts += list(part)
        texts += [x for pair in sk.twist_good + sk.twist_bad for x in pair]
        texts += [q for _, _, q in sk.say_problem + sk.say_help]
    return frozenset(w.lower() for t in texts for w in re.findall(r"[A-Za-z]+", t))


TEMPLATE_WORDS = _template_words()


def _kin(kind: str) -> str:
    """A character's kind as ``retopic`` keeps it: a child stays a girl or a boy, an animal the same animal."""
    return kind if kind not in ("girl", "boy") else "child"


def retopic(story: Story, seed: int) -> Story:
    """``story`` about something else, its plot, features and narration kept: every character's name, every
    place and animal, and the Words line's verb, noun and adjective replaced consistently (in the summary, the
    Words line and the body) by others of the world's banks, drawn with ``seed``. A name keeps its sex (the
    pronouns stay right) and its kind (a child's name goes to a child, an animal's to the same animal, or is
    kept); a topic word that the templates also use is kept."""
    rng = np.random.default_rng(seed)
    table: dict[str, str] = {}
    text = story.summary + "\n" + story.body
    for name, kind, sex in CHARACTERS:
        if re.search(rf"\b{name}\b", text):
            pool = [c for c, k, s in CHARACTERS if _kin(k) == _kin(kind) and s == sex and c not in table.values()
                    and not re.search(rf"\b{c}\b", text)]
            if pool:
                table[name] = pool[int(rng.integers(len(pool)))]
    banks = [(PLACES, [p for p in PLACES if re.search(rf"\b{p}\b", text)]),
             (ANIMALS, [a for a in ANIMALS if re.search(rf"\b{a}\b", text)]),
             (VERBS, [story.words[0]]), (OBJECTS, [story.words[1]]), (ADJECTIVES, [story.words[2]])]
    for bank, found in banks:
        for word in found:
            if word in table or set(word.split()) & TEMPLATE_WORDS:
                continue
            pool = [w for w in bank if w not in table.values() and w != word and not set(w.split()) & TEMPLATE_WORDS
                    and not re.search(rf"\b{re.escape(w)}\b", text)]
            table[word] = pool[int(rng.integers(len(pool)))]
    if not table:
        return story
    pattern = re.compile(r"\b(" + "|".join(re.escape(w) for w in sorted(table, key=len, reverse=True)) + r")\b")

    def swap(s: str) -> str:
        return pattern.sub(lambda m: table[m.group(1)], s)

    return Story(story.features, tuple(table.get(w, w) for w in story.words), swap(story.summary), swap(story.body))


#: casual narration: (pattern, replacement), applied in order to a story's body; none touches a feature's
#: signature phrase (``restyle`` keeps what ``detect_features`` reads)
CASUAL = (
    (r"\bOnce upon a time, there was\b", "So, like, there was"),
    (r"\bOnce there was\b", "So there was"),
    (r"\bLong ago\b", "Way back"),
    (r"\bOne day\b", "So one day"),
    (r"\bdid not\b", "didn't"), (r"\bcould not\b(?! agree)", "couldn't"), (r"\bwas not\b", "wasn't"),
    (r"\bdo not\b", "don't"), (r"\bwould not\b", "wouldn't"), (r"\bI will\b", "I'll"), (r"\bLet's\b", "C'mon, let's"),
    (r"\bvery\b", "super"), (r"\bbig\b(?! fight)", "huge"), (r"\blittle\b", "tiny"),
    (r"\bThen\b", "Then, like,"),
    (r"\bIt was\b", "It was totally"), (r"\bthe best\b", "the coolest"),
    (r"\bhappily ever after\b", "happily ever after, the end"),
)


def restyle(story: Story) -> Story:
    """``story``'s body told in a casual voice (``CASUAL``): the same plot, characters and features, another
    narration style than any the world writes. The header (summary, Words) is kept."""
    body = story.body
    for pattern, repl in CASUAL:
        body = re.sub(pattern, repl, body)
    return Story(story.features, story.words, story.summary, body)
