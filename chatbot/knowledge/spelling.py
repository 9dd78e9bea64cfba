"""Typo tolerance: a question's word that no chunk holds, read as the knowledge base's
nearest word.

Customers misspell ("cancle my order", "not recieved", "froud app"); full text then finds
nothing for that word, often the one that mattered. A word qualifies when it is letters
only, at least KNOWLEDGE_TYPO_MIN_LENGTH long, and none of its lexemes is in the knowledge
base's statistics (chatbot.knowledge.ranking.corpus_stats, already read for the ranking). Its
lexemes are then matched against the lexemes the knowledge base does hold, by optimal string
alignment distance (an edit is an insertion, a deletion, a substitution, or two neighbouring
letters swapped): at most one edit, two for words of KNOWLEDGE_TYPO_TWO_EDITS_LENGTH letters
or more, and the first letter as typed (people rarely mistype it; it keeps the comparison to
the few lexemes of that letter and a near length: about 0.1 ms a word at 50,000 lexemes
where the whole vocabulary took 5). Of equally near lexemes the most common wins. The
nearest lexeme is added to the question's (the word itself stays: a new product name is not
a typo of an old one).

The vocabulary is the whole knowledge base's, not one widget key's: a correction can only
add a word to the search, which stays scoped in its query (chatbot.knowledge.scope), so no
other key's article can be found through it. Corrections are remembered per process for the
statistics they were made with.
"""

from dataclasses import dataclass, field

from django.conf import settings
from rapidfuzz import process
from rapidfuzz.distance import OSA

from .ranking import VectorStats

MEMO_SIZE = 50_000  # lexemes remembered per process (their nearest lexeme, or none)


@dataclass
class _Vocabulary:
    stats: VectorStats | None = None
    # (first letter, length) → lexemes, most common first (of equally near ones, the first wins)
    buckets: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    nearest: dict[str, tuple[str, int] | None] = field(default_factory=dict)

    def nearest_to(self, lexeme: str, edits: int) -> tuple[str, int] | None:
        """The nearest lexeme within `edits` and its distance, or None (remembered)."""
        key = f"{edits}:{lexeme}"
        try:
            return self.nearest[key]
        except KeyError:
            pass
        candidates: list[str] = []
        for length in range(len(lexeme) - edits, len(lexeme) + edits + 1):
            candidates += self.buckets.get((lexeme[0], length), ())
        best = process.extractOne(lexeme, candidates, scorer=OSA.distance, score_cutoff=edits)
        found = (best[0], int(best[1])) if best else None
        if len(self.nearest) >= MEMO_SIZE:  # threads share it: never read back after this
            self.nearest.clear()
        self.nearest[key] = found
        return found


_current = _Vocabulary()


def _vocabulary_for(stats: VectorStats) -> _Vocabulary:
    """The statistics' letter-only lexemes by first letter and length; made again when the
    statistics are new (the knowledge base changed)."""
    global _current
    vocabulary = _current
    if vocabulary.stats is not stats:
        frequency = stats.document_frequency
        buckets: dict[tuple[str, int], list[str]] = {}
        for lexeme in sorted((x for x in frequency if x.isalpha()), key=lambda x: -frequency[x]):
            buckets.setdefault((lexeme[0], len(lexeme)), []).append(lexeme)
        vocabulary = _current = _Vocabulary(stats, buckets)
    return vocabulary


def corrections(words: dict[str, tuple[str, ...]], stats: VectorStats) -> list[str]:
    """Lexemes to add for the misspelled words among `words` (word → its lexemes). A word's
    lexemes are compared, not the word: an English article stores stems ("deliv" for
    "delivered"), which "dilivered" stems to "diliv", one edit away."""
    if not stats.documents or not settings.KNOWLEDGE_TYPO_TOLERANCE:
        return []
    known = stats.document_frequency
    misspelled = [
        (word, lexemes)
        for word, lexemes in words.items()
        if word.isalpha()
        and len(word) >= settings.KNOWLEDGE_TYPO_MIN_LENGTH
        and lexemes
        and not any(lexeme in known for lexeme in lexemes)
    ]
    if not misspelled:
        return []
    vocabulary = _vocabulary_for(stats)
    found = []
    for word, lexemes in misspelled:
        edits = 2 if len(word) >= settings.KNOWLEDGE_TYPO_TWO_EDITS_LENGTH else 1
        nearest = [vocabulary.nearest_to(lexeme, edits) for lexeme in dict.fromkeys(lexemes)]
        near = [pair for pair in nearest if pair is not None]
        if near:
            found.append(min(near, key=lambda pair: pair[1])[0])
    return list(dict.fromkeys(found))
