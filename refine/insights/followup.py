"""Month over month on like terms, and the follow-up of every accepted decision.

After an accepted split or merge the segment called "Loyal" this month is not last month's "Loyal". So
that a composition change is never read as a change in the customers, a run folder keeps
``customers.parquet`` (customer id, segment, the attributes the proposals' rules read and the outcomes:
no free text, no excluded column), and the next cycle redraws last month's segments by applying the
accepted rules to it (:func:`previous_profiles`). A run without that file (written before refine 0.4)
compares by name only the segments no accepted decision touched.

A customer table re-exported from the CRM may already carry the accepted segments (their names appear
in its segment column): :func:`carried_segments` finds them, and the cycle does not apply those rules
a second time.

:func:`followups`: for each accepted decision, the gap that justified it (the proposal's held-out
evidence) and the same gap this month, on the same measure and the same groups.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from refine import schemas as S
from refine.errors import RefineError
from refine.io.config import RefineConfig
from refine.io.runs import load_run
from refine.segments.decisions import redefine_segments
from refine.segments.profiles import profile_segments, respondents_table
from refine.segments.propose import build_measures, measure_group
from refine.segments.rules import parse_rule

CUSTOMERS_FILE = "customers.parquet"


def segment_name(proposal: dict) -> str:
    """The segment an accepted proposal creates, named as refine.segments.propose.proposed_assignments names it."""
    segments = [str(s) for s in proposal.get("segments") or []]
    rule = str(proposal.get("rule", ""))
    if proposal.get("kind") == "merge":
        return " + ".join(segments)
    if proposal.get("kind") == "split" and segments:
        return f"{segments[0]} ({rule.split(' and ', 1)[-1]})"
    return f"New: {rule}"


def carried_segments(customers: pd.DataFrame, accepted: list[dict], config: RefineConfig) -> list[str]:
    """The accepted segments the customer table already carries (their names are in its segment column)."""
    present = set(customers[config.customers.segment].astype(str).unique())
    return [segment_name(p) for p in accepted if segment_name(p) in present]


def carried_counts(customers: pd.DataFrame, accepted: list[dict], config: RefineConfig) -> dict[str, tuple[int, int]]:
    """Per accepted segment the table carries: (customers carrying it, customers its rule selects), where the rule's
    customers are those carrying it and those the accepted rules would move into it now (as `refine assign` would,
    precedence included). A CRM import that stopped half way shows as fewer carrying than selected. A segment
    whose rule cannot be read on this table (a rule column gone) is left out."""
    column = config.customers.segment
    names = carried_segments(customers, accepted, config)
    if not names:
        return {}
    try:
        redrawn, _ = redefine_segments(customers, accepted, config)
    except RefineError:
        return {}
    now, then = customers[column].astype(str).to_numpy(), redrawn[column].astype(str).to_numpy()
    return {name: (int((now == name).sum()), int(((now == name) | (then == name)).sum())) for name in names}


def carried_warning(names: list[str], counts: dict[str, tuple[int, int]] | None = None) -> str:
    """The warning for segments the table carries, with how many of each rule's customers carry it."""
    counts = counts or {}
    shown = []
    for name in names:
        carrying, selected = counts.get(name, (0, 0))
        if not selected:
            shown.append(f"“{name}”")
        elif carrying == selected:
            shown.append(f"“{name}” for all {selected:,} customers the rule selects")
        else:
            shown.append(f"“{name}” for {carrying:,} of {selected:,} customers the rule selects")
    text = (
        f"the customer table already carries the accepted segments ({'; '.join(shown)}): the CRM has applied "
        "them; rules not applied again"
    )
    missing = sum(counts[n][1] - counts[n][0] for n in names if n in counts)
    if missing:
        text += (
            f". {missing:,} customers an accepted rule selects do not carry its segment (an import that stopped "
            "part way?): they stay in their segment this month; import the assigned table again"
        )
    return text


def stored_customers(customers: pd.DataFrame, proposals: list, columns_of: dict) -> pd.DataFrame | None:
    """What next month needs to redraw this month's segments under a rule accepted later: customer id,
    segment, the columns the proposals' rules read and the outcomes (ids and values as the cycle held them).

    ``columns_of`` is the ``[customers]`` section of the run's config (as run.json records it).
    """
    columns = [columns_of.get("customer_id"), columns_of.get("segment")]
    if not all(c in customers.columns for c in columns):
        return None  # a run without a customer table (or a hand-built cycle): nothing to redraw next month
    for proposal in proposals:
        rule = proposal.rule if hasattr(proposal, "rule") else proposal.get("rule", "")
        columns += [c for c in parse_rule(rule).columns if c in customers.columns and c not in columns]
    columns += [c for c in columns_of.get("outcomes") or [] if c in customers.columns and c not in columns]
    return customers[columns].reset_index(drop=True)


def changed_segments(accepted: list[dict]) -> set[str]:
    """Every segment whose customers an accepted decision moves: the ones it names and the one it creates."""
    return {str(s) for p in accepted for s in p.get("segments") or []} | {segment_name(p) for p in accepted}


def previous_profiles(previous: Path, accepted: list[dict]) -> pd.DataFrame | None:
    """Last month's segment profiles with the accepted decisions applied to last month's customers, so each
    segment is compared with the same definition; None for a run folder without customers.parquet."""
    path = Path(previous) / CUSTOMERS_FILE
    if not path.exists():
        return None
    config = load_run(previous, with_customers=False).config
    customers = pd.read_parquet(path)
    customers[config.customers.customer_id] = customers[config.customers.customer_id].astype(str)
    carried = set(carried_segments(customers, accepted, config))
    try:
        customers, _ = redefine_segments(customers, [p for p in accepted if segment_name(p) not in carried], config)
    except RefineError:  # a rule on a column last month's run did not keep: compared by name, as an older run
        return None
    feedback = pd.read_parquet(Path(previous) / "feedback.parquet")
    segment_of = customers.set_index(config.customers.customer_id)[config.customers.segment]
    feedback[S.SEGMENT] = feedback[S.CUSTOMER_ID].astype(str).map(segment_of)
    feedback = feedback[feedback[S.SEGMENT].notna()]
    return profile_segments(feedback, customers, config, [])


def compared_with(proposal: dict) -> str:
    """Whom a decision's group is compared with, in words."""
    parts = [str(s) for s in proposal.get("segments") or []]
    if proposal.get("kind") == "split":
        return f'against the rest of "{parts[0]}"'
    if proposal.get("kind") == "merge":
        return f'"{parts[0]}" against ' + " + ".join(f'"{s}"' for s in parts[1:])
    return "against all other customers"


def _groups(proposal: dict, segment: pd.Series, original: pd.Series | None) -> tuple[pd.Series, pd.Series] | str:
    """This month's two groups of a decision's gap, or why they cannot be drawn."""
    name, parts = segment_name(proposal), [str(s) for s in proposal.get("segments") or []]
    if proposal.get("kind") == "split":
        return segment == name, segment == parts[0]
    if proposal.get("kind") == "merge":
        if original is None or not original.isin(parts).any():
            return "the customer table carries the merged segment only: its parts cannot be told apart"
        return original == parts[0], original.isin(parts[1:])
    return segment == name, segment != name


def _then(proposal: dict) -> list[dict]:
    """The gaps that justified a decision, each with the customers it was measured on: the held-out
    evidence (for a merge, the equivalences), then what only discovery showed, then the outcome gaps
    of its expected impact (all customers)."""
    evidence = proposal.get("evidence") or {}
    held_on = "held-out customers"
    if proposal.get("kind") == "merge":
        holdout = (evidence.get("holdout") or {}).get("equivalence") or []
        discovery = evidence.get("equivalence") or []
        if (evidence.get("holdout") or {}).get("sample") == "all customers":  # a merge since 0.4: no holdout
            held_on, discovery = "all customers", []
    else:
        holdout, discovery = evidence.get("holdout") or [], evidence.get("discovery") or []
    out = [dict(c, sample=held_on) for c in holdout if c.get("compared", True)]
    out += [dict(c, sample="discovery customers") for c in discovery if c.get("compared", True)]
    for impact in proposal.get("expected_impact") or []:
        gap = {k: impact.get(k) for k in ("kind", "diff", "ci_low", "ci_high")}
        gap.update(measure=impact.get("outcome"), group_value=impact.get("segment_mean"), sample="all customers")
        gap.update(rest_value=impact.get("compared_mean"), n_group=impact.get("customers"), n_rest=None)
        out.append(gap)
    first: dict = {}
    for gap in out:  # a measure once, from the first place that has it
        first.setdefault(gap.get("measure"), gap)
    return list(first.values())


def _now_record(c) -> dict:
    return {
        "kind": c.kind,
        "n_group": c.n_group,
        "n_rest": c.n_rest,
        "group_value": c.group_value,
        "rest_value": c.rest_value,
        "diff": c.diff,
        "ci_low": c.ci_low,
        "ci_high": c.ci_high,
        "p_value": c.p_value,
    }


def followups(
    accepted: list[dict],
    customers: pd.DataFrame,
    feedback: pd.DataFrame,
    config: RefineConfig,
    topic_ids: list[int],
    original: pd.Series | None = None,
) -> list[dict]:
    """Per accepted decision of last month: the gap that justified it and the same gap this month.

    Args:
        accepted: last month's accepted proposals (as proposals.json holds them).
        customers: this month's customers, with the accepted segments (applied or carried).
        feedback: this month's feedback with each writer's segment joined.
        config: this month's settings.
        topic_ids: this month's live topics (a topic measure follows the same topic id).
        original: this month's segment column before the decisions were applied: the parts of a merge.
    """
    if not accepted:
        return []
    segment = customers[config.customers.segment].astype(str).reset_index(drop=True)
    if original is not None:
        original = original.astype(str).reset_index(drop=True)
    frame = customers.reset_index(drop=True)
    measures = build_measures(frame, respondents_table(feedback, topic_ids), config, topic_ids)
    out = []
    for proposal in accepted:
        measured: list[dict] = []
        record: dict = {
            "proposal": proposal.get("id"),
            "kind": proposal.get("kind"),
            "segment": segment_name(proposal),
            "rule": proposal.get("rule"),
            "compared_with": compared_with(proposal),
            "note": "",
            "measures": measured,
        }
        groups = _groups(proposal, segment, original)
        now: dict = {}
        if isinstance(groups, str):
            record["note"] = groups
        elif not groups[0].any() or not groups[1].any():
            record["note"] = "one of the two groups has no customer this month"
        else:
            now = {c.measure: _now_record(c) for c in measure_group(measures, groups[0], groups[1])}
        for then in _then(proposal):
            measure = then.get("measure")
            label = then.get("label") or measure
            measured.append({"measure": measure, "label": label, "then": then, "now": now.get(measure)})
            if record["note"]:
                measured[-1]["not_measured"] = record["note"]
        out.append(record)
    return out
