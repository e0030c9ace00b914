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
    quoted = [f"“{s}”" for s in p.segments]
    segments = " and ".join(quoted) if len(quoted) < 3 else ", ".join(quoted[:-1]) + " and " + quoted[-1]
    if p.kind == "merge":
        return f"Merge {segments}: {merge_shown(p.evidence)}"
    if p.kind == "split":
        return f"Split {segments}: a subgroup that differs ({p.rule.split(' and ', 1)[-1]})"
    return f"New segment across {len(p.segments)} segments: {p.rule}"


def merge_shown(evidence: Any) -> str:
    """What a merge's evidence showed (issue 29), from its status and the measures it could not compare."""
    status = getattr(evidence, "status", None)
    if status is None:  # a proposals.json from before 0.3.1
        return "they say and do the same things"
    if status == "too small to stand alone":
        return "a segment too small to stand alone (not a finding about what they do or say)"
    if status != "confirmed":
        return "not shown to do and say the same things"
    held = evidence.holdout if isinstance(evidence.holdout, dict) else {}
    said = [e for e in held.get("not_compared") or [] if e.get("role") == "feedback"]
    if not any(e.get("role") == "feedback" for e in held.get("equivalence") or []) and said:
        comments = max(sum(e["n"]) for e in said)
        return f"they do the same things; what they say could not be compared: {comments} comments"
    return "they say and do the same things"
