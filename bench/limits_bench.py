"""How long refine takes to refuse a table past a [limits] setting (wall seconds, `python -m refine run`).

    PYTHONPATH=. .venv/bin/python bench/limits_bench.py [--rows 100000]

Each case writes a hostile input into a temporary folder, runs the CLI in a fresh process (start-up
included) and prints the seconds until it exited and the one-line error it printed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
CONFIG = """[feedback]
customer_id = "id"
text = "text"
[customers]
customer_id = "id"
segment = "segment"
"""


def case_inputs(kind: str, rows: int, folder: Path) -> None:
    ids = [f"c{i:07d}" for i in range(rows)]
    customers = pd.DataFrame({"id": ids, "segment": ["Gold", "Silver", "Bronze", "Basic"] * (rows // 4)})
    if kind == "segments":
        customers["segment"] = [f"segment {i}" for i in range(rows)]
    elif kind == "levels":
        customers["postcode"] = [f"P{v}" for v in np.random.default_rng(0).integers(0, rows // 10, rows)]
    elif kind == "attributes":
        wide = pd.DataFrame({f"attribute {i}": np.arange(rows) % 3 for i in range(2000)})
        customers = pd.concat([customers, wide], axis=1)
    customers.to_csv(folder / "customers.csv", index=False)
    n = min(rows, 2000)
    pd.DataFrame({"id": ids[:n], "text": [f"comment {i} about the parcel" for i in range(n)]}).to_csv(
        folder / "feedback.csv", index=False
    )
    (folder / "refine.toml").write_text(CONFIG)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="customer rows of the segments and levels cases")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds before a case is stopped")
    args = parser.parse_args()
    cases = [("segments", args.rows), ("levels", args.rows), ("attributes", 2_000)]
    print(f"{'case':<12} {'rows':>8}  {'seconds':>7}  exit  message")
    for kind, rows in cases:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            case_inputs(kind, rows, folder)
            started = time.perf_counter()
            try:
                done = subprocess.run(
                    [sys.executable, "-m", "refine", "run", "--quiet", "-f", "feedback.csv", "-c", "customers.csv"]
                    + ["--config", "refine.toml", "--out", "run"],
                    cwd=folder,
                    env={**os.environ, "PYTHONPATH": str(REPO)},  # this checkout's refine, whatever the cwd
                    capture_output=True,
                    text=True,
                    timeout=args.timeout,
                )
            except subprocess.TimeoutExpired:
                print(f"{kind:<12} {rows:>8,}  {time.perf_counter() - started:>7.1f}     -  still running: stopped")
                continue
            seconds = time.perf_counter() - started
            message = (done.stderr.strip().splitlines() or [""])[-1].replace(str(folder) + "/", "")
            print(f"{kind:<12} {rows:>8,}  {seconds:>7.1f}  {done.returncode:>4}  {message}", flush=True)


if __name__ == "__main__":
    main()
