"""How the text stages' cost divides over Dask workers: the same texts on a LocalCluster of 1, then 2, ... workers.

Usage:
    PYTHONPATH=. .venv/bin/python bench/dask_workers.py                  # 2,000 texts, 1 and 2 workers
    PYTHONPATH=. .venv/bin/python bench/dask_workers.py --texts 4000 --workers 1,2,4

Timed per worker count, each on a fresh LocalCluster (one thread per worker process) and after one warm-up
partition per worker (model loads are not timed): embedding the texts with the default model (onnx-int8,
refine.run.engines.DistributedEmbedder), USE multilingual on a quarter of them (DistributedMultilingual) and
the review model on a tenth (DistributedReviewModel, each text on its own). No cache: every text is computed.
The texts are real clothing reviews from the shared data folder when it is there, else generated sentences.
Printed beside each wall time: the 1-minute load average before the step (another program sharing the cores
slows every figure) and the speed-up against one worker. The results are checked to be the same bytes for
every worker count (review, multilingual) or within 1e-5 (the int8 embedder, whose batches differ).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _texts(n: int) -> list[str]:
    path = ROOT.parent / "shared" / "data" / "womens_clothing_reviews.csv"
    if path.exists():
        import pandas as pd

        texts = pd.read_csv(path)["Review Text"].dropna().astype(str).tolist()
        if len(texts) >= n:
            return texts[:n]
    words = ["parcel", "late", "size", "small", "app", "crash", "staff", "friendly", "refund", "charged"]
    return [f"text {i}: the {words[i % 10]} was {words[(i * 3 + 1) % 10]}." * (1 + i % 4) for i in range(n)]


def _timed(step, *args):
    load = os.getloadavg()[0]
    start = time.perf_counter()
    out = step(*args)
    return out, time.perf_counter() - start, load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()

    texts = _texts(args.texts)
    multi, review = texts[: len(texts) // 4], texts[: len(texts) // 10]
    with tempfile.TemporaryDirectory(prefix="dask-bench-") as folder:  # the exports, removed at the end
        _bench(args, texts, multi, review, Path(folder))


def _bench(args, texts: list[str], multi: list[str], review: list[str], cache: Path) -> None:
    import distributed

    from refine.run.engines import DistributedEmbedder, DistributedMultilingual, DistributedReviewModel
    from refine.text.sentiment.review import default_review_model_dir

    print(f"{len(texts)} texts ({sum(map(len, texts)):,} characters); {os.cpu_count()} CPUs")
    first: dict[str, tuple[np.ndarray, float]] = {}
    for n in [int(w) for w in args.workers.split(",")]:
        with distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0") as c:
            with distributed.Client(c) as client:
                steps = {
                    "embed": DistributedEmbedder(
                        "default", backend="onnx-int8", batch_size=64, device="cpu", client=client, cache_dir=str(cache)
                    ),
                    "multilingual": DistributedMultilingual(client=client),
                    "review": DistributedReviewModel(default_review_model_dir(), cache_dir=cache, client=client),
                }
                for name, model in steps.items():
                    run = model.encode if name != "review" else model.predict_proba
                    run(texts[: 8 * n])  # warm-up: every worker loads its model (and the exports are made)
                    items = {"embed": texts, "multilingual": multi, "review": review}[name]
                    out, wall, load = _timed(run, items)
                    base = first.setdefault(name, (out, wall))
                    same = np.abs(out - base[0]).max() < 1e-5 if name == "embed" else out.tobytes() == base[0].tobytes()
                    print(
                        f"{n} worker(s) {name:12s} {len(items):5d} texts {wall:7.1f} s  "
                        f"speed-up {base[1] / wall:4.2f}x  load1 {load:4.1f}  same results: {same}"
                    )


if __name__ == "__main__":
    main()
