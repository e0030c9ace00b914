"""fit_themes: sentence-level themes in two levels, named from the texts, optionally against a user's codeframe.

1. Markup and entity-like tokens (handles, hashtags, URLs, and words the month's texts write as proper
   names: brands, places, airport codes, people) are masked and the sentences that change are embedded again for clustering, so
   themes form around what happened, not around who or where (refine.text.themes.entities).
2. With a codeframe, each sentence is assigned to the codeframe theme it fits (zero-shot, calibrated:
   refine.text.themes.codeframe); what fits nowhere goes on to discovery.
3. Discovery clusters the remaining sentences with refine.text.themes.topics (reducer + HDBSCAN + outlier
   reassignment); with a codeframe its themes are flagged as candidates. What it leaves out of the
   masked sentences is clustered once more by the text as written (entities form a theme only where
   their sentences share no issue).
   No discovered child holds more than MAX_CHILD_SHARE of the themed comments: a larger one is split
   in two, along its seam or into its core and fringe; a part that says no phrase a name can be is
   folded into the themes its sentences lie nearest (`_cap_children`).
4. A comment's themes are its sentences' themes; its primary theme (the `topic_id` column) is the
   one among them closest to the whole comment; a comment none of whose sentences has a theme gets
   the theme nearest to the whole comment, as written or masked, when it is close enough
   (`outlier_similarity`). A sentence is long enough to join a theme on its own as written when
   masking leaves a phrase in it (`_eligible`).
5. Parents group child themes: the codeframe's parents, and for discovered themes clusters of the
   child centroids (average cosine >= `PARENT_SIMILARITY`, Ward clusters when that makes too many
   or too few parents: `_group_children`).
6. Names: the most representative phrase of the theme's masked sentences (refine.text.themes.naming),
   unique up to case and plural, never "Other" while the sentences say something nor a word the texts
   write as a name (`_Namer.fallback`, `entities.name_words`); a parent's, what its children share
   (`naming.parent_name`); quotes: the
   theme's own sentences closest to its centroid, so a quote is about the theme.
7. Ids stay stable across cycles: codeframe themes by their id, name or `merges`; discovered themes
   and parents by Hungarian matching of centroids to last cycle's (`match_similarity`); a matched
   theme or parent keeps last cycle's name.
"""

from __future__ import annotations

import dataclasses
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans

from refine.errors import RefineError
from refine.io.config import TopicSettings
from refine.text.themes import naming
from refine.text.themes.codeframe import Codeframe, assign, build_prototypes
from refine.text.themes.entities import (
    entity_kind_name,
    entity_words,
    facet_counts,
    facet_forms,
    mask_entities,
    mask_phrase,
    name_words,
    phrase_pattern,
    strip_markup,
)
from refine.text.themes.model import NO_THEME, ParentTheme, PreviousThemes, Theme, ThemeResult
from refine.text.themes.topics import _quotes, fit_topics

PARENT_SIMILARITY = 0.55  # child centroids at least this close (average linkage) share a parent
MIN_SENTENCE_CHARS = 12  # shorter fragments ("Thanks!") join no theme on their own
MIN_DISCOVER = 20  # fewer unassigned sentences than this: no discovered themes
MIN_CHILDREN_TO_SPLIT = 6  # from this many discovered children, at least two parents
PARENT_MATCH = 0.7  # parent centroid cosine needed to keep last cycle's parent id
MAX_CHILD_SHARE = 0.15  # no discovered child theme holds more of the themed comments than this
# how an over-cap child is split (`_split_child`): in two by k-means where its sentences are bimodal along the
# line between the parts (5/9: the textbook cut of the bimodality coefficient; a uniform spread scores 5/9, a
# normal one 1/3), else into its core, this share of what the cap allows, and its fringe
BIMODAL = 5 / 9
CORE_SHARE = 0.9
# products, places and names as themes ("Frying pan"): see `_entity_themes`
ENTITY_PHRASES = 5
VERB_ENDINGS = ("ed", "ing", "ly")  # a phrase ending so says what happened or how (an English suffix, no list)
ENTITY_COVER = 0.15
ENTITY_RARE = 0.03  # a thing is one among many: said in at most this share of all the sentences
ENTITY_MOVE = 0.75
ENTITY_SCATTER = 5.5
ENTITY_FIT = 0.85
ENTITY_DISSOLVE = 0.5
ENTITY_LOOSE = 0.35  # ... and only a child this loose with its things masked (mean pairwise cosine)
ENTITY_KIND = 3  # ... then, once a thing is found, this many times as many phrases, tried as things of its kind
ENTITY_SAMPLE = 32  # sentences embedded again to test a phrase (all of them once it is an entity)
ONE_WORD_SHARE = 1 / 3  # a one-word name is said in at least this share of its theme's sentences
FACETS = 5  # the entities a theme's sentences mention most, listed with it

Encode = Callable[[list[str]], np.ndarray]


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    norms[norms == 0] = 1.0
    return (x / norms).astype(np.float32, copy=False)  # the quotient is float32 already: not copied


def _hungarian(a: np.ndarray, b: np.ndarray, threshold: float) -> dict[int, int]:
    """Rows of a matched to rows of b by cosine (Hungarian), kept where the cosine is >= threshold."""
    if not len(a) or not len(b) or a.shape[1] != b.shape[1]:
        return {}
    sims = _unit(a) @ _unit(b).T
    rows, cols = linear_sum_assignment(-sims)
    return {int(r): int(c) for r, c in zip(rows, cols) if sims[r, c] >= threshold}


def _group_children(centroids: np.ndarray, threshold: float) -> np.ndarray:
    """Groups of unit child centroids: a group id per child.

    How many: the groups whose children are, on average, at least `threshold` alike (average
    linkage on cosine), but at most about sqrt(k) (a reader opens a few parents, not dozens) and at
    least two once there are MIN_CHILDREN_TO_SPLIT children. Which: that many Ward clusters. Cutting
    the average-linkage tree at a count instead gave one parent holding 30 of the demo's 40 themes
    (delivery, app, rewards and products alike) beside five small ones; Ward's groups are the
    demo's subjects (sizing; products; rewards; delivery, returns and support; app; the rest).
    """
    k = len(centroids)
    if k <= 1:
        return np.zeros(k, dtype=int)
    dist = np.clip(1.0 - centroids @ centroids.T, 0.0, 2.0)
    condensed = dist[np.triu_indices(k, 1)]
    alike = fcluster(linkage(condensed, method="average"), t=1.0 - threshold, criterion="distance")
    most = max(2, int(round(np.sqrt(k))))
    least = 2 if k >= MIN_CHILDREN_TO_SPLIT else 1
    found = len(np.unique(alike))
    count = int(min(max(found, least), most))
    if count == found:
        return alike.astype(int) - 1
    tree = linkage(np.asarray(centroids, dtype=np.float64), method="ward")
    return fcluster(tree, t=count, criterion="maxclust").astype(int) - 1


def fit_themes(
    sentences,
    doc_embeddings: np.ndarray,
    doc_texts: Sequence[str],
    settings: TopicSettings,
    *,
    encode: Callable[[list[str]], np.ndarray] | None = None,
    codeframe: Codeframe | None = None,
    previous: PreviousThemes | None = None,
    seed: int = 0,
    mask: bool = True,
    show_progress: bool = False,
) -> ThemeResult:
    """Themes per sentence, per comment and in two levels.

    Args:
        sentences: a SentenceTable: `frame` (feedback_row, sentence_index, text[, sentiment_score]) and
            `embeddings` (unit vectors aligned with frame).
        doc_embeddings: (n_comments, d) the comments' embeddings.
        doc_texts: the comments' (redacted) texts.
        settings: the [topics] section (clustering, quotes, keywords, matching).
        encode: the embedder's encode; needed for entity masking, codeframes and phrase re-ranking.
        codeframe: the user's codeframe, or None to discover every theme.
        previous: last cycle's themes (`ThemeResult.previous_from_json`) to keep ids stable.
        seed: for the reducer where it is random.
        mask: mask entity-like tokens before clustering (needs `encode`).
        show_progress: print the steps to stderr.

    Returns:
        ThemeResult.
    """

    def step(msg: str) -> None:
        if show_progress:
            print(f"  themes: {msg}", file=sys.stderr, flush=True)

    frame = sentences.frame
    texts = [("" if t is None else str(t)) for t in frame["text"].tolist()]
    vectors = _unit(np.asarray(sentences.embeddings, dtype=np.float32).reshape(len(texts), -1))
    method: dict[str, Any] = {
        "n_docs": len(doc_texts),
        "n_sentences": len(texts),
        "codeframe": codeframe.source if codeframe is not None else None,
        "match_similarity": settings.match_similarity,
        "outlier_similarity": settings.outlier_similarity,
        "seed": seed,
    }
    masked, written, masking, entities = _mask(texts, vectors, doc_texts, encode if mask else None, step)  # 1.
    method.update(masking)
    sent = _Sentences.of(frame, texts, masked, vectors)
    placed = _Placed(local=np.full(len(texts), NO_THEME, dtype=int), similarity=np.zeros(len(texts), np.float32))
    if codeframe is not None:  # 2.
        method.update(_place_in_codeframe(sent, placed, codeframe, encode, seed, step))
    method.update(_discover(sent, placed, settings, seed, show_progress, step))  # 3.
    if written is not None:  # 3a. what shares no issue may share its entities (in groups as large)
        size = (method.get("discovery") or {}).get("min_cluster_size") or settings.min_cluster_size
        again = dataclasses.replace(settings, min_cluster_size=settings.min_cluster_size or size)
        method.update(_discover(sent, placed, again, seed, show_progress, step, written=written))
    namer = _Namer.of(sent, encode)
    facets = _entity_themes(sent, placed, namer, encode if mask else None, step)  # 3b.
    method.update({"entity_themes": facets} if facets else {})
    docs = _unit(np.asarray(doc_embeddings, dtype=np.float32))
    masked_docs = _masked_comments(sent, docs)
    method.update(_cap_children(sent, placed, (docs, masked_docs), doc_texts, settings, seed, namer))
    empty = np.zeros((0, vectors.shape[1]), np.float32)
    centroids = np.stack([_unit(c["centroid"]) for c in placed.children]) if placed.children else empty
    comments = _per_comment(sent.rows, placed.local, (docs, masked_docs), centroids, doc_texts, settings)  # 4.
    groups = _parents(placed.children, centroids)  # 5.
    method["parent_similarity"] = PARENT_SIMILARITY
    step("names, keywords and quotes")  # 6.
    kids = _describe(sent, placed, centroids, namer, settings)
    forms = facet_forms(sent.texts, facets + entities)  # one written form per facet over the month
    kids.facets = [
        facet_counts([sent.texts[i] for i in m], facets + entities, FACETS, forms=forms) for m in kids.members
    ]
    themes, fading, merged = _child_themes(kids, comments, sent, previous, settings, codeframe is not None)  # 7.
    namer.taken.update(naming.name_key(t.label) for t in themes)
    parents = _parent_themes(kids, groups, themes, comments, sent, namer, settings.quotes)
    _parent_ids(parents, previous)
    groups.link(themes, parents)
    # map local indices to ids
    lookup = np.array([t.id for t in themes] + [NO_THEME], dtype=int)
    k = len(themes)
    result = ThemeResult(
        themes=sorted(themes, key=lambda t: (-t.size, -t.mentions, t.id)),
        parents=sorted(parents, key=lambda p: (-p.size, p.id)),
        fading=fading,
        sentence_theme=lookup[np.where(placed.local >= 0, placed.local, k)].astype(int),
        sentence_similarity=placed.similarity,
        comment_themes=[[int(lookup[c]) for c in s] for s in comments.sets],
        primary=lookup[np.where(comments.primary >= 0, comments.primary, k)].astype(int),
        method=method,
    )
    method.update(_summary(result, merged))
    return result


@dataclass
class _Sentences:
    """The sentences as the steps read them."""

    texts: list[str]
    masked: list[str]  # entity-like tokens masked (step 1): what clustering and naming read
    rows: np.ndarray  # the comment each sentence is from
    vectors: np.ndarray  # unit vectors for clustering (of the masked text where it changed)
    eligible: np.ndarray  # long enough to join a theme on its own
    sentiment: np.ndarray | None  # sentiment per sentence, if the table carries it

    @classmethod
    def of(cls, frame: pd.DataFrame, texts: list[str], masked: list[str], vectors: np.ndarray) -> _Sentences:
        """The sentences of `frame` with their texts, masked texts and clustering vectors."""
        return cls(
            texts=texts,
            masked=masked,
            rows=frame["feedback_row"].to_numpy().astype(int),
            vectors=vectors,
            eligible=_eligible(texts, masked),
            sentiment=frame["sentiment_score"].to_numpy(dtype=float) if "sentiment_score" in frame.columns else None,
        )


def _eligible(texts: list[str], masked: list[str]) -> np.ndarray:
    """A sentence joins a theme on its own when it is at least MIN_SENTENCE_CHARS long: its masked text,
    or its text as written (markup aside; handles, hashtags, URLs and names counted) when masking left
    a phrase to name it by ("@united 3 hrs on hold" does; "@united #fail" and a bare link do not)."""
    stop = naming._stop_words()
    return np.array(
        [
            len(m) >= MIN_SENTENCE_CHARS
            or (
                len(" ".join(strip_markup(t).split())) >= MIN_SENTENCE_CHARS
                and bool(naming.phrases(naming.tokens(m), stop))
            )
            for t, m in zip(texts, masked)
        ],
        dtype=bool,
    )


@dataclass
class _Placed:
    """Each sentence's child theme (local index, NO_THEME for none) and similarity; the children (steps 2-3)."""

    local: np.ndarray
    similarity: np.ndarray
    children: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Comments:
    """Per comment (step 4): its child themes, primary first, and the primary one (local indices)."""

    sets: list[list[int]]
    primary: np.ndarray


@dataclass
class _Groups:
    """Step 5: the parent group of each child and the groups' names (None: named from the texts)."""

    of: np.ndarray
    names: dict[int, str | None]

    @property
    def ids(self) -> list[int]:
        """The group ids, in order (one parent theme each)."""
        return sorted(set(self.of.tolist()))

    def link(self, themes: list[Theme], parents: list[ParentTheme]) -> None:
        """Each child theme's parent_id: the id of its group's parent (parents in `ids` order)."""
        parent_id = {g: p.id for g, p in zip(self.ids, parents)}
        for c, theme in enumerate(themes):
            theme.parent_id = parent_id[int(self.of[c])]


@dataclass
class _Namer:
    """Names from the sentences' phrases; `taken` keeps child and parent names apart."""

    phrases: list[set[str]]  # per sentence
    counts: Counter[str]  # over all eligible sentences
    n: int  # eligible sentences
    encode: Encode | None
    taken: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)  # words never a child's name alone (`entities.name_words`)

    @classmethod
    def of(cls, sent: _Sentences, encode: Encode | None) -> _Namer:
        """The phrases of every eligible sentence, counted."""
        stop = naming._stop_words()
        phrases = [
            naming.phrases(naming.tokens(m), stop) if sent.eligible[i] else set() for i, m in enumerate(sent.masked)
        ]
        counts: Counter[str] = Counter()
        for p in phrases:
            counts.update(p)
        names = name_words(sent.texts)
        return cls(phrases=phrases, counts=counts, n=int(sent.eligible.sum()), encode=encode, names=names)

    def retext(self, sent: _Sentences, rows: np.ndarray, texts: list[str]) -> None:
        """The sentences `rows` read (and are named) as `texts` from now on (entity phrases masked)."""
        stop = naming._stop_words()
        for i, text in zip(rows, texts):
            if text != sent.masked[i]:
                sent.masked[i] = text
                if sent.eligible[i]:
                    self.counts.subtract(self.phrases[i])
                    self.phrases[i] = naming.phrases(naming.tokens(text), stop)
                    self.counts.update(self.phrases[i])

    def said_by(self, members_of: list[np.ndarray]) -> Counter[str]:
        """For each single word: how many of the children say it (at least MIN_COUNT of their sentences)."""
        out: Counter[str] = Counter()
        for rows in members_of:
            words = Counter(q for i in rows for q in self.phrases[i] if " " not in q)
            out.update(w for w, n in words.items() if n >= naming.MIN_COUNT)
        return out

    def plain(
        self, candidates: list[tuple[str, float]], members: np.ndarray, said_by: Counter[str], k: int
    ) -> list[tuple[str, float]]:
        """`candidates` without the one-word ones a CX lead would not sign off on (all of them where
        nothing else is left): a word half the children say (filler: "did", "love", "new"), one the
        theme's sentences say less than ONE_WORD_SHARE of the time ("Joins", "Tonight", "Eligible"), or
        a bare verb form or adverb ("Watching", "Signed"). The name is then the best phrase of two or more
        words, under the share floor where it must."""
        n = max(len(members), 1)

        def vague(phrase: str) -> bool:
            if " " in phrase:
                return False
            share = sum(phrase in self.phrases[i] for i in members) / n
            filler = k >= 4 and said_by[phrase] >= k / 2
            return filler or share < ONE_WORD_SHARE or phrase.endswith(VERB_ENDINGS)

        clear = [c for c in candidates if not vague(c[0])]
        if clear or not candidates:
            return clear or candidates
        # every candidate vague: the theme's best phrase of two or more words said at least MIN_COUNT times,
        # none of its words a name ("Uk government", "Happy friday")
        wide = naming.candidate_scores([self.phrases[i] for i in members], self.counts, self.n, min_share=0.0)
        wide = [c for c in wide if " " in c[0] and not any(w in self.names for w in c[0].split())]
        return wide[: naming.RERANK] or candidates

    def supports(self, members: np.ndarray) -> bool:
        """Whether the sentences `members` say a phrase a name can be: a candidate (said in
        `naming.MIN_SHARE` of them) of two or more words, or of one word said in ONE_WORD_SHARE of them and
        not a bare verb form or adverb; none made only of words the texts write as names (as `plain` and
        `not_names` judge a name). TweetEval's fringe "Sign" had none: no keyword at all."""
        n = max(len(members), 1)
        for phrase, _ in self.not_names(self.candidates(members)):
            if " " in phrase:
                return True
            if (
                not phrase.endswith(VERB_ENDINGS)
                and sum(phrase in self.phrases[i] for i in members) >= ONE_WORD_SHARE * n
            ):
                return True
        return False

    def not_names(self, candidates: list[tuple[str, float]]) -> list[tuple[str, float]]:
        """`candidates` without the phrases made only of words the texts write as names ("Uk", "S7")."""
        return [(p, s) for p, s in candidates if not all(w in self.names for w in p.split())]

    def candidates(self, members: np.ndarray, prefer_short: bool = False) -> list[tuple[str, float]]:
        """Candidate names for the sentences `members`, best first."""
        return naming.candidate_scores(
            [self.phrases[i] for i in members], self.counts, self.n, prefer_short=prefer_short
        )

    def shared(self, members: np.ndarray, children: list[np.ndarray]) -> list[tuple[str, float]]:
        """A parent's candidate names: the phrases said in at least half of its children (a single word:
        two thirds) and at least two (in at least `naming.MIN_SHARE` of each one's sentences), scored by
        how many of them say it; so a parent is named for what its children share, never after its
        largest child alone."""
        out = []
        # each child's sentences counted once per phrase (not scanned once per candidate: issue 32)
        counted = [(Counter(q for i in rows for q in self.phrases[i]), len(rows)) for rows in children]
        for phrase, score in self.candidates(members):
            said = sum(c[phrase] >= max(naming.MIN_COUNT, naming.MIN_SHARE * n) for c, n in counted)
            need = len(children) * (2 / 3 if " " not in phrase else 1 / 2)  # one word: vaguer ("Days")
            if said >= max(2, need):
                out.append((phrase, score * said / len(children)))
        return sorted(out, key=lambda x: (-x[1], x[0]))

    def numbered(self, phrase: str) -> str:
        """`phrase` when no theme has that name yet, else "phrase (2)", "(3)": no two themes alike."""
        name, n = naming.readable(phrase), 1
        while naming.name_key(name) in self.taken:
            n += 1
            name = f"{naming.readable(phrase)} ({n})"
        return name

    def fallback(
        self, candidates: list[tuple[str, float]], members: np.ndarray, texts: list[str], masked: list[str]
    ) -> str:
        """A child's name when `choose` finds none free: the best candidate numbered ("Refund (2)"), else
        its best phrase under the share floor (`naming.fallback_name`), else what its entities are
        ("Mentions of accounts"); never "Other" while its sentences say something."""
        if candidates:
            return self.numbered(candidates[0][0])
        named = [{q for q in self.phrases[i] if not all(w in self.names for w in q.split())} for i in members]
        phrase = naming.fallback_name(named, self.counts, self.n, self.taken)
        if phrase:
            return naming.readable(phrase)
        kind = entity_kind_name([texts[i] for i in members], [masked[i] for i in members])
        return self.numbered(kind or "other")  # "Other": sentences of stop words only

    def choose(self, candidates: list[tuple[str, float]], centroid: np.ndarray) -> str:
        """The chosen phrase among `candidates` (not yet taken), or ""."""
        return naming.choose_name(candidates, centroid, self.encode, self.taken)


@dataclass
class _Children:
    """The child themes by local index, described (step 6)."""

    entries: list[dict[str, Any]]  # centroid, source, keywords[, codeframe | topic_id]
    centroids: np.ndarray  # (k, d) unit
    members: list[np.ndarray]  # sentence rows per child
    names: list[str]
    keywords: list[list[str]]
    quotes: list[list[str]]
    facets: list[list[tuple[str, int]]] = field(default_factory=list)  # entities mentioned, with counts


@dataclass
class _Written:
    """The vectors as written of the sentences masking changed (`rows`, ascending): the rest are unchanged."""

    rows: np.ndarray
    vectors: np.ndarray

    def at(self, rows: np.ndarray) -> np.ndarray:
        """The vectors as written of `rows`, each one of the changed rows."""
        return self.vectors[np.searchsorted(self.rows, rows)]


def _mask(
    texts: list[str], vectors: np.ndarray, doc_texts: Sequence[str], encode: Encode | None, step: Callable[[str], None]
) -> tuple[list[str], _Written | None, dict[str, int], list[str]]:
    """1. entity-like tokens out of the clustering vectors, which are changed in place (no second copy of
    every sentence vector: issue 32): (masked texts, the changed rows as written or None, method entries,
    the entity words masked)."""
    if encode is None or not texts:
        return texts, None, {"masked_sentences": 0}, []
    entities = entity_words(doc_texts)
    masked = [mask_entities(t, entities) for t in texts]
    changed = np.flatnonzero([m != " ".join(t.split()).strip(" ,") for m, t in zip(masked, texts)])
    written = None
    if len(changed):
        step(f"masking entity-like tokens in {len(changed)} sentences")
        written = _Written(changed, vectors[changed])  # fancy indexing: a copy of these rows
        vectors[changed] = _unit(encode([masked[i] or "." for i in changed]))
    return masked, written, {"entity_words": len(entities), "masked_sentences": int(len(changed))}, sorted(entities)


def _entity_themes(
    sent: _Sentences, placed: _Placed, namer: _Namer, encode: Encode | None, step: Callable[[str], None]
) -> list[str]:
    """3b. themes of a product, place or name dissolved. For each discovered child, its name (the phrase
    `_Namer.choose` picks) and its ENTITY_PHRASES best phrases said in at least ENTITY_COVER of its
    sentences (not ending like a verb form or adverb: "declined", "pending"; said in at most ENTITY_RARE
    of all the sentences: "card" in a bank's month is its subject, not one thing among many) are masked in the sentences
    that say them, which are embedded again (`_Fit.test`): a phrase names a thing when those sentences
    then mostly lie nearer other themes, scattered over many of them, and fit there as well as their own
    sentences do ("The yoga mat is overpriced" is at home in "Prices", "... arrived late" in "Delivery").
    A child at least ENTITY_DISSOLVE of whose sentences, its things masked, lie nearer another theme and
    whose sentences are then loose (mean pairwise cosine at most ENTITY_LOOSE: the demo's product themes
    0.21-0.25, a BANKING77 intent 0.58) shares no issue: it is dissolved, its sentences (masked: vectors and texts, so no name says the
    thing) join the themes they are nearest. A child that keeps an issue is left as it is. Returns the
    phrases of the dissolved children, kept as facets (none without `encode`)."""
    k = len(placed.children)
    found = [c for c in range(k) if placed.children[c]["source"] == "discovered"]
    if encode is None or len(found) < 2:
        return []
    centroids = np.stack([_unit(placed.children[c]["centroid"]) for c in range(k)])
    fit = _Fit(centroids, sent, placed)
    phrases: set[str] = set()
    gone: list[int] = []
    for c in found:
        rows = np.flatnonzero(placed.local == c)
        vectors, texts = sent.vectors[rows], [sent.masked[i] for i in rows]
        cands = namer.candidates(rows)
        tried = [p for p, _ in cands[:ENTITY_PHRASES]] + [namer.choose(cands, centroids[c])]
        found_here: list[str] = []
        # first the child's own things (a phrase most of its sentences say), then, once one is found, the
        # things of the same kind said in its place ("kettle", "office chair" beside "desk lamp")
        for kind, phrases_tried in ((False, tried), (True, [p for p, _ in cands[: ENTITY_PHRASES * ENTITY_KIND]])):
            if kind and not found_here:
                break
            for phrase in dict.fromkeys(p for p in phrases_tried if p and p not in found_here):
                has = np.flatnonzero([phrase in namer.phrases[i] for i in rows])
                rare = len(has) < ENTITY_COVER * len(rows) and phrase != tried[-1] and not kind
                if len(has) < naming.MIN_COUNT or rare or any(f in phrase or phrase in f for f in found_here):
                    continue
                if phrase.split()[-1].endswith(VERB_ENDINGS) or namer.counts[phrase] > ENTITY_RARE * namer.n:
                    continue  # "declined", "pending": what happened; "card" in a bank's month: its subject
                trial = fit.test(c, [*gone, c], vectors, has, [texts[i] for i in has], phrase, encode, kind)
                if trial is not None:
                    found_here.append(phrase)
                    vectors = trial[0]
                    for i, m in zip(has, trial[1]):
                        texts[i] = m
        if not found_here:
            continue
        loose = float(np.linalg.norm(vectors.mean(axis=0))) ** 2 <= ENTITY_LOOSE  # mean pairwise cosine
        if loose and fit.moved(vectors, _unit(vectors.mean(axis=0)), [c, *gone])[0] >= ENTITY_DISSOLVE:
            phrases.update(found_here)
            gone.append(c)
            sent.vectors = sent.vectors.copy()
            sent.vectors[rows] = vectors
            namer.retext(sent, rows, texts)
    if not phrases:
        return []
    step(f"{len(gone)} themes of products, places or names dissolved; facets: " + ", ".join(sorted(phrases)))
    if gone:
        _dissolve(sent, placed, gone, centroids)
    return sorted(phrases)


@dataclass
class _Fit:
    """Where sentences land among the children (step 3b): their centroids and how close each child's own
    sentences are to its centroid (median cosine)."""

    centroids: np.ndarray
    typical: np.ndarray

    def __init__(self, centroids: np.ndarray, sent: _Sentences, placed: _Placed) -> None:
        self.centroids = centroids
        own = [sent.vectors[placed.local == c] @ centroids[c] for c in range(len(centroids))]
        self.typical = np.array([float(np.median(s)) if len(s) else 1.0 for s in own])

    def moved(self, vectors: np.ndarray, own: np.ndarray, skip: list[int]) -> tuple[float, float, float]:
        """For `vectors`: the share nearer another child's centroid (but those in `skip`) than `own`; over
        how many children those scatter (inverse Simpson index: 1.0 for one, 0.0 when none moved); and
        how well they fit where they land (median cosine over that child's typical cosine)."""
        if self.centroids.shape[0] <= len(set(skip)):
            return 0.0, 0.0, 0.0
        sims = vectors @ self.centroids.T
        sims[:, skip] = -np.inf
        nearest = sims.argmax(axis=1)
        best = sims.max(axis=1)
        moved = best > vectors @ own
        if not moved.any():
            return 0.0, 0.0, 0.0
        landed = np.bincount(nearest[moved]) / moved.sum()
        fit = float(np.median(best[moved] / np.maximum(self.typical[nearest[moved]], 1e-6)))
        return float(moved.mean()), float(1.0 / np.sum(landed**2)), fit

    def test(
        self,
        c: int,
        skip: list[int],
        vectors: np.ndarray,
        has: np.ndarray,
        texts: list[str],
        phrase: str,
        encode: Encode,
        kind: bool = False,
    ) -> tuple[np.ndarray, list[str]] | None:
        """Child `c`'s sentences (`vectors`) with `phrase` masked in those that say it (`has`, `texts`):
        (their vectors, those texts masked) when the phrase names a thing, not an issue, else None.
        ENTITY_SAMPLE of them are embedded again; at least ENTITY_MOVE of those must lie nearer another
        child than `c` (recomputed with them masked), scatter over at least ENTITY_SCATTER children
        and fit there as well as ENTITY_FIT of that child's own sentences do ("The yoga mat is overpriced"
        is at home in "Prices" masked; "my pin is blocked" masked is at home nowhere)."""
        pattern = phrase_pattern(phrase)
        masked = [mask_phrase(t, pattern) or "." for t in texts]
        sample = np.unique(np.linspace(0, len(has) - 1, min(len(has), ENTITY_SAMPLE)).round().astype(int))
        trial = vectors.copy()
        trial[has[sample]] = _unit(encode([masked[i] for i in sample]))
        moved, spread, fit = self.moved(trial[has[sample]], _unit(trial.mean(axis=0)), skip)
        if moved < ENTITY_MOVE or spread < ENTITY_SCATTER or (fit < ENTITY_FIT and not kind):
            return None
        rest = np.setdiff1d(np.arange(len(has)), sample)
        if len(rest):
            trial[has[rest]] = _unit(encode([masked[i] for i in rest]))
        return trial, [m if m != "." else "" for m in masked]


def _dissolve(sent: _Sentences, placed: _Placed, gone: list[int], centroids: np.ndarray) -> None:
    """The children `gone` removed: their sentences join the nearest of the others (by `sent.vectors`)."""
    keep = [c for c in range(len(placed.children)) if c not in set(gone)]
    rows = np.flatnonzero(np.isin(placed.local, gone))
    sims = sent.vectors[rows] @ centroids[keep].T
    placed.local[rows] = np.array(keep)[sims.argmax(axis=1)]
    placed.similarity[rows] = sims.max(axis=1)
    new_index = np.full(len(placed.children) + 1, NO_THEME, dtype=int)
    new_index[keep] = np.arange(len(keep))
    placed.local = np.where(placed.local >= 0, new_index[placed.local], NO_THEME)
    placed.children = [placed.children[c] for c in keep]


def _place_in_codeframe(
    sent: _Sentences,
    placed: _Placed,
    codeframe: Codeframe,
    encode: Encode | None,
    seed: int,
    step: Callable[[str], None],
) -> dict[str, Any]:
    """2. the codeframe first: its themes become the first children, the sentences that fit them are placed."""
    if encode is None:
        raise RefineError("a codeframe needs the embedder to place its themes", where="[themes] codeframe")
    step(f"placing {int(sent.eligible.sum())} sentences in the codeframe's {len(codeframe.themes)} themes")
    prototypes = build_prototypes(codeframe, encode)
    pool = np.flatnonzero(sent.eligible)
    assigned = assign(sent.vectors[pool], prototypes, seed=seed)
    placed.local[pool] = assigned.theme
    placed.similarity[pool] = assigned.score
    for j, entry in enumerate(codeframe.themes):
        placed.children.append(
            {"centroid": assigned.prototypes[j], "codeframe": entry, "keywords": [], "source": "codeframe"}
        )
    return {"codeframe_assignment": assigned.method, "codeframe_assigned": int((assigned.theme >= 0).sum())}


def _discover(
    sent: _Sentences,
    placed: _Placed,
    settings: TopicSettings,
    seed: int,
    show_progress: bool,
    step: Callable[[str], None],
    written: _Written | None = None,
) -> dict[str, Any]:
    """3. discovery on what is left: its topics become children after the codeframe's; method entries.
    3a. with `written` (the vectors as written), once more on the masked sentences discovery left out,
    by those vectors: entities form a theme only where their sentences share no issue (named from the
    masked text all the same: `_Namer.fallback`)."""
    rest = sent.eligible & (placed.local == NO_THEME)
    if written is not None:
        rest &= np.array([m != " ".join(t.split()).strip(" ,") for m, t in zip(sent.masked, sent.texts)])
    rest = np.flatnonzero(rest)
    if len(rest) < MIN_DISCOVER:
        return {}
    step(f"clustering {len(rest)} sentences" + (" by their entities" if written is not None else ""))
    discovered = fit_topics(
        [(sent.masked if written is None else sent.texts)[i] for i in rest],
        sent.vectors[rest] if written is None else written.at(rest),
        dataclasses.replace(settings, quotes=0),
        seed=seed,
        previous=None,
        show_progress=show_progress,
    )
    offset = len(placed.children)
    for t in sorted(discovered.topics, key=lambda t: t.id):
        placed.children.append(
            {"centroid": t.centroid, "keywords": t.keywords, "source": "discovered", "topic_id": t.id}
        )
    id_to_local = {t.id: offset + i for i, t in enumerate(sorted(discovered.topics, key=lambda t: t.id))}
    found = discovered.doc_topics
    placed.local[rest] = np.array([id_to_local.get(int(t), NO_THEME) for t in found], dtype=int)
    placed.similarity[rest] = discovered.doc_similarity
    keys = ("reducer", "min_cluster_size", "min_samples", "hdbscan_clusters", "topics_dissolved", "unassigned")
    return {"discovery" if written is None else "entity_discovery": {k: discovered.method.get(k) for k in keys}}


def _cap_children(
    sent: _Sentences,
    placed: _Placed,
    docs: tuple[np.ndarray, np.ndarray],
    doc_texts: Sequence[str],
    settings: TopicSettings,
    seed: int,
    namer: _Namer,
) -> dict[str, Any]:
    """3b. no catch-all: a discovered child holding more than MAX_CHILD_SHARE of the themed comments is
    split in two (`_split_child`: along its seam where it has one, else into its core and its fringe),
    again while a part is over. Only from 7 discovered children on: with fewer, one holds more than 15%
    whatever the data (a month with four issues keeps four themes). A part that says no issue
    phrase (`_Namer.supports`: a fringe of mixed subjects, TweetEval's "Sign" with no keyword) is no
    theme: its sentences are folded into the other themes they lie nearest, the ones they border."""
    split = folded = 0
    for _ in range(8):
        if sum(c["source"] == "discovered" for c in placed.children) < int(np.ceil(1 / MAX_CHILD_SHARE)):
            break
        centroids = np.stack([_unit(c["centroid"]) for c in placed.children])
        primary = _per_comment(sent.rows, placed.local, docs, centroids, doc_texts, settings).primary
        themed = primary[primary >= 0]
        if not len(themed):
            break
        share = np.bincount(themed, minlength=len(placed.children)) / len(themed)
        over = np.flatnonzero(share > MAX_CHILD_SHARE).tolist()
        big = [int(c) for c in over if placed.children[c]["source"] == "discovered"]
        if not big:
            break
        for c in big:
            members = np.flatnonzero(placed.local == c)
            others = np.delete(centroids, c, axis=0)
            parts = _split_child(sent.vectors[members], centroids[c], others, float(share[c]), seed)
            if parts is None:
                continue
            folded += _place_parts(sent, placed, c, members, parts, centroids, namer)
            split += 1
    return {"catch_all_splits": split, **({"catch_all_folded": folded} if folded else {})} if split else {}


def _place_parts(
    sent: _Sentences,
    placed: _Placed,
    c: int,
    members: np.ndarray,
    parts: np.ndarray,
    centroids: np.ndarray,
    namer: _Namer,
) -> int:
    """The parts of child `c` (its sentences `members`, `parts` per sentence: 0 the core where it has one)
    made children. The first that says an issue phrase (`_Namer.supports`), else the first, takes `c`'s
    place; another that says one is added; one that says none is no theme (a fringe of mixed subjects):
    its sentences join the other discovered children they lie nearest (by `centroids`, before the split; never
    a codeframe's code), the themes they border, which are centred again on all they hold. Returns how many
    sentences were folded."""
    rows_of = [members[parts == part] for part in np.unique(parts)]
    said = [namer.supports(rows) for rows in rows_of]
    first = said.index(True) if any(said) else 0
    # a fringe folds only into discovered themes: a codeframe's code keeps what its own assignment gave it
    near = np.array(
        [t for t in range(len(centroids)) if t != c and placed.children[t]["source"] == "discovered"], dtype=int
    )
    keep = [rows_of[first]] + [r for i, r in enumerate(rows_of) if i != first and (said[i] or not len(near))]
    fold = [r for i, r in enumerate(rows_of) if i != first and not said[i] and len(near)]
    for i, rows in enumerate(keep):
        centroid = _unit(sent.vectors[rows].mean(axis=0))
        if i == 0:
            placed.children[c] = {**placed.children[c], "centroid": centroid, "keywords": []}
            target = c
        else:
            placed.children.append({"centroid": centroid, "keywords": [], "source": "discovered"})
            target = len(placed.children) - 1
        placed.local[rows] = target
        placed.similarity[rows] = sent.vectors[rows] @ centroid
    if not fold:
        return 0
    rows = np.concatenate(fold)
    sims = sent.vectors[rows] @ centroids[near].T
    placed.local[rows], placed.similarity[rows] = near[sims.argmax(axis=1)], sims.max(axis=1)
    for t in np.unique(placed.local[rows]):
        placed.children[t] = {**placed.children[t], "centroid": _unit(sent.vectors[placed.local == t].mean(axis=0))}
    return len(rows)


def _split_child(
    vectors: np.ndarray, own: np.ndarray, others: np.ndarray, share: float, seed: int
) -> np.ndarray | None:
    """The two parts of an over-cap child (0 or 1 per sentence), or None when it cannot be split.

    Along its structure where it has one: k-means into two, kept when the sentences lie in two
    groups along the line between the parts' centres (bimodality coefficient over BIMODAL: two
    issues merged, as banking77's children over a 2% cap mostly are). Else, one blob with no seam
    (clothing's "Dress"), k-means would cut it anywhere: it is split into its core, the sentences
    that lean to it most over the nearest other theme (own centroid's cosine minus that one's), as
    many as CORE_SHARE of the cap allows, and its fringe, the sentences that border other themes.
    A part still over the cap is split again in the next round of `_cap_children`."""
    # one sentence said many times cannot be split: k-means would leave parts empty (a NaN centroid)
    if len(vectors) < 2 or len(np.unique(vectors, axis=0)) < 2:
        return None
    parts = KMeans(n_clusters=2, n_init=3, random_state=seed).fit(vectors).labels_
    if len(np.unique(parts)) == 2:
        line = vectors @ (vectors[parts == 0].mean(axis=0) - vectors[parts == 1].mean(axis=0))
        z = (line - line.mean()) / max(float(line.std()), 1e-12)
        if (float((z**3).mean()) ** 2 + 1) / max(float((z**4).mean()), 1e-12) > BIMODAL:
            return parts
    if not len(others):  # no other theme to border: the seam k-means found, if any
        return parts if len(np.unique(parts)) == 2 else None
    margin = vectors @ own - (vectors @ others.T).max(axis=1)
    keep = int(len(vectors) * min(1.0, CORE_SHARE * MAX_CHILD_SHARE / share))
    if not 0 < keep < len(vectors):
        return None
    core = np.ones(len(vectors), dtype=int)
    core[np.argsort(-margin, kind="stable")[:keep]] = 0
    return core


def _masked_comments(sent: _Sentences, docs: np.ndarray) -> np.ndarray:
    """Each comment's vector with its entities masked: the mean of its sentences' clustering vectors where
    masking changed one of them, else its own vector (what the fallback in `_per_comment` also reads)."""
    changed = np.array([m != " ".join(t.split()).strip(" ,") for m, t in zip(sent.masked, sent.texts)], dtype=bool)
    out = docs.copy()
    rows = np.unique(sent.rows[changed]) if changed.any() else np.zeros(0, dtype=int)
    if len(rows):
        sums = np.zeros_like(docs)
        np.add.at(sums, sent.rows, sent.vectors)
        out[rows] = _unit(sums[rows])
    return out


def _per_comment(
    rows: np.ndarray,
    local: np.ndarray,
    both: tuple[np.ndarray, np.ndarray],
    centroids: np.ndarray,
    doc_texts: Sequence[str],
    settings: TopicSettings,
) -> _Comments:
    """4. per comment: its sentences' themes, the primary one the closest to the whole comment (`both`: the
    comments' vectors as written and masked); a comment none of whose sentences has a theme joins the one
    closest to it, as written or masked, when that is close enough."""
    docs, masked_docs = both
    n_comments = len(doc_texts)
    comment_sets: list[list[int]] = [[] for _ in range(n_comments)]
    counts: list[Counter] = [Counter() for _ in range(n_comments)]
    for r, c in zip(rows, local):
        if c >= 0:
            counts[r][int(c)] += 1
    primary = np.full(n_comments, NO_THEME, dtype=int)
    if len(centroids) and n_comments:
        doc_sims = docs @ centroids.T
        fallback_sims = np.maximum(doc_sims, masked_docs @ centroids.T)
        for r in range(n_comments):
            if counts[r]:
                options = sorted(counts[r])
                best = max(options, key=lambda c: (doc_sims[r, c], -c))
                primary[r] = best
                comment_sets[r] = [best] + [c for c in options if c != best]
            else:
                best = int(fallback_sims[r].argmax())
                if (
                    fallback_sims[r, best] >= settings.outlier_similarity
                    and len(str(doc_texts[r])) >= MIN_SENTENCE_CHARS
                ):
                    primary[r] = best
                    comment_sets[r] = [best]
    return _Comments(sets=comment_sets, primary=primary)


def _parents(children: list[dict[str, Any]], centroids: np.ndarray) -> _Groups:
    """5. parents: the codeframe's by name, then groups of the discovered children's centroids."""
    k = len(children)
    parent_of = np.zeros(k, dtype=int)
    parent_names: dict[int, str | None] = {}
    if not k:
        return _Groups(of=parent_of, names=parent_names)
    next_group = 0
    by_name: dict[str, int] = {}
    for i in [i for i, c in enumerate(children) if c["source"] == "codeframe"]:
        name = children[i]["codeframe"].parent
        if name:
            if name.lower() not in by_name:
                by_name[name.lower()] = next_group
                parent_names[next_group] = name
                next_group += 1
            parent_of[i] = by_name[name.lower()]
        else:
            parent_of[i] = next_group
            parent_names[next_group] = None
            next_group += 1
    disc_idx = [i for i, c in enumerate(children) if c["source"] == "discovered"]
    if disc_idx:
        groups = _group_children(centroids[disc_idx], PARENT_SIMILARITY)
        for i, g in zip(disc_idx, groups):
            parent_of[i] = next_group + int(g)
            parent_names.setdefault(next_group + int(g), None)
    return _Groups(of=parent_of, names=parent_names)


def _describe(
    sent: _Sentences, placed: _Placed, centroids: np.ndarray, namer: _Namer, settings: TopicSettings
) -> _Children:
    """6. names (the codeframe's, else the most representative phrase), keywords and quotes per child."""
    k = len(placed.children)
    members_of = [np.flatnonzero(placed.local == c) for c in range(k)]
    names: list[str] = []
    candidates_of: list[list[tuple[str, float]]] = []
    said_by = namer.said_by(members_of)
    for c in range(k):
        cands = namer.candidates(members_of[c])
        candidates_of.append(cands)
        cands = namer.plain(cands, members_of[c], said_by, k)
        cf_entry = placed.children[c].get("codeframe")
        if cf_entry is not None:
            name = cf_entry.name
        else:
            phrase = namer.choose(namer.not_names(cands), centroids[c])
            name = (
                naming.readable(phrase)
                if phrase
                else namer.fallback(namer.not_names(cands), members_of[c], sent.texts, sent.masked)
            )
        namer.taken.add(naming.name_key(name))
        names.append(name)
    keywords_of = []
    for c in range(k):
        kws = list(placed.children[c].get("keywords") or [])
        if not kws:
            kws = [p for p, _ in candidates_of[c][: settings.keywords]]
        keywords_of.append(kws)
    sims_all = sent.vectors @ centroids.T if k else np.zeros((len(sent.texts), 0), np.float32)
    quotes_of = [
        _quotes(sent.texts, members_of[c], sims_all[:, c], sent.vectors, settings.quotes) if len(members_of[c]) else []
        for c in range(k)
    ]
    return _Children(placed.children, centroids, members_of, names, keywords_of, quotes_of)


def _child_themes(
    kids: _Children,
    comments: _Comments,
    sent: _Sentences,
    previous: PreviousThemes | None,
    settings: TopicSettings,
    with_codeframe: bool,
) -> tuple[list[Theme], list[Theme], list[dict]]:
    """7. the child themes with their ids (by local index), last cycle's unmatched ones as fading, the merges."""
    child_ids, statuses, fading, merged = _child_ids(
        kids.entries, kids.names, kids.centroids, previous, settings.match_similarity
    )
    _keep_names(kids, child_ids, statuses, previous)
    themes: list[Theme] = []
    for c in range(len(kids.entries)):
        members = kids.members[c]
        themes.append(
            Theme(
                id=child_ids[c],
                label=kids.names[c],
                keywords=kids.keywords[c],
                size=int((comments.primary == c).sum()),
                centroid=kids.centroids[c],
                quotes=kids.quotes[c],
                status=statuses[c],
                mentions=int(sum(1 for s in comments.sets if c in s)),
                sentences=int(len(members)),
                mean_sentiment=_mean(sent.sentiment, members),
                candidate=with_codeframe and kids.entries[c]["source"] == "discovered",
                source=kids.entries[c]["source"],
                facets=[{"facet": f, "sentences": n} for f, n in (kids.facets[c] if kids.facets else [])],
            )
        )
    return themes, fading, merged


def _keep_names(kids: _Children, child_ids: list[int], statuses: list[str], previous: PreviousThemes | None) -> None:
    """A discovered theme matched to last cycle's keeps last cycle's name (unless another theme now has it)."""
    if previous is None:
        return
    old = {t.id: t.label for t in previous.themes}
    keys = [naming.name_key(n) for n in kids.names]
    for c, entry in enumerate(kids.entries):
        label = old.get(child_ids[c])
        if statuses[c] != "stable" or entry["source"] != "discovered" or not label or label == kids.names[c]:
            continue
        if naming.name_key(label) not in keys:
            kids.names[c], keys[c] = label, naming.name_key(label)


def _mean(sentiment: np.ndarray | None, members: np.ndarray) -> float | None:
    """Mean sentiment of the sentences `members`; None without sentiment or sentences."""
    return float(np.mean(sentiment[members])) if sentiment is not None and len(members) else None


def _parent_themes(
    kids: _Children,
    groups: _Groups,
    themes: list[Theme],
    comments: _Comments,
    sent: _Sentences,
    namer: _Namer,
    n_quotes: int,
) -> list[ParentTheme]:
    """Parent themes, one per group (id -1 until _parent_ids): centroid from the children's sentences, named."""
    k = len(themes)
    parents: list[ParentTheme] = []
    terms: naming.ParentTerms | None = None  # built for the first parent named from the texts
    for g in groups.ids:
        group = [c for c in range(k) if groups.of[c] == g]
        members = np.concatenate([kids.members[c] for c in group]) if group else np.zeros(0, int)
        if len(members):
            cent = _unit(sent.vectors[members].mean(axis=0))
        else:
            cent = _unit(np.mean(kids.centroids[group], axis=0))
        if groups.names.get(g):
            label = str(groups.names[g])
        elif len(group) == 1:
            label = kids.names[group[0]]
        else:
            terms = terms or naming.ParentTerms(namer.phrases)
            whole, rows = namer.not_names(namer.candidates(members)), [kids.members[c] for c in group]
            names, sizes = [kids.names[c] for c in group], [themes[c].size for c in group]
            pools = [namer.not_names(namer.shared(members, rows)), whole]
            choose = partial(namer.choose, centroid=cent)
            phrase = naming.parent_name(terms, names, sizes, rows, pools, choose, namer.taken)
            label = naming.readable(phrase) if phrase else namer.numbered(whole[0][0] if whole else "other")
            namer.taken.add(naming.name_key(label))
        by_size = sorted(group, key=lambda c: -themes[c].size)
        parents.append(
            ParentTheme(
                id=-1,
                label=label,
                keywords=kids.keywords[by_size[0]][:3] if by_size else [],
                size=int(sum(themes[c].size for c in group)),
                centroid=cent,
                quotes=[themes[c].quotes[0] for c in by_size if themes[c].quotes][:n_quotes],
                status="new",
                children=[themes[c].id for c in by_size],
                mentions=int(sum(1 for s in comments.sets if any(c in s for c in group))),
                mean_sentiment=_mean(sent.sentiment, members),
            )
        )
    return parents


def _summary(result: ThemeResult, merged: list[dict]) -> dict[str, Any]:
    """The counts the method record ends with."""
    themes = result.themes
    return dict(
        themes=len(themes),
        parents=len(result.parents),
        candidates=sum(t.candidate for t in themes),
        unassigned_sentences=int((result.sentence_theme == NO_THEME).sum()),
        unassigned=int((result.primary == NO_THEME).sum()),
        multi_theme_comments=int(sum(len(s) > 1 for s in result.comment_themes)),
        stable=sum(t.status == "stable" for t in themes),
        emerging=sum(t.status == "emerging" for t in themes),
        fading=len(result.fading),
        merged=merged,
    )


def _child_ids(
    children: list[dict], names: list[str], centroids: np.ndarray, previous: PreviousThemes | None, threshold: float
) -> tuple[list[int], list[str], list[Theme], list[dict]]:
    """Ids and statuses for this cycle's child themes; last cycle's unmatched themes as fading."""
    k = len(children)
    if previous is None:
        return list(range(k)), ["new"] * k, [], []
    prev = [t for t in previous.themes]
    by_id = {t.id: t for t in prev}
    by_name = {t.label.lower(): t for t in prev}
    ids: list[int | None] = [None] * k
    used: set[int] = set()
    merged: list[dict] = []
    # codeframe themes: their own id, else last cycle's theme of the same name; merges fold old ids in
    for c, child in enumerate(children):
        entry = child.get("codeframe")
        if entry is None:
            continue
        if entry.id is not None:
            ids[c] = int(entry.id)
        elif entry.name.lower() in by_name and by_name[entry.name.lower()].id not in used:
            ids[c] = by_name[entry.name.lower()].id
        chosen = ids[c]
        if chosen is not None:
            used.add(int(chosen))
        for m in entry.merges:
            old = by_id.get(m) if isinstance(m, int) else by_name.get(str(m).lower())
            if old is not None and old.id not in used:
                used.add(old.id)
                merged.append({"id": old.id, "label": old.label, "into": entry.name})
    # discovered themes (and codeframe themes new this cycle): centroid matching to what is left
    open_rows = [c for c in range(k) if ids[c] is None and children[c]["source"] == "discovered"]
    pool = [t for t in prev if t.id not in used and len(t.centroid) == centroids.shape[1]]
    if open_rows and pool:
        match = _hungarian(centroids[open_rows], np.stack([t.centroid for t in pool]), threshold)
        for r, p in match.items():
            ids[open_rows[r]] = pool[p].id
            used.add(pool[p].id)
    next_id = max([previous.max_id] + [i for i in ids if i is not None]) + 1
    statuses = []
    out: list[int] = []
    for c in range(k):
        known = ids[c]
        if known is None:
            out.append(next_id)
            next_id += 1
            statuses.append("emerging")
        else:
            out.append(int(known))
            statuses.append("stable" if int(known) in by_id else "new")
    fading = []
    for t in prev:
        if t.id in used or t.status == "fading":
            continue  # a theme that already faded last cycle and is still absent is dropped
        fading.append(
            dataclasses.replace(t, size=0, status="fading", quotes=[], mentions=0, sentences=0, mean_sentiment=None)
        )
    return out, statuses, fading, merged


def _parent_ids(parents: list[ParentTheme], previous: PreviousThemes | None) -> None:
    """Parent ids: last cycle's parent of the same name, else of a close centroid (Hungarian), else new."""
    if previous is None or not previous.parents:
        for i, p in enumerate(sorted(parents, key=lambda p: (-p.size, p.label))):
            p.id = i
        return
    prev = previous.parents
    used: set[int] = set()
    by_name = {p.label.lower(): p for p in prev}
    for p in parents:
        old = by_name.get(p.label.lower())
        if old is not None and old.id not in used:
            p.id, p.status = old.id, "stable"
            used.add(old.id)
    open_ = [p for p in parents if p.id < 0]
    pool = [q for q in prev if q.id not in used and len(q.centroid) == len(open_[0].centroid)] if open_ else []
    if open_ and pool:
        match = _hungarian(np.stack([p.centroid for p in open_]), np.stack([q.centroid for q in pool]), PARENT_MATCH)
        names = {naming.name_key(p.label) for p in parents}
        for r, c in match.items():
            open_[r].id, open_[r].status = pool[c].id, "stable"
            used.add(pool[c].id)
            if naming.name_key(pool[c].label) not in names:  # a matched parent keeps last cycle's name
                names.add(naming.name_key(pool[c].label))
                open_[r].label = pool[c].label
    next_id = max([previous.max_parent_id] + [p.id for p in parents]) + 1
    for p in parents:
        if p.id < 0:
            p.id, p.status = next_id, "emerging"
            next_id += 1
