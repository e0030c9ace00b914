"""Sentiment: the models that score a text, and the stage that scores every comment.

Modules: `scorers` (the SentimentScorer protocol, the embedding head shipped in refine/models, a transformers
scorer, training a head on rated feedback), `stage` (each comment's language, its sentences' sentiment and
the comment's sentiment from them), `review` (the fine-tuned review model for long English comments).
"""
