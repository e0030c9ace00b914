"""Aspect sentiment: sentiment per topic measured sentence by sentence.

A review that praises the fit and complains about shipping counts positive for fit and negative
for shipping in the topic figures. Single-sentence feedback reuses its document embedding and
sentiment, so only multi-sentence comments cost extra embeddings (and those are cached).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from refine import schemas as S


@dataclass
class AspectResult:
    sentences: pd.DataFrame  # feedback row position, sentence, topic_id, sentiment_score, sentiment_label
    topic_sentiment: dict[int, float]  # mean sentence sentiment per topic
    topic_sentences: dict[int, int]


def aspect_sentiment(
    feedback: pd.DataFrame, embeddings: np.ndarray, *, embedder, scorer, topic_model, min_chars: int = 12
) -> AspectResult:
    """Score each sentence's sentiment and topic; aggregate sentiment per topic from sentences.

    Args:
        feedback: accepted feedback rows with document-level sentiment and topic.
        embeddings: their document embeddings (aligned with ``feedback``).
        embedder: anything with ``encode(texts)`` (the pipeline's cached embedder).
        scorer: the sentiment scorer used for documents.
        topic_model: the fitted TopicModel (its ``assign`` places sentences in topics).
        min_chars: shorter fragments ("Thanks!") join no topic on their own.

    Returns:
        AspectResult with one row per sentence and the per-topic sentence sentiment.
    """
    from refine.sentiment import split_sentences

    rows, texts = [], []
    single = []
    for position, text in enumerate(feedback[S.TEXT].tolist()):
        parts = [p for p in split_sentences(text) if len(p) >= min_chars]
        if len(parts) <= 1:
            single.append(position)
            continue
        for part in parts:
            rows.append(position)
            texts.append(part)
    frame_parts = []
    if single:
        index = np.asarray(single)
        frame_parts.append(
            pd.DataFrame(
                {
                    "feedback_row": index,
                    "sentence": feedback[S.TEXT].to_numpy()[index],
                    S.TOPIC_ID: feedback[S.TOPIC_ID].to_numpy()[index],
                    S.SENTIMENT_SCORE: feedback[S.SENTIMENT_SCORE].to_numpy()[index],
                    S.SENTIMENT_LABEL: feedback[S.SENTIMENT_LABEL].to_numpy()[index],
                }
            )
        )
    if texts:
        vectors = embedder.encode(texts)
        scored = scorer.score(texts, vectors)
        topic_ids, _ = topic_model.assign(vectors)
        frame_parts.append(
            pd.DataFrame(
                {
                    "feedback_row": rows,
                    "sentence": texts,
                    S.TOPIC_ID: topic_ids,
                    S.SENTIMENT_SCORE: scored[S.SENTIMENT_SCORE].to_numpy(),
                    S.SENTIMENT_LABEL: scored[S.SENTIMENT_LABEL].to_numpy(),
                }
            )
        )
    sentences = (
        pd.concat(frame_parts, ignore_index=True).sort_values(["feedback_row"], kind="mergesort").reset_index(drop=True)
        if frame_parts
        else pd.DataFrame(columns=["feedback_row", "sentence", S.TOPIC_ID, S.SENTIMENT_SCORE, S.SENTIMENT_LABEL])
    )
    on_topic = sentences[sentences[S.TOPIC_ID] >= 0]
    grouped = on_topic.groupby(S.TOPIC_ID)[S.SENTIMENT_SCORE]
    return AspectResult(
        sentences=sentences,
        topic_sentiment={int(k): float(v) for k, v in grouped.mean().items()},
        topic_sentences={int(k): int(v) for k, v in grouped.size().items()},
    )
