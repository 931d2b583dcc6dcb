"""Docker-style random container names (adjective_surname), pure given a random source."""

from __future__ import annotations

import random

LEFT = ("admiring", "agitated", "amazing", "angry", "awesome", "blissful", "bold", "brave", "busy", "charming",
        "clever", "cool", "dazzling", "determined", "eager", "ecstatic", "elastic", "elegant", "epic", "focused",
        "friendly", "frosty", "gallant", "gifted", "goofy", "gracious", "happy", "hopeful", "infallible", "jolly",
        "keen", "kind", "laughing", "loving", "lucid", "magical", "modest", "musing", "nervous", "nice", "nifty",
        "nostalgic", "objective", "optimistic", "peaceful", "pedantic", "pensive", "practical", "quirky", "quizzical",
        "relaxed", "romantic", "serene", "sharp", "silly", "sleepy", "stoic", "strange", "sweet", "tender",
        "thirsty", "trusting", "upbeat", "vibrant", "vigilant", "wizardly", "wonderful", "youthful", "zealous")
RIGHT = ("albattani", "archimedes", "babbage", "bell", "bohr", "borg", "brattain", "cerf", "curie", "darwin",
         "dijkstra", "einstein", "engelbart", "euclid", "fermat", "feynman", "galileo", "gauss", "goldberg",
         "hamilton", "hawking", "heisenberg", "hopper", "hypatia", "jepsen", "kepler", "knuth", "lamport", "liskov",
         "lovelace", "mccarthy", "meitner", "minsky", "morse", "newton", "noether", "pascal", "pike", "ritchie",
         "shannon", "sinoussi", "tesla", "thompson", "torvalds", "turing", "wescoff", "wilson", "wozniak", "yalow")


def generate(taken: set[str], rng: random.Random | None = None) -> str:
    rng = rng or random.Random()
    for attempt in range(100):
        name = f"{rng.choice(LEFT)}_{rng.choice(RIGHT)}"
        if attempt:
            name += str(rng.randint(1, 99))
        if name not in taken:
            return name
    raise RuntimeError("could not find a free container name")
