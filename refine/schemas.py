"""Column names of the frames passed between stages.

Input files keep the company's own column names (mapped by the config). Inside refine, feedback
rows use the canonical names below; the customer table keeps its original names because rules
are written against them.
"""

from __future__ import annotations

# feedback rows after ingest
FEEDBACK_ID = "feedback_id"
CUSTOMER_ID = "customer_id"
TEXT = "text"
SCORE = "score"
TIMESTAMP = "timestamp"
SOURCE = "source"
ROW = "row"  # 1-based data row in the input file, for messages and rejects
INGESTED = [FEEDBACK_ID, CUSTOMER_ID, TEXT, SCORE, TIMESTAMP, SOURCE, ROW]

# added by sentiment and topics
SENTIMENT_SCORE = "sentiment_score"
SENTIMENT_LABEL = "sentiment_label"
SENTIMENT_PROBS = ["p_negative", "p_neutral", "p_positive"]
TOPIC_ID = "topic_id"
TOPIC_LABEL = "topic_label"
# the parent theme of the row's topic_id (-1 / "no topic" without one): feedback.parquet and sentences
TOPIC_PARENT_ID = "topic_parent_id"
TOPIC_PARENT_LABEL = "topic_parent_label"
# in memory only (not in feedback.parquet): the mean sentiment of a comment's sentences in its topic_id
TOPIC_SENTIMENT = "topic_sentiment"
SEGMENT = "segment"  # the customer's current segment, joined onto feedback rows

REJECT_COLUMNS = ["table", "row", "id", "reason"]
SENTIMENT_LABELS = ("negative", "neutral", "positive")
