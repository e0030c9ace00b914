"""fit_themes: sentence-level themes in two levels, named from the texts, optionally against a user's codeframe.

1. Entity-like tokens (handles, URLs, and words the month's texts write as proper names: brands,
   places, people) are masked and the sentences that change are embedded again for clustering, so
   themes form around what happened, not around who or where (refine.text.themes.entities).
2. With a codeframe, each sentence is assigned to the codeframe theme it fits (zero-shot, calibrated:
   refine.text.themes.codeframe); what fits nowhere goes on to discovery.
3. Discovery clusters the remaining sentences with refine.text.themes.topics (reducer + HDBSCAN + outlier
   reassignment); with a codeframe its themes are flagged as candidates.
4. A comment's themes are its sentences' themes; its primary theme (the `topic_id` column) is the
   one among them closest to the whole comment; a comment none of whose sentences has a theme gets
   the theme nearest to the whole comment when it is close enough (`outlier_similarity`).
5. Parents group child themes: the codeframe's parents, and for discovered themes clusters of the
   child centroids (average cosine >= `PARENT_SIMILARITY`, Ward clusters when that makes too many
   or too few parents: `_group_children`).
6. Names: the most representative phrase of the theme's sentences (refine.text.themes.naming); quotes:
   the theme's own sentences closest to its centroid, so a quote is about the theme.
7. Ids stay stable across cycles: codeframe themes by their id, name or `merges`; discovered themes
   and parents by Hungarian matching of centroids to last cycle's (`match_similarity`).
"""

from __future__ import annotations

import dataclasses
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from refine.io.config import TopicSettings
from refine.text.themes import naming
from refine.text.themes.codeframe import Codeframe, assign, build_prototypes
from refine.text.themes.entities import entity_words, mask_entities
from refine.text.themes.model import NO_THEME, ParentTheme, PreviousThemes, Theme, ThemeResult

PARENT_SIMILARITY = 0.55  # child centroids at least this close (average linkage) share a parent
MIN_SENTENCE_CHARS = 12  # shorter fragments ("Thanks!") join no theme on their own
MIN_DISCOVER = 20  # fewer unassigned sentences than this: no discovered themes
MIN_CHILDREN_TO_SPLIT = 6  # from this many discovered children, at least two parents
PARENT_MATCH = 0.7  # parent centroid cosine needed to keep last cycle's parent id


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    norms[norms == 0] = 1.0
    return (x / norms).astype(np.float32)


def _hungarian(a: np.ndarray, b: np.ndarray, threshold: float) -> dict[int, int]:
    """Rows of a matched to rows of b by cosine (Hungarian), kept where the cosine is >= threshold."""
    from scipy.optimize import linear_sum_assignment

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
    from scipy.cluster.hierarchy import fcluster, linkage

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
    from refine.text.themes.topics import _quotes, fit_topics

    def step(msg: str) -> None:
        if show_progress:
            print(f"  themes: {msg}", file=sys.stderr, flush=True)

    frame = sentences.frame
    texts = [("" if t is None else str(t)) for t in frame["text"].tolist()]
    rows = frame["feedback_row"].to_numpy().astype(int)
    vectors = _unit(np.asarray(sentences.embeddings, dtype=np.float32).reshape(len(texts), -1))
    docs = _unit(np.asarray(doc_embeddings, dtype=np.float32))
    n_comments = len(doc_texts)
    n = len(texts)
    method: dict[str, Any] = {
        "n_docs": n_comments,
        "n_sentences": n,
        "codeframe": codeframe.source if codeframe is not None else None,
        "match_similarity": settings.match_similarity,
        "outlier_similarity": settings.outlier_similarity,
        "seed": seed,
    }

    # 1. entity-like tokens out of the clustering vectors
    masked = texts
    if mask and encode is not None and n:
        entities = entity_words(doc_texts)
        masked = [mask_entities(t, entities) for t in texts]
        changed = np.flatnonzero([m != " ".join(t.split()).strip(" ,") for m, t in zip(masked, texts)])
        if len(changed):
            step(f"masking entity-like tokens in {len(changed)} sentences")
            vectors = vectors.copy()
            vectors[changed] = _unit(encode([masked[i] or "." for i in changed]))
        method["entity_words"] = len(entities)
        method["masked_sentences"] = int(len(changed))
    else:
        method["masked_sentences"] = 0
    eligible = np.array([len(m) >= MIN_SENTENCE_CHARS for m in masked], dtype=bool)

    # 2. the codeframe first
    local = np.full(n, NO_THEME, dtype=int)  # index into `children` below
    similarity = np.zeros(n, dtype=np.float32)
    children: list[dict[str, Any]] = []
    if codeframe is not None:
        if encode is None:
            from refine.errors import RefineError

            raise RefineError("a codeframe needs the embedder to place its themes", where="[themes] codeframe")
        step(f"placing {int(eligible.sum())} sentences in the codeframe's {len(codeframe.themes)} themes")
        prototypes = build_prototypes(codeframe, encode)
        pool = np.flatnonzero(eligible)
        placed = assign(vectors[pool], prototypes, seed=seed)
        local[pool] = placed.theme
        similarity[pool] = placed.score
        for j, entry in enumerate(codeframe.themes):
            children.append(
                {"centroid": placed.prototypes[j], "codeframe": entry, "keywords": [], "source": "codeframe"}
            )
        method["codeframe_assignment"] = placed.method
        method["codeframe_assigned"] = int((placed.theme >= 0).sum())

    # 3. discovery on what is left
    rest = np.flatnonzero(eligible & (local == NO_THEME))
    discovered = None
    if len(rest) >= MIN_DISCOVER:
        step(f"clustering {len(rest)} sentences")
        discovered = fit_topics(
            [masked[i] for i in rest],
            vectors[rest],
            dataclasses.replace(settings, quotes=0),
            seed=seed,
            previous=None,
            show_progress=show_progress,
        )
        offset = len(children)
        for t in sorted(discovered.topics, key=lambda t: t.id):
            children.append({"centroid": t.centroid, "keywords": t.keywords, "source": "discovered", "topic_id": t.id})
        id_to_local = {t.id: offset + i for i, t in enumerate(sorted(discovered.topics, key=lambda t: t.id))}
        found = discovered.doc_topics
        local[rest] = np.array([id_to_local.get(int(t), NO_THEME) for t in found], dtype=int)
        similarity[rest] = discovered.doc_similarity
        method["discovery"] = {
            k: discovered.method.get(k)
            for k in (
                "reducer",
                "min_cluster_size",
                "min_samples",
                "hdbscan_clusters",
                "topics_dissolved",
                "unassigned",
            )
        }
    k = len(children)
    centroids = np.stack([_unit(c["centroid"]) for c in children]) if k else np.zeros((0, vectors.shape[1]), np.float32)

    # 4. per comment: its themes, and the primary one
    comment_sets: list[list[int]] = [[] for _ in range(n_comments)]
    counts: list[Counter] = [Counter() for _ in range(n_comments)]
    for r, c in zip(rows, local):
        if c >= 0:
            counts[r][int(c)] += 1
    primary_local = np.full(n_comments, NO_THEME, dtype=int)
    primary_sim = np.zeros(n_comments, dtype=np.float32)
    if k and n_comments:
        doc_sims = docs @ centroids.T
        for r in range(n_comments):
            if counts[r]:
                options = sorted(counts[r])
                best = max(options, key=lambda c: (doc_sims[r, c], -c))
                primary_local[r] = best
                primary_sim[r] = doc_sims[r, best]
                comment_sets[r] = [best] + [c for c in options if c != best]
            else:
                best = int(doc_sims[r].argmax())
                if doc_sims[r, best] >= settings.outlier_similarity and len(str(doc_texts[r])) >= MIN_SENTENCE_CHARS:
                    primary_local[r] = best
                    primary_sim[r] = doc_sims[r, best]
                    comment_sets[r] = [best]

    # 5. parents
    parent_of = np.zeros(k, dtype=int)
    parent_names: dict[int, str | None] = {}
    if k:
        next_group = 0
        by_name: dict[str, int] = {}
        cf_idx = [i for i, c in enumerate(children) if c["source"] == "codeframe"]
        for i in cf_idx:
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
    method["parent_similarity"] = PARENT_SIMILARITY

    # 6. names and quotes
    step("names, keywords and quotes")
    stop = naming._stop_words()
    sentence_phrases = [naming.phrases(naming.tokens(m), stop) if eligible[i] else set() for i, m in enumerate(masked)]
    all_counts: Counter[str] = Counter()
    for p in sentence_phrases:
        all_counts.update(p)
    n_all = int(eligible.sum())
    members_of = [np.flatnonzero(local == c) for c in range(k)]
    names: list[str] = []
    taken: set[str] = set()
    candidates_of: list[list[tuple[str, float]]] = []
    for c in range(k):
        cands = naming.candidate_scores([sentence_phrases[i] for i in members_of[c]], all_counts, n_all)
        candidates_of.append(cands)
        cf_entry = children[c].get("codeframe")
        if cf_entry is not None:
            name = cf_entry.name
        else:
            phrase = naming.choose_name(cands, centroids[c], encode, taken)
            name = naming.readable(phrase) if phrase else "Other"
        taken.add(name.lower())
        names.append(name)
    keywords_of = []
    for c in range(k):
        kws = list(children[c].get("keywords") or [])
        if not kws:
            kws = [p for p, _ in candidates_of[c][: settings.keywords]]
        keywords_of.append(kws)
    sims_all = vectors @ centroids.T if k else np.zeros((n, 0), np.float32)
    quotes_of = [
        _quotes(texts, members_of[c], sims_all[:, c], vectors, settings.quotes) if len(members_of[c]) else []
        for c in range(k)
    ]

    # sentiment per theme, if the sentences carry it
    sentence_sentiment = frame["sentiment_score"].to_numpy(dtype=float) if "sentiment_score" in frame.columns else None

    # 7. ids
    child_ids, statuses, fading, merged = _child_ids(children, names, centroids, previous, settings.match_similarity)
    themes: list[Theme] = []
    for c in range(k):
        primary_count = int((primary_local == c).sum())
        mentions = sum(1 for s in comment_sets if c in s)
        ms = (
            float(np.mean(sentence_sentiment[members_of[c]]))
            if sentence_sentiment is not None and len(members_of[c])
            else None
        )
        themes.append(
            Theme(
                id=child_ids[c],
                label=names[c],
                keywords=keywords_of[c],
                size=primary_count,
                centroid=centroids[c],
                quotes=quotes_of[c],
                status=statuses[c],
                mentions=int(mentions),
                sentences=int(len(members_of[c])),
                mean_sentiment=ms,
                candidate=codeframe is not None and children[c]["source"] == "discovered",
                source=children[c]["source"],
            )
        )
    # parents: centroid from the children's sentences, names from their phrases
    group_ids = sorted(set(parent_of.tolist())) if k else []
    parents: list[ParentTheme] = []
    for g in group_ids:
        kids = [c for c in range(k) if parent_of[c] == g]
        members = np.concatenate([members_of[c] for c in kids]) if kids else np.zeros(0, int)
        cent = _unit(vectors[members].mean(axis=0)) if len(members) else _unit(np.mean(centroids[kids], axis=0))
        if parent_names.get(g):
            label = str(parent_names[g])
        elif len(kids) == 1:
            label = names[kids[0]]
        else:
            cands = naming.candidate_scores(
                [sentence_phrases[i] for i in members], all_counts, n_all, prefer_short=True
            )
            phrase = naming.choose_name(cands, cent, encode, taken)
            label = naming.readable(phrase) if phrase else names[kids[0]]
            taken.add(label.lower())
        kid_order = sorted(kids, key=lambda c: -themes[c].size)
        parents.append(
            ParentTheme(
                id=-1,
                label=label,
                keywords=keywords_of[kid_order[0]][:3] if kid_order else [],
                size=int(sum(themes[c].size for c in kids)),
                centroid=cent,
                quotes=[themes[c].quotes[0] for c in kid_order if themes[c].quotes][: settings.quotes],
                status="new",
                children=[themes[c].id for c in kid_order],
                mentions=int(sum(1 for s in comment_sets if any(c in s for c in kids))),
                mean_sentiment=float(np.mean(sentence_sentiment[members]))
                if sentence_sentiment is not None and len(members)
                else None,
            )
        )
    _parent_ids(parents, previous)
    for g, parent in zip(group_ids, parents):
        for c in range(k):
            if parent_of[c] == g:
                themes[c].parent_id = parent.id

    # map local indices to ids
    lookup = np.array([t.id for t in themes] + [NO_THEME], dtype=int)
    sentence_theme = lookup[np.where(local >= 0, local, k)]
    primary = lookup[np.where(primary_local >= 0, primary_local, k)]
    comment_themes = [[int(lookup[c]) for c in s] for s in comment_sets]
    order = sorted(range(k), key=lambda c: (-themes[c].size, -themes[c].mentions, themes[c].id))
    themes = [themes[c] for c in order]
    parents.sort(key=lambda p: (-p.size, p.id))
    method.update(
        themes=len(themes),
        parents=len(parents),
        candidates=sum(t.candidate for t in themes),
        unassigned_sentences=int((sentence_theme == NO_THEME).sum()),
        unassigned=int((primary == NO_THEME).sum()),
        multi_theme_comments=int(sum(len(s) > 1 for s in comment_themes)),
        stable=sum(t.status == "stable" for t in themes),
        emerging=sum(t.status == "emerging" for t in themes),
        fading=len(fading),
        merged=merged,
    )
    return ThemeResult(
        themes=themes,
        parents=parents,
        fading=fading,
        sentence_theme=sentence_theme.astype(int),
        sentence_similarity=similarity,
        comment_themes=comment_themes,
        primary=primary.astype(int),
        method=method,
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
        for r, c in match.items():
            open_[r].id, open_[r].status = pool[c].id, "stable"
            used.add(pool[c].id)
    next_id = max([previous.max_parent_id] + [p.id for p in parents]) + 1
    for p in parents:
        if p.id < 0:
            p.id, p.status = next_id, "emerging"
            next_id += 1
