"""Theme names a stakeholder reads: the most representative short phrase of the theme's own sentences.

Candidates are the word n-grams (1-4 words) of the theme's sentences that neither start nor end with
a stop word (a particle may end one: "fee went up"; a verb that needs what follows may not: "order
took"), that cross no comma or other clause punctuation ("to arrive, way longer"), and occur in at
least `MIN_SHARE` of them. Each is scored by how much more often the theme's sentences use it than
the other sentences do (class-based TF-IDF over phrases, with a preference for two and three words:
"late delivery" reads better than "delivery", and better than "delivery late week"). When an encoder
is given, the best candidates are re-ranked by maximal marginal relevance against the theme's
centroid (KeyBERT's MMR), so the name is the phrase closest in meaning to the whole theme rather
than its most frequent words. The chosen phrase is written as a person would: first letter
capitalised ("App crashes", "Refund delays"). A name says what happened: a single word that is a
filler verb, greeting or vague noun ("Know", "Help", "Thanks", "Time") is never one, and no two
themes share a name up to case and plural ("Ticket" / "Tickets": `name_key`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from refine.text.themes.topics import _EXTRA_STOP, clean_text

MIN_SHARE = 0.03  # a candidate phrase occurs in at least this share of the theme's sentences
MIN_COUNT = 2
MAX_WORDS = 4
RERANK = 12  # candidates re-ranked by embedding similarity
LENGTH_BONUS = {1: 0.7, 2: 1.0, 3: 1.0, 4: 0.8}
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[,;:()!?\u2013\u2014]|\.(?!\d)|\s-\s")
BREAK = "|"  # a clause boundary in a token list: no phrase crosses it ("to arrive, way longer")
# a phrase may end on these stop words when the word before it is not one: "fee went up", "signed
# up", "sold out" (without them: "Membership fee went")
PARTICLES = frozenset({"up", "down", "out", "off"})
# verb forms that need what follows them: a phrase ending on one says half of it ("Order took",
# "Delivery window kept"), so none does. Forms that are often nouns in feedback ("feel", "look",
# "need", "make") are not here: "soft feel" is a name.
OPEN_VERBS = frozenset(
    "took takes taking went goes going kept keeps keeping came comes got gets getting gave gives tried tries "
    "seems seemed felt feels looked wanted wants needed started starts lets asked told said says".split()
)


# one word that says nothing about what happened: never a name on its own ("Know", "Help")
FILLER = frozenset(
    "know think want need help please thanks thank hi hello hey guys lol today yesterday tomorrow time day "
    "way thing things people someone anyone everyone anything something ok okay yes yeah sure really".split()
)


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ses", "xes", "ches", "shes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def name_key(name: str) -> str:
    """A name up to case and plural: "Tickets" and "ticket" -> "ticket"; "Top ups" and "Top up" -> "top up"
    (a three-letter plural counts here, where only sameness matters, not in the stems)."""
    return " ".join(_key_word(w) for w in re.findall(r"[a-z0-9]+", name.lower()))


def _key_word(word: str) -> str:
    if len(word) == 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return _singular(word)


def _stop_words() -> frozenset[str]:
    extra = {"really", "just", "got", "get", "like", "also", "would", "could", "one", "even", "still", "us"}
    # sklearn's list holds words that name what happened in feedback ("top up", "bill", "call back")
    content = {"top", "bill", "call", "back", "full", "empty", "find", "found", "interest", "system", "move", "fire"}
    return frozenset((ENGLISH_STOP_WORDS | _EXTRA_STOP | extra) - content)


def tokens(text: str) -> list[str]:
    """Lower-case words, with BREAK where punctuation ends a clause."""
    found = _TOKEN.findall(clean_text(text).lower().replace("’", "'"))
    return [t if t[0].isalnum() else BREAK for t in found]


def phrases(words: list[str], stop: frozenset[str], max_words: int = MAX_WORDS) -> set[str]:
    """The n-grams of one sentence that start and end on a content word (each counted once per sentence)."""
    out = set()
    for i, w in enumerate(words):
        if w in stop or w.isdigit() or len(w) < 2:
            continue
        for n in range(1, max_words + 1):
            j = i + n - 1
            if j >= len(words) or words[j] == BREAK:
                break
            last = words[j]
            particle = last in PARTICLES and n > 1 and words[j - 1] not in stop
            if (last in stop and not particle) or last in OPEN_VERBS or last.isdigit() or len(last) < 2:
                continue
            gram = words[i : j + 1]
            if len(set(gram)) < len(gram):
                continue
            out.add(" ".join(gram))
    return out


def phrase_counts(texts: Sequence[str], stop: frozenset[str] | None = None) -> list[set[str]]:
    stop = stop if stop is not None else _stop_words()
    return [phrases(tokens(t), stop) for t in texts]


def candidate_scores(
    member_phrases: Sequence[set[str]],
    all_counts: Counter[str],
    n_all: int,
    prefer_short: bool = False,
    min_share: float = MIN_SHARE,
) -> list[tuple[str, float]]:
    """Candidate phrases of one theme with their distinctiveness score, best first (ties alphabetical);
    `min_share` 0: any phrase said at least MIN_COUNT times (a child's fallback: `fallback_name`)."""
    counts: Counter[str] = Counter()
    for p in member_phrases:
        counts.update(p)
    n = max(len(member_phrases), 1)
    floor = max(MIN_COUNT, min_share * n)
    frequent = {p: c for p, c in counts.items() if c >= floor}
    # a phrase always said inside a longer one ("keeps crashing" in "app keeps crashing") is that longer one
    absorbed = {
        p
        for p in frequent
        for q in frequent
        if len(q) > len(p) and f" {p} " in f" {q} " and frequent[q] >= 0.8 * frequent[p] and len(q.split()) <= 3
    }
    scored = []
    for phrase, c in frequent.items():
        if phrase in absorbed or phrase in FILLER:
            continue
        share_in = c / n
        share_all = all_counts.get(phrase, c) / max(n_all, 1)
        lift = np.log1p(share_in / max(share_all, 1e-9))
        words = len(phrase.split())
        bonus = LENGTH_BONUS.get(words, 0.6)
        if prefer_short:
            bonus = {1: 1.0, 2: 0.9}.get(words, 0.5)
        scored.append((phrase, float(np.sqrt(share_in) * lift * bonus)))
    scored.sort(key=lambda x: (-x[1], x[0]))
    # a phrase inside a better-scored longer one adds nothing ("delivery" under "late delivery") unless
    # it is much more common than it
    kept: list[tuple[str, float]] = []
    for phrase, score in scored:
        if any(f" {phrase} " in f" {k} " and counts[phrase] < 1.5 * counts[k] for k, _ in kept):
            continue
        kept.append((phrase, score))
    return kept


def choose_name(
    candidates: list[tuple[str, float]],
    centroid: np.ndarray | None = None,
    encode: Callable[[list[str]], np.ndarray] | None = None,
    taken: set[str] | None = None,
) -> str:
    """The best candidate (re-ranked by similarity to the centroid when an encoder is given) whose
    `name_key` is not in `taken`."""
    taken = taken or set()
    pool = [(p, s) for p, s in candidates if name_key(p) not in taken][:RERANK]
    if not pool:
        return ""
    best = pool[0][0]
    if encode is not None and centroid is not None and len(pool) > 1:
        vectors = np.asarray(encode([p for p, _ in pool]), dtype=np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
        relevance = vectors @ (centroid / max(float(np.linalg.norm(centroid)), 1e-9))
        stat = np.array([s for _, s in pool])
        stat = stat / max(float(stat.max()), 1e-9)
        combined = relevance + 0.5 * stat
        best = pool[int(np.argmax(combined))][0]
    return best


def fallback_name(member_phrases: Sequence[set[str]], all_counts: Counter[str], n_all: int, taken: set[str]) -> str:
    """A child's phrase when no candidate clears `MIN_SHARE`: the most distinctive phrase said at least
    MIN_COUNT times, else its most common phrase that is not one filler word alone, else its most common
    (two words before one); "" when its sentences hold no phrase (they name only entities)."""
    best = [p for p, _ in candidate_scores(member_phrases, all_counts, n_all, min_share=0.0)]
    counts: Counter[str] = Counter(q for p in member_phrases for q in p)
    common = sorted(counts, key=lambda q: (q in FILLER, -counts[q], -len(q.split()), q))
    return next((p for p in best + common if name_key(p) not in taken), "")


def readable(phrase: str) -> str:
    """First letter capitalised: "app crashes" -> "App crashes"."""
    return phrase[:1].upper() + phrase[1:] if phrase else phrase


def mmr(vectors: np.ndarray, centroid: np.ndarray, k: int, diversity: float = 0.5) -> list[int]:
    """Maximal marginal relevance: k rows close to the centroid and unlike each other (indices, best first)."""
    if len(vectors) == 0 or k <= 0:
        return []
    relevance = vectors @ centroid
    chosen = [int(np.argmax(relevance))]
    while len(chosen) < min(k, len(vectors)):
        redundancy = (vectors @ vectors[chosen].T).max(axis=1)
        score = (1 - diversity) * relevance - diversity * redundancy
        score[chosen] = -np.inf
        chosen.append(int(np.argmax(score)))
    return chosen


# --- parent names -------------------------------------------------------------------------------------
# A parent is named for what its children share, read first in their names: a word or two-word phrase
# that two or more children's names say (light stemming: "size" / "sizing", "prices" / "pricey"),
# weighted by those children's sizes; a word merely frequent in their texts ("days" under the demo's
# delivery themes, "pair" under its sizing ones) comes only after the names. Every candidate, from
# the names or the texts, must be at least PARENT_LIFT times as frequent in the parent's own sentences
# as in all the other sentences (the other parents and the unthemed), and the parent must hold at
# least PARENT_OWN of all the sentences that say it (c-TF-IDF's idea: distinctive against the other
# parents, not merely frequent in this one: "good", in two of the demo's service children's names, is
# said in every parent). No stop list of units or times: these two shares decide.
PARENT_LIFT = 2.0
PARENT_OWN = 0.5
_SUFFIXES = ("ing", "ed", "er", "ey", "y", "e")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light stem: plural off, then one of -ing / -ed / -er / -ey / -y / -e ("sizing", "size" -> "siz";
    "prices", "pricey" -> "pric"; "voter", "vote" -> "vot"; "delivery", "delivered" -> "deliver")."""
    word = _singular(word)
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def stem_phrase(phrase: str) -> str:
    return " ".join(stem(w) for w in phrase.split())


class ParentTerms:
    """Stemmed phrases of every sentence, counted, to weigh a parent's candidate names against the rest."""

    def __init__(self, sentence_phrases: Sequence[set[str]]) -> None:
        self.stems = [{stem_phrase(p) for p in s if len(p.split()) <= 2} for s in sentence_phrases]
        self.counts: Counter[str] = Counter()
        for s in self.stems:
            self.counts.update(s)
        self.n = len(self.stems)
        forms: Counter[tuple[str, str]] = Counter(
            (stem_phrase(p), p) for s in sentence_phrases for p in s if len(p.split()) <= 2
        )
        self.surface: dict[str, str] = {}  # a stem's most said form
        for (key, form), _ in sorted(forms.items(), key=lambda x: (-x[1], x[0])):
            self.surface.setdefault(key, form)

    def lift(self, phrase: str, members: np.ndarray, inside: int | None = None) -> float:
        """How many times more often the parent's sentences `members` say `phrase` (stemmed) than the
        others do (`inside`: how many of them say it, when known); 0 where the parent holds less than
        PARENT_OWN of the sentences that say it."""
        key = stem_phrase(phrase)
        if inside is None:
            inside = sum(key in self.stems[i] for i in members)
        outside = self.counts.get(key, 0) - inside
        if inside == 0 or inside < PARENT_OWN * (inside + outside):
            return 0.0
        share_in = inside / max(len(members), 1)
        share_out = outside / max(self.n - len(members), 1)
        return share_in / share_out if share_out > 0 else np.inf

    def name_terms(
        self, names: Sequence[str], sizes: Sequence[int], members: np.ndarray, stop: frozenset[str] | None = None
    ) -> list[tuple[str, float]]:
        """Words and two-word phrases that at least two of the children's `names` say (stemmed), each
        at least PARENT_LIFT times as frequent in the parent's sentences as elsewhere; scored by the
        share of the parent's size in the children that say it, best first. The surface form is the
        one the largest of those children use."""
        stop = stop if stop is not None else _stop_words()
        weight: Counter[str] = Counter()
        said: Counter[str] = Counter()
        surface: dict[str, tuple[int, str]] = {}
        for name, size in zip(names, sizes, strict=True):
            for p in phrases(tokens(name), stop, max_words=2):
                if p in FILLER:
                    continue
                key = stem_phrase(p)
                weight[key] += size
                said[key] += 1
                surface[key] = max(surface.get(key, (-1, p)), (size, p))
        total = max(sum(sizes), 1)
        inside = self.said_in(members)
        out = []
        for key, n in said.items():
            phrase = surface[key][1]
            lift = self.lift(phrase, members, inside[stem_phrase(phrase)])
            if n >= 2 and lift >= PARENT_LIFT:
                bonus = LENGTH_BONUS.get(len(key.split()), 0.6)
                out.append((phrase, weight[key] / total * bonus * float(np.log1p(min(lift, 100.0)))))
        return sorted(out, key=lambda x: (-x[1], x[0]))

    def text_terms(self, children: Sequence[np.ndarray], sizes: Sequence[int]) -> list[tuple[str, float]]:
        """Words and two-word phrases of the texts that two or more children say (each at least
        MIN_COUNT times), distinctive as in `name_terms`, scored by the size share of the children
        that say them, best first."""
        members = np.concatenate(list(children)) if len(children) else np.zeros(0, int)
        weight: Counter[str] = Counter()
        said: Counter[str] = Counter()
        inside: Counter[str] = Counter()
        for rows, size in zip(children, sizes, strict=True):
            counted = Counter(k for i in rows for k in self.stems[i])
            inside.update(counted)
            for key, c in counted.items():
                if c >= MIN_COUNT and self.surface.get(key, "") not in FILLER:
                    weight[key] += size
                    said[key] += 1
        total = max(sum(sizes), 1)
        out = []
        for key, n in said.items():
            lift = self.lift(self.surface[key], members, inside[key]) if n >= 2 else 0.0
            if lift >= PARENT_LIFT:
                bonus = LENGTH_BONUS.get(len(key.split()), 0.6)
                out.append((self.surface[key], weight[key] / total * bonus * float(np.log1p(min(lift, 100.0)))))
        return sorted(out, key=lambda x: (-x[1], x[0]))

    def distinct(self, candidates: list[tuple[str, float]], members: np.ndarray) -> list[tuple[str, float]]:
        """`candidates` that the parent's sentences say at least PARENT_LIFT times as often as the others."""
        inside = self.said_in(members)
        return [(p, s) for p, s in candidates if self.lift(p, members, inside[stem_phrase(p)]) >= PARENT_LIFT]

    def said_in(self, members: np.ndarray) -> Counter[str]:
        """How many of the sentences `members` say each stemmed phrase: counted once, not once per phrase
        asked about (at 220k sentences the per-phrase count was a tenth of the topics stage; issue 32)."""
        return Counter(k for i in members for k in self.stems[i])


def _within(term: str, other: str) -> bool:
    """Every word of `term` (stemmed) is in `other`: "top" within "top up"."""
    return set(stem_phrase(term).split()) <= set(stem_phrase(other).split())


def parent_name(
    terms: ParentTerms,
    names: Sequence[str],
    sizes: Sequence[int],
    children: Sequence[np.ndarray],
    pools: Sequence[list[tuple[str, float]]],
    choose: Callable[[list[tuple[str, float]]], str],
    taken: set[str],
) -> str:
    """The phrase a parent of the children `names` (sizes `sizes`, sentence rows `children`) is named
    for, or "": a word or phrase two or more children's names share (`ParentTerms.name_terms`); where
    a child already has that name, the two most shared together ("Delivery / parcel") or the best of
    the parent's text phrases built on it; else the first distinctive phrase of `pools` (phrases of
    the parent's texts, e.g. those half its children say, then the whole parent's), with the phrases
    two or more children's texts say (`ParentTerms.text_terms`) tried before the last pool; else the
    whole parent's best phrase. `choose` picks among candidates (and skips names in `taken`)."""
    members = np.concatenate(list(children)) if len(children) else np.zeros(0, int)
    whole = pools[-1] if pools else []
    shared = terms.name_terms(names, sizes, members)
    # a term inside a better one ("top" after "top up") says less than it: not a name, nor a second half
    inside = {i for i, (t, _) in enumerate(shared) for u, _ in shared[:i] if _within(t, u)}
    shared = [x for i, x in enumerate(shared) if i not in inside]
    for i, (term, _) in enumerate(shared):
        if name_key(term) not in taken:
            return term
        # a child is named just that: the two most shared terms together ("Delivery / parcel"), else
        # a phrase of the parent's texts built on it
        joined = [f"{term} / {other}" for other, _ in shared[i + 1 : i + 2]]
        if joined and name_key(joined[0]) not in taken:
            return joined[0]
        key = f" {stem_phrase(term)} "
        built = [(p, s) for p, s in whole if key in f" {stem_phrase(p)} "]
        phrase = choose(terms.distinct(built, members))
        if phrase:
            return phrase
    for pool in [*pools[:-1], terms.text_terms(children, sizes), *pools[-1:]]:
        phrase = choose(terms.distinct(pool, members))
        if phrase:
            return phrase
    return choose(whole)  # nothing distinctive: the parent's own best phrase, whatever it is
