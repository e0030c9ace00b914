"""Join feedback with customers, and profile each segment with intervals.

Sentiment and scores are averaged per respondent first, so a customer who wrote five comments
counts once in a segment's figures (comments of one person are not independent).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from refine import schemas as S
from refine.io.config import RefineConfig
from refine.stats import is_binary, mean_ci, nps, proportion_ci


def join_segments(feedback: pd.DataFrame, customers: pd.DataFrame, config: RefineConfig) -> pd.DataFrame:
    """Feedback rows with the writer's current segment attached (every feedback customer is known)."""
    cc = config.customers
    segment_of = customers.set_index(cc.customer_id)[cc.segment]
    joined = feedback.copy()
    joined[S.SEGMENT] = joined[S.CUSTOMER_ID].map(segment_of)
    if joined[S.SEGMENT].isna().any():  # ingest rejects unknown customers; reaching here is a bug
        raise AssertionError("feedback from a customer missing in the customer table")
    return joined


def with_indicators(frame: pd.DataFrame, codes: np.ndarray, ids: list[int], prefix: str) -> pd.DataFrame:
    """`frame` with a 0/1 column `{prefix}{id}` per id (1 where `codes` == id), added at once: one
    column at a time fragments the frame (pandas warns from about 100 themes)."""
    if not ids:
        return frame
    flags = (np.asarray(codes)[:, None] == np.asarray(ids)[None, :]).astype(float)
    return pd.concat([frame, pd.DataFrame(flags, columns=[f"{prefix}{i}" for i in ids], index=frame.index)], axis=1)


def respondents_table(feedback: pd.DataFrame, topic_ids: list[int]) -> pd.DataFrame:
    """One row per respondent: mean sentiment, mean score, comment count and 0/1 topic mentions."""
    indicators = pd.DataFrame(
        {
            S.CUSTOMER_ID: feedback[S.CUSTOMER_ID].values,
            "sentiment": feedback[S.SENTIMENT_SCORE].values,
            "negative": (feedback[S.SENTIMENT_LABEL] == "negative").astype(float).values,
            "score": feedback[S.SCORE].values,
        }
    )
    indicators = with_indicators(indicators, feedback[S.TOPIC_ID].to_numpy(), topic_ids, "topic_")
    grouped = indicators.groupby(S.CUSTOMER_ID, sort=True)
    table = grouped[["sentiment", "negative", "score"]].mean()
    table["comments"] = grouped.size()
    mentions = [f"topic_{t}" for t in topic_ids]
    if mentions:
        table = table.join(grouped[mentions].max())
    return table


def parent_mentions(feedback: pd.DataFrame) -> pd.DataFrame | None:
    """One row per respondent: a 0/1 column `parent_{id}` per parent theme they mentioned (the parents of
    their comments' themes, `topic_parent_id`), indexed by customer id; None when the feedback carries no
    parent themes (a run without the themes stage, or no comment with a theme)."""
    if S.TOPIC_PARENT_ID not in feedback.columns:
        return None
    codes = pd.to_numeric(feedback[S.TOPIC_PARENT_ID], errors="coerce").fillna(-1).to_numpy(dtype=np.int64)
    ids = sorted(int(p) for p in np.unique(codes) if p >= 0)
    if not ids:
        return None
    frame = with_indicators(pd.DataFrame({S.CUSTOMER_ID: feedback[S.CUSTOMER_ID].values}), codes, ids, "parent_")
    return frame.groupby(S.CUSTOMER_ID, sort=True).max()


def profile_segments(
    feedback: pd.DataFrame, customers: pd.DataFrame, config: RefineConfig, topic_ids: list[int]
) -> pd.DataFrame:
    """Per segment: size, respondents, coverage, sentiment and score with CIs, topic shares and impact,
    outcome means with CIs.

    Args:
        feedback: joined feedback rows (sentiment, topic and segment attached).
        customers: the accepted customer table.
        config: which columns are the id, segment and outcomes.
        topic_ids: the topics to report shares and impacts for.

    Returns:
        One row per segment, largest first.
    """
    cc = config.customers
    score_kind = config.feedback.score_kind
    rows = []
    for segment, members in customers.groupby(cc.segment, sort=True):
        said = feedback[feedback[S.SEGMENT] == segment]
        per_person = said.groupby(S.CUSTOMER_ID)
        sentiment = per_person[S.SENTIMENT_SCORE].mean().to_numpy()
        row = {
            "segment": segment,
            "customers": len(members),
            "respondents": int(said[S.CUSTOMER_ID].nunique()),
            "feedback": len(said),
        }
        row["coverage"] = row["respondents"] / row["customers"]
        row["sentiment_mean"], row["sentiment_ci_low"], row["sentiment_ci_high"] = mean_ci(sentiment)
        row["negative_share"] = float((said[S.SENTIMENT_LABEL] == "negative").mean()) if len(said) else np.nan
        scores = per_person[S.SCORE].mean().dropna().to_numpy()
        row["score_kind"] = score_kind or ""
        row["score_respondents"] = len(scores)
        if score_kind == "nps":
            value = nps(said[S.SCORE].dropna().to_numpy())
        elif score_kind == "csat":
            top2 = said[S.SCORE].dropna().to_numpy() >= 4
            share, low, high = proportion_ci(float(top2.sum()), len(top2))
            value = (100 * share, 100 * low, 100 * high)
        else:
            value = mean_ci(scores)
        row["score_value"], row["score_ci_low"], row["score_ci_high"] = value
        for outcome in cc.outcomes:
            values = members[outcome].to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            if is_binary(values):
                mean, low, high = proportion_ci(float(values.sum()), len(values))
            else:
                mean, low, high = mean_ci(values)
            row[f"outcome:{outcome}:mean"], row[f"outcome:{outcome}:ci_low"], row[f"outcome:{outcome}:ci_high"] = (
                mean,
                low,
                high,
            )
        base = float(said[S.SENTIMENT_SCORE].mean()) if len(said) else np.nan
        for topic in topic_ids:
            on_topic = said[S.TOPIC_ID] == topic
            row[f"topic_{topic}_share"] = float(on_topic.mean()) if len(said) else 0.0
            without = said.loc[~on_topic, S.SENTIMENT_SCORE]
            # impact: how much the segment's mean sentiment moves because of this topic's comments
            row[f"topic_{topic}_impact"] = (base - float(without.mean())) if len(without) and on_topic.any() else 0.0
        rows.append(row)
    profiles = pd.DataFrame(rows)
    return profiles.sort_values(["customers", "segment"], ascending=[False, True]).reset_index(drop=True)
