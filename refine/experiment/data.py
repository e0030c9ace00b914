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
    "An arm label held by under 1% of units that reads as a misspelling of a known arm (the control, the plan's "
    "arms, the arms with 1% of units or more; within 2 edits, 1 for names of 3 to 5 characters, or equal ignoring "
    "case and spaces) is left out: its rows are counted and written to ab_rejects.csv with the reason, unless "
    "--arm-map counts it as an arm. With a plan, so is a rare label the plan never assigned. Any other rare label "
    "is analysed as an arm of its own, with a warning.",
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
    sources = {c: f"data file {Path(data_path).name}" for c in data.columns}
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
        sources.update({c: f"outcomes file {Path(outcomes_path).name}" for c in outcomes.columns if c != unit})
    data.attrs["refine_load"] = load
    data.attrs["refine_sources"] = sources
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


# ---- arm labels: misspelled arms, --arm-map --------------------------------------------------------------------

RARE_ARM_SHARE = 0.01  # an arm label held by fewer units than this share is judged: a misspelling, or a real arm?


def edit_distance(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (optimal string alignment): insertions, deletions, substitutions and
    transpositions of two neighbouring characters each cost 1 ("contrl" -> "control" = 1, "tretament" -> 1)."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


def _typo_limit(arm: str) -> int:
    """How many edits away a label may be and still read as a misspelling of ``arm``: 2, but 1 for arms of 3 to 5
    characters and 0 for arms of 1 or 2 (one edit turns "A" into "B" and "v1" into "v2": those are other arms)."""
    return 0 if len(arm) <= 2 else (1 if len(arm) <= 5 else 2)


def resembles(label: str, arms: Sequence[str]) -> str | None:
    """The known arm ``label`` reads as a misspelling of: equal ignoring case and spaces, or within a few edits
    (see _typo_limit); the nearest one, first in ``arms`` on a tie; None when none is near."""
    folded = "".join(label.split()).casefold()
    best: tuple[int, str] | None = None
    for arm in arms:
        other = "".join(arm.split()).casefold()
        distance = 0 if folded == other else edit_distance(folded, other)
        if distance <= _typo_limit(arm) and (best is None or distance < best[0]):
            best = (distance, arm)
    return None if best is None else best[1]


def parse_arm_map(specs: dict[str, str] | Sequence[str] | None) -> dict[str, str]:
    """{"contrl": "control"} from a dict or "contrl=control" strings (each may hold several, comma separated)."""
    if not specs:
        return {}
    if isinstance(specs, dict):
        return {str(k).strip(): str(v).strip() for k, v in specs.items()}
    out: dict[str, str] = {}
    for spec in specs:
        for pair in str(spec).split(","):
            source, sep, target = pair.partition("=")
            if not pair.strip():
                continue
            if not (sep and source.strip() and target.strip()):
                raise RefineError(f"--arm-map {pair.strip()!r} must be LABEL=ARM (e.g. contrl=control)")
            out[source.strip()] = target.strip()
    return out


@dataclass
class ArmLabels:
    """The arm column after --arm-map, and the labels left out of the analysis (rows counted and kept aside)."""

    arms: pd.Categorical  # text labels, --arm-map applied
    excluded: np.ndarray  # rows left out: their label is a stray (misspelled, or not an arm of the plan)
    reasons: dict[str, str]  # label left out -> the reason its rows carry in ab_rejects.csv
    left_out: list[dict] = field(default_factory=list)  # label, rows, units, share, resembles
    mapped: list[dict] = field(default_factory=list)  # label, to, rows
    rare: list[dict] = field(default_factory=list)  # rare labels analysed as arms: label, rows, units, share
    warnings: list[str] = field(default_factory=list)


def _label_counts(arms: pd.Categorical, units: pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    """Rows and distinct units per arm label (rows with a unit and an arm), and the distinct units in all."""
    codes = np.asarray(arms.codes, dtype=np.int64)
    unit_codes = pd.factorize(units)[0].astype(np.int64)  # raw values: a share needs no text labels (and is fast)
    ok = (codes >= 0) & (unit_codes >= 0)
    n_labels = len(arms.categories)
    rows = np.bincount(codes[ok], minlength=n_labels)
    if not ok.any():
        return rows, np.zeros(n_labels, dtype=np.int64), 0
    base = int(unit_codes.max()) + 1
    pairs = pd.unique(codes[ok] * base + unit_codes[ok])  # distinct (arm, unit) pairs, hashed not sorted
    units_per = np.bincount(pairs // base, minlength=n_labels)
    return rows, units_per, int(len(pd.unique(unit_codes[ok])))


def _apply_arm_map(
    arms: pd.Categorical, arm_map: dict[str, str], known: set[str], column: str
) -> tuple[pd.Categorical, list[dict]]:
    """The arm column with each mapped label replaced by its arm; a source not in the column or a target that is
    not a known arm is a one-line error."""
    labels = list(arms.categories)
    rows = np.bincount(np.asarray(arms.codes)[np.asarray(arms.codes) >= 0], minlength=len(labels))
    for source, target in arm_map.items():
        if source not in labels:
            raise RefineError(
                f"--arm-map names {source!r}, which is not a value of column {column!r} "
                f"(values: {', '.join(map(repr, labels[:10]))})"
            )
        if target not in known or target in arm_map:
            raise RefineError(
                f"--arm-map maps {source!r} to {target!r}, which is not a known arm "
                f"(known arms: {', '.join(map(repr, sorted(known - set(arm_map))))})"
            )
    mapped = [{"label": s, "to": t, "rows": int(rows[labels.index(s)])} for s, t in arm_map.items()]
    new_codes, new_labels = pd.factorize(pd.Series([arm_map.get(label, label) for label in labels], dtype=object))
    codes = np.asarray(arms.codes)
    remapped = np.where(codes >= 0, new_codes[np.maximum(codes, 0)], -1) if len(new_codes) else codes
    return pd.Categorical.from_codes(remapped, categories=list(new_labels)), mapped


def resolve_arms(
    values: pd.Series,
    units: pd.Series,
    control: str,
    *,
    column: str,
    plan_arms: Sequence[str] | None = None,
    arm_map: dict[str, str] | None = None,
) -> ArmLabels:
    """Judge every arm label: a label held by under 1% of units that reads as a misspelling of a known arm (the
    control, the plan's arms, the main arms: those with at least 1% of units) is left out, its rows counted; with a
    plan, so is a rare label the plan never assigned. ``arm_map`` counts labels as arms instead. Any other rare
    label stays an arm of its own, with a warning."""
    arms = arm_categories(values)
    rows, units_per, total = _label_counts(arms, units)
    share = units_per / max(total, 1)
    main = {label for label, s in zip(arms.categories, share) if s >= RARE_ARM_SHARE}
    known = {control, *(plan_arms or ()), *main}
    mapped: list[dict] = []
    if arm_map:
        arms, mapped = _apply_arm_map(arms, arm_map, known, column)
        rows, units_per, total = _label_counts(arms, units)
        share = units_per / max(total, 1)
    result = ArmLabels(arms, np.zeros(len(values), dtype=bool), {}, mapped=mapped)
    plan_text = ", ".join(plan_arms or ())
    for code, label in enumerate(arms.categories):
        if label in known or share[code] >= RARE_ARM_SHARE or not rows[code]:
            continue
        counts = {"label": label, "rows": int(rows[code]), "units": int(units_per[code]), "share": float(share[code])}
        like = resembles(label, sorted(known, key=lambda a: (a != control, a)))
        if like is None and not plan_arms:
            result.rare.append(counts)
            result.warnings.append(
                f"arm {label!r} holds only {counts['units']} units ({share[code]:.1%}); it is analysed as an arm of "
                f"its own. If it is not an arm, remove its rows; if it is an arm misspelled, give --arm-map "
                f"{label}=ARM"
            )
            continue
        result.left_out.append({**counts, "resembles": like})
        result.excluded |= np.asarray(arms.codes) == code
        if like is not None:
            result.reasons[label] = (
                f"arm {label!r} looks like a misspelling of {like!r}; --arm-map {label}={like} counts it"
            )
            result.warnings.append(
                f"arm {label!r} in column {column!r}: {counts['rows']} rows ({share[code]:.1%} of units) look like a "
                f"misspelling of {like!r}; they are left out of the analysis and the sample-ratio check and listed "
                f"in ab_rejects.csv (to count them as {like!r}, give --arm-map {label}={like})"
            )
        else:
            result.reasons[label] = f"arm {label!r} is not an arm of the plan ({plan_text})"
            result.warnings.append(
                f"arm {label!r} in column {column!r}: {counts['rows']} rows ({share[code]:.1%} of units) carry an "
                f"arm the plan never assigned (its arms: {plan_text}); they are left out and listed in "
                "ab_rejects.csv"
            )
    return result
