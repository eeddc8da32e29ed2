"""A procedural story world: a stand-in for TinyStories-Instruct.

TinyStories-Instruct (Eldan & Li 2023) pairs each GPT-written children's story with an instruction
header: an optional ``Features:`` line (Dialogue, Twist, BadEnding, MoralValue, Foreshadowing,
Conflict), a ``Words:`` line (a verb, a noun and an adjective the story must use), a one-sentence
``Summary:`` and then ``Story:``. Jain et al. (2024, Sec. 5.2) pretrain on it and then "delete" the
Twist feature; their probes read six binary labels off a story. The real dataset cannot be reached
offline, so this module writes stories of the same shape from templates::

    Features: Dialogue, Twist
    Words: jump, kite, shiny
    Summary: A little girl named Lily loses her shiny kite in the park, and Max helps her find it.
    Story: Once upon a time, there was a little girl named Lily. ...

How it differs from the real thing:

- **Labels are exact.** Every feature is written by templates with signature vocabulary that no
  base template and no other feature uses (twists say "to everyone's surprise", "it turned out";
  bad endings say "was never found again", "it was too late"; only Dialogue stories contain
  double quotes). So ``detect_features(instruct_text(s)) == set(s.features)`` for every story,
  where the paper needed a GPT-3.5 classifier (92% held-out accuracy). On model-generated text
  ``detect_features`` is the same phrase match, i.e. a heuristic.
- **Features are independent.** Each is drawn with probability ``p_feature`` (TinyStories has
  its own, correlated, mix); ``features=`` asks for an exact set, which the deletion protocols
  (filter twists, swap Foreshadowing to Twist, add Twist to non-twist headers) need.
- **Small world.** Six plot skeletons, ~60 characters, ~40 places, ~100 objects and a few hundred
  Words; bodies are 80-250 words. Far less varied than GPT-4 prose, so models learn it fast.
- **Feature order.** The Features line lists features alphabetically.

When the hub is reachable, ``hub_instruct_stories`` reads the real TinyStories-Instruct files
(``parse_instruct`` turns their entries into the same ``Story`` objects); ``detect_features`` is then
a phrase heuristic on the labels' stories too, not exact.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FEATURES: tuple[str, ...] = ("Twist", "Foreshadowing", "Dialogue", "BadEnding", "MoralValue", "Conflict")
GENERATOR_VERSION = "1"
# sha256 of this file as it was when imported: the code that generated the stories in this process
# (hashing the file later could record an edit made while a corpus was being generated)
SOURCE_SHA256 = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()

# --------------------------------------------------------------------------------------------- banks
# (name, kind, "f"/"m"): kids and animals. Names double as friends.
CHARACTERS: tuple[tuple[str, str, str], ...] = (
    ("Lily", "girl", "f"), ("Tom", "boy", "m"), ("Mia", "girl", "f"), ("Ben", "boy", "m"), ("Sara", "girl", "f"),
    ("Tim", "boy", "m"), ("Anna", "girl", "f"), ("Jack", "boy", "m"), ("Lucy", "girl", "f"), ("Sam", "boy", "m"),
    ("Emma", "girl", "f"), ("Leo", "boy", "m"), ("Zoe", "girl", "f"), ("Max", "boy", "m"), ("Amy", "girl", "f"),
    ("Joe", "boy", "m"), ("Ella", "girl", "f"), ("Finn", "boy", "m"), ("Rosie", "girl", "f"), ("Noah", "boy", "m"),
    ("Kate", "girl", "f"), ("Jake", "boy", "m"), ("Molly", "girl", "f"), ("Oliver", "boy", "m"), ("Daisy", "girl", "f"),
    ("Henry", "boy", "m"), ("Ruby", "girl", "f"), ("Jimmy", "boy", "m"), ("Nina", "girl", "f"), ("Bobby", "boy", "m"),
    ("Sophie", "girl", "f"), ("Danny", "boy", "m"), ("Grace", "girl", "f"), ("Eli", "boy", "m"), ("Maya", "girl", "f"),
    ("Alex", "boy", "m"),
    ("Spot", "dog", "m"), ("Bella", "puppy", "f"), ("Whiskers", "cat", "m"), ("Kitty", "kitten", "f"),
    ("Hoppy", "bunny", "m"), ("Fluffy", "bunny", "f"), ("Quack", "duck", "m"), ("Dilly", "duck", "f"),
    ("Freddy", "frog", "m"), ("Pip", "mouse", "m"), ("Benny", "bear", "m"), ("Goldie", "fish", "f"),
    ("Rusty", "fox", "m"), ("Tweet", "bird", "f"), ("Ollie", "owl", "m"), ("Shelly", "turtle", "f"),
    ("Peppa", "pig", "f"), ("Lola", "lamb", "f"), ("Sparky", "dragon", "m"), ("Nutty", "squirrel", "m"),
    ("Ellie", "elephant", "f"), ("Milo", "monkey", "m"), ("Coco", "cow", "f"), ("Buzz", "bee", "m"),
)

PLACES: tuple[str, ...] = (
    "park", "forest", "beach", "garden", "farm", "river", "school", "zoo", "lake", "hill", "meadow", "playground",
    "kitchen", "backyard", "library", "market", "castle", "cave", "pond", "field", "jungle", "town square",
    "toy shop", "bakery", "barn", "island", "mountain", "village", "yard", "street", "museum", "circus", "harbor",
    "valley", "orchard", "woods", "attic", "treehouse", "sandbox", "living room",
)

# Nouns for the Words line: the story's key object.
OBJECTS: tuple[str, ...] = (
    "ball", "kite", "teddy", "doll", "hat", "box", "book", "crayon", "balloon", "shell", "cup", "boat", "drum", "key",
    "ring", "sock", "blanket", "bike", "wagon", "train", "car", "robot", "puzzle", "flower", "leaf", "stone",
    "feather", "apple", "cookie", "cake", "map", "coin", "bell", "clock", "lamp", "shoe", "scarf", "umbrella",
    "basket", "bucket", "shovel", "jar", "rope", "stick", "button", "pencil", "sticker", "ribbon", "crown",
    "whistle", "flute", "guitar", "mirror", "candle", "necklace", "bracelet", "marble", "block", "spoon", "bowl",
    "pillow", "backpack", "bottle", "truck", "plane", "rocket", "wand", "gem", "acorn", "pinecone", "pumpkin",
    "carrot", "banana", "sandwich", "lollipop", "cupcake", "muffin", "paintbrush", "notebook", "letter", "picture",
    "card", "top", "sled", "helmet", "glove", "mitten", "boot", "cap", "sweater", "jacket", "tent", "flag", "pebble",
    "toy", "bear", "tambourine", "yo-yo", "lunchbox", "teapot",
)

# Verbs for the Words line: base form, used as "loved to <verb>".
VERBS: tuple[str, ...] = (
    "jump", "run", "dance", "sing", "play", "swim", "climb", "skip", "hop", "paint", "draw", "read", "bake",
    "explore", "hide", "spin", "clap", "twirl", "march", "whistle", "giggle", "laugh", "race", "roll", "slide",
    "splash", "dig", "build", "fly", "float", "bounce", "swing", "stretch", "wiggle", "wander", "sail", "ride",
    "kick", "throw", "catch", "skate", "hum", "count", "chase", "visit", "share", "help", "cook", "plant", "sweep",
    "wash", "collect", "search", "listen", "look", "smile", "wave", "hug", "rest", "nap", "dream", "write", "color",
    "fold", "stack", "knock", "tap", "shake", "trot", "gallop", "crawl", "tiptoe", "peek", "jog", "zoom", "glide",
    "munch", "nibble", "sip", "mix", "stir", "feed", "fix", "push", "pull", "lift", "carry", "sneak", "wobble",
    "squeak", "snuggle", "cuddle", "tumble", "leap", "paddle", "pretend", "imagine", "wonder", "travel", "camp",
    "fish", "hunt", "sew", "knit", "practice",
)

# Adjectives for the Words line: they describe the key object ("a shiny kite").
ADJECTIVES: tuple[str, ...] = (
    "shiny", "red", "blue", "green", "yellow", "purple", "pink", "orange", "white", "black", "brown", "gray",
    "golden", "silver", "soft", "fluffy", "fuzzy", "furry", "sparkly", "glittery", "tiny", "big", "huge", "little",
    "small", "tall", "long", "short", "round", "square", "flat", "smooth", "bumpy", "rough", "old", "new", "bright",
    "dark", "colorful", "striped", "spotted", "wooden", "plastic", "heavy", "light", "clean", "dirty", "wet", "dry",
    "warm", "cold", "cozy", "special", "pretty", "lovely", "beautiful", "funny", "silly", "magic", "fancy", "sticky",
    "squishy", "bouncy", "crunchy", "sweet", "fresh", "noisy", "quiet", "gentle", "strong", "fragile", "delicate",
    "tidy", "messy", "wobbly", "lumpy", "glowing", "twinkly", "sparkling", "dusty", "muddy", "sandy", "cute", "neat",
    "plain", "simple", "rare", "precious", "lucky", "jolly", "giant", "velvet", "woolly", "silky", "bubbly",
    "frosty", "shimmering", "crooked", "curly", "pointy", "hollow", "chunky",
)

ANIMALS: tuple[str, ...] = (
    "bird", "squirrel", "rabbit", "duck", "frog", "puppy", "kitten", "fox", "owl", "turtle", "mouse", "hedgehog",
    "deer", "butterfly", "chick", "lamb", "raccoon", "goat",
)

# The preposition for "in the park" / "on the beach" / "at the zoo".
_ON = frozenset({"beach", "hill", "mountain", "island", "street", "farm"})
_AT = frozenset({"school", "zoo", "market", "bakery", "toy shop", "circus", "harbor", "museum", "library", "lake",
                 "river", "pond"})
_SIZE = ("little", "small", "happy", "curious", "kind", "cheerful", "young", "playful")

# --------------------------------------------------------------------------------------------- base text
OPENINGS = (
    "Once upon a time, there was {a_size} {kind} named {N}.",
    "One sunny day, {a_size} {kind} named {N} went outside to play.",
    "Long ago, in a small village, there lived {a_size} {kind} called {N}.",
    "There was once {a_size} {kind} named {N} who lived near the {place}.",
    "In a little house by the {place}, there lived {a_size} {kind} named {N}.",
    "{N} was {a_size} {kind} who lived in a big, busy town.",
    "One morning, {N} the {kind} woke up early and jumped out of bed.",
    "Once there was {a_size} {kind}. {His} name was {N}.",
)
WEATHER = (
    "The sun was shining and the birds were singing.",
    "The sky was blue and the grass was soft and green.",
    "It was a warm and bright day.",
    "A gentle wind was blowing through the trees.",
    "The flowers were blooming everywhere.",
)
LIKES = (
    "{N} loved to {verb} more than anything.",
    "Every day, {he} liked to {verb} with {his} friends.",
    "The thing {N} liked best was to {verb}.",
    "{N} wanted to {verb} all day long.",
    "More than anything, {N} loved to {verb} in the sun.",
)
HAS_OBJECT = (
    "{He} had {a_adj_obj} that {he} took everywhere.",
    "{N}'s most loved thing in the whole world was {his} {adj} {obj}.",
    "One day, {N}'s grandma gave {him} {a_adj_obj}.",
    "{N} had {a_adj_obj}, and {he} loved it very much.",
    "{He} kept {a_adj_obj} in a box by {his} bed.",
)
FRIEND = (
    "{N} had a good friend named {F}, {a_fkind}.",
    "{N}'s best friend was {F}, {a_fkind} who lived next door.",
    "{N} often played with {F}, a friendly {fkind}.",
    "{F} the {fkind} was {N}'s best friend.",
)
HAPPY_CLOSERS = (
    "{N} smiled a big smile. It was the best day ever.",
    "{N} and {F} played together until the sun went down.",
    "{N} went home happy, with the {obj} held tight.",
    "And they all lived happily ever after.",
    "That night, {N} fell asleep with a happy heart.",
)

# --------------------------------------------------------------------------------------------- features
TWIST_FORMS = (
    "To everyone's surprise, {r}.",
    "But then something unexpected happened: {r}.",
    "It turned out that {r}.",
    "Nobody had expected this, but {r}.",
    "In a strange turn of events, {r}.",
    "Then came the biggest surprise of all: {r}.",
)
FORESHADOWING_FORMS = (
    "Little did {N} know that {h}.",
    "{N} had a funny feeling that {h}.",
    "{N} had no idea yet that {h}.",
    "Something told {N} that {h}.",
    "Deep down, {N} sensed that {h}.",
)
FORESHADOWING_HINTS = (
    "this day would be one to remember",
    "the {obj} was about to go on a big adventure",
    "something big was about to happen",
    "the {place} was hiding a secret",
    "things would not go as planned",
    "the {obj} would soon be in trouble",
)
BAD_CLOSERS = (
    "{N} walked home, sad and alone.",
    "{N} cried and cried, and nothing could make it better.",
    "The day ended in tears.",
    "It was too late, and nothing could be done.",
    "{N} never came back to the {place} again.",
)
MORAL_FORMS = (
    "{N} learned that {m}.",
    "The lesson is that {m}.",
    "The moral of the story is that {m}.",
    "From that day on, {N} always remembered that {m}.",
    "This story teaches us that {m}.",
)
CONFLICT_FORMS = (
    "{N} and {F} both wanted to play with the {obj} first.",
    "Soon {N} and {F} began to argue about what to do.",
    "{F} wanted to go home, but {N} wanted to stay. They could not agree.",
    "{F} grabbed the {obj}, and {N} got very angry.",
    "{N} and {F} had a big fight about whose turn it was.",
    "{F} said the {obj} was ugly, and the two friends started a quarrel.",
)
RECONCILE = (
    "After a while, they said sorry to each other.",
    "Then they took a deep breath and made up.",
    "Later, they hugged and were friends again.",
    "They were quiet for a while.",
)
# Dialogue: (kind, quote) with kind "s" statement, "q" question, "x" exclamation.
SPEECH_VERBS = {"s": ("said", "whispered", "replied"), "q": ("asked",), "x": ("shouted", "yelled", "called out")}

# Signature phrases: regexes matched at a word start in lower-cased, whitespace-collapsed text with straight
# quotes ("argu" matches argue, arguing, argument).
# No base template and no other feature contains them; keep it so (tests check it).
SIGNATURES: dict[str, tuple[str, ...]] = {
    "Twist": (r"surpris", r"unexpected", r"expected", r"turned out", r"turn of events", r"all along"),
    "Foreshadowing": (r"little did", r"funny feeling", r"no idea yet", r"something told", r"deep down", r"sensed"),
    "Dialogue": (r'"',),
    "BadEnding": (r"never found again", r"too late", r"cried and cried", r"broken forever", r"ended in tears",
                  r"never came back", r"sad and alone"),
    "MoralValue": (r"learn", r"lesson", r"moral of", r"always remembered", r"teaches us"),
    "Conflict": (r"both wanted", r"argu", r"could not agree", r"angry", r"big fight", r"quarrel"),
}


@dataclass(frozen=True)
class _Skeleton:
    name: str
    problem: tuple[str, ...]
    attempt: tuple[str, ...]
    happy: tuple[str, ...]                     # resolution when there is no twist
    bad: tuple[str, ...]                       # failure when there is no twist
    twist_good: tuple[tuple[str, str], ...]    # (revealed clause, follow-up) before a happy ending
    twist_bad: tuple[tuple[str, str], ...]     # ... before a bad ending
    say_problem: tuple[tuple[str, str, str], ...]  # (speaker "N"/"F", kind, quote)
    say_help: tuple[tuple[str, str, str], ...]
    morals: tuple[str, ...]
    summary_happy: tuple[str, ...]
    summary_bad: tuple[str, ...]


SKELETONS: tuple[_Skeleton, ...] = (
    _Skeleton(
        "lost",
        problem=("One day, {N} and {F} took the {obj} to the {place}. When it was time to go home, the {obj} was gone!",
                 "One afternoon, {N} played with the {obj} {in_place}. Then {he} looked down, and the {obj} "
                 "was not there anymore.",
                 "One windy day, {N} carried the {obj} to the {place}. Somewhere along the way, {he} dropped it."),
        attempt=("{N} and {F} looked under the bushes and behind every tree.",
                 "{N} searched high and low, and {F} helped {him} look.",
                 "They looked near the {place2} and all around the {place}."),
        happy=("At last, {N} saw the {obj} peeking out from under a big leaf.",
               "Finally, {F} spotted the {obj} next to a rock and ran to get it."),
        bad=("They looked and looked until the sky grew dark. The {obj} was never found again.",
             "The rain started to fall, and they had to stop looking. The {obj} was never found again."),
        twist_good=(("a little {animal} had been keeping the {obj} safe in its home",
                     "The {animal} gave it back, and {N} laughed with joy."),
                    ("{F} had picked up the {obj} hours ago to keep it safe", "{F} gave it back with a grin."),
                    ("the {obj} had been in {N}'s own pocket the whole time", "{N} giggled and held it up high.")),
        twist_bad=(("a big bird had carried the {obj} far away over the hills",
                    "{N} watched the sky, but the bird was gone."),
                   ("the {obj} had rolled into the river and floated away", "The water carried it out of sight.")),
        say_problem=(("N", "q", "Oh no! Where is my {obj}?"), ("N", "x", "My {obj} is gone!")),
        say_help=(("F", "s", "Do not worry. I will help you look."), ("F", "s", "Let's look together.")),
        morals=("it is important to take good care of your things",
                "good friends help each other when things go wrong"),
        summary_happy=("{A_size} {kind} named {N} loses {his} {adj} {obj} {in_place}, and {F} helps {him} find it.",
                       "{N} and {F} search the {place} for {N}'s {adj} {obj}."),
        summary_bad=("{A_size} {kind} named {N} loses {his} {adj} {obj} {in_place} and never gets it back.",),
    ),
    _Skeleton(
        "broken",
        problem=("One day, {N} was playing with the {obj} {in_place}. Oops! It fell and broke into three pieces.",
                 "One day, {N} dropped the {obj} on the hard ground {in_place}. Crack! It broke."),
        attempt=("{N} picked up the pieces, and {F} brought some glue.",
                 "{N} and {F} sat down and tried to put the pieces back together."),
        happy=("They worked slowly and carefully, and soon the {obj} was as good as new.",
               "With a little glue and a lot of care, they fixed the {obj}."),
        bad=("But the pieces would not stick. The {obj} was broken forever.",
             "They tried and tried, but one piece was missing. The {obj} was broken forever."),
        twist_good=(("the {obj} was made to snap apart and click back together",
                     "{N} clicked the pieces back in place and laughed."),
                    ("a tiny gold coin had been hiding inside the {obj}",
                     "They fixed the {obj} and kept the coin as a treasure."),
                    ("{F}'s grandpa could fix anything", "He fixed the {obj} in just one minute.")),
        twist_bad=(("a hungry goat had eaten the last piece", "Now the {obj} could not be fixed."),
                   ("the glue was only water", "Nothing stuck at all.")),
        say_problem=(("N", "x", "Oh no, my {obj} broke!"), ("N", "q", "What can we do now?")),
        say_help=(("F", "s", "We can fix it together."), ("F", "s", "I know how to help.")),
        morals=("it is good to be careful with the things you love", "working together can fix many problems"),
        summary_happy=("When {N}'s {adj} {obj} breaks {in_place}, {N} and {F} fix it together.",),
        summary_bad=("{N}'s {adj} {obj} breaks {in_place}, and {N} and {F} cannot fix it.",),
    ),
    _Skeleton(
        "stuck",
        problem=("One windy day, {N} took the {obj} to the {place}. A big gust of wind blew it up into a tall tree!",
                 "One day, {N} threw the {obj} high into the air {in_place}. It landed on top of a roof and got "
                 "stuck."),
        attempt=("{N} jumped and jumped, but {he} could not reach it.",
                 "{N} stood on {his} toes and stretched {his} arms, but it was too high.",
                 "{F} came to help, and they tried to reach it with a long stick."),
        happy=("Then {F} climbed on a big box and got the {obj} down.",
               "Together they found a ladder, and {N} climbed up to get it."),
        bad=("They tried and tried, but the {obj} stayed up high. Then the wind blew it far away.",),
        twist_good=(("a friendly {animal} climbed up and brought the {obj} down",
                     "{N} thanked the {animal} and gave it a pat."),
                    ("the wind blew again and dropped the {obj} right into {N}'s arms", "{N} hugged it tight.")),
        twist_bad=(("a big crow had taken the {obj} to its nest", "The crow flew off with it."),
                   ("the {obj} was stuck so high that even the firemen could not get it",
                    "So the {obj} stayed up there.")),
        say_problem=(("N", "q", "How will I get my {obj} back?"), ("N", "x", "Help! My {obj} is stuck!")),
        say_help=(("F", "s", "Let's try together."), ("F", "s", "I have an idea.")),
        morals=("it is okay to ask for help", "working together makes hard things easier"),
        summary_happy=("{N}'s {adj} {obj} gets stuck up high {in_place}, and {F} helps get it down.",),
        summary_bad=("{N}'s {adj} {obj} gets stuck up high {in_place}, and nobody can get it down.",),
    ),
    _Skeleton(
        "helping",
        problem=("One day, {N} went to the {place} with the {obj}. There {he} found a little {animal} shivering "
                 "in the cold.",
                 "One morning, {N} heard a small cry {in_place}. It was a baby {animal} that could not find its "
                 "mom."),
        attempt=("{N} used the {obj} to make a cozy bed for the {animal}.",
                 "{N} and {F} gave the {animal} some water and let it play with the {obj}."),
        happy=("Soon the little {animal} felt better, and its mom came to take it home.",
               "The {animal} was warm and happy, and it snuggled close to {N}."),
        bad=("But the {animal} got scared and ran off into the bushes.",),
        twist_good=(("the little {animal} was a magic {animal} that could grant wishes",
                     "It gave {N} a wish to say thank you."),
                    ("the {animal} belonged to {F}'s grandma, who had been looking for it everywhere",
                     "{F}'s grandma gave {N} a big hug.")),
        twist_bad=(("the {animal} was a wild {animal} that did not want any help", "It jumped away into the bushes."),
                   ("the {animal} was afraid of the {obj}", "It ran far away from {N}.")),
        say_problem=(("N", "q", "Are you okay, little {animal}?"),
                     ("N", "s", "Poor little {animal}. I will take care of you.")),
        say_help=(("F", "s", "It needs our help."), ("F", "q", "Can I help too?")),
        morals=("it is important to be kind to animals", "helping others makes everyone happy"),
        summary_happy=("{N} and {F} find a little {animal} {in_place} and help it feel better.",),
        summary_bad=("{N} tries to help a little {animal} {in_place}, but it runs away.",),
    ),
    _Skeleton(
        "gift",
        problem=("One day, {N} wanted to give the {obj} to {his} mom as a present. On the way home from the {place}, "
                 "{he} tripped, and the {obj} fell in the mud.",
                 "Soon it was Mom's birthday, and {N} wanted to give her the {obj}. But {in_place}, a puddle "
                 "splashed mud all over it."),
        attempt=("{N} and {F} worked hard to clean the {obj} and make it pretty again.",
                 "{F} brought a cloth and some ribbons, and they got to work."),
        happy=("When Mom saw the {obj}, she gave {N} the biggest hug.",
               "Mom opened the gift and her eyes lit up with joy."),
        bad=("But the {obj} was still dirty and torn, and Mom could only give a small smile.",),
        twist_good=(("Mom had always wanted {a_adj_obj} just like that one", "She said it was the best gift ever."),
                    ("{F} had made a matching gift, so Mom got two", "Everyone clapped.")),
        twist_bad=(("Mom already had ten of them", "She put it away in a drawer."),
                   ("a big dog ran by and took the {obj} in its mouth", "The dog ran off with it.")),
        say_problem=(("N", "x", "Oh no, my gift is ruined!"), ("N", "q", "What will Mom say?")),
        say_help=(("F", "s", "We can make it nice again."), ("F", "s", "Mom will love it anyway.")),
        morals=("a gift made with love is the best gift", "it is the thought that counts"),
        summary_happy=("{N} wants to give {his} mom {a_adj_obj}, and with {F}'s help the gift makes her very happy.",),
        summary_bad=("{N} wants to give {his} mom {a_adj_obj}, but the gift gets ruined.",),
    ),
    _Skeleton(
        "noise",
        problem=("One evening, {N} took the {obj} and went to explore the {place}. Suddenly, {he} heard a loud noise "
                 "and saw a big shadow behind the bushes!",
                 "As {N} walked {in_place} with the {obj}, a big dark shadow moved across the path, and a loud "
                 "noise came from the leaves."),
        attempt=("{N} was scared, but {he} held the {obj} tight and took a small step closer.",
                 "{N} and {F} held hands and tiptoed toward the sound."),
        happy=("There they found a friendly {animal} who wanted to play with them.",
               "Behind the bushes sat a tiny {animal}, waving hello."),
        bad=("The noise got louder and louder, so they ran away, and the {obj} fell in the dark.",),
        twist_good=(("the noise was {F}'s big brother playing hide and seek", "Everyone laughed together."),
                    ("the shadow was just {N}'s own shadow", "{N} giggled at how silly it was.")),
        twist_bad=(("the noise came from a big bear waking up from its nap",
                    "They ran all the way home without the {obj}."),
                   ("the path had led them deep into the {place}, far from home",
                    "They could not find the way back until morning.")),
        say_problem=(("N", "q", "Who is there?"), ("N", "s", "I am not scared.")),
        say_help=(("F", "s", "Stay close to me."), ("F", "q", "Should we go and see?")),
        morals=("being brave is good, but it is also good to be careful", "things are often less scary than they seem"),
        summary_happy=("{N} and {F} hear a strange noise {in_place} and bravely find out what it is.",),
        summary_bad=("{N} and {F} hear a strange noise {in_place}, run away, and lose the {obj}.",),
    ),
)

_SIGNATURE_RES = {f: re.compile("|".join(p if p == '"' else rf"\b{p}" for p in SIGNATURES[f])) for f in FEATURES}
_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"', "\u2018": "'", "\u2019": "'"})
_SPACE = re.compile(r"\s+")
_HEADER_LINE = re.compile(r"^\s*(features|words|summary|random sentence)\s*:.*$", re.IGNORECASE | re.MULTILINE)
_N_UNIFORMS = 48


@dataclass(frozen=True)
class Story:
    features: frozenset[str]
    words: tuple[str, str, str]   # (verb, noun, adjective), all three in the body
    summary: str
    body: str


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _preposition(place: str) -> str:
    return "on" if place in _ON else "at" if place in _AT else "in"


def _check_features(features: Iterable[str]) -> frozenset[str]:
    fs = frozenset([features] if isinstance(features, str) else features)
    unknown = sorted(fs - set(FEATURES))
    if unknown:
        raise ValueError(f"unknown feature(s) {unknown}; valid features are {FEATURES}")
    return fs


class _Picker:
    """Uniform choices from a block of ``rng.random`` draws (one numpy call per story, not fifty)."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.u = rng.random(_N_UNIFORMS).tolist()
        self.i = 0

    def uniform(self) -> float:
        if self.i == len(self.u):
            self.u += self.rng.random(_N_UNIFORMS).tolist()
        self.i += 1
        return self.u[self.i - 1]

    def __call__(self, seq):
        return seq[int(self.uniform() * len(seq))]


def _speech(pick: _Picker, who: str, kind: str, quote: str) -> str:
    verb = pick(SPEECH_VERBS[kind])
    if pick.uniform() < 0.5:
        return f'{who} {verb}, "{quote}"'
    if quote.endswith("."):
        quote = quote[:-1] + ","
    return f'"{quote}" {verb} {who}.' if pick.uniform() < 0.5 else f'"{quote}" {who} {verb}.'


def generate_story(rng: np.random.Generator, features: Iterable[str] | None = None, p_feature: float = 0.35) -> Story:
    """One story. ``features=None`` draws each feature independently with ``p_feature``; otherwise exactly those."""
    pick = _Picker(rng)
    draws = [pick.uniform() for _ in FEATURES]
    fs = frozenset(f for f, u in zip(FEATURES, draws) if u < p_feature) if features is None \
        else _check_features(features)

    (name, kind, sex), (fname, fkind, fsex) = pick(CHARACTERS), pick(CHARACTERS)
    while fname == name:
        fname, fkind, fsex = pick(CHARACTERS)
    verb, obj, adj = pick(VERBS), pick(OBJECTS), pick(ADJECTIVES)
    place, place2, size = pick(PLACES), pick(PLACES), pick(_SIZE)
    he, his, him = ("she", "her", "her") if sex == "f" else ("he", "his", "him")
    c = dict(N=name, kind=kind, F=fname, fkind=fkind, a_fkind=f"{_article(fkind)} {fkind}", verb=verb, obj=obj,
             adj=adj, a_adj_obj=f"{_article(adj)} {adj} {obj}", place=place, place2=place2,
             in_place=f"{_preposition(place)} the {place}", animal=pick(ANIMALS),
             a_size=f"{_article(size)} {size}", A_size=f"{_article(size).capitalize()} {size}",
             he=he, his=his, him=him, He=he.capitalize(), His=his.capitalize())
    sk = pick(SKELETONS)
    bad = "BadEnding" in fs

    intro = [pick(OPENINGS), pick(WEATHER), pick(LIKES), pick(HAS_OBJECT), pick(FRIEND)]
    if "Conflict" in fs:
        intro += [pick(CONFLICT_FORMS), pick(RECONCILE)]
    middle = []
    if "Foreshadowing" in fs:
        middle.append(pick(FORESHADOWING_FORMS).replace("{h}", pick(FORESHADOWING_HINTS)))
    middle.append(pick(sk.problem))
    if "Dialogue" in fs:
        who, k, q = pick(sk.say_problem)
        middle.append(_speech(pick, "{" + who + "}", k, q))
    middle.append(pick(sk.attempt))
    if "Dialogue" in fs:
        who, k, q = pick(sk.say_help)
        middle.append(_speech(pick, "{" + who + "}", k, q))
    end = []
    if "Twist" in fs:
        reveal, follow = pick(sk.twist_bad if bad else sk.twist_good)
        end += [pick(TWIST_FORMS).replace("{r}", reveal), follow]
    elif bad:
        end.append(pick(sk.bad))
    else:
        end.append(pick(sk.happy))
    end.append(pick(BAD_CLOSERS if bad else HAPPY_CLOSERS))
    if "MoralValue" in fs:
        end.append(pick(MORAL_FORMS).replace("{m}", pick(sk.morals)))

    body = "\n\n".join(" ".join(part) for part in (intro, middle, end)).format(**c)
    summary = pick(sk.summary_bad if bad else sk.summary_happy).format(**c)
    return Story(features=fs, words=(verb, obj, adj), summary=summary, body=body)


def generate_stories(n: int, seed: int, features: Iterable[str] | None = None) -> list[Story]:
    """``n`` stories from ``np.random.default_rng(seed)``; deterministic."""
    rng = np.random.default_rng(seed)
    fs = None if features is None else _check_features(features)
    return [generate_story(rng, fs) for _ in range(n)]


def instruct_prompt(features: Iterable[str], words: Iterable[str], summary: str) -> str:
    """The instruction header a model is prompted with, ending in ``"Story: "``."""
    fs = sorted(_check_features(features))
    head = f"Features: {', '.join(fs)}\n" if fs else ""
    return f"{head}Words: {', '.join(words)}\nSummary: {summary}\nStory: "


def instruct_text(s: Story) -> str:
    """A TinyStories-Instruct style document: header, then ``Story: <body>``."""
    return instruct_prompt(s.features, s.words, s.summary) + s.body


def detect_features(text: str) -> set[str]:
    """Features whose signature phrases occur in the story part of ``text``.

    Only the text after the last ``"Story:"`` is read (without one, header lines are dropped). Exact
    on generator output; on model text it is a phrase heuristic that never raises.
    """
    if not isinstance(text, str):
        return set()
    cut = text.rfind("Story:")
    story = text[cut + len("Story:"):] if cut >= 0 else _HEADER_LINE.sub(" ", text)
    story = _SPACE.sub(" ", story.translate(_QUOTES).lower())
    return {f for f in FEATURES if _SIGNATURE_RES[f].search(story)}


_SPAN_RES = {f: re.compile("|".join(p if p == '"' else rf"\b{p}" for p in SIGNATURES[f]), re.IGNORECASE)
             for f in FEATURES}


def feature_spans(story: str) -> list[tuple[int, int, str]]:
    """``(start, end, feature)`` of every signature phrase in ``story`` (a story's text, no header), in
    order, overlaps dropped: where ``detect_features`` found each feature, to highlight it. Quotes are matched
    as ASCII; the detector also reads curly ones and joins runs of spaces, so on such text it may find a
    feature whose phrase has no span here."""
    found = sorted((m.start(), m.end(), f) for f, r in _SPAN_RES.items() for m in r.finditer(story) if m.end() > m.start())
    out: list[tuple[int, int, str]] = []
    for start, end, f in found:
        if not out or start >= out[-1][1]:
            out.append((start, end, f))
    return out


# ------------------------------------------------------------------------------- the real thing, when reachable
HUB_REPO = "roneneldan/TinyStories"
HUB_FILES = {"train": "TinyStoriesInstruct-train.txt", "valid": "TinyStoriesInstruct-valid.txt"}
_ENTRY_END = "<|endoftext|>"
_FIELD = re.compile(r"^(Features|Words|Summary|Random sentence|Story):\s?(.*)$")


def parse_instruct(text: str) -> list[Story]:
    """The entries of a TinyStories-Instruct text file (``<|endoftext|>``-separated; ``Features:``,
    ``Words:``, ``Summary:``, ``Random sentence:`` and ``Story:`` lines in any order, the story last) as
    ``Story`` objects. Entries without a story or a summary are skipped; features outside ``FEATURES`` and
    the random sentence are dropped (the chapters do not use them)."""
    out = []
    for entry in text.split(_ENTRY_END):
        fields, story_lines, in_story = {}, [], False
        for line in entry.strip().splitlines():
            m = None if in_story else _FIELD.match(line.strip())
            if m and m.group(1) == "Story":
                in_story = True
                story_lines.append(m.group(2))
            elif m:
                fields[m.group(1)] = m.group(2).strip()
            elif in_story:
                story_lines.append(line)
        body = "\n".join(story_lines).strip()
        if not body or not fields.get("Summary"):
            continue
        features = frozenset(f.strip() for f in fields.get("Features", "").split(",") if f.strip() in FEATURES)
        words = tuple(w.strip() for w in fields.get("Words", "").split(",") if w.strip())
        out.append(Story(features=features, words=words, summary=fields["Summary"], body=body))
    return out


def hub_instruct_stories(n_train: int, n_held: int, seed: int = 0) -> tuple[list[Story], list[Story]]:
    """``n_train`` stories of TinyStories-Instruct's training file and ``n_held`` of its validation file
    (each a seeded sample), downloaded from the hub; raises when the hub cannot be reached."""
    from huggingface_hub import hf_hub_download

    picked = []
    for split, n in (("train", n_train), ("valid", n_held)):
        path = hf_hub_download(HUB_REPO, HUB_FILES[split], repo_type="dataset")
        stories = parse_instruct(Path(path).read_text(encoding="utf-8"))
        if len(stories) < n:
            raise ValueError(f"{HUB_FILES[split]} holds {len(stories)} stories; {n} asked for")
        order = np.random.default_rng([seed, len(picked)]).permutation(len(stories))[:n]
        picked.append([stories[i] for i in sorted(order)])
    return picked[0], picked[1]
