"""Emerging-theme detection on generated monthly series: planted theme found in month 5? false alerts?

    PYTHONPATH=. nice -n 10 .venv/bin/python bench/emerging_bench.py                 # 10 planted + 20 null series
    PYTHONPATH=. .venv/bin/python bench/emerging_bench.py --planted 2 --null 2      # a quick look

Each series is 6 monthly cycles drawn from a pool of 10 synthetic months
(``refine.demo.company.generate_company(seed, null=True)`` for the seeds in ``POOL_SEEDS``: each month draws
its own customers and comments from the same theme mix; synth plants nothing). A pool month is
generated, redacted and embedded once (packaged all-MiniLM-L6-v2, ``--backend``, default onnx-int8
for speed on a shared CPU; vectors cached in ``--cache``). Series s takes 6 distinct pool months in
a seeded order and a seeded ``--keep`` share of each month's comments. In a planted series, from
month 5 on ``--share`` of the comments are replaced by comments about a theme the generator never
writes (plastic / wasteful packaging, from the templates below, embedded as they are drawn), so the
theme emerges in month 5.

Per month the real topic step runs on the series' own comments, as ``refine run`` would:
``refine.text.themes.topics.fit_topics`` with last month's topics (kept and fading) as ``previous``. Detection is
``refine.insights.drivers.what_is_new`` (what ``refine run --previous`` and ``refine history`` call): every
comment of this month and of the pooled last up to 3 months is given its nearest theme centroid
(this month's themes for emerging, last month's for fading), then a two-proportion test per theme,
Holm-corrected, minimum share change ``MIN_SHARE_CHANGE``.

Counted: a planted series "finds" the theme in month 5 when an emerging alert in month 5 names a
theme at least half of whose comments are planted ones. A false alert is any other alert (emerging
or fading) in months 2..6: in the null series every alert is false; in the planted series alerts
on other themes are printed too.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import _env  # noqa: F401  # isort: skip - first: offline models, sys.path

import numpy as np

PLANTED = (
    "Way too much plastic packaging for a small {item}, it came in three bags inside a box.",
    "The packaging is so wasteful, a huge box with bubble wrap for one {item}.",
    "Please cut down on the plastic wrapping, every {item} comes individually sealed in plastic.",
    "I was shocked by the amount of packaging waste, the box was ten times the size of the {item}.",
    "Your parcels now come wrapped in so much plastic film that I fill a bin bag every order.",
    "Can you switch to recyclable packaging? The {item} arrived in non-recyclable foam and plastic.",
    "Excessive packaging again: cardboard, air pillows and plastic for a single {item}.",
    "The new packaging uses more plastic than before, not great for the environment.",
)
PLANTED_FOLLOW = (
    "It feels really wasteful.",
    "I recycle everything and this is impossible to recycle.",
    "Other shops use paper packaging, why not you?",
    "Not good for the planet.",
    "",
    "",
)
ITEMS = ("scarf", "pair of socks", "t-shirt", "belt", "phone case", "candle", "mug", "hat")


def planted_text(rng: np.random.Generator) -> str:
    first = PLANTED[rng.integers(len(PLANTED))].format(item=ITEMS[rng.integers(len(ITEMS))])
    follow = PLANTED_FOLLOW[rng.integers(len(PLANTED_FOLLOW))]
    return f"{first} {follow}".strip()


POOL_SEEDS = (1, 2, 3, 4, 5, 6, 100001, 100002, 100003, 100004)  # synth months, each generated and embedded once


def pool_month(seed: int, customers: int, rate: float) -> list[str]:
    from refine.demo.company import generate_company
    from refine.io.privacy import redact

    company = generate_company(seed=seed, n_customers=customers, response_rate=rate, null=True)
    texts = [redact(" ".join(str(t).split())) for t in company.feedback["Comment Text"].fillna("")]
    return [t for t in texts if any(ch.isalnum() for ch in t)]


def run_series(series: int, planted: bool, args, pool, embedder) -> dict:
    from refine.insights.drivers import nearest_theme, what_is_new
    from refine.io.config import TopicSettings
    from refine.text.themes.topics import fit_topics

    rng = np.random.default_rng([series, int(planted), 11])
    order = rng.choice(len(pool), 6, replace=False)
    previous, previous_model = None, None
    months: list[np.ndarray] = []
    found_m5 = False
    false_alerts, later = [], []
    seconds = {"embed": 0.0, "topics": 0.0, "detect": 0.0}
    settings = TopicSettings()
    for month, k in enumerate(order, start=1):
        texts, vectors = pool[k]
        keep = np.sort(rng.choice(len(texts), int(args.keep * len(texts)), replace=False))
        texts = [texts[i] for i in keep]
        vectors = vectors[keep]
        is_planted = np.zeros(len(texts), dtype=bool)
        if planted and month >= 5:
            chosen = rng.choice(len(texts), int(round(args.share * len(texts))), replace=False)
            new_texts = [planted_text(rng) for _ in chosen]
            t0 = time.perf_counter()
            vectors = vectors.copy()
            vectors[chosen] = embedder.encode(new_texts)
            seconds["embed"] += time.perf_counter() - t0
            for i, text in zip(chosen, new_texts):
                texts[i] = text
            is_planted[chosen] = True
        t1 = time.perf_counter()
        model = fit_topics(texts, vectors, settings, seed=0, previous=previous)
        t2 = time.perf_counter()
        seconds["topics"] += t2 - t1
        centroids = {t.id: t.centroid for t in model.topics}
        labels = {t.id: t.label for t in model.topics}
        if months:
            before = np.concatenate(months[-3:])
            prev_centroids = {t.id: t.centroid for t in previous_model.topics}
            labels_all = {**{t.id: t.label for t in previous_model.topics}, **labels}
            news = what_is_new(
                before,
                vectors,
                centroids,
                prev_centroids,
                labels_all,
                cycles_before=min(3, len(months)),
                min_similarity=settings.outlier_similarity,
            )
            seconds["detect"] += time.perf_counter() - t2
            nearest = nearest_theme(vectors, centroids, settings.outlier_similarity)
            for s in news.emerging + news.fading:
                members = nearest == s.theme
                planted_share = (
                    float(is_planted[members].mean()) if s.direction == "emerging" and members.any() else 0.0
                )
                if planted and s.direction == "emerging" and planted_share >= 0.5:
                    (later if month != 5 else []).append((month, s.label, round(s.change, 3)))
                    found_m5 = found_m5 or month == 5
                else:
                    false_alerts.append(
                        (
                            month,
                            s.direction,
                            s.label,
                            round(s.share_before, 3),
                            round(s.share_now, 3),
                            f"q={s.p_adjusted:.2g}",
                        )
                    )
        months.append(vectors)
        previous, previous_model = model.to_records(), model
    return {"found_m5": found_m5, "false": false_alerts, "planted_later": later, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--planted", type=int, default=10, help="series with a theme planted in month 5")
    parser.add_argument("--null", type=int, default=20, help="series with nothing planted")
    parser.add_argument("--share", type=float, default=0.06, help="share of comments about the planted theme")
    parser.add_argument("--customers", type=int, default=2500)
    parser.add_argument("--keep", type=float, default=0.85, help="share of a pool month's comments each series draws")
    parser.add_argument("--rate", type=float, default=0.3, help="response rate of each month")
    parser.add_argument("--backend", default="onnx-int8", choices=["torch", "onnx-int8", "onnx"])
    parser.add_argument("--cache", default="/tmp/refine-bench-cache")
    args = parser.parse_args()

    from refine.insights.drivers import ALPHA, MIN_SHARE_CHANGE
    from refine.io.config import offline_env
    from refine.text.embed import build_embedder

    offline_env()
    embedder = build_embedder("default", device="cpu", batch_size=64, cache_dir=Path(args.cache), backend=args.backend)
    print(
        f"6 months per series, {args.customers} customers, response rate {args.rate}, planted share {args.share}, "
        f"backend {args.backend}, min share change {MIN_SHARE_CHANGE}, Holm alpha {ALPHA}, baseline = last 3 months"
    )
    start = time.perf_counter()
    pool = []
    for seed in POOL_SEEDS:
        texts = pool_month(seed, args.customers, args.rate)
        pool.append((texts, np.asarray(embedder.encode(texts), dtype=np.float32)))
    print(
        f"pool: {len(pool)} months ({', '.join(str(len(t)) for t, _ in pool)} comments), embedded in "
        f"{time.perf_counter() - start:.0f} s",
        flush=True,
    )
    found, false_planted, false_null = 0, 0, 0
    for s in range(args.planted):
        r = run_series(s, True, args, pool, embedder)
        found += r["found_m5"]
        false_planted += len(r["false"])
        print(
            f"planted seed {s}: found in month 5 {r['found_m5']}; later {r['planted_later']}; other alerts {r['false']}; "
            f"s { ({k: round(v, 1) for k, v in r['seconds'].items()}) }",
            flush=True,
        )
    for s in range(args.null):
        r = run_series(100 + s, False, args, pool, embedder)
        false_null += len(r["false"])
        print(
            f"null seed {100 + s}: false alerts {r['false']}; s { ({k: round(v, 1) for k, v in r['seconds'].items()}) }",
            flush=True,
        )
    print(f"planted theme found in month 5: {found} of {args.planted} series (target >= 9 of 10)")
    print(f"false alerts in the null series: {false_null} in total over {args.null} series x 5 months (target <= 1)")
    print(f"alerts on other themes in the planted series: {false_planted}")
    print(f"total time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
