"""Aspect sentiment: sentiment per topic measured sentence by sentence.

A review that praises the fit and complains about shipping counts positive for fit and negative
for shipping in the topic figures. The sentences and their sentiment come from the sentences and
sentiment stages (refine.sentences.SentenceTable); a whole-comment sentence keeps its comment's
topic, a sentence cut out of a longer comment joins the nearest topic (or none).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from refine import schemas as S
from refine.sentences import FEEDBACK_ROW, SentenceTable


@dataclass
class AspectResult:
    sentences: pd.DataFrame  # feedback_row, sentence_index, text, topic_id, sentiment_score, sentiment_label
    topic_sentiment: dict[int, float]  # mean sentence sentiment per topic
    topic_sentences: dict[int, int]  # sentences per topic


def aspect_sentiment(feedback: pd.DataFrame, sentences: SentenceTable, *, topic_model) -> AspectResult:
    """Place each sentence in a topic and aggregate sentiment per topic from sentences.

    Args:
        feedback: accepted feedback rows with their topic (``topic_id``), aligned with the
            sentence table's ``feedback_row``.
        sentences: the comments' sentences, with ``sentiment_score`` and ``sentiment_label``.
        topic_model: the fitted TopicModel (its ``assign`` places cut-out sentences in topics).

    Returns:
        AspectResult with one row per sentence and the per-topic sentence sentiment.
    """
    frame = sentences.frame.copy()
    topic_ids = feedback[S.TOPIC_ID].to_numpy()[frame[FEEDBACK_ROW].to_numpy()].astype(int)
    cut = sentences.split_rows
    if len(cut):
        topic_ids[cut], _ = topic_model.assign(sentences.embeddings[cut])
    frame[S.TOPIC_ID] = topic_ids
    on_topic = frame[frame[S.TOPIC_ID] >= 0]
    grouped = on_topic.groupby(S.TOPIC_ID)[S.SENTIMENT_SCORE]
    return AspectResult(
        sentences=frame,
        topic_sentiment={int(k): float(v) for k, v in grouped.mean().items()},
        topic_sentences={int(k): int(v) for k, v in grouped.size().items()},
    )
