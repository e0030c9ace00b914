"""What a run will cost, said before the first embedding: texts to embed and about how long.

Embedding is most of a cold run, and its cost follows the characters the model reads, not the
number of comments: a 600-character review costs about ten short survey answers. A text's work is
counted in units of ``OVERHEAD_CHARS + min(len(text), MAX_CHARS)`` (the model reads 256 word pieces
at most, so longer text costs no more).

Each embedding run records its own throughput (units, seconds, the model's load time) in
``<cache>/throughput.json``, per embedding model id; each finished cycle records the seconds per
comment of its other stages (sentiment, themes, proposals, report), apart for runs that embedded
something ("cold") and runs that embedded nothing ("warm"). An estimate uses the last
``KEEP`` records of this cache folder when there are any, else the built-in figures below, and says
which. The file holds counts and seconds only, never a text. A missing or unreadable file is no
record; a failure to write it only costs the calibration.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from refine.files import atomic_write

THROUGHPUT_FILE = "throughput.json"
OVERHEAD_CHARS = 40  # what a text costs on top of its characters (tokeniser, padding, batching)
MAX_CHARS = 1200  # about 256 word pieces of English: the model truncates there
KEEP = 5  # records per model (and per kind of run) the calibration pools
MIN_TEXTS = 32  # an embedding run of fewer texts says little about throughput: not recorded

# Built-in figures, used before this cache folder has a record of its own, from runs on the project's shared
# 2-core machine (docs/scale.md, "What drives cost"): seconds per unit of text (see above) per backend, the
# model's load, the sentiment stage per text it has not scored before (its scores are cached like embeddings),
# and the other stages after embedding (themes, proposals, insights, report: they read every comment) as fixed
# seconds plus seconds per comment. Only the per-text and per-comment parts are calibrated (a run's seconds
# less the fixed part), so one small run does not make a large one look slow.
BUILTIN_S_PER_UNIT = {"torch": 1.0e-4, "onnx": 5.0e-5, "onnx-int8": 2.5e-5}
BUILTIN_LOAD_S = 3.0
BUILTIN_SCORING_S_PER_TEXT = 1.5e-3
REST_FIXED_S = {"cold": 5.0, "warm": 1.0}
BUILTIN_REST_S_PER_COMMENT = {"cold": 2.0e-3, "warm": 1.0e-3}


def busy() -> float:
    """How shared this machine is now: the 1-minute load average per CPU, at least 1 (1 = a core to spare).

    Kept beside each record and said beside an estimate, not used to scale either: on the shared 2-core
    machine, dividing recorded seconds by it and multiplying estimates by it missed by 2-4x (a nice'd run
    under a load of 7-10 per core ran 2-5 times slower, not 7-10 times).
    """
    try:
        return max(1.0, os.getloadavg()[0] / max(os.cpu_count() or 1, 1))
    except OSError:  # no load average on this platform
        return 1.0


def work_units(texts: Sequence[str]) -> int:
    """The embedding work of `texts`, in units of roughly one character each (see the module docstring)."""
    return sum(OVERHEAD_CHARS + min(len(str(t)), MAX_CHARS) for t in texts)


def _read(cache_dir: Path) -> dict:
    try:
        document = json.loads((Path(cache_dir) / THROUGHPUT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def _append(cache_dir: Path, section: str, name: str, record: dict) -> None:
    document = _read(cache_dir)
    group = document.setdefault(section, {})
    records = group.get(name) if isinstance(group, dict) else None
    if not isinstance(group, dict):
        group = document[section] = {}
    records = [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []
    group[name] = (records + [record])[-KEEP:]
    text = json.dumps(document, indent=1)
    try:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        atomic_write(Path(cache_dir) / THROUGHPUT_FILE, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    except OSError:
        return


def record_embedding(
    cache_dir: Path | None, model_id: str, texts: int, units: int, seconds: float, load_s: float, *, shared: float = 1.0
):
    """Keep the throughput of one embedding run (the model's load apart) in the cache folder; `shared` is
    busy() while it ran (kept beside it)."""
    if cache_dir is None or texts < MIN_TEXTS or seconds <= 0:
        return
    shared = max(float(shared), 1.0)
    record = {
        "texts": int(texts),
        "units": int(units),
        "seconds": round(seconds, 4),
        "load_s": round(load_s, 4),
        "busy": round(shared, 2),
    }
    _append(cache_dir, "embedding", model_id, record)


def record_stages(
    cache_dir: Path | None,
    comments: int,
    seconds: float,
    *,
    warm: bool,
    shared: float = 1.0,
    texts: int = 0,
    scoring_s: float = 0.0,
) -> None:
    """Keep the seconds of a cycle's stages after embedding (`shared`: busy() while they ran, kept beside them):
    the sentiment stage's `scoring_s` per new text (`texts`, those it embedded), and the other stages'
    `seconds` less their fixed part (REST_FIXED_S) per comment."""
    kind = "warm" if warm else "cold"
    if cache_dir is None or comments < MIN_TEXTS or seconds <= 0:
        return
    shared = max(float(shared), 1.0)
    if texts >= MIN_TEXTS and scoring_s > 0:
        record = {"texts": int(texts), "seconds": round(scoring_s, 4), "busy": round(shared, 2)}
        _append(cache_dir, "scoring", "new texts", record)
    per = max(seconds - REST_FIXED_S[kind], 1e-3)
    _append(cache_dir, "stages", kind, {"comments": int(comments), "seconds": round(per, 4), "busy": round(shared, 2)})


def _pooled(records, per: str) -> tuple[float, float] | None:
    """(seconds per `per`, mean load seconds) over the usable records, or None."""
    usable = [r for r in records or [] if isinstance(r, dict) and r.get(per, 0) > 0 and r.get("seconds", 0) > 0]
    if not usable:
        return None
    rate = sum(float(r["seconds"]) for r in usable) / sum(float(r[per]) for r in usable)
    return rate, sum(float(r.get("load_s", 0.0)) for r in usable) / len(usable)


@dataclass
class Estimate:
    """A run's size and cost before its first embedding (`refine run --estimate` prints it)."""

    comments: int
    sentences: int  # sentences cut from multi-sentence comments (a one-sentence comment is its own sentence)
    to_embed: int  # distinct texts not in the embedding cache
    cached: int  # distinct texts the cache already holds
    units: int  # work units of the texts to embed
    customers: int
    embed_s: float
    rest_s: float
    calibrated: bool  # embedding seconds from this cache's own record (else the built-in figure)
    rest_calibrated: bool
    busy: float = 1.0  # busy() when estimated (said, not used: see busy())

    @property
    def seconds(self) -> float:
        return self.embed_s + self.rest_s

    def to_json(self) -> dict:
        fields = self.__dict__.copy()
        fields["seconds"] = round(self.seconds, 1)
        fields["embed_s"] = round(self.embed_s, 1)
        fields["rest_s"] = round(self.rest_s, 1)
        return fields

    def lines(self) -> list[str]:
        """What a person reads: sizes, then time and where the figure comes from."""
        chars = max(self.units - OVERHEAD_CHARS * self.to_embed, 0)
        source = (
            "calibrated from this cache's earlier runs"
            if self.calibrated and self.rest_calibrated
            else "BUILT-IN per-text figures, not measured on this machine (one run calibrates them)"
            if not self.calibrated and not self.rest_calibrated
            else "partly calibrated from this cache's earlier runs, partly built-in figures"
        )
        if self.busy >= 1.5:
            source += f"; the machine is busy (load {self.busy:.1f}x its cores): times vary with that"
        return [
            f"{self.comments:,} comments ({self.sentences:,} sentences cut from multi-sentence ones), "
            f"{self.customers:,} customers",
            f"to embed: {self.to_embed:,} distinct texts ({chars:,} characters read); {self.cached:,} from cache",
            f"about {_duration(self.seconds)} after ingest (embedding {_duration(self.embed_s)}, other stages "
            f"{_duration(self.rest_s)}); {source}",
        ]


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def estimate(
    cache_dir: Path | None,
    model_id: str,
    backend: str,
    missing: Sequence[str],
    *,
    comments: int,
    sentences: int,
    cached: int,
    customers: int,
) -> Estimate:
    """The estimate for embedding the texts `missing` (distinct, not in the cache) and running the other stages."""
    document = _read(cache_dir) if cache_dir is not None else {}
    embedding = document.get("embedding", {}) if isinstance(document.get("embedding"), dict) else {}
    stages = document.get("stages", {}) if isinstance(document.get("stages"), dict) else {}
    units = work_units(missing)
    pooled = _pooled(embedding.get(model_id), "units")
    rate, load_s = (
        pooled if pooled is not None else (BUILTIN_S_PER_UNIT.get(backend, BUILTIN_S_PER_UNIT["torch"]), BUILTIN_LOAD_S)
    )
    shared = busy()
    embed_s = units * rate + (load_s if missing else 0.0)
    kind = "cold" if missing else "warm"
    rest = _pooled(stages.get(kind), "comments")
    scoring = _pooled(
        document.get("scoring", {}).get("new texts") if isinstance(document.get("scoring"), dict) else None, "texts"
    )
    rest_s = REST_FIXED_S[kind] + comments * (rest[0] if rest is not None else BUILTIN_REST_S_PER_COMMENT[kind])
    rest_s += len(missing) * (scoring[0] if scoring is not None else BUILTIN_SCORING_S_PER_TEXT)
    return Estimate(
        comments=int(comments),
        sentences=int(sentences),
        to_embed=len(missing),
        cached=int(cached),
        units=units,
        customers=int(customers),
        embed_s=embed_s,
        rest_s=rest_s,
        calibrated=pooled is not None,
        rest_calibrated=rest is not None and (scoring is not None or not missing),
        busy=shared,
    )
