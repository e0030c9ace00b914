"""Redaction recall and precision per category on the labelled set (issue 29, point 7), and its speed.

    PYTHONPATH=. .venv/bin/python bench/redaction_bench.py [--part dev|test|all] [--show 5] [--speed 10000]

The set is tests/data/redaction_set.csv (built by bench/make_redaction_set.py). For each personal category
(phone, card, email) it prints the recall: the share of items fully redacted with the right token (the token
is in the output and nothing of the item is left: no digit for a phone or card, neither the local part nor
the domain for an e-mail), and the share with something left. For each non-personal category it prints the
share of sentences that redaction changed at all. `--show N` prints up to N failures per category. `--speed`
times `redact` on that many comments (sentences of the set, repeated) and prints comments per second.
`--part test` is the held-out part: score it once, after choosing on `dev`.
"""

from __future__ import annotations

import argparse
import csv
import re
import time
from pathlib import Path

import _env  # noqa: F401  (puts the repository root on sys.path)

from refine.io.privacy import REDACTION_TOKENS, redact

SET = Path(__file__).resolve().parent.parent / "tests" / "data" / "redaction_set.csv"
# issue 29's targets: every personal item redacted; at most 1% of each look-alike category touched
TARGET_RECALL = 1.0
TARGET_REDACTED = 0.01


def load(part: str, path: Path = SET) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [row for row in rows if part == "all" or row["part"] == part]


def leftover(row: dict[str, str], out: str) -> bool:
    """Whether anything of a personal item survives in `out` (after the tokens are taken out)."""
    rest = out
    for token in REDACTION_TOKENS:
        rest = rest.replace(token, " ")
    if row["category"] == "email":
        local, _, domain = row["item"].partition("@")
        return any(re.search(rf"(?<!\w){re.escape(part)}(?!\w)", rest) for part in (local, domain))
    return any(ch.isdigit() for ch in rest)


def judge(row: dict[str, str]) -> tuple[bool, str]:
    """(ok, output): a personal row is ok when fully redacted with its token, a negative when left as it is."""
    out = redact(row["text"])
    if row["personal"] == "1":
        return row["token"] in out and not leftover(row, out), out
    return out == row["text"], out


def score(rows: list[dict[str, str]], show: int = 0) -> dict[str, dict[str, float]]:
    figures: dict[str, dict[str, float]] = {}
    by_category: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_category.setdefault(row["category"], []).append(row)
    for category, members in by_category.items():
        judged = [(row, *judge(row)) for row in members]
        failed = [(row, out) for row, ok, out in judged if not ok]
        personal = members[0]["personal"] == "1"
        entry = {"n": float(len(members)), "failed": float(len(failed))}
        if personal:
            entry["recall"] = 1 - len(failed) / len(members)
            entry["leaked"] = sum(leftover(row, out) for row, out in failed) / len(members)
        else:
            entry["redacted"] = len(failed) / len(members)
        figures[category] = entry
        for row, out in failed[:show]:
            print(f"    {category}/{row['shape']}: {row['item']!r} -> {out!r}")
    return figures


def speed(rows: list[dict[str, str]], n: int) -> float:
    # a comment of four sentences of the set (about 250 characters, a typical survey answer)
    texts = [" ".join(rows[(4 * i + k) % len(rows)]["text"] for k in range(4)) for i in range(n)]
    start = time.perf_counter()
    for text in texts:
        redact(text)
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["dev", "test", "all"], default="dev")
    parser.add_argument("--show", type=int, default=0, help="print up to N failures per category")
    parser.add_argument("--speed", type=int, default=10000, help="comments to time redact on (0: skip)")
    args = parser.parse_args()
    rows = load(args.part)
    figures = score(rows, args.show)
    print(f"redaction on {SET.name}, part {args.part}: {len(rows)} sentences")
    print(f"{'category':<10} {'n':>5}  {'recall':>7}  {'leaked':>7}  {'redacted':>8}  target")
    for category, entry in figures.items():
        if "recall" in entry:
            met = "met" if entry["recall"] >= TARGET_RECALL else "MISSED"
            print(
                f"{category:<10} {entry['n']:>5.0f}  {entry['recall']:>7.3f}  {entry['leaked']:>7.3f}  {'':>8}"
                f"  recall {TARGET_RECALL:.1f}: {met}"
            )
    for category, entry in figures.items():
        if "redacted" in entry:
            met = "met" if entry["redacted"] <= TARGET_REDACTED else "MISSED"
            print(
                f"{category:<10} {entry['n']:>5.0f}  {'':>7}  {'':>7}  {entry['redacted']:>8.3f}"
                f"  at most {TARGET_REDACTED:.0%}: {met}"
            )
    negatives = [e for e in figures.values() if "redacted" in e]
    total = sum(e["failed"] for e in negatives) / max(1.0, sum(e["n"] for e in negatives))
    print(f"non-personal numbers redacted, all categories: {total:.3f}")
    if args.speed:
        print(f"speed: {speed(load('all'), args.speed):,.0f} comments/s over {args.speed:,} comments")


if __name__ == "__main__":
    main()
