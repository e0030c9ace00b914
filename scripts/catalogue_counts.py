"""How many bad-input cases the catalogue holds, and how many get each verdict (issue 28's figure).

    python scripts/catalogue_counts.py            # the counts, from CATALOGUE in tests/test_bad_input_catalogue.py
    python scripts/catalogue_counts.py --cases    # and every case with its verdict

Verdicts: "clear error" (exit 2, one line naming files that exist), "handled" (exit 0, every row accounted
for, the case named in a warning, a counted reject's reason or the card's status), "silent wrong" and
"data loss". The test (tests/test_bad_input_catalogue.py) asserts each case's verdict and fails on a
"silent wrong" or "data loss" one, so these counts hold when it passes; the target is 0 of those two.
Exit status 1 when either is above 0.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_hook():
    """docs/hooks/config_reference.py, which reads CATALOGUE for the troubleshooting page."""
    path = ROOT / "docs" / "hooks" / "config_reference.py"
    spec = importlib.util.spec_from_file_location("refine_docs_config_reference", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> int:
    hook = load_hook()
    counts = hook.catalogue_counts()
    if "--cases" in argv:
        for case, _, code, verdict in hook.catalogue_rows():
            print(f"{verdict:<13} exit {code}  {case}")
        print()
    print(f"{sum(counts.values())} cases")
    for verdict, n in counts.items():
        print(f"  {verdict:<13} {n}")
    return 1 if counts["silent wrong"] or counts["data loss"] else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
