"""Did a change of layout change what refine says? Compare two run folders of the same inputs.

    python scripts/compare_runs.py OLD_RUN NEW_RUN

proposals.json must be byte for byte the same; topics.json and insights.json too; the tables (feedback,
segments, assignments, rejects) equal cell for cell; and the reports (Markdown and HTML) must hold the
same numbers in the same order once the run date, the refine version and the run folder's own path are
taken out. Exit status 0 when all hold, 1 (with the first differences) when one does not.

Typical use, before and after a refactor that must not change behaviour:

    refine demo --out /tmp/before -q          # on the old commit
    refine demo --out /tmp/after -q           # on the new one
    python scripts/compare_runs.py /tmp/before/run /tmp/after/run
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd

SAME_BYTES = ("proposals.json", "topics.json", "insights.json")
SAME_TABLES = ("feedback.parquet", "segments.parquet", "assignments.parquet", "rejects.csv")
REPORTS = ("report.md", "report.html")
NUMBER = re.compile(r"[-+\u2212]?\d[\d,]*(?:\.\d+)?")
STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[+-]\d{2}:\d{2}|Z)?")
VERSION = re.compile(r"refine \d+\.\d+\.\d+\S*|\"refine_version\": \"[^\"]*\"|v\d+\.\d+\.\d+")


def report_numbers(path: Path, folder: Path) -> list[str]:
    """The numbers a report shows, without its run date, its version and the run folder's path."""
    text = path.read_text(encoding="utf-8")
    text = text.replace(str(folder.resolve()), "RUN").replace(str(folder), "RUN")
    text = VERSION.sub("VERSION", STAMP.sub("STAMP", text))
    return NUMBER.findall(text)


def compare(old: Path, new: Path) -> list[str]:
    """Every difference found, one line each (empty when the two runs say the same)."""
    problems: list[str] = []
    for name in SAME_BYTES:
        a, b = old / name, new / name
        if a.exists() != b.exists():
            problems.append(f"{name}: present in one run only")
        elif a.exists() and a.read_bytes() != b.read_bytes():
            problems.append(f"{name}: bytes differ")
    for name in SAME_TABLES:
        a, b = old / name, new / name
        if not (a.exists() and b.exists()):
            if a.exists() != b.exists():
                problems.append(f"{name}: present in one run only")
            continue
        read = pd.read_parquet if name.endswith(".parquet") else lambda p: pd.read_csv(p, dtype=str)
        left, right = read(a), read(b)
        try:
            pd.testing.assert_frame_equal(left, right, check_exact=True)
        except AssertionError as exc:
            problems.append(f"{name}: {str(exc).splitlines()[0]}")
    for name in REPORTS:
        left, right = report_numbers(old / name, old), report_numbers(new / name, new)
        if left != right:
            first = next((i for i, (x, y) in enumerate(zip(left, right)) if x != y), min(len(left), len(right)))
            problems.append(
                f"{name}: numbers differ from the {first + 1}th on "
                f"({left[first : first + 5]} against {right[first : first + 5]}; {len(left)} and {len(right)} numbers)"
            )
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    old, new = Path(argv[0]), Path(argv[1])
    problems = compare(old, new)
    for line in problems:
        print(f"DIFFERS {line}")
    if not problems:
        print(f"same: {', '.join(SAME_BYTES)} byte for byte; tables cell for cell; report numbers ({old} vs {new})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
