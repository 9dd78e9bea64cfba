"""Bench: the time typo tolerance adds to a question with a word no chunk holds.

    .venv/bin/python bench/kb_typo.py [--lexemes 50000]

`chatbot.knowledge.spelling.corrections` against a vocabulary of LEXEMES made-up lexemes
(English-like first letters: the buckets it compares within are as uneven as a real
vocabulary's), for misspellings of its own words, each word's first call (nothing
remembered) and its second (remembered); next to the same search over the whole vocabulary,
which the first-letter and length buckets avoid. No database: the statistics are built in
memory.
"""

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Rough share of English words by first letter (a dictionary's, in per cent).
FIRST_LETTERS = {
    "s": 11, "c": 9, "p": 8, "d": 6, "m": 6, "a": 6, "b": 6, "r": 6, "t": 5, "f": 4,
    "e": 4, "i": 4, "h": 4, "g": 3, "l": 3, "u": 3, "w": 3, "o": 3, "n": 2, "v": 2,
    "k": 1, "j": 1, "q": 1, "y": 1, "z": 1, "x": 1,
}  # fmt: skip


def made_up_vocabulary(size: int, rng: random.Random) -> dict[str, int]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    firsts = rng.choices(list(FIRST_LETTERS), weights=list(FIRST_LETTERS.values()), k=size)
    words = {}
    for first in firsts:
        word = first + "".join(rng.choices(letters, k=rng.randint(3, 11)))
        words[word] = rng.randint(1, 50)
    return words


def misspelled(word: str, rng: random.Random) -> str:
    at = rng.randrange(1, len(word))
    return word[:at] + word[at + 1 :]  # a letter dropped, never the first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lexemes", type=int, default=50_000)
    parser.add_argument("--words", type=int, default=300)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings.base")
    os.environ.setdefault("DJANGO_READ_DOT_ENV", "false")
    import django

    django.setup()
    from rapidfuzz import process
    from rapidfuzz.distance import OSA

    from chatbot.knowledge import spelling
    from chatbot.knowledge.ranking import VectorStats

    rng = random.Random(7)
    frequency = made_up_vocabulary(args.lexemes, rng)
    stats = VectorStats(documents=len(frequency), document_frequency=frequency)
    typos = [misspelled(word, rng) for word in rng.sample(sorted(frequency), args.words)]
    typos = [typo for typo in typos if typo not in frequency]
    spelling.corrections({"warmup": ("warmup",)}, stats)  # the buckets made once

    def timed(words: list[str]) -> tuple[list[float], int]:
        times, found = [], 0
        for word in words:
            started = time.perf_counter()
            found += len(spelling.corrections({word: (word,)}, stats))
            times.append((time.perf_counter() - started) * 1000)
        return times, found

    first, found = timed(typos)
    again, _ = timed(typos)
    whole = list(frequency)
    flat = []
    for word in typos[:50]:
        started = time.perf_counter()
        process.extractOne(word, whole, scorer=OSA.distance, score_cutoff=1)
        flat.append((time.perf_counter() - started) * 1000)
    print(f"{len(frequency)} lexemes, {len(typos)} misspelled words, {found} corrected")
    print(
        f"first call: median {statistics.median(first):.3f} ms, max {max(first):.3f} ms;"
        f" remembered: median {statistics.median(again):.4f} ms;"
        f" the whole vocabulary instead: median {statistics.median(flat):.2f} ms"
    )


if __name__ == "__main__":
    main()
