"""Memory flat in the number of texts and customers (issue 32): the blocked and in-place paths give exactly
what the whole-matrix paths gave, and no stage changes an array it was handed."""

import numpy as np
import pandas as pd
from test_topics import APP, DELIVERY, SIZING, STAFF

import refine.text.sentiment.scorers as scorers
import refine.text.themes.topics as topics
from refine.io.config import TopicSettings, config_from_dict
from refine.segments.propose import Measures, build_measures
from refine.text.themes import fit_themes, split_comments

TEXTS = [t for group in (DELIVERY, SIZING, APP, STAFF) for t in group]


def test_the_cached_head_scores_the_same_in_blocks_of_any_size(base_embedder, tmp_path, monkeypatch):
    vectors = base_embedder.encode(TEXTS)
    head = scorers.load_scorer("default")
    whole = scorers.CachedScorer(head, tmp_path / "a", "m").score(TEXTS, vectors)
    monkeypatch.setattr(scorers, "SCORE_BLOCK", 7)
    blocked = scorers.CachedScorer(head, tmp_path / "b", "m").score(TEXTS, vectors)
    pd.testing.assert_frame_equal(whole, blocked)
    assert len(TEXTS) > 3 * 7  # more than one block was scored


def test_the_sample_fit_assigns_the_rest_in_blocks_exactly_as_at_once(base_embedder, monkeypatch):
    vectors = base_embedder.encode(TEXTS * 3)  # repeated texts: the sample leaves most of them to assign
    settings = TopicSettings(fit_sample=40, min_cluster_size=5)
    at_once = topics.fit_topics(TEXTS * 3, vectors, settings, seed=0)
    monkeypatch.setattr(topics, "ASSIGN_BLOCK", 5)
    blocked = topics.fit_topics(TEXTS * 3, vectors, settings, seed=0)
    assert at_once.method["assigned_after_fit"] > 5
    np.testing.assert_array_equal(at_once.doc_topics, blocked.doc_topics)
    # a matrix product of 5 rows may take another BLAS kernel than one of 80: the same cosines to float32 rounding
    np.testing.assert_allclose(at_once.doc_similarity, blocked.doc_similarity, rtol=0, atol=1e-6)
    assert [t.quotes for t in at_once.topics] == [t.quotes for t in blocked.topics]


def test_masking_does_not_change_the_sentence_vectors_it_was_handed(base_embedder):
    docs = [f"{t} Thanks Monzo and Leeds." for t in TEXTS]
    vectors = base_embedder.encode(docs)
    sentences = split_comments(docs, vectors, base_embedder.encode)
    before = np.array(sentences.embeddings, copy=True)
    result = fit_themes(sentences, vectors, docs, TopicSettings(), encode=base_embedder.encode)
    assert result.method["masked_sentences"] > 0
    np.testing.assert_array_equal(np.asarray(sentences.embeddings), before)


def test_respondent_measures_are_held_over_the_respondents_only():
    rng = np.random.default_rng(0)
    n = 500
    customers = pd.DataFrame(
        {"id": [f"c{i:04d}" for i in range(n)], "segment": rng.choice(["A", "B"], n), "churn": rng.integers(0, 2, n)}
    )
    said = customers["id"].sample(60, random_state=0)  # one customer in ten responded
    respondents = pd.DataFrame(
        {
            "sentiment": rng.normal(size=60),
            "negative": rng.integers(0, 2, 60).astype(float),
            "score": np.full(60, np.nan),
            "topic_0": rng.integers(0, 2, 60).astype(float),
        },
        index=pd.Index(said.to_numpy()),
    )
    config = config_from_dict({"customers": {"customer_id": "id", "segment": "segment", "outcomes": ["churn"]}})
    held = build_measures(customers, respondents, config, [0])
    assert len(held.respondent) == 60 and held.responded.sum() == 60
    # the same arrays as measures built from a frame over every customer
    full = respondents.reindex(customers["id"].to_numpy())[["sentiment", "negative", "topic_0"]]
    full.index = customers.index
    wide = Measures(full, held.outcomes, held.binary, held.segment_codes, held.segment_names)
    np.testing.assert_array_equal(wide.resp_rows, held.resp_rows)
    for (name, a, _), (other, b, _) in zip(held.columns, wide.columns):
        assert name == other
        np.testing.assert_array_equal(a, b)
    pd.testing.assert_series_equal(held.over_customers("sentiment"), full["sentiment"], check_names=False)


def test_logit_margins_in_column_blocks_match_all_columns_at_once(monkeypatch):
    import refine.insights.drivers as drivers

    rng = np.random.default_rng(0)
    n, m = 2000, 20
    design = pd.DataFrame(rng.integers(0, 2, (n, m)).astype(float), columns=[f"topic_{i}" for i in range(m)])
    design.insert(0, "const", 1.0)
    y = (rng.random(n) < 0.2 + 0.3 * design["topic_3"]).astype(float)
    columns = [f"topic_{i}" for i in range(m)]
    monkeypatch.setattr(drivers, "MARGIN_BLOCK", m)
    whole = drivers._logit_margins(y, design, columns)
    monkeypatch.setattr(drivers, "MARGIN_BLOCK", 3)
    blocked = drivers._logit_margins(y, design, columns)
    for c in columns:
        np.testing.assert_allclose(blocked[c], whole[c], rtol=1e-12, atol=1e-15)
    assert whole["topic_3"][0] > 0.2 and whole["topic_3"][2] < 1e-10  # the planted effect is found
