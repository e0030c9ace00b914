"""Imported first by the bench scripts: models load offline, and `refine`, `training` and the sibling scripts import.

Run a script from the repository root (`python bench/<script>.py`): its folder is then on sys.path, so
`import _env` finds this file, which puts the repository root there too (no install needed). The data
splits the shipped models were trained on come from `training._common` (training/_common.py).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for path in (str(HERE), str(ROOT)):
    if path not in sys.path:
        sys.path.insert(0, path)
