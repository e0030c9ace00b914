"""Randomized customer worlds with planted structure: the proposal search proven on many tables, not one demo.

A world is a company as a CRM exports it: 4-10 segments; 5-20 attributes of random types
(booleans, categoricals with 2-500 levels and always one with 30 or more, skewed numbers, dates,
missing values, an id column, free-text notes, decoys that merely track a segment); two outcomes
(churn and revenue); and one month of feedback whose texts are real: drawn by topic (and, for
reviews, by tone) from the clothing reviews or the banking77 messages in ``../shared/data``. Where
that folder is absent (a fresh machine), the texts come from refine.demo.company's sentence
generator instead, and the world says so.

On top, 0-3 planted structures of random kind:

* NEW: one condition on one attribute (a level, a threshold anywhere, a date cut, a flag) whose
  customers differ in every segment;
* SPLIT: the same inside one segment only; three in ten are an interaction of two conditions on two
  attributes inside the segment (``segment == "S3" and plan == "plan 2" and spend_12m >= 800``);
* MERGE: two segments drawn with identical parameters.

Each with a random size (1-15% of customers) and effect size (small 0.2, medium 0.5, large 0.8 in
standardized units) on churn, revenue, the share of negative comments and the share of comments
on one topic. Every draw follows from the seed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from refine.demo import company as synth
from refine.segments.rules import condition, conjunction, quote_column

EFFECTS = {"small": 0.2, "medium": 0.5, "large": 0.8}
INTERACTION_SHARE = 0.3  # of planted splits: an interaction of two attributes inside one segment
WIDE_LEVELS = 30  # every world has a category with at least this many levels (stores, home airports)
REFERENCE_DAY = pd.Timestamp("2024-05-31")  # the export date of every world: nothing depends on the clock
CLOTHING = "womens_clothing_reviews.csv"
CATEGORY_NAMES = ("region", "store", "home_airport", "campaign", "product_category", "plan", "country", "device")
LEVEL_PREFIX = {
    "region": "R",
    "store": "store ",
    "home_airport": "AP",
    "campaign": "cmp-",
    "product_category": "cat ",
    "plan": "plan ",
    "country": "C",
    "device": "dev ",
}
NUMERIC_NAMES = ("spend_12m", "tenure_months", "visits_90d", "age", "basket_size", "support_calls", "discount_rate")
DATE_NAMES = ("signup_date", "last_order_date", "last_login")
BOOLEAN_NAMES = ("newsletter", "app_user", "paperless", "loyalty_card", "auto_renew", "gift_buyer")


@dataclass
class TextPool:
    """Texts to draw feedback from: topic per text, tone (0 negative, 1 neutral, 2 positive, -1 unknown), score."""

    texts: list[str]
    topic: np.ndarray
    tone: np.ndarray
    score: np.ndarray
    topic_names: list[str]
    source: str  # clothing reviews | banking77 | synthetic sentences (refine.demo.company)

    @property
    def has_tone(self) -> bool:
        """Whether any text carries a tone label."""
        return bool((self.tone >= 0).any())


@dataclass
class Planted:
    """One planted structure and the customers it holds."""

    kind: str  # merge | split | new
    attribute: str  # "" for a merge
    attribute_type: str  # boolean | category | numeric | date | segment (merge)
    rule: str
    segments: list[str]
    effect: str  # small | medium | large | equal (merge)
    mask: np.ndarray  # per customer row
    levels: int = 0

    @property
    def size(self) -> int:
        return int(self.mask.sum())

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "attribute": self.attribute,
            "attribute_type": self.attribute_type,
            "rule": self.rule,
            "segments": self.segments,
            "effect": self.effect,
            "customers": self.size,
            "levels": self.levels,
        }


@dataclass
class World:
    """One drawn world: the two tables as a CRM exports them, what was planted and the config mapping them."""

    seed: int
    customers: pd.DataFrame
    feedback: pd.DataFrame
    planted: list[Planted]
    text_source: str
    pool_rows: np.ndarray  # per feedback row: the text's row in the pool (for reusing its vector)
    notes: list[str] = field(default_factory=list)
    attribute_types: dict[str, str] = field(default_factory=dict)  # column -> boolean | category | ... | decoy | id

    @property
    def null(self) -> bool:
        return not self.planted

    def truth(self) -> dict:
        return {
            "world": self.seed,
            "text_source": self.text_source,
            "planted": [p.to_json() for p in self.planted],
            "notes": self.notes,
        }

    def config_dict(self) -> dict:
        return {
            "feedback": {
                "id": "feedback_id",
                "customer_id": "customer_id",
                "text": "comment",
                **({"score": "stars", "score_kind": "stars", "score_scale": [1, 5]} if self._scored else {}),
            },
            "customers": {"customer_id": "customer_id", "segment": "segment", "outcomes": ["churned", "revenue"]},
            "run": {"seed": self.seed},
        }

    @property
    def _scored(self) -> bool:
        return "stars" in self.feedback.columns

    def config_toml(self) -> str:
        score = '\nscore = "stars"\nscore_kind = "stars"\nscore_scale = [1, 5]' if self._scored else ""
        return f"""\
# refine configuration for randomized world {self.seed} (refine.demo.worlds; texts: {self.text_source}).

[feedback]
id = "feedback_id"
customer_id = "customer_id"
text = "comment"{score}

[customers]
customer_id = "customer_id"
segment = "segment"
outcomes = ["churned", "revenue"]

[run]
seed = {self.seed}
"""

    def write(self, out_dir: Path) -> dict[str, Path]:
        """customers.csv, feedback.csv, truth.json and refine.toml in out_dir."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        paths = {name: out_dir / f for name, f in (("customers", "customers.csv"), ("feedback", "feedback.csv"))}
        paths["truth"], paths["config"] = out_dir / "truth.json", out_dir / "refine.toml"
        self.customers.to_csv(paths["customers"], index=False, encoding="utf-8")
        self.feedback.to_csv(paths["feedback"], index=False, encoding="utf-8")
        paths["truth"].write_text(json.dumps(self.truth(), indent=2) + "\n", encoding="utf-8")
        paths["config"].write_text(self.config_toml(), encoding="utf-8")
        return paths


# ---- text pools -----------------------------------------------------------------------------------


def find_shared_data(start: Path | None = None) -> Path | None:
    """The shared data folder: ``shared/data`` beside the repository or one of its parents; None if absent."""
    here = Path(start or Path(__file__).resolve().parents[2]).resolve()
    for folder in [here, *here.parents]:
        candidate = folder / "shared" / "data"
        if (candidate / CLOTHING).is_file() or (candidate / "banking77").is_dir():
            return candidate
    return None


def load_pools(data_dir: Path | None, per_bucket: int = 250) -> list[TextPool]:
    """The real text pools found in data_dir (clothing reviews by class and tone; banking77 by intent)."""
    pools: list[TextPool] = []
    if data_dir is None:
        return pools
    clothing = Path(data_dir) / CLOTHING
    if clothing.is_file():
        frame = pd.read_csv(clothing).dropna(subset=["Review Text", "Class Name", "Rating"])
        frame = frame[frame["Review Text"].str.len() >= 20]
        classes = frame["Class Name"].value_counts()
        classes = sorted(classes[classes >= 500].index)
        frame = frame[frame["Class Name"].isin(classes)]
        frame["tone"] = np.select([frame["Rating"] <= 2, frame["Rating"] == 3], [0, 1], 2)
        # a bounded, seeded sample per class x tone keeps the pool small enough to embed once
        frame = (
            frame.sample(frac=1.0, random_state=0)
            .groupby(["Class Name", "tone"], sort=True)
            .head(per_bucket)
            .sort_values(["Class Name", "tone", "Unnamed: 0"])
        )
        pools.append(
            TextPool(
                texts=frame["Review Text"].str.strip().tolist(),
                topic=frame["Class Name"].map({c: i for i, c in enumerate(classes)}).to_numpy(),
                tone=frame["tone"].to_numpy(),
                score=frame["Rating"].to_numpy(dtype=float),
                topic_names=list(classes),
                source="clothing reviews (../shared/data)",
            )
        )
    banking = Path(data_dir) / "banking77"
    if (banking / "train.csv").is_file():
        frame = pd.concat([pd.read_csv(banking / f) for f in ("train.csv", "test.csv") if (banking / f).is_file()])
        categories = sorted(frame["category"].unique())
        chosen = [categories[i] for i in range(0, len(categories), 3)]  # 26 intents, spread over the list
        frame = frame[frame["category"].isin(chosen)].drop_duplicates("text").sort_values(["category", "text"])
        pools.append(
            TextPool(
                texts=frame["text"].str.strip().tolist(),
                topic=frame["category"].map({c: i for i, c in enumerate(chosen)}).to_numpy(),
                tone=np.full(len(frame), -1),
                score=np.full(len(frame), np.nan),
                topic_names=chosen,
                source="banking77 messages (../shared/data)",
            )
        )
    return pools


def synthetic_pool(seed: int = 0, per_bucket: int = 60) -> TextPool:
    """Fallback texts when no shared data is present: refine.demo.company's sentences by theme and tone."""
    rng = np.random.default_rng(seed)
    texts, topics, tones = [], [], []
    for theme in range(len(synth.THEMES)):
        for tone in range(3):
            made = set()
            for _ in range(per_bucket * 3):
                text = " ".join(synth._fill(rng, synth._sentence(rng, theme, tone)) for _ in range(2))
                if text not in made:
                    made.add(text)
                    texts.append(text)
                    topics.append(theme)
                    tones.append(tone)
                if len(made) == per_bucket:
                    break
    tone_array = np.asarray(tones)
    return TextPool(
        texts=texts,
        topic=np.asarray(topics),
        tone=tone_array,
        score=np.where(tone_array == 0, 2.0, np.where(tone_array == 1, 3.0, 5.0)),
        topic_names=[synth.THEME_LABELS.get(t, t) if isinstance(synth.THEME_LABELS, dict) else t for t in synth.THEMES],
        source="synthetic sentences (refine.demo.company; ../shared/data not found)",
    )


# ---- drawing a world ------------------------------------------------------------------------------


def _shift_proportion(p: np.ndarray | float, h: float) -> np.ndarray:
    """The proportion whose Cohen's h from p is h."""
    angle = np.clip(2 * np.arcsin(np.sqrt(p)) + h, 0.0, math.pi)
    return np.sin(angle / 2) ** 2


def _level_names(column: str, n: int) -> list[str]:
    prefix = LEVEL_PREFIX.get(column, column[:3] + " ")
    width = len(str(n))
    return [f"{prefix}{i + 1:0{width}d}" for i in range(n)]


@dataclass
class _Segments:
    """A world's segments: names, each customer's segment, the world's topics, and per segment its parameters."""

    names: list[str]
    seg: np.ndarray  # per customer: the index of its segment
    topics: np.ndarray  # per world topic: its topic in the pool
    revenue_mean: np.ndarray
    churn: np.ndarray
    negative: np.ndarray
    topic_mix: np.ndarray
    rate: np.ndarray  # response rate
    merged: list[int] = field(default_factory=list)  # the two segments of a planted merge

    @property
    def k(self) -> int:
        return len(self.names)


def _draw_segments(rng: np.random.Generator, n: int, pool: TextPool, response_rate: tuple[float, float]) -> _Segments:
    """4-10 segments of random shares, the world's topics, and each segment's outcome and feedback parameters."""
    k = int(rng.integers(4, 11))
    names = [f"S{i + 1}" for i in range(k)]
    shares = rng.dirichlet(np.full(k, 3.0))
    shares = np.maximum(shares, 0.04)
    shares /= shares.sum()
    seg = rng.choice(k, size=n, p=shares)
    n_topics_world = min(len(pool.topic_names), int(rng.integers(6, 11)))
    topics = np.sort(rng.choice(len(pool.topic_names), size=n_topics_world, replace=False))
    # per segment: revenue ranks 0.5 SD apart (no two segments alike unless a merge is planted)
    revenue_mean = rng.permutation(k) * 0.5
    churn = rng.uniform(0.05, 0.3, size=k)
    negative = rng.uniform(0.15, 0.45, size=k)
    topic_mix = rng.dirichlet(np.full(n_topics_world, 3.0), size=k)
    rate = rng.uniform(*response_rate) * rng.uniform(0.8, 1.25, size=k)
    return _Segments(names, seg, topics, revenue_mean, churn, negative, topic_mix, rate)


def _plant_merge(rng: np.random.Generator, segs: _Segments) -> Planted:
    """MERGE: two segments given identical parameters (recorded in `segs.merged`)."""
    names = segs.names
    a, b = sorted(int(x) for x in rng.choice(segs.k, size=2, replace=False))
    segs.revenue_mean[b], segs.churn[b], segs.negative[b] = segs.revenue_mean[a], segs.churn[a], segs.negative[a]
    segs.topic_mix[b], segs.rate[b] = segs.topic_mix[a], segs.rate[a]
    segs.merged = [a, b]
    return Planted(
        "merge", "", "segment", condition("segment", "in", [names[a], names[b]]), [names[a], names[b]],
        "equal", np.isin(segs.seg, segs.merged),
    )  # fmt: skip


@dataclass
class _Attributes:
    """A world's attribute columns as they are drawn: values, types and the names already taken."""

    rng: np.random.Generator
    n: int
    columns: dict[str, np.ndarray | list] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)

    def fresh(self, options) -> str:
        """A name from `options` not taken yet (or the first one numbered)."""
        free = [o for o in options if o not in self.used] or [f"{options[0]}_{len(self.used)}"]
        name = str(free[int(self.rng.integers(len(free)))])
        self.used.add(name)
        return name

    def boolean(self, p=None) -> str:
        """A flag, true for a share `p` (random when None)."""
        rng, n = self.rng, self.n
        name = self.fresh(BOOLEAN_NAMES)
        self.columns[name] = rng.random(n) < (rng.uniform(0.1, 0.9) if p is None else p)
        self.types[name] = "boolean"
        return name

    def category(self, levels=None, special_share=None) -> tuple[str, int]:
        """A categorical with 2-500 levels and sometimes missing values; one special level of a given share."""
        rng, n = self.rng, self.n
        name = self.fresh(CATEGORY_NAMES)
        levels = levels or int(np.exp(rng.uniform(np.log(2), np.log(500))))
        probs = rng.dirichlet(np.full(levels, 1.0))
        special = int(rng.integers(levels))
        if special_share is not None:
            others = np.delete(probs, special)
            others = others / others.sum() * (1 - special_share)
            probs = np.insert(others, special, special_share)
        values = np.array(_level_names(name, levels), dtype=object)[rng.choice(levels, size=n, p=probs)]
        missing = rng.random(n) < (0.05 if rng.random() < 0.3 else 0.0)
        values[missing & (values != _level_names(name, levels)[special])] = ""
        self.columns[name] = values
        self.types[name] = "category"
        return name, special

    def numeric(self) -> str:
        """A skewed (lognormal, gamma) or normal number, sometimes missing."""
        rng, n = self.rng, self.n
        name = self.fresh(NUMERIC_NAMES)
        shape = rng.choice(["lognormal", "gamma", "normal"])
        if shape == "lognormal":
            x = np.round(np.exp(rng.normal(rng.uniform(3, 8), rng.uniform(0.5, 1.2), n)), 2)
        elif shape == "gamma":
            x = np.round(rng.gamma(rng.uniform(0.8, 3), rng.uniform(2, 30), n), 1)
        else:
            x = np.round(rng.normal(rng.uniform(30, 60), rng.uniform(8, 15), n))
        x[rng.random(n) < (0.08 if rng.random() < 0.4 else 0.0)] = np.nan
        self.columns[name] = x
        self.types[name] = "numeric"
        return name

    def date(self) -> str:
        """A date before the export day, sometimes missing (an empty string, as a CRM exports it)."""
        rng, n = self.rng, self.n
        name = self.fresh(DATE_NAMES)
        days = np.floor(rng.exponential(rng.uniform(60, 700), n))
        dates = (REFERENCE_DAY - pd.to_timedelta(days, unit="D")).strftime("%Y-%m-%d").to_numpy(dtype=object)
        dates[rng.random(n) < (0.1 if rng.random() < 0.5 else 0.0)] = ""
        self.columns[name] = dates
        self.types[name] = "date"
        return name

    def decoy(self, seg: np.ndarray, k: int) -> str:
        """A flag that merely tracks one segment."""
        s = int(self.rng.integers(k))
        name = self.fresh(("lounge_access", "priority_support", "premium_card"))
        self.columns[name] = self.rng.random(self.n) < np.where(seg == s, 0.9, 0.05)
        self.types[name] = "decoy"
        return name


def _planted_attribute(rng: np.random.Generator, attributes: _Attributes, attribute_type: str, share: float):
    """A new attribute of the given type with a condition true for about `share` of the customers.

    Returns the column, its members (a boolean per customer), the rule and the number of levels (categories).
    """
    columns, levels = attributes.columns, 0
    if attribute_type == "boolean":
        name = attributes.boolean(p=share)
        member = np.asarray(columns[name]).astype(bool)
        rule = condition(name, "==", True)
    elif attribute_type == "category":
        name, special = attributes.category(special_share=share)
        # levels in a fixed order (share, then name): a set's order follows PYTHONHASHSEED, and a tie
        # between two levels as close to `share` must not draw a different world in another process
        value = sorted(set(columns[name]) - {""}, key=lambda v: (np.mean(columns[name] == v), v))
        levels = len(value)
        target = min(value, key=lambda v: abs(np.mean(columns[name] == v) - share))
        member = columns[name] == target
        rule = condition(name, "==", target)
    elif attribute_type == "numeric":
        name = attributes.numeric()
        x = np.asarray(columns[name], dtype=float)
        high = rng.random() < 0.5
        cut = float(np.nanquantile(x, 1 - share if high else share))
        member = (x >= cut) if high else (x < cut)
        member = member & np.isfinite(x)
        rule = f"{quote_column(name)} {'>=' if high else '<'} {cut:g}"
    else:
        name = attributes.date()
        d = pd.to_datetime(pd.Series(columns[name]).replace("", None))
        recent = rng.random() < 0.5
        cut = d.quantile(1 - share if recent else share)
        member = ((d >= cut) if recent else (d < cut)).to_numpy() & d.notna().to_numpy()
        rule = f'{quote_column(name)} {">=" if recent else "<"} "{cut.strftime("%Y-%m-%d")}"'
    return name, member, rule, levels


def _plant_group(rng: np.random.Generator, attributes: _Attributes, kind: str, segs: _Segments) -> Planted:
    """SPLIT or NEW: a condition on an attribute of its own, inside one segment (split) or across all (new)."""
    n = attributes.n
    share = float(np.exp(rng.uniform(np.log(0.01), np.log(0.15))))
    effect = str(rng.choice(list(EFFECTS)))
    where = np.ones(n, dtype=bool)
    segments: list[str] = []
    if kind == "split":
        seg, merged = segs.seg, segs.merged
        options = [s for s in range(segs.k) if s not in merged and (seg == s).sum() * 0.6 >= share * n]
        if not options:
            options = [s for s in range(segs.k) if s not in merged]
        s = int(options[int(rng.integers(len(options)))])
        where = seg == s
        segments = [segs.names[s]]
        share = min(0.6, share * n / max(int(where.sum()), 1))  # share within the segment
    if kind == "split" and rng.random() < INTERACTION_SHARE:
        return _plant_interaction(rng, attributes, segs.names[s], where, share, effect)
    attribute_type = str(rng.choice(["boolean", "category", "numeric", "date"]))
    name, member, rule, levels = _planted_attribute(rng, attributes, attribute_type, share)
    mask = member & where
    if kind == "split":
        rule = conjunction(condition("segment", "==", segments[0]), rule)
    return Planted(kind, name, attribute_type, rule, segments, effect, mask, levels)


def _plant_interaction(
    rng: np.random.Generator, attributes: _Attributes, segment: str, where: np.ndarray, share: float, effect: str
) -> Planted:
    """SPLIT on an interaction: the customers of one segment who meet two conditions on two attributes.

    Each condition holds for about sqrt(share) of the segment, at most 45%, so neither alone selects the
    group (a one-term rule on either matches it with Jaccard under the bench's 0.6).
    """
    types = [str(t) for t in rng.choice(["boolean", "category", "numeric", "date"], size=2)]
    each = min(0.45, math.sqrt(share))
    first = _planted_attribute(rng, attributes, types[0], each)
    second = _planted_attribute(rng, attributes, types[1], each)
    mask = first[1] & second[1] & where
    rule = conjunction(condition("segment", "==", segment), first[2], second[2])
    return Planted(
        "split", f"{first[0]} x {second[0]}", "interaction", rule, [segment], effect, mask, max(first[3], second[3])
    )


def _add_other_attributes(rng: np.random.Generator, attributes: _Attributes, segs: _Segments) -> None:
    """Attributes up to a random total (5-20) of random types and decoys; sometimes an id and free-text notes."""
    n, columns, types = attributes.n, attributes.columns, attributes.types
    total = int(rng.integers(5, 21))
    if not any(types[c] == "category" and len(set(columns[c])) > WIDE_LEVELS for c in columns):
        attributes.category(levels=int(rng.integers(WIDE_LEVELS, 4 * WIDE_LEVELS)))  # a home airport among 30-120
    while len(columns) < total:
        kind = rng.choice(["boolean", "category", "numeric", "date", "decoy"], p=[0.2, 0.3, 0.25, 0.15, 0.1])
        if kind == "boolean":
            attributes.boolean()
        elif kind == "category":
            attributes.category()
        elif kind == "numeric":
            attributes.numeric()
        elif kind == "date":
            attributes.date()
        else:
            attributes.decoy(segs.seg, segs.k)
    if rng.random() < 0.5:
        columns["member_code"] = np.array(
            [f"M{v:08d}" for v in rng.permutation(n) * 97 + rng.integers(0, 97, n)], dtype=object
        )
        types["member_code"] = "id"
    if rng.random() < 0.3:
        words = ["prefers", "email", "called", "about", "delivery", "asked", "refund", "vip", "moved", "new", "address"]
        columns["notes"] = np.array(
            [" ".join(rng.choice(words, size=int(rng.integers(6, 14)))) + f" #{i}" for i in range(n)], dtype=object
        )
        types["notes"] = "free text"


@dataclass
class _People:
    """Per customer: revenue (standard units), churn and negative-comment probabilities, the pull to one topic."""

    revenue: np.ndarray
    p_churn: np.ndarray
    p_negative: np.ndarray
    focus: np.ndarray  # share of comments pulled to the planted group's topic
    focus_topic: np.ndarray


def _people(rng: np.random.Generator, segs: _Segments, groups: list[tuple[np.ndarray, float]]) -> _People:
    """Segment parameters per customer, shifted inside planted groups (worse in every way)."""
    n = len(segs.seg)
    people = _People(
        revenue=segs.revenue_mean[segs.seg] + rng.normal(0, 1, n),
        p_churn=segs.churn[segs.seg].copy(),
        p_negative=segs.negative[segs.seg].copy(),
        focus=np.zeros(n),
        focus_topic=np.full(n, -1),
    )
    for mask, d in groups:
        people.revenue[mask] -= d
        people.p_churn[mask] = _shift_proportion(people.p_churn[mask], d)
        people.p_negative[mask] = _shift_proportion(people.p_negative[mask], d)
        people.focus[mask] = np.clip(d * 0.5, 0, 0.6)
        people.focus_topic[mask] = int(rng.integers(len(segs.topics)))
    return people


def _customers(rng: np.random.Generator, ids: list[str], segs: _Segments, columns: dict, people: _People):
    """The customer table: id, segment, the attributes, churned and revenue."""
    churned = (rng.random(len(ids)) < people.p_churn).astype(int)
    table = {"customer_id": ids, "segment": np.array(segs.names, dtype=object)[segs.seg]}
    table.update(columns)
    table["churned"] = churned
    table["revenue"] = np.round(400 + 120 * people.revenue, 2)
    return pd.DataFrame(table)


def _pool_rows(rng: np.random.Generator, pool: TextPool, topic: np.ndarray, tone: np.ndarray) -> np.ndarray:
    """Per comment, a pool text of its topic (and tone, where the pool has tones), each bucket dealt from a shuffle."""
    has_tone = pool.has_tone
    pool_rows = np.empty(len(topic), dtype=np.int64)
    buckets: dict[tuple[int, int], np.ndarray] = {}
    cursor: dict[tuple[int, int], int] = {}
    for row, (t, g) in enumerate(zip(topic, tone)):
        key = (int(t), int(g) if has_tone else -1)
        if key not in buckets:
            rows = np.flatnonzero((pool.topic == key[0]) & ((pool.tone == key[1]) if has_tone else True))
            if not len(rows):
                rows = np.flatnonzero(pool.topic == key[0])
            buckets[key] = rng.permutation(rows)
            cursor[key] = 0
        bucket = buckets[key]
        pool_rows[row] = bucket[cursor[key] % len(bucket)]
        cursor[key] += 1
    return pool_rows


def _feedback(rng: np.random.Generator, seed: int, ids: list[str], segs: _Segments, people: _People, pool: TextPool):
    """The month's feedback (who writes, some twice; topic; tone; text) and each comment's row in the pool."""
    responds = rng.random(len(ids)) < segs.rate[segs.seg]
    writers = np.flatnonzero(responds)
    writers = np.concatenate([writers, writers[rng.random(len(writers)) < 0.08]])
    writers.sort(kind="stable")
    pulled = rng.random(len(writers)) < people.focus[writers]
    cumulative = np.cumsum(segs.topic_mix[segs.seg[writers]], axis=1)
    drawn_topic = np.minimum((rng.random((len(writers), 1)) > cumulative).sum(axis=1), len(segs.topics) - 1)
    drawn_topic = np.where(pulled, people.focus_topic[writers], drawn_topic)
    tone_draw = rng.random(len(writers))
    p_negative = people.p_negative[writers]
    tone = np.where(tone_draw < p_negative, 0, np.where(tone_draw < p_negative + 0.2, 1, 2))
    pool_rows = _pool_rows(rng, pool, segs.topics[drawn_topic], tone)
    feedback = pd.DataFrame(
        {
            "feedback_id": [f"F{seed:03d}-{i:06d}" for i in range(len(writers))],
            "customer_id": np.array(ids, dtype=object)[writers],
            "comment": [pool.texts[r] for r in pool_rows],
        }
    )
    if np.isfinite(pool.score).any():
        feedback["stars"] = pool.score[pool_rows].astype(int)
    return feedback, pool_rows


def draw_world(
    seed: int,
    pool: TextPool,
    *,
    null: bool = False,
    n_customers: int = 20000,
    response_rate: tuple[float, float] = (0.15, 0.3),
) -> World:
    """Draw one world (see the module doc); ``null`` plants nothing."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1 if null else 0]))
    segs = _draw_segments(rng, n_customers, pool, response_rate)
    n_planted = 0 if null else int(rng.integers(1, 4))
    kinds = [str(rng.choice(["merge", "split", "new"])) for _ in range(n_planted)]
    if kinds.count("merge") > 1:  # one merge per world keeps the other segments distinct
        kinds = [kinds[0]] + [kind if kind != "merge" else "new" for kind in kinds[1:]]
    planted = [_plant_merge(rng, segs)] if "merge" in kinds else []
    attributes = _Attributes(rng, n_customers)
    # the planted split / new structures, each on an attribute of its own
    planted += [_plant_group(rng, attributes, kind, segs) for kind in kinds if kind != "merge"]
    # the other attributes: random types, decoys tracking a segment, sometimes an id and free text
    _add_other_attributes(rng, attributes, segs)
    # outcomes and feedback: segment parameters, shifted inside planted groups (worse in every way)
    people = _people(rng, segs, [(p.mask, EFFECTS[p.effect]) for p in planted if p.kind != "merge"])
    customer_ids = [f"W{seed:03d}-{i:06d}" for i in range(n_customers)]
    customers = _customers(rng, customer_ids, segs, attributes.columns, people)
    feedback, pool_rows = _feedback(rng, seed, customer_ids, segs, people, pool)
    notes = [f"texts: {pool.source}"]
    if not pool.has_tone:
        notes.append("texts carry no tone label: planted effects move topics and outcomes, not sentiment")
    return World(seed, customers, feedback, planted, pool.source, pool_rows, notes, attributes.types)


def world_pool(seed: int, pools: list[TextPool]) -> TextPool:
    """The pool a world draws its texts from: alternating between the real pools found, by seed."""
    return pools[seed % len(pools)] if pools else synthetic_pool(seed)
