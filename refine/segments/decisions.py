"""Decisions on proposals (accept / reject) and the history of cycles.

Decisions live beside the run they decide on, in ``decisions.json``. When the next cycle runs with
``--previous`` pointing at that run, the accepted proposals' rules redefine the segments it
reports against.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from refine.errors import RefineError
from refine.io.runs import find_proposal, load_run, read_json, write_json
from refine.segments.propose import proposed_assignments
from refine.segments.rules import parse_rule


def _decisions_path(run_dir: Path) -> Path:
    return Path(run_dir) / "decisions.json"


def read_decisions(run_dir: Path) -> list[dict]:
    path = _decisions_path(run_dir)
    if not path.exists():
        return []
    doc = read_json(path, "decisions file")
    decisions = doc.get("decisions", []) if isinstance(doc, dict) else []
    if not isinstance(decisions, list):
        raise RefineError("decisions must be a list", where=str(path))
    return decisions


def decide(run_dir: str | Path, proposal_id: str, decision: str, reason: str = "") -> dict:
    """Record that a proposal was accepted or rejected; the latest decision on a proposal wins.

    Args:
        run_dir: the run folder holding the proposal.
        proposal_id: the proposal's id (as in proposals.json).
        decision: "accepted" or "rejected".
        reason: why (required for a rejection, so the next person knows).

    Returns:
        The decision record written.
    """
    if decision not in ("accepted", "rejected"):
        raise RefineError(f"decision must be accepted or rejected, not {decision!r}")
    if decision == "rejected" and not reason.strip():
        raise RefineError("a rejection needs a --reason")
    run = load_run(run_dir, with_customers=False)
    proposal = find_proposal(run, proposal_id)
    parse_rule(proposal.get("rule", ""))  # a hand-edited rule is checked before it can shape anything
    record = {
        "proposal": proposal_id,
        "decision": decision,
        "kind": proposal.get("kind"),
        "segments": proposal.get("segments", []),
        "rule": proposal["rule"],
        "reason": reason.strip(),
        "confirmed": bool(proposal.get("confirmed")),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    decisions = [d for d in read_decisions(run.folder) if d.get("proposal") != proposal_id] + [record]
    write_json(_decisions_path(run.folder), {"decisions": decisions})
    return record


def accepted_proposals(run_dir: Path) -> list[dict]:
    """The proposals of a run that were accepted, with their ranks, ready to redefine segments."""
    accepted = {d["proposal"] for d in read_decisions(run_dir) if d.get("decision") == "accepted"}
    if not accepted:
        return []
    run = load_run(run_dir, with_customers=False)
    return [p for p in run.proposals if p.get("id") in accepted]


@dataclass
class Cycle:
    folder: Path
    started: str
    feedback: int
    proposals: int
    confirmed: int
    decisions: list[dict]


def history(root: str | Path) -> list[Cycle]:
    """Every finished run under a folder (the folder itself included), oldest first."""
    root = Path(root)
    if not root.exists():
        raise RefineError("folder not found", where=str(root))
    cycles = []
    for manifest_path in sorted(set(root.glob("run.json")) | set(root.glob("**/run.json"))):
        folder = manifest_path.parent
        try:
            run = load_run(folder, with_customers=False)
        except RefineError:
            continue  # an unfinished or foreign folder is not a cycle
        cycles.append(
            Cycle(
                folder=folder,
                started=run.manifest.started,
                feedback=run.manifest.counts.get("feedback_accepted", 0),
                proposals=len(run.proposals),
                confirmed=sum(bool(p.get("confirmed")) for p in run.proposals),
                decisions=read_decisions(folder),
            )
        )
    return sorted(cycles, key=lambda c: (c.started, str(c.folder)))


def redefine_segments(customers: pd.DataFrame, accepted: list[dict], config) -> tuple[pd.DataFrame, list[dict]]:
    """Apply accepted proposals to the segment column; returns the customers and what was applied."""
    if not accepted:
        return customers, []
    ranked = [dict(p, rank=p.get("rank", i + 1)) for i, p in enumerate(accepted)]
    assignments = proposed_assignments(customers, ranked, config)
    customers = customers.copy()
    customers[config.customers.segment] = assignments["proposed_segment"].values
    return customers, [{"proposal": p["id"], "kind": p["kind"], "rule": p["rule"]} for p in ranked]
