"""Words shared by the report and the LLM prompts: how a share and a proposal are written for a reader.

A leaf module (it imports nothing from refine), so refine.report.llm can use it without importing the
report, which imports the pipeline's types.
"""

from __future__ import annotations

import math
from typing import Any


def pct(value: Any) -> str:
    """A share as a whole percentage ("37%"), or "n/a"."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{100 * float(value):.0f}%"


def proposal_headline(p: Any) -> str:
    """One line naming what a proposal does, in the reader's words (`p`: a refine.segments.model.Proposal)."""
    segments = " and ".join(f"“{s}”" for s in p.segments)
    if p.kind == "merge":
        return f"Merge {segments}: they say and do the same things"
    if p.kind == "split":
        return f"Split {segments}: a subgroup that differs ({p.rule.split(' and ', 1)[-1]})"
    return f"New segment across {len(p.segments)} segments: {p.rule}"
