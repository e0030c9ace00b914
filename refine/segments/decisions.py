"""Decisions on proposals (accept / reject) and the history of cycles.

Decisions live beside the run they decide on, in ``decisions.json``. When the next cycle runs with
``--previous`` pointing at that run, the accepted proposals' rules redefine the segments it
reports against.

The accepted proposals always state one segmentation:

* a proposal whose id, kind, segments or rule differ from what the run recorded (run.json's
  ``rule_digests``) is refused: proposals.json was edited after the run;
* a proposal the holdout did not confirm is accepted only with ``force`` (the error says why it was not);
* two accepted proposals that change the same segment incompatibly (two merges sharing a segment, a
  merge of a segment and a split of it) are refused, naming both and the segment. A NEW segment
  overlapping others is not a conflict: its customers go to it first (see refine.segments.assign).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from refine.errors import RefineError
from refine.io.runs import check_digest, find_proposal, load_run, read_json, write_json
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


def conflict(first: dict, second: dict) -> str | None:
    """The segment two proposals both change incompatibly, or None when they can stand together.

    Two merges sharing a segment, or a merge and a split of one of its segments, cannot both hold: the
    segment would be merged into two groups, or merged whole and split. Two splits of one segment carve
    out different subgroups (the higher-ranked wins a customer both select), and a NEW segment takes its
    customers first: neither is a conflict.
    """
    kinds = {first.get("kind"), second.get("kind")}
    if "new" in kinds or kinds == {"split"}:
        return None
    shared = sorted(set(map(str, first.get("segments") or [])) & set(map(str, second.get("segments") or [])))
    return shared[0] if shared else None


def _refuse_conflicts(proposal: dict, others: list[dict], run_dir: Path) -> None:
    for other in others:
        if other.get("id") == proposal.get("id"):
            continue
        segment = conflict(proposal, other)
        if segment is not None:
            raise RefineError(
                f"proposal {proposal.get('id')} ({proposal.get('kind')}) conflicts with accepted proposal "
                f"{other.get('id')} ({other.get('kind')}): both change segment {segment!r}; reject one of them first",
                where=str(_decisions_path(run_dir)),
            )


def why_unconfirmed(proposal: dict) -> str:
    """Why the holdout did not confirm a proposal, in words (its evidence's why_not or status, else its q)."""
    evidence = proposal.get("evidence") or {}
    if evidence.get("why_not"):
        return str(evidence["why_not"])
    if evidence.get("status") not in (None, "confirmed", "not confirmed"):
        return str(evidence["status"])
    q = evidence.get("holdout_q")
    if isinstance(q, int | float):
        return f"its difference did not hold on the holdout (q = {q:.3g})"
    return "the holdout did not confirm it"


def decide(run_dir: str | Path, proposal_id: str, decision: str, reason: str = "", *, force: bool = False) -> dict:
    """Record that a proposal was accepted or rejected; the latest decision on a proposal wins.

    Args:
        run_dir: the run folder holding the proposal.
        proposal_id: the proposal's id (as in proposals.json).
        decision: "accepted" or "rejected".
        reason: why (required for a rejection, so the next person knows).
        force: accept a proposal the holdout did not confirm (never one edited since the run, or one
            that conflicts with an accepted proposal).

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
    if decision == "accepted":
        check_digest(run, proposal)
        if not proposal.get("confirmed") and not force:
            raise RefineError(
                f"proposal {proposal_id} is not confirmed: {why_unconfirmed(proposal)}; "
                "pass --force to accept it anyway",
                where=str(run.folder / "proposals.json"),
            )
        _refuse_conflicts(proposal, accepted_proposals(run.folder), run.folder)
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
    """The proposals of a run that were accepted, with their ranks, ready to redefine segments.

    Refuses (one-line error) a proposal edited since the run, and two accepted proposals that conflict
    (a decisions.json written by hand, or by a refine that did not check)."""
    accepted = {d["proposal"] for d in read_decisions(run_dir) if d.get("decision") == "accepted"}
    if not accepted:
        return []
    run = load_run(run_dir, with_customers=False)
    chosen = [p for p in run.proposals if p.get("id") in accepted]
    for i, proposal in enumerate(chosen):
        check_digest(run, proposal)
        _refuse_conflicts(proposal, chosen[:i], run.folder)
    return chosen


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
