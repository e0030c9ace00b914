"""Loading an experiment's tables and the data-quality policy (every excluded row counted)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from refine.errors import RefineError
from refine.experiment._common import _label, _label_codes, _label_each, _require_columns
from refine.io.ingest import read_typed_table

DATA_QUALITY_POLICY = [
    "Rows with no unit id or no arm are excluded (counted).",
    "Rows that contradict a --consistency check (e.g. group says treatment but landing_page says old_page) "
    "are excluded row by row (counted), before anything else is judged on the remaining rows.",
    "A unit whose remaining rows sit in more than one arm is excluded entirely (its rows counted).",
    "Further rows of a unit in the same arm are duplicates: the first row in input order is kept, "
    "the rest excluded (counted).",
    "A unit with no value for a metric is left out of that metric only (counted per metric).",
    "A unit with no value for a CUPED covariate keeps its metric value unadjusted (covariate set to its mean; "
    "counted per metric).",
]


@dataclass(frozen=True)
class ConsistencyCheck:
    """Rows where ``column`` holds a key of ``expected`` must hold the mapped value in ``other``."""

    column: str
    other: str
    expected: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        pairs = ",".join(f"{k}:{v}" for k, v in self.expected.items())
        return f"{self.column}:{self.other}={pairs}"


def parse_consistency(spec: str | tuple[str, str] | ConsistencyCheck) -> ConsistencyCheck:
    """``COL:OTHER=a1:b1,a2:b2`` (or the tuple ("COL:OTHER", "a1:b1,a2:b2")): a row whose COL is a1 must
    have OTHER == b1, and so on; values compared as text."""
    if isinstance(spec, ConsistencyCheck):
        return spec
    if isinstance(spec, (tuple, list)):
        if len(spec) != 2:
            raise RefineError(f'consistency check {spec!r} must be a ("COL:OTHER", "a:b,c:d") pair')
        spec = f"{spec[0]}={spec[1]}"
    text = str(spec)
    usage = "write it as COL:OTHER=value:expected,value:expected (e.g. group:landing_page=control:old_page,treatment:new_page)"
    if "=" not in text:
        raise RefineError(f"consistency check {text!r} has no '='; {usage}")
    left, right = text.split("=", 1)
    columns = left.split(":")
    if len(columns) != 2 or not all(c.strip() for c in columns):
        raise RefineError(f"consistency check {text!r} must name two columns before '='; {usage}")
    expected: dict[str, str] = {}
    for pair in right.split(","):
        if pair.count(":") < 1 or not pair.split(":", 1)[0].strip():
            raise RefineError(f"consistency check {text!r}: {pair!r} is not value:expected; {usage}")
        key, value = pair.split(":", 1)
        expected[key.strip()] = value.strip()
    return ConsistencyCheck(columns[0].strip(), columns[1].strip(), expected)


def read_table(
    path: str | Path, text_columns: Sequence[str] = (), *, what: str = "data", exact: bool = False
) -> pd.DataFrame:
    """A CSV / TSV / Parquet / JSONL / JSON table, read by ingest's reader (refine.io.ingest.read_typed_table) and
    typed as ingest types attributes; ``text_columns`` (unit ids) are text labels, leading zeros kept.

    ``exact``: a text id cell stays exactly as read (edge spaces too), for a table whose ids are written out
    again (the A/B plan's assignments.csv); otherwise labels are trimmed, so tables match on them."""
    frame = read_typed_table(path, what=what, text_columns=text_columns)
    for column in text_columns:
        if column in frame.columns and not (
            exact and frame[column].map(lambda v: isinstance(v, str) or pd.isna(v)).all()
        ):
            frame[column] = _label(frame[column])
    return frame


def load_experiment_data(data_path: str | Path, outcomes_path: str | Path | None, unit: str) -> pd.DataFrame:
    """One table, or an assignment table left-joined with an outcomes table on ``unit``.

    Units keep their text form (leading zeros survive). An outcomes table must hold one row per unit:
    exact duplicate rows are dropped (counted), conflicting duplicates are an error. Outcome rows whose
    unit was never assigned are ignored (counted). Counts travel in ``frame.attrs["refine_load"]``.
    """
    data = read_table(data_path, [unit])
    _require_columns(data, [unit], f"data file {Path(data_path).name}")
    load = {"data_rows": int(len(data))}
    if outcomes_path is not None:
        outcomes = read_table(outcomes_path, [unit], what="outcomes")
        _require_columns(outcomes, [unit], f"outcomes file {Path(outcomes_path).name}")
        shared = [c for c in outcomes.columns if c in data.columns and c != unit]
        if shared:
            raise RefineError(f"column {shared[0]!r} is in both the data and the outcomes table; rename one")
        exact = outcomes.duplicated(keep="first")
        outcomes = outcomes[~exact]
        conflicting = outcomes[unit].notna() & outcomes[unit].duplicated(keep=False)
        if conflicting.any():
            raise RefineError(
                f"the outcomes table holds {int(outcomes.loc[conflicting, unit].nunique())} units with "
                "different outcome rows; one row per unit is needed"
            )
        outcomes = outcomes[outcomes[unit].notna()]
        unassigned = ~outcomes[unit].isin(set(data[unit].dropna()))
        load.update(
            {
                "outcome_rows": int(len(outcomes) + exact.sum()),
                "outcome_exact_duplicates": int(exact.sum()),
                "outcome_rows_without_assignment": int(unassigned.sum()),
            }
        )
        data = data.merge(outcomes[~unassigned], on=unit, how="left", validate="many_to_one")
    data.attrs["refine_load"] = load
    return data


def _normalise_covariates(covariates, metrics: list[str], analysed: list[str]) -> dict[str, str]:
    if covariates is None:
        return {}
    if isinstance(covariates, dict):
        pairs = dict(covariates)
    else:
        items = [c.strip() for c in covariates]
        explicit = [":" in c for c in items]
        if any(explicit) and not all(explicit):
            raise RefineError(
                "covariates: use either positional names (pre_a,pre_b) or metric:covariate pairs, not both"
            )
        if all(explicit) and items:
            pairs = dict(c.split(":", 1) for c in items)
        else:
            if len(items) > len(metrics):
                raise RefineError(
                    f"{len(items)} covariates for {len(metrics)} metrics; pair them by position "
                    "or write metric:covariate"
                )
            pairs = {m: c for m, c in zip(metrics, items) if c and c != "-"}
    pairs = {k.strip(): v.strip() for k, v in pairs.items()}
    for metric, covariate in pairs.items():
        if metric not in analysed:
            raise RefineError(f"covariate given for {metric!r}, which is not among the metrics or guardrails")
        if covariate in analysed:
            # CUPED needs a pre-period measurement; an outcome of this test would explain itself away
            raise RefineError(
                f"covariate {covariate!r} for {metric!r} is itself a metric or guardrail of this test; "
                "use a column measured before the test started"
            )
    return pairs


def arm_categories(values: pd.Series) -> pd.Categorical:
    """The arm column as a categorical of text labels (each distinct value labelled once; two raw values with the
    same label, e.g. "B " and "B", are one arm)."""
    raw_codes, raw_uniques = pd.factorize(values)
    label_codes, label_uniques = pd.factorize(_label_each(pd.Series(raw_uniques)))
    codes = np.where(raw_codes >= 0, label_codes[np.maximum(raw_codes, 0)], -1) if len(label_codes) else raw_codes
    return pd.Categorical.from_codes(codes, categories=list(label_uniques))


def _units_in_several_arms(units: np.ndarray, arm_codes: np.ndarray) -> np.ndarray:
    """Unit codes seen in more than one arm: each row's arm against the arm of its unit's first row (O(rows))."""
    if not len(units):
        return np.array([], dtype=np.int64)
    first_arm = np.full(int(units.max()) + 1, -1, dtype=np.int64)
    first_arm[units[::-1]] = arm_codes[::-1]  # with repeated indices the last write wins: here, the first row
    differs = arm_codes != first_arm[units]
    return np.flatnonzero(np.bincount(units[differs], minlength=len(first_arm)) > 0)


def _clean(data: pd.DataFrame, unit: str, arm: str, checks: list[ConsistencyCheck]) -> tuple[pd.DataFrame, dict]:
    """Apply the data-quality policy; return the accepted rows (one per unit) and every count."""
    n_input = len(data)
    work = data.copy(deep=False)
    if "__arm__" not in work.columns:
        work["__arm__"] = arm_categories(work[arm])
    # units are grouped by integer codes (same grouping as their text labels): hashing ints, not strings
    work["__unit__"] = _label_codes(work[unit])
    excluded = {"missing_unit_or_arm": 0, "contradicting": 0, "unit_in_both_arms": 0, "duplicate_rows": 0}
    # every step judges the rows the previous steps left: a mask over the input, one copy of the table at the end
    units_all = work["__unit__"].to_numpy()
    arms_all = work["__arm__"].cat.codes.to_numpy().astype(np.int64)
    alive = (units_all >= 0) & (arms_all >= 0)
    excluded["missing_unit_or_arm"] = int((~alive).sum())
    rows = np.flatnonzero(alive)
    both_raw = len(_units_in_several_arms(units_all[rows], arms_all[rows]))
    repeated_raw = int((np.bincount(units_all[rows]) > 1).sum()) if len(rows) else 0

    consistency = []
    bad_any = np.zeros(len(rows), dtype=bool)
    for check in checks:
        part = work.iloc[rows]
        a, b = _label(part[check.column]), _label(part[check.other])
        known = a.isin(list(check.expected))
        want = a.map(check.expected)
        bad = known & (b.isna() | (b != want))
        by_value = {f"{k} with {check.other} != {v}": int((bad & (a == k)).sum()) for k, v in check.expected.items()}
        consistency.append(
            {
                "check": check.text,
                "contradicting_rows": int(bad.sum()),
                "by_value": by_value,
                "rows_not_covered": int((~known).sum()),
            }
        )
        bad_any |= bad.fillna(False).astype(bool).to_numpy()
    excluded["contradicting"] = int(bad_any.sum())
    alive[rows[bad_any]] = False

    rows = np.flatnonzero(alive)
    units = units_all[rows]
    both_units = _units_in_several_arms(units, arms_all[rows])
    in_both = np.isin(units, both_units)
    excluded["unit_in_both_arms"] = int(in_both.sum())
    alive[rows[in_both]] = False

    rows = np.flatnonzero(alive)
    # a row is a duplicate unless it is the first remaining row of its unit (unit codes are dense: no hashing)
    first_row = np.full(int(units_all.max()) + 1 if len(units_all) else 0, -1, dtype=np.int64)
    first_row[units_all[rows][::-1]] = rows[::-1]
    dup = first_row[units_all[rows]] != rows
    duplicate_units = int(np.count_nonzero(np.bincount(units_all[rows][dup]))) if dup.any() else 0
    excluded["duplicate_rows"] = int(dup.sum())
    alive[rows[dup]] = False
    work = work[alive]
    accepted = len(work)
    quality = {
        "policy": DATA_QUALITY_POLICY,
        "input_rows": int(n_input),
        "accepted_units": int(accepted),
        "excluded_rows": excluded,
        "excluded_total": int(sum(excluded.values())),
        "accounted": bool(accepted + sum(excluded.values()) == n_input),
        "units_with_several_rows_in_input": repeated_raw,
        "units_in_both_arms": int(len(both_units)),
        "units_in_both_arms_before_consistency": both_raw,
        "duplicate_units": duplicate_units,
        "consistency": consistency,
    }
    return work, quality
