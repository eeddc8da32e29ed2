"""The procedural TinyStories-Instruct stand-in: exact feature labels, header format, variety, determinism."""

import itertools
import re

import numpy as np
import pytest

from ftscope.data import stories as st
from ftscope.data.stories import (
    FEATURES,
    Story,
    detect_features,
    generate_stories,
    generate_story,
    instruct_prompt,
    instruct_text,
)

SUBSETS = [frozenset(c) for k in range(len(FEATURES) + 1) for c in itertools.combinations(FEATURES, k)]

# Surface forms per feature, written out here independently of the module's signature regexes.
SPEECH = r"(said|whispered|replied|asked|shouted|yelled|called out)"
FORMS = {
    "Twist": ["to everyone's surprise", "something unexpected happened", "it turned out that", "nobody had expected",
              "turn of events", "biggest surprise of all"],
    "Foreshadowing": ["little did", "had a funny feeling", "had no idea yet", "something told", "deep down"],
    "BadEnding": ["never found again", "too late", "cried and cried", "broken forever", "ended in tears",
                  "never came back", "sad and alone"],
    "MoralValue": ["learned that", "the lesson is", "the moral of the story", "always remembered", "teaches us"],
    "Conflict": ["both wanted", "began to argue", "could not agree", "angry", "big fight", "quarrel"],
}


def forms_in(feature: str, body: str) -> set[str]:
    text = body.lower()
    if feature == "Dialogue":
        return {m.group(1) or m.group(2) for m in re.finditer(rf'"\s(?:\w+\s)?{SPEECH}\b|\b{SPEECH},\s"', text)}
    return {f for f in FORMS[feature] if f in text}


@pytest.fixture(scope="module")
def by_subset() -> list[Story]:
    """47 stories for each of the 64 feature subsets (3008 in all)."""
    rng = np.random.default_rng(2024)
    return [generate_story(rng, fs) for fs in SUBSETS for _ in range(47)]


@pytest.fixture(scope="module")
def sampled() -> list[Story]:
    return generate_stories(500, seed=11)


def test_detect_features_is_exact_on_all_subsets(by_subset):
    assert len(SUBSETS) == 64 and len(by_subset) >= 3000
    for s in by_subset:
        assert s.features in SUBSETS
        assert detect_features(instruct_text(s)) == set(s.features), instruct_text(s)
        assert detect_features(s.body) == set(s.features)


def test_requested_features_are_exact_and_sampled_ones_follow_p(by_subset):
    assert [s.features for s in by_subset[::47]] == SUBSETS
    rng = np.random.default_rng(0)
    assert all(generate_story(rng, p_feature=0.0).features == frozenset() for _ in range(50))
    assert all(generate_story(rng, p_feature=1.0).features == frozenset(FEATURES) for _ in range(50))
    many = generate_stories(3000, seed=1)
    for f in FEATURES:
        assert abs(np.mean([f in s.features for s in many]) - 0.35) < 0.04, f


def test_only_dialogue_stories_have_double_quotes(by_subset):
    for s in by_subset:
        assert ('"' in s.body) == ("Dialogue" in s.features)


def test_header_is_ignored():
    header = instruct_prompt(["Twist", "MoralValue", "BadEnding"], ("run", "ball", "shiny"),
                             "To everyone's surprise, it turned out the lesson was too late.")
    assert header.endswith("Story: ")
    assert detect_features(header + "Lily had a ball. She played in the park.") == set()
    assert detect_features("Features: Twist\nWords: a, b, c\nSummary: x.\nStory: a plain story") == set()
    assert detect_features(header + "It turned out that the ball was a magic ball.") == {"Twist"}
    # With no "Story:" (a header cut short), header lines are still not read as story text.
    assert detect_features("Features: MoralValue, Twist\nWords: a, b, c\nSummary: It turned out fine") == set()


def test_instruct_text_layout(by_subset):
    for s in by_subset[::7]:
        text = instruct_text(s)
        lines = text.split("\n")
        heads = [ln.split(":")[0] for ln in lines[:4]]
        if s.features:
            assert heads == ["Features", "Words", "Summary", "Story"]
            assert lines[0] == "Features: " + ", ".join(sorted(s.features))
        else:
            assert heads[:3] == ["Words", "Summary", "Story"] and "Features" not in text
        assert text == instruct_prompt(s.features, s.words, s.summary) + s.body
        assert f"Words: {', '.join(s.words)}\n" in text
        assert s.summary.count(". ") == 0 and s.summary.endswith(".")


def test_words_appear_in_body_and_come_from_the_banks(by_subset):
    for s in by_subset:
        verb, noun, adj = s.words
        assert verb in st.VERBS and noun in st.OBJECTS and adj in st.ADJECTIVES
        for w in s.words:
            assert re.search(rf"\b{re.escape(w)}\b", s.body), (w, s.body)


def test_story_length_is_tinystories_like(by_subset):
    lengths = [len(s.body.split()) for s in by_subset]
    assert 80 <= min(lengths) and max(lengths) <= 250


def test_banks_are_large_and_free_of_signatures():
    assert len(st.CHARACTERS) >= 55 and len({c[0] for c in st.CHARACTERS}) == len(st.CHARACTERS)
    assert len(st.PLACES) >= 40 and len(st.OBJECTS) >= 80
    assert len(st.VERBS) + len(st.OBJECTS) + len(st.ADJECTIVES) >= 300
    bank_text = " ".join([*(c[0] for c in st.CHARACTERS), *(c[1] for c in st.CHARACTERS), *st.PLACES, *st.OBJECTS,
                          *st.VERBS, *st.ADJECTIVES, *st.ANIMALS])
    assert detect_features(bank_text) == set()


def test_variety(sampled):
    openings = {" ".join(s.body.split()[:2]) for s in sampled}
    assert len(openings) >= 4, openings
    for f in FEATURES:
        with_f = [s for s in sampled if f in s.features]
        assert len(with_f) >= 100, f
        seen = set().union(*(forms_in(f, s.body) for s in with_f))
        assert len(seen) >= 3, (f, seen)
        assert all(forms_in(f, s.body) for s in with_f), f
    assert len({s.summary for s in sampled}) > 450 and len({s.body for s in sampled}) == len(sampled)


def test_deterministic():
    a, b = generate_stories(40, seed=5), generate_stories(40, seed=5)
    assert a == b
    assert [s.body for s in generate_stories(40, seed=6)] != [s.body for s in a]
    one = generate_story(np.random.default_rng(3), ["Twist"])
    assert one == generate_story(np.random.default_rng(3), ["Twist"])
    assert generate_stories(5, seed=5, features=["Dialogue"]) == generate_stories(5, seed=5, features={"Dialogue"})


@pytest.mark.parametrize("call", [
    lambda: generate_story(np.random.default_rng(0), ["Twist", "Suspense"]),
    lambda: generate_stories(3, seed=0, features=["twist"]),
    lambda: instruct_prompt(["Cliffhanger"], ("a", "b", "c"), "s"),
])
def test_unknown_feature_is_rejected(call):
    with pytest.raises(ValueError) as err:
        call()
    assert all(f in str(err.value) for f in FEATURES)


def test_detect_features_survives_truncation(by_subset):
    rng = np.random.default_rng(9)
    for s in by_subset[::5]:
        text = instruct_text(s)
        for cut in rng.integers(0, len(text) + 1, size=4):
            found = detect_features(text[:cut])
            assert found <= set(s.features), (text[:cut], found)
        if "Twist" not in s.features:
            cut = len(s.body) // 2
            assert "Twist" not in detect_features(s.body[:cut])
            assert "Twist" not in detect_features(instruct_prompt(s.features, s.words, s.summary) + s.body[:cut])


def test_detect_features_survives_garbage(by_subset):
    rng = np.random.default_rng(10)
    junk = ["", " ", "Story:", "Story: Story:", "\x00\x01 \ufffd", "Features:\nStory:", "🙂" * 50,
            "".join(chr(int(c)) for c in rng.integers(32, 0x2FFF, size=2000))]
    for s in by_subset[:200]:
        words = s.body.split()
        rng.shuffle(words)
        junk.append(" ".join(words))
        junk.append(s.body[::-1])
    for text in junk:
        found = detect_features(text)
        assert isinstance(found, set) and found <= set(FEATURES)


def test_detect_features_tolerates_model_formatting(by_subset):
    for s in by_subset[::11]:
        messy = re.sub(r" ", "  ", s.body.lower()).replace(". ", ".\n ")
        messy = re.sub(r'"([^"]*)"', "\u201c\\1\u201d", messy)
        assert detect_features("Story:" + messy) == set(s.features)
