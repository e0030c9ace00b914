"""The measuring rules of the themes bench (issue 30), apart from refine's own code so they judge it.

* `load_entities` / `inject`: entities (banks and brands, cities, airport codes, @handles, hashtags) from
  bench/data/injected_entities.tsv, which refine's code does not contain (`check_unseen` fails if it
  does), put into half of the messages (seeded) as people write them on social media: one entity per
  chosen message, lower case as often as as written, at a random word position, bare or with a short
  word before it ("in leeds", "at LHR"). The file's "build" part is for choosing settings on the
  training messages, the "heldout" part is scored once on the test messages.
* `entity_named`: themes whose name contains an injected entity (case, @ and # ignored).
* `proper_noun_words` / `proper_noun_names`: a theme name is named for a proper noun, handle or hashtag
  when one of its words is, in the data set's own texts, written as @word or #word in at least a third
  of its occurrences, or capitalised (first letter or all letters) in at least half of its
  occurrences inside a sentence (not its first word), with at least 3 such occurrences. Looser than
  refine's masking rule (0.9), so it does not grade refine by refine's own rule.
* `name_audit`: a BANKING77 theme's name matches when its majority intent's name (as words:
  "card_arrival" -> "card arrival") is among the 3 intent names nearest to the theme's name (cosine of
  the embedded name against the 77 embedded intent names); the baseline shuffles the names among the
  themes (200 seeded permutations, mean) and applies the same rule.
* `same_name_pairs`: pairs of child themes (and of parents) whose names are equal up to case and plural.
* `largest_child_share`: the largest child theme's comments over the comments that have a theme.
"""

from __future__ import annotations

import re
from collections import Counter
from itertools import combinations
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data" / "injected_entities.tsv"
KINDS = ("brand", "city", "airport", "handle", "hashtag")
GLUE = {"brand": ["with", "from", "my"], "city": ["in", "from", "near"], "airport": ["at", "via", "from"]}
_WORD = re.compile(r"[a-z0-9]+")


def load_entities(part: str, path: Path = DATA) -> dict[str, list[str]]:
    """The entities of one part ("build" or "heldout") by kind (1st, 3rd, ... line of a kind: build)."""
    by_kind: dict[str, list[str]] = {k: [] for k in KINDS}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        kind, name = line.split("\t")
        by_kind[kind].append(name)
    keep = 0 if part == "build" else 1
    return {k: v[keep::2] for k, v in by_kind.items()}


def check_unseen(root: Path, path: Path = DATA) -> list[str]:
    """Injected entity words that occur in refine's own code (should be none)."""
    words = set()
    for part in ("build", "heldout"):
        for names in load_entities(part, path).values():
            words.update(_WORD.findall(" ".join(names).lower()))
    words -= {"app", "cash", "help", "support", "bank", "ask", "air", "life", "fly", "me"}
    code = " ".join(p.read_text(encoding="utf-8", errors="ignore").lower() for p in (root / "refine").rglob("*.py"))
    found = set(_WORD.findall(code))
    return sorted(w for w in words if w in found and len(w) > 3)


def inject(texts: list[str], entities: dict[str, list[str]], seed: int) -> tuple[list[str], list[str]]:
    """(texts with an entity in half of them, the entity put into each or "")."""
    rng = np.random.default_rng(seed)
    n = len(texts)
    chosen = set(rng.permutation(n)[: n // 2].tolist())
    out, planted = [], []
    for i, text in enumerate(texts):
        if i not in chosen:
            out.append(text)
            planted.append("")
            continue
        kind = KINDS[int(rng.integers(len(KINDS)))]
        name = entities[kind][int(rng.integers(len(entities[kind])))]
        written = name.lower() if rng.random() < 0.5 else name
        if kind in GLUE and rng.random() < 0.5:
            written = f"{GLUE[kind][int(rng.integers(len(GLUE[kind])))]} {written}"
        words = str(text).split()
        at = int(rng.integers(len(words) + 1))
        out.append(" ".join(words[:at] + [written] + words[at:]))
        planted.append(name)
    return out, planted


def _norm(text: str) -> str:
    return " ".join(_WORD.findall(str(text).lower()))


def entity_named(labels: list[str], entities: list[str]) -> list[str]:
    """The labels that contain one of the entities (whole words; case, @, # and _ ignored)."""
    keys = {_norm(e.replace("_", " ")) for e in entities} | {_norm(e).replace(" ", "") for e in entities}
    hits = []
    for label in labels:
        name = f" {_norm(label)} "
        squashed = name.replace(" ", "")
        if any(f" {k} " in name or (len(k) > 4 and k == squashed) for k in keys if k):
            hits.append(label)
    return hits


def proper_noun_words(texts: list[str]) -> set[str]:
    """Lower-case words the texts write as @handle / #hashtag or capitalised inside sentences (docstring)."""
    tagged: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    caps: Counter[str] = Counter()
    inside: Counter[str] = Counter()
    token = re.compile(r"[@#]?[A-Za-z][A-Za-z0-9']*")
    for text in texts:
        text = str(text)
        for m in token.finditer(text):
            raw = m.group(0)
            word = raw.lstrip("@#")
            key = word.lower()
            seen[key] += 1
            if raw[0] in "@#":
                tagged[key] += 1
                continue
            before = text[max(0, m.start() - 3) : m.start()].rstrip()
            if not before or before[-1] in '.!?:;"“(\n':
                continue
            inside[key] += 1
            if word[0].isupper():
                caps[key] += 1
    ordinary = {"i", "i'm", "i've", "i'd", "i'll", "im", "ok", "user"}
    out = {w for w, c in tagged.items() if c >= max(1, seen[w] / 3)}
    out |= {w for w, c in caps.items() if inside[w] >= 3 and c / inside[w] >= 0.5}
    return out - ordinary


def proper_noun_names(labels: list[str], words: set[str]) -> list[str]:
    """The labels with a word in `words`."""
    return [label for label in labels if any(w in words for w in _WORD.findall(label.lower()))]


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ses", "xes", "ches", "shes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def same_name_pairs(labels: list[str]) -> list[tuple[str, str]]:
    """Pairs of labels equal up to case and plural."""
    keys = [" ".join(_singular(w) for w in _WORD.findall(label.lower())) for label in labels]
    return [(labels[i], labels[j]) for i, j in combinations(range(len(labels)), 2) if keys[i] == keys[j]]


def largest_child_share(primary: np.ndarray) -> float:
    themed = primary[primary >= 0]
    return float(np.bincount(themed).max() / len(themed)) if len(themed) else 0.0


def name_audit(result, truth: np.ndarray, encode, seed: int = 0) -> tuple[float, float, float, int]:
    """(share of themes whose name matches its majority intent's, shuffled baseline, top-1 share, themes)."""
    from refine.text.themes.codeframe import name_words

    intents = sorted(set(truth.tolist()))
    themes = [t for t in result.themes if (result.primary == t.id).any()]
    if not themes:
        return 0.0, 0.0, 0.0, 0
    majority = [intents.index(Counter(truth[result.primary == t.id].tolist()).most_common(1)[0][0]) for t in themes]
    unit = lambda x: x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)  # noqa: E731
    names = unit(np.asarray(encode([t.label for t in themes]), dtype=np.float32))
    intent_vecs = unit(np.asarray(encode([name_words(c) for c in intents]), dtype=np.float32))
    top = np.argsort(-(names @ intent_vecs.T), axis=1)[:, :3]
    want = np.array(majority)

    def score(order: np.ndarray) -> tuple[float, float]:
        t3 = float(np.mean([want[i] in top[j] for i, j in enumerate(order)]))
        return t3, float(np.mean(top[order, 0] == want))

    matched, top1 = score(np.arange(len(themes)))
    rng = np.random.default_rng(seed)
    shuffled = float(np.mean([score(rng.permutation(len(themes)))[0] for _ in range(200)]))
    return matched, shuffled, top1, len(themes)
