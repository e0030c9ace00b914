"""Topics: reduce embeddings, cluster with HDBSCAN, keyword by c-TF-IDF, quote, keep ids stable across cycles.

Steps of `fit_topics`:

1. reduce the L2-normalised sentence embeddings to `reduce_to` dimensions. `reducer = "auto"`
   (default): from 1000 texts up, Laplacian eigenmaps of the cosine kNN graph ("spectral",
   deterministic: exact kNN, repeated texts embedded once, eigenvectors per connected piece of the
   graph with a fixed start vector, seeded mix and signs), which separates subjects where PCA
   mostly separates tone and length; below 1000 texts, PCA, which is steadier on small corpora.
   `umap` uses umap-learn when installed. The result is L2-normalised again, so HDBSCAN's
   euclidean distance behaves like cosine distance;
2. cluster with `hdbscan.HDBSCAN` (excess-of-mass selection);
3. keep at most `max_topics` clusters: the smallest ones beyond the cap are dissolved into the
   outliers and only come back through step 4 when their texts are close enough to a kept topic,
   so a capped run never glues unrelated themes together;
4. centroids (in the full embedding space) from each cluster's members; an HDBSCAN outlier whose
   cosine to the nearest centroid is at least `outlier_similarity` joins that topic;
5. keywords by class-based TF-IDF over cleaned text (URLs, @handles, redaction tokens and mail
   boilerplate removed), a label from the top 2-3 distinct keywords, and representative quotes
   (members closest to the centroid, de-duplicated, trimmed at a word boundary);
6. topics sorted by size get ids 0..k-1 — or, given last cycle's topics, are matched to them by
   centroid cosine (Hungarian, >= `match_similarity`): matched topics keep id and label ("stable"),
   the others get fresh ids ("emerging"), and unmatched previous topics are returned as "fading".
   A first cycle (no previous topics) marks every topic "new".
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import eigsh
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

from refine.errors import RefineError
from refine.io.config import TopicSettings

MIN_DOCS = 20  # fewer texts than this: no topics at all
NO_TOPIC = -1
REDUCERS = ("auto", "spectral", "pca", "umap")
# "auto": spectral from this many texts up, PCA below. Measured (bench/topics_bench.py, 22,641
# clothing reviews): spectral 14 topics, NMI vs department 0.377 / class 0.406, against PCA's 4
# topics, 0.257 / 0.221; on 12k tweets 6.2% unassigned against 21.2%. On a 190-text test corpus
# of five themes, spectral merged two themes that PCA keeps apart: a kNN graph of k=15 needs more
# texts per theme than a small month has.
SPECTRAL_MIN_DOCS = 1000
SELECTION = "eom"
# HDBSCAN clusters the first `reduce_to` spectral dimensions; its outliers are then placed by the nearest
# cluster centroid in the first ASSIGN_DIMS dimensions of the same embedding, where the kNN graph's
# finer structure is still visible (in the 384-d space two intents that share words look alike).
# Measured on the 10,003 banking77 training messages (bench/topics_bench.py data, HDBSCAN
# min_cluster_size 30): NMI against the intents 0.784 with outliers placed by cosine in the 384-d
# space, 0.809 in 40 spectral dimensions; clothing reviews (department / class) 0.388 / 0.413 -> 0.398 / 0.421.
ASSIGN_DIMS = 40
REFINE_ROUNDS = 10  # at most this many centroid updates while reassigning outliers (stops when stable)

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_HANDLE = re.compile(r"(?<!\w)@\w+")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
_REDACTED = re.compile(r"\[[A-Z_]{2,}\]")
_BOILERPLATE = re.compile(
    r"(?:sent from my \w+(?: \w+)?|sent from (?:yahoo )?mail for \w+|get outlook for \w+"
    r"|this (?:e-?mail|message) (?:and any attachments )?(?:is|may be) confidential[^.]*\.?)",
    re.IGNORECASE,
)
_SPACE = re.compile(r"\s+")
# words sklearn's English list misses once apostrophes are stripped, plus tweet noise
_EXTRA_STOP = {
    "dont",
    "didnt",
    "doesnt",
    "isnt",
    "wasnt",
    "arent",
    "werent",
    "cant",
    "couldnt",
    "wouldnt",
    "shouldnt",
    "wont",
    "im",
    "ive",
    "id",
    "ill",
    "youre",
    "youve",
    "theyre",
    "thats",
    "theres",
    "whats",
    "lets",
    "hes",
    "shes",
    "rt",
    "amp",
    "gt",
    "lt",
    "http",
    "https",
    "www",
    "com",
    "st",
    "nd",
    "rd",
    "th",
    "ll",
    "ve",
    "re",
}


@dataclass
class Topic:
    id: int
    label: str
    keywords: list[str]
    size: int
    centroid: np.ndarray  # unit vector in the embedding space
    quotes: list[str]
    status: str  # new | stable | emerging


@dataclass
class TopicModel:
    doc_topics: np.ndarray  # topic id per text, -1 = no topic
    doc_similarity: np.ndarray  # cosine to the assigned centroid (to the nearest one for -1 rows; 0 if no topics)
    topics: list[Topic]
    fading: list[dict] = field(default_factory=list)
    method: dict[str, Any] = field(default_factory=dict)
    outlier_similarity: float = 0.35

    @property
    def n_docs(self) -> int:
        return int(len(self.doc_topics))

    def _centroids(self) -> np.ndarray:
        if not self.topics:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([t.centroid for t in self.topics]).astype(np.float32)

    def assign(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest topic centroid per row, -1 where the cosine is below `outlier_similarity`.

        Returns (topic ids, cosine to the nearest centroid). Used for new texts and for sentences
        (aspect-level sentiment); texts from the fit keep their HDBSCAN topic in `doc_topics`.
        """
        emb = np.asarray(embeddings, dtype=np.float32)
        emb = _normalise(emb.reshape(1, -1) if emb.ndim == 1 else emb)
        n = len(emb)
        if n == 0 or not self.topics:
            return np.full(n, NO_TOPIC, dtype=int), np.zeros(n, dtype=np.float32)
        sims = emb @ self._centroids().T
        best = sims.argmax(axis=1)
        best_sim = sims[np.arange(n), best].astype(np.float32)
        ids = np.array([t.id for t in self.topics], dtype=int)[best]
        ids[best_sim < self.outlier_similarity] = NO_TOPIC
        return ids, best_sim

    def to_payload(self) -> tuple[dict, dict[str, np.ndarray]]:
        """The model as JSON plus arrays, for the stage cache (refine.memo); from_payload reads it back."""
        document = {
            "topics": [
                {
                    "id": int(t.id),
                    "label": t.label,
                    "keywords": list(t.keywords),
                    "size": int(t.size),
                    "quotes": list(t.quotes),
                    "status": t.status,
                }
                for t in self.topics
            ],
            "fading": self.fading,
            "method": self.method,
            "outlier_similarity": self.outlier_similarity,
        }
        arrays = {"doc_topics": np.asarray(self.doc_topics), "doc_similarity": np.asarray(self.doc_similarity)}
        if self.topics:
            arrays["centroids"] = np.stack([t.centroid for t in self.topics])
        return document, arrays

    @classmethod
    def from_payload(cls, document: dict, arrays: dict[str, np.ndarray]) -> TopicModel:
        topics = [
            Topic(
                id=t["id"],
                label=t["label"],
                keywords=t["keywords"],
                size=t["size"],
                centroid=arrays["centroids"][i],
                quotes=t["quotes"],
                status=t["status"],
            )
            for i, t in enumerate(document["topics"])
        ]
        return cls(
            doc_topics=arrays["doc_topics"],
            doc_similarity=arrays["doc_similarity"],
            topics=topics,
            fading=document["fading"],
            method=document["method"],
            outlier_similarity=document["outlier_similarity"],
        )

    def to_records(self, mean_sentiment: dict[int, float] | None = None) -> list[dict]:
        """JSON-ready dicts for topics.json: the topics (largest first), then the fading ones."""
        mean_sentiment = {int(k): v for k, v in (mean_sentiment or {}).items()}
        total = max(self.n_docs, 1)
        out = []
        for t in self.topics:
            ms = mean_sentiment.get(int(t.id))
            out.append(
                {
                    "id": int(t.id),
                    "label": t.label,
                    "keywords": list(t.keywords),
                    "size": int(t.size),
                    "share": round(t.size / total, 5),
                    "mean_sentiment": None if ms is None or not np.isfinite(ms) else round(float(ms), 5),
                    "quotes": list(t.quotes),
                    "status": t.status,
                    "centroid": [round(float(x), 5) for x in t.centroid],
                }
            )
        for f in self.fading:
            out.append(
                {
                    "id": int(f["id"]),
                    "label": f.get("label", ""),
                    "keywords": list(f.get("keywords", [])),
                    "size": 0,
                    "share": 0.0,
                    "mean_sentiment": None,
                    "quotes": [],
                    "status": "fading",
                    "centroid": [round(float(x), 5) for x in f.get("centroid", [])],
                }
            )
        return out


# ---------------------------------------------------------------------------------------------- text


def clean_text(text: str) -> str:
    """Text for keywording: no URLs, @handles, e-mail addresses, redaction tokens or mail boilerplate."""
    text = _URL.sub(" ", str(text))
    text = _EMAIL.sub(" ", text)
    text = _HANDLE.sub(" ", text)
    text = _REDACTED.sub(" ", text)
    text = _BOILERPLATE.sub(" ", text)
    text = text.replace("'", "").replace("\u2019", "").replace("#", " ")
    return _SPACE.sub(" ", text).strip()


def _quote_text(text: str) -> str:
    """Text for quotes: the redacted text without boilerplate, whitespace collapsed."""
    return _SPACE.sub(" ", _BOILERPLATE.sub(" ", str(text))).strip()


def trim_quote(text: str, limit: int = 300) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"


# --------------------------------------------------------------------------------------------- model


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (x / norms).astype(np.float32)


def auto_min_cluster_size(n: int) -> int:
    """About 0.25% of the texts, at least 10 and at most 100 (bigger corpora get more topics, not blurrier).

    On the 10,003 banking77 training messages (77 intents; ~12,400 sentences) n/200 (62) gave 48 themes and
    NMI 0.774 against the intents, n/400 (31) 88 themes and 0.793 (fit_themes, sentence level).
    """
    return int(min(100, max(10, round(n / 400))))


def auto_max_topics(n: int) -> int:
    """The cap on topics when `max_topics` is 0: 40, and more on large corpora (banking77: 77 intents in ~16k sentences)."""
    return int(max(40, n // 130))


def auto_min_samples(min_cluster_size: int) -> int:
    """Small: a conservative core distance pushes too many texts out as noise."""
    return int(max(2, min(10, min_cluster_size // 3)))


KNN = 15  # neighbours per text in the graph the spectral reducer embeds
# dense eigendecomposition below this many texts, ARPACK above: on the 2132 demo texts dense took
# 14.6 s and ARPACK 0.27 s, with the same vectors to 1e-9
DENSE_EIGEN_BELOW = 300


def knn_graph(emb: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine k-nearest neighbours (self excluded) by blocked matrix products: (indices, similarities)."""
    n = len(emb)
    idx = np.empty((n, k), dtype=np.int64)
    sim = np.empty((n, k), dtype=np.float32)
    block = int(max(64, min(4096, 5e7 // max(n, 1))))  # about 200 MB of similarities at a time
    for start in range(0, n, block):
        s = emb[start : start + block] @ emb.T
        rows = np.arange(len(s))
        s[rows, start + rows] = -np.inf
        part = np.argpartition(-s, k - 1, axis=1)[:, :k]
        vals = np.take_along_axis(s, part, axis=1)
        order = np.lexsort((part, -vals), axis=1)  # ties broken by index: deterministic
        idx[start : start + block] = np.take_along_axis(part, order, axis=1)
        sim[start : start + block] = np.take_along_axis(vals, order, axis=1)
    return idx, sim


def _distinct_rows(emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first row of each distinct vector, in input order; each row's index into those): exact duplicates once."""
    rows = np.ascontiguousarray(emb)
    keys = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # distinct rows in the order they first occur
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return first[order], rank[inverse.ravel()]


def _top_eigenvectors(norm_adj, want: int) -> tuple[np.ndarray, np.ndarray]:
    """The `want` largest eigenpairs of the symmetric normalised adjacency, one connected component at a time.

    A graph in pieces (texts on subjects nothing else is near) has the eigenvalue 1 once per piece,
    where Lanczos on the whole matrix converges slowly and can miss repeats: on 25,000 feedback
    sentences (176 pieces) it took 146 s, and on their 9,105 distinct sentences it returned 3 of the
    5 unit eigenvalues. The eigenpairs of a matrix in blocks are those of its blocks, so each piece
    is solved alone (connected: Lanczos converges fast) and the largest are kept: 0.5 s on the 22,634
    distinct clothing reviews (one piece); shift-invert Lanczos there needed a sparse LU and 139 s.

    The unit eigenvalue's eigenvectors are any orthonormal mix of the pieces' first eigenvectors; a
    fixed random mix (seeded) is taken, so that every piece loads on every kept column and no piece
    lands on the origin when the pieces outnumber the columns kept.
    """
    n = norm_adj.shape[0]
    pieces, piece_of = connected_components(norm_adj, directed=False)
    if pieces == 1:
        return _connected_top(norm_adj, want)
    csr = norm_adj.tocsr()
    first = np.zeros(n)  # each text's entry in its piece's first eigenvector (eigenvalue 1)
    rest_values: list[np.ndarray] = []
    rest: list[tuple[np.ndarray, np.ndarray]] = []  # per piece: members and its other eigenvectors
    for piece in range(pieces):
        members = np.flatnonzero(piece_of == piece)
        vals, vecs = _connected_top(csr[members][:, members], min(want, len(members)))
        order = np.argsort(-vals, kind="stable")
        first[members] = vecs[:, order[0]]
        rest_values.append(vals[order[1:]])
        rest.append((members, vecs[:, order[1:]]))
    units = min(want, pieces)
    mix, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((pieces, units)))  # orthonormal columns
    others = np.concatenate(rest_values)
    owner = np.repeat(np.arange(pieces), [len(v) for v in rest_values])
    column = np.concatenate([np.arange(len(v)) for v in rest_values])
    keep = np.argsort(-others, kind="stable")[: want - units]
    out = np.zeros((n, units + len(keep)))
    out[:, :units] = first[:, None] * mix[piece_of]
    for j, i in enumerate(keep):
        members, vecs = rest[owner[i]]
        out[members, units + j] = vecs[:, column[i]]
    return np.concatenate([np.ones(units), others[keep]]), out


def _connected_top(norm_adj, want: int) -> tuple[np.ndarray, np.ndarray]:
    """The `want` largest eigenpairs of one connected piece: dense when small, else Lanczos."""
    n = norm_adj.shape[0]
    if n < DENSE_EIGEN_BELOW or want >= n - 1:
        values, vectors = np.linalg.eigh(norm_adj.toarray())
        top = np.argsort(values)[::-1][:want]
        return values[top], vectors[:, top]
    return eigsh(norm_adj, k=want, which="LA", v0=np.full(n, 1.0 / np.sqrt(n)), tol=1e-8, maxiter=max(5000, n))


def spectral_embedding(emb: np.ndarray, dims: int, k: int = KNN) -> np.ndarray:
    """Laplacian eigenmaps of the cosine kNN graph (UMAP-style fuzzy weights), deterministic.

    Texts that share neighbours end up close whatever the density of the 384-d space around them,
    which is what HDBSCAN needs; PCA keeps the directions of largest variance instead, and on
    feedback those mostly separate tone and length, not subject.

    Identical vectors (the same sentence said many times: "Great service.") are embedded once and
    share their coordinates: left in, more than k copies of one sentence are each other's only
    neighbours, a component of the graph on their own.
    """
    first, back = _distinct_rows(emb)
    if len(first) < len(emb):
        inner = (
            spectral_embedding(emb[first], min(dims, len(first) - 2), k)
            if len(first) >= 4
            else np.zeros((len(first), 0))
        )
        out = np.zeros((len(first), dims))  # fewer distinct texts than dimensions: the rest stay 0
        out[:, : inner.shape[1]] = inner
        return out[back]
    n = len(emb)
    k = int(max(2, min(k, n - 1)))
    idx, sim = knn_graph(emb, k)
    dist = 1.0 - sim.astype(np.float64)
    rho = dist[:, :1]
    sigma = np.maximum(dist.mean(axis=1, keepdims=True) - rho, 1e-6)
    weights = np.exp(-np.maximum(dist - rho, 0.0) / sigma)
    w = sp.csr_matrix((weights.ravel(), (np.repeat(np.arange(n), k), idx.ravel())), shape=(n, n))
    w = (w + w.T - w.multiply(w.T)).tocsr()  # fuzzy union: symmetric
    inv_sqrt = 1.0 / np.sqrt(np.asarray(w.sum(axis=1)).ravel())
    norm_adj = sp.diags(inv_sqrt) @ w @ sp.diags(inv_sqrt)
    want = int(min(dims + 1, n - 1))
    values, vectors = _top_eigenvectors(norm_adj, want)
    top = np.argsort(values)[::-1][:want]
    vectors = vectors[:, top] * inv_sqrt[:, None]  # random-walk eigenvectors
    vectors = vectors[:, 1:]  # the first one is constant on a connected graph
    vectors = vectors * np.sign(vectors[np.abs(vectors).argmax(axis=0), range(vectors.shape[1])])
    return vectors


def _reduce(emb: np.ndarray, settings: TopicSettings, seed: int) -> tuple[np.ndarray, str, np.ndarray | None]:
    """(vectors for HDBSCAN, reducer description, a richer space to assign HDBSCAN's outliers in, or None)."""
    dims = int(max(2, min(settings.reduce_to, emb.shape[1], emb.shape[0] - 2)))
    reducer = getattr(settings, "reducer", "auto")
    if reducer == "auto":
        reducer = "spectral" if len(emb) >= SPECTRAL_MIN_DOCS else "pca"
    if reducer not in REDUCERS:
        raise RefineError(f"reducer must be one of {', '.join(REDUCERS)}, got {reducer!r}", where="[topics] reducer")
    if reducer == "umap":
        try:
            import umap  # optional
        except ImportError:
            reducer = "spectral"
        else:
            red = umap.UMAP(
                n_components=dims, n_neighbors=KNN, min_dist=0.0, metric="cosine", random_state=seed
            ).fit_transform(emb)
            return np.asarray(red, dtype=np.float64), f"umap({dims})", None
    if reducer == "spectral":
        wide = int(min(max(dims, ASSIGN_DIMS), emb.shape[0] - 2))
        vectors = spectral_embedding(emb, wide)
        assign_space = _normalise(vectors) if wide > dims else None
        return _normalise(vectors[:, :dims]).astype(np.float64), f"spectral({dims}, k={KNN})", assign_space
    # PCA through the d x d covariance (n >> d here): exact, fast and deterministic
    x = emb.astype(np.float64)
    x = x - x.mean(axis=0)
    values, vectors = np.linalg.eigh(x.T @ x)
    top = vectors[:, np.argsort(values)[::-1][:dims]]
    top = top * np.sign(top[np.abs(top).argmax(axis=0), range(dims)])  # fixed signs on any BLAS
    red = x @ top
    return _normalise(red).astype(np.float64), f"pca({dims})", None


def _keywords(clean: list[str], labels: np.ndarray, topic_order: list[int], k: int) -> dict[int, list[str]]:
    """Class-based TF-IDF (BERTopic's): sqrt tf per class (L1) x log(1 + mean words per class / term frequency)."""
    stop = sorted(set(ENGLISH_STOP_WORDS) | _EXTRA_STOP)
    n = len(clean)
    vec = CountVectorizer(
        stop_words=stop,
        ngram_range=(1, 2),
        lowercase=True,
        token_pattern=r"(?u)\b[^\W\d_]{2,}\b",
        min_df=2 if n >= 200 else 1,
    )
    try:
        counts = vec.fit_transform(clean)
    except ValueError:  # only stop words / empty texts
        return {t: [] for t in topic_order}
    terms = vec.get_feature_names_out()
    classes = topic_order + [NO_TOPIC]
    rows = []
    for c in classes:
        idx = np.flatnonzero(labels == c)
        rows.append(np.asarray(counts[idx].sum(axis=0)).ravel() if len(idx) else np.zeros(len(terms)))
    class_counts = np.vstack(rows).astype(np.float64)
    # square-rooted term frequency (BERTopic's reduce_frequent_words): "love", "size", "fit" appear in
    # every topic of a review corpus and otherwise top them all
    tf = np.sqrt(class_counts)
    tf = tf / np.maximum(tf.sum(axis=1, keepdims=True), 1e-12)
    avg_words = class_counts.sum() / max(len(classes), 1)
    idf = np.log(1.0 + avg_words / np.maximum(class_counts.sum(axis=0), 1.0))
    scores = tf * idf
    out: dict[int, list[str]] = {}
    for row, c in enumerate(topic_order):
        order = np.lexsort((terms, -scores[row]))  # ties broken alphabetically: deterministic
        chosen: list[str] = []
        for j in order:
            if scores[row, j] <= 0 or len(chosen) >= k:
                break
            term = str(terms[j])
            words = set(term.split())
            if len(words) < len(term.split()):  # "size size"
                continue
            if any(words <= set(c2.split()) for c2 in chosen):  # "delivery" after "late delivery"
                continue
            chosen.append(term)
        out[c] = chosen
    return out


def _label(keywords: list[str]) -> str:
    """Top 2-3 distinct keywords; a bigram made of two chosen words replaces them ("app", "crashes" -> "app crashes")."""
    parts: list[str] = []
    for kw in keywords[:6]:
        words = set(kw.split())
        chosen = {w for p in parts for w in p.split()}
        if len(words) > 1 and words <= chosen:
            inside = [p for p in parts if set(p.split()) <= words]
            at = parts.index(inside[0])
            parts = [p for p in parts if p not in inside]
            parts.insert(min(at, len(parts)), kw)
        elif words & chosen:
            continue
        else:
            parts.append(kw)
        if len(parts) >= 3 or sum(len(p.split()) for p in parts) >= 4:
            break
    return " / ".join(parts) if parts else "misc"


def _quotes(texts: Sequence[str], members: np.ndarray, sims: np.ndarray, emb: np.ndarray, k: int) -> list[str]:
    """Members closest to the centroid; skip duplicates and near-duplicates, prefer texts of 5+ words."""
    order = members[np.lexsort((members, -sims[members]))]
    picked: list[str] = []
    picked_rows: list[int] = []
    seen: set[str] = set()
    fallback: list[tuple[str, int]] = []
    for i in order[: max(200, 20 * k)]:
        q = _quote_text(texts[i])
        key = re.sub(r"\W+", " ", q.lower()).strip()
        if not key or key in seen:
            continue
        if picked_rows and float((emb[picked_rows] @ emb[i]).max()) > 0.95:
            continue
        seen.add(key)
        if len(key.split()) < 5:
            fallback.append((q, int(i)))
            continue
        picked.append(trim_quote(q))
        picked_rows.append(int(i))
        if len(picked) >= k:
            break
    for q, _row in fallback:
        if len(picked) >= k:
            break
        picked.append(trim_quote(q))
    return picked


def _match_previous(
    centroids: np.ndarray, previous: list[dict], threshold: float
) -> tuple[dict[int, dict], list[dict], int]:
    """Hungarian matching of this run's centroids to the previous ones; returns (row -> previous, unmatched, max id)."""
    prev = [p for p in previous if p.get("id") is not None]
    max_id = max((int(p["id"]) for p in prev), default=-1)
    usable = [p for p in prev if len(p.get("centroid") or []) == centroids.shape[1]]
    matched: dict[int, dict] = {}
    if usable and len(centroids):
        pc = _normalise(np.asarray([p["centroid"] for p in usable], dtype=np.float32))
        sims = centroids @ pc.T
        rows, cols = linear_sum_assignment(-sims)
        for r, c in zip(rows, cols):
            if sims[r, c] >= threshold:
                matched[int(r)] = usable[int(c)]
    used = {id(p) for p in matched.values()}
    # a topic that already faded last cycle and is still absent is dropped, not listed again
    unmatched = [p for p in prev if id(p) not in used and p.get("status") != "fading"]
    return matched, unmatched, max_id


def _empty(n: int, method: dict, settings: TopicSettings, previous: list[dict] | None) -> TopicModel:
    fading = [
        {
            "id": int(p["id"]),
            "label": p.get("label", ""),
            "status": "fading",
            "size": 0,
            "centroid": list(p.get("centroid") or []),
        }
        for p in (previous or [])
        if p.get("id") is not None and p.get("status") != "fading"
    ]
    return TopicModel(
        doc_topics=np.full(n, NO_TOPIC, dtype=int),
        doc_similarity=np.zeros(n, dtype=np.float32),
        topics=[],
        fading=fading,
        method=method,
        outlier_similarity=settings.outlier_similarity,
    )


def _fit_on_sample(
    texts: list[str],
    emb: np.ndarray,
    settings: TopicSettings,
    size: int,
    *,
    seed: int,
    previous: list[dict] | None,
    show_progress: bool,
) -> TopicModel:
    """`fit_sample`: cluster a seeded random sample, then assign every other text to its nearest topic.

    The reducer and HDBSCAN grow faster than linearly with the number of texts; assigning is one
    matrix product. Sizes, keywords and quotes are recomputed over all assigned texts; centroids
    (and so topic identity across cycles) come from the sample.
    """
    n = len(texts)
    sample = np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))
    rest = np.setdiff1d(np.arange(n), sample)
    if show_progress:
        print(f"  topics: fitting on a sample of {size} of {n} texts", file=sys.stderr, flush=True)
    model = fit_topics(
        [texts[i] for i in sample],
        emb[sample],
        dataclasses.replace(settings, fit_sample=0),
        seed=seed,
        previous=previous,
        show_progress=show_progress,
    )
    emb = _normalise(emb)
    doc_topics = np.full(n, NO_TOPIC, dtype=int)
    doc_similarity = np.zeros(n, dtype=np.float32)
    doc_topics[sample], doc_similarity[sample] = model.doc_topics, model.doc_similarity
    doc_topics[rest], doc_similarity[rest] = model.assign(emb[rest])
    method = dict(
        model.method,
        n_docs=n,
        fit_sample=size,
        assigned_after_fit=int(len(rest)),
        assigned_rest_to_topics=int((doc_topics[rest] >= 0).sum()),
        unassigned=int((doc_topics == NO_TOPIC).sum()),
    )
    if model.topics:
        ids = [t.id for t in model.topics]
        keywords = _keywords([clean_text(t) for t in texts], doc_topics, ids, settings.keywords)
        for t in model.topics:
            members = np.flatnonzero(doc_topics == t.id)
            t.size = int(len(members))
            t.keywords = keywords.get(t.id, [])
            if t.status != "stable":  # a matched topic keeps last cycle's label
                t.label = _label(t.keywords)
            t.quotes = _quotes(texts, members, emb @ t.centroid, emb, settings.quotes)
        model.topics.sort(key=lambda t: -t.size)  # stable: ties keep the sample's order
    return TopicModel(
        doc_topics=doc_topics,
        doc_similarity=doc_similarity,
        topics=model.topics,
        fading=model.fading,
        method=method,
        outlier_similarity=settings.outlier_similarity,
    )


def fit_topics(
    texts: Sequence[str],
    embeddings: np.ndarray,
    settings: TopicSettings,
    *,
    seed: int = 0,
    previous: list[dict] | None = None,
    show_progress: bool = False,
) -> TopicModel:
    """Find the topics in `texts` (PII already redacted) from their sentence embeddings.

    Args:
        texts: one text per row of `embeddings`.
        embeddings: (n, d) sentence embeddings (normalised here again to be safe).
        settings: the [topics] config section.
        seed: for the reducer where it is random (UMAP); PCA + HDBSCAN are deterministic.
        previous: last cycle's topic dicts (id, label, centroid[, status]) to keep ids stable.
        show_progress: print the steps to stderr.
    """
    texts = [("" if t is None else str(t)) for t in texts]
    n = len(texts)
    emb = np.asarray(embeddings, dtype=np.float32)
    if n and (emb.ndim != 2 or len(emb) != n):
        raise ValueError(f"{n} texts but embeddings of shape {emb.shape}")
    fit_sample = int(getattr(settings, "fit_sample", 0) or 0)
    if 0 < fit_sample < n:
        return _fit_on_sample(
            texts, emb, settings, fit_sample, seed=seed, previous=previous, show_progress=show_progress
        )
    method = _initial_method(n, settings, seed)
    if n == 0:
        method["skipped"] = "no texts"
        return _empty(0, method, settings, previous)
    emb = _normalise(emb)
    distinct = len(np.unique(np.round(emb, 4), axis=0))
    if n < MIN_DOCS or distinct < 3:
        method["skipped"] = f"too few texts ({n})" if n < MIN_DOCS else f"too few distinct texts ({distinct})"
        return _empty(n, method, settings, previous)

    def step(msg: str) -> None:
        if show_progress:
            print(f"  topics: {msg}", file=sys.stderr, flush=True)

    labels, k, assign_space, found = _cluster(emb, settings, seed, step)
    method.update(found)
    if k == 0:
        method["skipped"] = "HDBSCAN found no clusters"
        return _empty(n, method, settings, previous)
    if assign_space is not None and (labels == NO_TOPIC).any():
        placed = _place_in_assign_space(labels, k, emb, assign_space, settings.outlier_similarity)
        method["placed_in_spectral_space"] = placed
    clusters, reassigned = _reassign_outliers(labels, k, emb, settings.outlier_similarity)
    method.update(reassigned)

    step("keywords (c-TF-IDF) and quotes")
    topics = _topics(texts, emb, clusters, settings)
    fading, id_map, matching = _topic_ids(topics, previous, method["match_similarity"])
    method.update(matching)
    lookup = np.full(k + 1, NO_TOPIC, dtype=int)
    for old, new in id_map.items():
        lookup[old] = new
    labels = clusters.labels
    doc_topics = np.where(labels >= 0, lookup[np.maximum(labels, 0)], NO_TOPIC).astype(int)
    return TopicModel(
        doc_topics=doc_topics,
        doc_similarity=clusters.doc_similarity,
        topics=topics,
        fading=fading,
        method=method,
        outlier_similarity=settings.outlier_similarity,
    )


def _initial_method(n: int, settings: TopicSettings, seed: int) -> dict[str, Any]:
    """The method record before clustering: the settings used and nothing found yet."""
    return {
        "n_docs": n,
        "reducer": None,
        "min_cluster_size": None,
        "min_samples": None,
        "selection": SELECTION,
        "hdbscan_clusters": 0,
        "topics_dissolved": 0,
        "hdbscan_outliers": 0,
        "reassigned_outliers": 0,
        "unassigned": n,
        "outlier_similarity": settings.outlier_similarity,
        "seed": seed,
        "match_similarity": getattr(settings, "match_similarity", 0.8),
    }


def _cluster(
    emb: np.ndarray, settings: TopicSettings, seed: int, step: Callable[[str], None]
) -> tuple[np.ndarray, int, np.ndarray | None, dict[str, Any]]:
    """Steps 1-3: (cluster 0..k-1 per text or NO_TOPIC, k, the space to place outliers in or None, method entries)."""
    import hdbscan

    n = len(emb)
    step(f"reducing {n} embeddings")
    reduced, reducer, assign_space = _reduce(emb, settings, seed)
    mcs = settings.min_cluster_size or auto_min_cluster_size(n)
    mcs = int(max(2, min(mcs, n // 2)))
    ms = settings.min_samples or auto_min_samples(mcs)
    ms = int(max(1, min(ms, n - 1)))
    found: dict[str, Any] = dict(reducer=reducer, min_cluster_size=mcs, min_samples=ms, selection=SELECTION)
    step(f"clustering with HDBSCAN (min_cluster_size={mcs}, min_samples={ms}, {SELECTION})")
    clusterer = hdbscan.HDBSCAN(
        min_cluster_size=mcs, min_samples=ms, metric="euclidean", cluster_selection_method=SELECTION, core_dist_n_jobs=1
    )
    raw = clusterer.fit_predict(reduced)
    labels = np.full(n, NO_TOPIC, dtype=int)
    clusters = sorted(set(raw.tolist()) - {NO_TOPIC})
    found["hdbscan_clusters"] = len(clusters)
    found["hdbscan_outliers"] = int((raw == NO_TOPIC).sum())
    # keep the largest max_topics clusters (ties: the one whose first member comes first)
    sizes = {c: int((raw == c).sum()) for c in clusters}
    first = {c: int(np.flatnonzero(raw == c)[0]) for c in clusters}
    cap = settings.max_topics or auto_max_topics(n)
    kept = sorted(clusters, key=lambda c: (-sizes[c], first[c]))[: max(cap, 0)]
    found["topics_dissolved"] = len(clusters) - len(kept)
    for new, c in enumerate(kept):
        labels[raw == c] = new
    return labels, len(kept), assign_space, found


def _place_in_assign_space(
    labels: np.ndarray, k: int, emb: np.ndarray, assign_space: np.ndarray, outlier_similarity: float
) -> int:
    """HDBSCAN's outliers to the nearest cluster in the wider spectral space, in place; how many were placed."""
    # outliers go to the nearest cluster in the wider spectral space (checked against
    # outlier_similarity in the embedding space below)
    outliers = labels == NO_TOPIC
    space_centroids = _normalise(np.stack([assign_space[labels == c].mean(axis=0) for c in range(k)]))
    placed = (assign_space[outliers] @ space_centroids.T).argmax(axis=1)
    centroids = _normalise(np.stack([emb[labels == c].mean(axis=0) for c in range(k)]))
    close = (emb[outliers] * centroids[placed]).sum(axis=1) >= outlier_similarity
    rows = np.flatnonzero(outliers)
    labels[rows[close]] = placed[close]
    return int(close.sum())


@dataclass
class _Clusters:
    """Step 4's outcome: a cluster per text (NO_TOPIC for none), the centroids and every text's cosine to them."""

    labels: np.ndarray
    centroids: np.ndarray  # (k, d) unit, in the embedding space
    sims: np.ndarray  # (n, k)
    doc_similarity: np.ndarray  # cosine to the text's own centroid (to the nearest one for NO_TOPIC)


def _reassign_outliers(
    labels: np.ndarray, k: int, emb: np.ndarray, outlier_similarity: float
) -> tuple[_Clusters, dict[str, int]]:
    """Step 4: outliers join the nearest centroid they are close enough to, the centroids follow; method entries."""
    n = len(emb)
    outliers = labels == NO_TOPIC
    core = labels.copy()
    rounds = 0
    while True:
        # centroids from the current members; HDBSCAN's members never move, outliers join the nearest
        # centroid they are close enough to, and the centroids follow them (a k-means with fixed cores)
        centroids = _normalise(np.stack([emb[labels == c].mean(axis=0) for c in range(k)]))
        sims = emb @ centroids.T
        nearest = sims.argmax(axis=1)
        nearest_sim = sims[np.arange(n), nearest]
        join = outliers & (nearest_sim >= outlier_similarity)
        updated = core.copy()
        updated[join] = nearest[join]
        if rounds >= REFINE_ROUNDS or np.array_equal(updated, labels):
            labels = updated
            break
        labels = updated
        rounds += 1
    counts = {
        "reassigned_outliers": int(join.sum()),
        "centroid_rounds": rounds,
        "unassigned": int((labels == NO_TOPIC).sum()),
    }
    doc_sim = np.where(labels >= 0, sims[np.arange(n), np.maximum(labels, 0)], nearest_sim).astype(np.float32)
    return _Clusters(labels=labels, centroids=centroids, sims=sims, doc_similarity=doc_sim), counts


def _topics(texts: list[str], emb: np.ndarray, clusters: _Clusters, settings: TopicSettings) -> list[Topic]:
    """Step 5: a Topic per cluster (keywords, label, quotes; id = cluster), largest first."""
    labels = clusters.labels
    k = len(clusters.centroids)
    # order by final size, then by first member: ids 0..k-1 on a first cycle
    final_sizes = np.bincount(labels[labels >= 0], minlength=k)
    first_member = [int(np.flatnonzero(labels == c)[0]) for c in range(k)]
    order = sorted(range(k), key=lambda c: (-final_sizes[c], first_member[c]))
    clean = [clean_text(t) for t in texts]
    keywords = _keywords(clean, labels, list(range(k)), settings.keywords)
    topics: list[Topic] = []
    for c in order:
        members = np.flatnonzero(labels == c)
        kws = keywords.get(c, [])
        topics.append(
            Topic(
                id=c,
                label=_label(kws),
                keywords=kws,
                size=int(len(members)),
                centroid=clusters.centroids[c],
                quotes=_quotes(texts, members, clusters.sims[:, c], emb, settings.quotes),
                status="new",
            )
        )
    return topics


def _topic_ids(
    topics: list[Topic], previous: list[dict] | None, threshold: float
) -> tuple[list[dict], dict[int, int], dict[str, int]]:
    """Step 6: final ids and statuses, in place: (fading topics, cluster -> id, method entries)."""
    fading: list[dict] = []
    id_map: dict[int, int] = {}
    if not previous:
        for row, t in enumerate(topics):
            id_map[t.id] = row
            t.id = row
        return fading, id_map, {}
    matched, unmatched, max_id = _match_previous(np.stack([t.centroid for t in topics]), previous, threshold)
    next_id = max_id + 1
    for row, t in enumerate(topics):
        old = t.id
        if row in matched:
            t.id, t.label, t.status = int(matched[row]["id"]), str(matched[row].get("label") or t.label), "stable"
        else:
            t.id, t.status = next_id, "emerging"
            next_id += 1
        id_map[old] = t.id
    fading = [
        {
            "id": int(p["id"]),
            "label": p.get("label", ""),
            "status": "fading",
            "size": 0,
            "centroid": list(p.get("centroid") or []),
        }
        for p in unmatched
    ]
    return fading, id_map, {"stable": len(matched), "emerging": len(topics) - len(matched), "fading": len(fading)}
