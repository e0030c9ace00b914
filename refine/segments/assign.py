"""Apply a run's accepted proposals to a fresh customer table: the segment file a CRM imports.

    refine assign --run runs/2026-11 --customers crm_export_2026-12-01.csv --out assigned.csv

Each customer gets the segment the next cycle would report them in: the base segment from the
table, changed by every accepted proposal whose rule selects them. The rules and the segment names
are the ones ``refine run --previous`` applies (``refine.segments.decisions.redefine_segments``), so the file
and next month's report agree.

Conflict order, when two accepted proposals select the same customer:

1. a NEW segment wins over a SPLIT or a MERGE (the proposal search tested the others without the
   customers of a new segment), and a SPLIT over a MERGE;
2. otherwise the higher-ranked proposal (lower rank in proposals.json) wins;
3. a MERGE only moves customers whose base segment is one of the merged segments.

A customer no accepted rule selects keeps their segment. Every customer two or more accepted rules
select is a conflict: counted, and listed in the output (``rules_matched`` > 1, ``decided_by``).
Rows of the table that cannot be used (missing or duplicate id, missing segment...) are not
guessed at: they are counted and written beside the output as ``<name>.rejects.csv``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from refine.errors import RefineError
from refine.io.ingest import NoUsableRows, _customers, _read_input
from refine.io.outputs import check_output_file
from refine.io.runs import load_run, write_csv
from refine.segments.decisions import accepted_proposals, redefine_segments
from refine.segments.propose import precedence
from refine.segments.rules import apply_rule, format_value, parse_rule
from refine.segments.search import observed_columns

RUN_INPUTS = ("run.json", "proposals.json", "decisions.json")


@dataclass
class AssignResult:
    out: Path
    customers: int
    changed: int
    conflicts: int
    rejected: int
    accepted: list[str]  # proposal ids applied, in rank order
    by_segment: dict[str, int] = field(default_factory=dict)  # new segment -> customers
    rejects_path: Path | None = None
    warnings: list[str] = field(default_factory=list)  # a rule matching nobody, a rule column whose values changed

    def to_json(self) -> dict:
        return {
            "out": str(self.out),
            "customers": self.customers,
            "changed": self.changed,
            "conflicts": self.conflicts,
            "rejected": self.rejected,
            "accepted": self.accepted,
            "by_segment": self.by_segment,
            "rejects_path": str(self.rejects_path) if self.rejects_path else None,
            "warnings": self.warnings,
        }


def assign_segments(
    run_dir: str | Path,
    customers_path: str | Path | None,
    out: str | Path,
    *,
    force: bool = False,
    strict: bool = False,
) -> AssignResult:
    """Write the new segment of every customer in a fresh table, from a run's accepted proposals.

    Args:
        run_dir: the run folder whose accepted proposals (refine accept) to apply.
        customers_path: the fresh customer table (same columns as the run's); None reads the run's
            ``[customers] database`` source.
        out: the CSV to write (ids and segment names exactly as read; other cells spreadsheet-safe); an
            existing file only with `force`, never an input.
        force: replace `out` (and its ``.rejects.csv`` beside it) if they exist.
        strict: a warning (an accepted rule that matches no customer, a rule column whose values are no longer
            the ones the run saw) is an error, and nothing is written.

    Returns:
        AssignResult with the counts.
    """
    out = Path(out)
    if out.exists() and out.is_dir():
        raise RefineError("--out is a folder; give the CSV file to write", where=str(out))
    if out.suffix.lower() != ".csv":
        raise RefineError("--out must be a .csv file", where=str(out))
    inputs = {"--customers": customers_path, **{f"the run's {n}": Path(run_dir) / n for n in RUN_INPUTS}}
    for path in (out, out.with_name(out.stem + ".rejects.csv")):
        check_output_file(path, force=force, inputs=inputs, what="--out")
    run = load_run(run_dir, with_customers=False)
    # a CRM export need not carry the outcomes or the value column: rules never read them
    config = dataclasses.replace(run.config, customers=dataclasses.replace(run.config.customers, outcomes=[], value=""))
    cc = config.customers
    rejects: list[dict] = []
    table = _read_input(customers_path, config, "customers")
    rejects_path = out.with_name(out.stem + ".rejects.csv")
    try:
        customers, _ = _customers(table, config, rejects, [])
    except NoUsableRows as exc:  # stop, but write the rejects the message names first
        write_csv(rejects_path, exc.rejects, keys=["id"])
        raise RefineError(f"{exc} (every rejected row with its reason: {rejects_path})") from None
    accepted = sorted(accepted_proposals(Path(run_dir)), key=lambda p: p.get("rank", 10**9))
    base = customers[cc.segment].astype(str)
    matched = np.zeros(len(customers), dtype=int)
    decided_by = pd.Series("", index=customers.index, dtype=object)
    # lowest precedence first, so the last proposal to match is the one that decides (see the docstring)
    order = sorted(accepted, key=lambda p: precedence(p.get("kind"), p.get("rank", 10**9)))
    warnings = column_changes(run.manifest.rule_columns, customers, [p["rule"] for p in accepted])
    for proposal in order:
        try:
            mask = np.array(apply_rule(customers, proposal["rule"]), dtype=bool)
        except RefineError as exc:
            raise RefineError(
                f"accepted proposal {proposal['id']}'s rule cannot be applied to this table ({exc})",
                where=str(customers_path or table.where),
            ) from None
        if proposal.get("kind") == "merge":
            mask &= base.isin(proposal.get("segments", [])).to_numpy()
        if not mask.any():
            warnings.append(f"accepted proposal {proposal['id']}'s rule matches no customer: {proposal['rule']}")
        matched += mask
        decided_by[mask] = proposal["id"]
    if strict and warnings:
        more = f" (and {len(warnings) - 1} more)" if len(warnings) > 1 else ""
        raise RefineError(f"--strict: nothing written: {warnings[0]}{more}", where=str(customers_path or table.where))
    new_customers, _ = redefine_segments(customers, accepted, config)
    new_segment = new_customers[cc.segment].astype(str)
    frame = pd.DataFrame(
        {
            cc.customer_id: customers[cc.customer_id].astype(str).values,
            "segment": base.values,
            "new_segment": new_segment.values,
            "changed": (new_segment != base).values,
            "decided_by": decided_by.values,
            "rules_matched": matched,
        }
    )
    # ids, segment names and proposal ids are values the CRM matches on: written exactly as read
    write_csv(out, frame, keys=[cc.customer_id, "segment", "new_segment", "decided_by"])
    if rejects:  # a broken row's id cell was redacted by ingest (it may hold comment text)
        write_csv(rejects_path, pd.DataFrame(rejects, columns=["table", "row", "id", "reason"]), keys=["id"])
    return AssignResult(
        out=out,
        customers=len(frame),
        changed=int(frame["changed"].sum()),
        conflicts=int((matched > 1).sum()),
        rejected=len(rejects),
        accepted=[p["id"] for p in accepted],
        by_segment={str(k): int(v) for k, v in new_segment.value_counts().sort_index().items()},
        rejects_path=rejects_path if rejects else None,
        warnings=warnings,
    )


def column_changes(seen: dict[str, dict], customers: pd.DataFrame, rules: list[str]) -> list[str]:
    """What changed in the columns the rules name since the run (run.json ``rule_columns``), one line each.

    A column whose kind changed (yes/no became 1/0, numbers became text), a yes/no column spelling its answers
    otherwise (``yes`` became ``Y``: the rule lists the spellings the run saw), and a value a rule names that the
    run saw and the table no longer holds. A run written before rule_columns was recorded has nothing to compare.
    """
    now = observed_columns(customers, rules, cap=None)
    named: dict[str, set[str]] = {}
    for rule in rules:
        for column, values in parse_rule(rule).literals().items():
            named.setdefault(column, set()).update(v if isinstance(v, str) else format_value(v) for v in values)
    out = []
    for column, before in seen.items():
        after = now.get(column)
        if after is None or not isinstance(before, dict):
            continue
        was, values = before.get("kind"), [str(v) for v in before.get("values", [])]
        complete = before.get("distinct", len(values)) <= len(values)
        shown = ", ".join(after["values"][:4]) + (" ..." if after["distinct"] > 4 else "")
        if was != after["kind"]:
            out.append(
                f"column {column!r} held {was} values ({', '.join(values[:4])}) when the run saw it and now holds "
                f"{after['kind']} values ({shown}): its rules may select other customers"
            )
        elif was == "boolean" and complete and set(values) != set(after["values"]):
            out.append(f"yes/no column {column!r} was spelled {', '.join(values)} in the run and now {shown}")
        else:
            gone = sorted(v for v in named.get(column, ()) if v in values and v not in after["values"])
            if gone:
                out.append(f"column {column!r} no longer holds {', '.join(gone[:3])}, which a rule names")
    return out
