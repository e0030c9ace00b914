"""Cold and warm `refine run` through the CLI: this checkout against an older one, in interleaved pairs (issue 32).

    PYTHONPATH=. .venv/bin/python bench/cli_pairs.py --old /work/old --make long-reviews --pairs 3
        # the 1,200 longest clothing reviews with 8,000 customers
    PYTHONPATH=. .venv/bin/python bench/cli_pairs.py --old /work/old --make scale --feedback 100000 \
        --customers 1000000 --pairs 3
        # the synthetic company at 100k comments x 1M customers (bench/scale_bench.py's generator)

`--old` is the root of another checkout (e.g. `git worktree add /work/old 975264b`); both run with this
interpreter, each with its own code first on PYTHONPATH, the same data files and config, and a cache of its
own. Each cold run starts from a fresh cache folder holding only that checkout's one-off ONNX export (made
once, not timed, as bench/scale_bench.py does); with `--warm` the same command runs again on the cache the
cold run filled, into a new run folder.

Pairs are interleaved A B, B A, A B, ... so a drift in the machine's speed falls on both sides. Each run is a
whole `python -m refine run ... -q` process; printed per run: wall seconds, CPU seconds (user + sys of the
process and its children, from os.wait4), peak resident memory (ru_maxrss of that process; worker processes
it waited for are folded in by the kernel), the 1-minute load average when it started, and the number of
proposals. Then per side the median, and the ratio new / old per pair and its median.

The config is the data's own refine.toml plus `[model] backend` (default onnx-int8, the backend the scale
bench times; `--backend torch` for the config default). Nothing is asserted: this prints figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GB = 1024**3


def _env(root: Path, cache: Path | None = None) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(root), REFINE_BENCH_CODE=str(root), HF_HUB_OFFLINE="1")
    env.update(TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    if cache is not None:
        env["REFINE_CACHE_DIR"] = str(cache)
    return env


def make_scale(data: Path, feedback: int, customers: int, seed: int) -> None:
    """The synthetic company, drawn by bench/scale_bench.py's generator (this checkout's)."""
    result = data.parent / "generate.json"
    command = [sys.executable, str(HERE / "scale_bench.py"), "--_child", "generate", "--result", str(result)]
    command += ["--n", str(feedback), "--customers", str(customers), "--seed", str(seed), "--data", str(data)]
    subprocess.run(command, env=_env(ROOT), check=True)
    print(f"data: {json.loads(result.read_text())['feedback_rows']} comments, {customers} customers")


def make_long_reviews(data: Path, reviews: int, customers: int, seed: int, data_dir: Path) -> None:
    """The `reviews` longest clothing reviews as the comments of a synthetic company of `customers` customers."""
    sys.path.insert(0, str(ROOT))
    from refine.demo.company import generate_company, write_demo_data

    with (data_dir / "womens_clothing_reviews.csv").open(encoding="utf-8", newline="") as handle:
        texts = [row["Review Text"] for row in csv.DictReader(handle) if row.get("Review Text", "").strip()]
    longest = sorted(range(len(texts)), key=lambda i: (-len(texts[i]), i))[:reviews]
    rate = min(0.9, 1.2 * reviews / customers)
    company = generate_company(seed, n_customers=customers, response_rate=rate)
    if len(company.feedback) < reviews:
        raise SystemExit(f"the generator drew {len(company.feedback)} comments, fewer than {reviews}")
    company.feedback = company.feedback.head(reviews).copy()
    company.feedback["Comment Text"] = [texts[i] for i in longest]
    write_demo_data(data, company)
    chars = sorted(len(texts[i]) for i in longest)
    print(
        f"data: {reviews} longest clothing reviews (median {chars[len(chars) // 2]} characters), {customers} customers"
    )


def export_template(root: Path, template: Path, backend: str) -> None:
    """The checkout's one-off ONNX export into `template` (copied into every cold cache, not timed)."""
    result = template.parent / f"{template.name}.json"
    command = [sys.executable, str(HERE / "scale_bench.py"), "--_child", "export", "--cache", str(template)]
    command += ["--backend", backend, "--result", str(result)]
    subprocess.run(command, env=_env(root), check=True)


def timed(root: Path, config: Path, data: Path, out: Path, cache: Path, log: Path) -> dict:
    """One whole `python -m refine run` process: wall, CPU, peak RSS, load at start, proposals written."""
    command = [
        sys.executable,
        "-m",
        "refine",
        "run",
        "-f",
        str(data / "feedback.csv"),
        "-c",
        str(data / "customers.csv"),
    ]
    command += ["--config", str(config), "-o", str(out), "-q"]
    load = os.getloadavg()[0]
    start = time.perf_counter()
    with log.open("ab") as sink:
        proc = subprocess.Popen(command, env=_env(root, cache), cwd=str(out.parent), stdout=sink, stderr=sink)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proposals = out / "proposals.json"
    count = len(json.loads(proposals.read_text())["proposals"]) if proposals.is_file() else None
    return {
        "rc": os.waitstatus_to_exitcode(status),
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss": usage.ru_maxrss * 1024,
        "load": load,
        "proposals": count,
    }


def fmt(run: dict) -> str:
    return (
        f"wall {run['wall']:7.1f} s  cpu {run['cpu']:7.1f} s  peak {run['rss'] / GB:5.2f} GB  "
        f"load {run['load']:5.1f}  proposals {run['proposals']}  rc {run['rc']}"
    )


def summary(runs: dict[str, list[dict]], kind: str) -> None:
    print(f"\n{kind}: median per side")
    for side in ("old", "new"):
        rows = runs[side]
        print(
            f"  {side}: wall {statistics.median(r['wall'] for r in rows):7.1f} s  "
            f"cpu {statistics.median(r['cpu'] for r in rows):7.1f} s  "
            f"peak {statistics.median(r['rss'] for r in rows) / GB:5.2f} GB  "
            f"(load {min(r['load'] for r in rows):.1f}-{max(r['load'] for r in rows):.1f})"
        )
    for key in ("wall", "cpu", "rss"):
        ratios = [n[key] / o[key] for o, n in zip(runs["old"], runs["new"])]
        listed = ", ".join(f"{r:.3f}" for r in ratios)
        print(f"  new / old {key}: per pair {listed}; median {statistics.median(ratios):.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--old", required=True, help="root of the older checkout")
    parser.add_argument("--new", default=str(ROOT), help="root of the checkout to compare (default this one)")
    parser.add_argument("--make", choices=["scale", "long-reviews"], required=True)
    parser.add_argument("--feedback", type=int, default=100_000, help="with --make scale")
    parser.add_argument("--customers", type=int, default=None, help="default 1,000,000 (scale) or 8,000 (reviews)")
    parser.add_argument("--reviews", type=int, default=1200, help="with --make long-reviews")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--warm", action="store_true", help="also time a warm rerun after each cold run")
    parser.add_argument("--backend", default="onnx-int8", choices=["torch", "onnx-int8", "onnx"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", default="/tmp/refine-cli-pairs", help="data, caches and run folders (replaced)")
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    args = parser.parse_args()

    work = Path(args.work)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    data = work / "data"
    if args.make == "scale":
        make_scale(data, args.feedback, args.customers or 1_000_000, args.seed)
    else:
        make_long_reviews(data, args.reviews, args.customers or 8000, args.seed, Path(args.data_dir))
    config = work / "refine.toml"
    config.write_text((data / "refine.toml").read_text() + f'\n[model]\nbackend = "{args.backend}"\n')
    roots = {"old": Path(args.old).resolve(), "new": Path(args.new).resolve()}
    for side, root in roots.items():
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        )
        print(f"{side}: {root} at {commit.stdout.strip()}")
        export_template(root, work / f"template-{side}", args.backend)
    print(f"{os.cpu_count()} CPUs; python {sys.version.split()[0]}; backend {args.backend}; log {work / 'runs.log'}")

    cold: dict[str, list[dict]] = {"old": [], "new": []}
    warm: dict[str, list[dict]] = {"old": [], "new": []}
    for pair in range(args.pairs):
        order = ("old", "new") if pair % 2 == 0 else ("new", "old")
        for side in order:
            cache = work / f"cache-{side}-{pair}"
            shutil.copytree(work / f"template-{side}", cache)
            run = timed(roots[side], config, data, work / f"run-{side}-{pair}-cold", cache, work / "runs.log")
            cold[side].append(run)
            print(f"pair {pair + 1} {side} cold: {fmt(run)}", flush=True)
            if args.warm:
                again = timed(roots[side], config, data, work / f"run-{side}-{pair}-warm", cache, work / "runs.log")
                warm[side].append(again)
                print(
                    f"pair {pair + 1} {side} warm: {fmt(again)}  cold/warm {run['wall'] / again['wall']:.1f}x",
                    flush=True,
                )
            shutil.rmtree(cache)
    summary(cold, "cold")
    if args.warm:
        summary(warm, "warm")
        for side in ("old", "new"):
            ratios = [c["wall"] / w["wall"] for c, w in zip(cold[side], warm[side])]
            print(f"  {side} cold / warm wall: {', '.join(f'{r:.1f}x' for r in ratios)}")


if __name__ == "__main__":
    main()
