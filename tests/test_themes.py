"""Themes: sentence-level, two levels, names from the texts, quotes about the theme, ids stable across cycles."""

import json

import numpy as np
import pandas as pd
import pytest
from test_topics import APP, DELIVERY, REFUND, SIZING, STAFF

from refine.io.config import TopicSettings
from refine.text.themes import SimpleSentences, ThemeResult, fit_themes, split_comments
from refine.text.themes.entities import entity_words, mask_entities
from refine.text.themes.naming import candidate_scores, phrase_counts

GROUPS = {"delivery": DELIVERY, "sizing": SIZING, "app": APP, "staff": STAFF}


def _two_sided(n=15, seed=0):
    rng = np.random.default_rng(seed)
    return [f"{a} {b}" for a, b in zip(rng.permutation(DELIVERY)[:n], rng.permutation(STAFF)[:n])]


@pytest.fixture(scope="module")
def fitted(base_embedder):
    docs = [t for g in GROUPS.values() for t in g] + _two_sided()
    vectors = base_embedder.encode(docs)
    sentences = split_comments(docs, vectors, base_embedder.encode)
    result = fit_themes(sentences, vectors, docs, TopicSettings(), encode=base_embedder.encode)
    return docs, vectors, sentences, result


def _group_of(text):
    return next((name for name, group in GROUPS.items() if text in group), None)


def _theme_of(result, sentences, name):
    ids = [t for t, text in zip(result.sentence_theme, sentences.frame["text"]) if _group_of(text) == name]
    values, counts = np.unique(ids, return_counts=True)
    return int(values[counts.argmax()]), counts.max() / len(ids)


def test_sentence_themes_and_two_themes_for_a_comment_about_two_things(fitted):
    docs, _, sentences, result = fitted
    found = {}
    for name in GROUPS:
        theme, purity = _theme_of(result, sentences, name)
        assert purity >= 0.8, (name, purity)
        found[name] = theme
    assert len(set(found.values())) == 4
    two = range(len(docs) - 15, len(docs))
    both = sum({found["delivery"], found["staff"]} <= set(result.comment_themes[i]) for i in two)
    assert both >= 13  # the comment's themes are its sentences' themes
    for i in two:
        assert result.primary[i] == result.comment_themes[i][0]
    assert result.method["multi_theme_comments"] >= 13
    by_id = {t.id: t for t in result.themes}
    assert by_id[found["staff"]].mentions > by_id[found["staff"]].size  # mentioned beyond its primary comments


def test_names_are_phrases_and_quotes_are_about_the_theme(fitted):
    docs, _, sentences, result = fitted
    corpus = " ".join(docs).lower()
    for name in GROUPS:
        theme_id, _ = _theme_of(result, sentences, name)
        theme = next(t for t in result.themes if t.id == theme_id)
        assert " / " not in theme.label and 1 <= len(theme.label.split()) <= 4, theme.label
        assert theme.label[0].isupper() and theme.label.lower() in corpus  # a phrase from the texts
        assert len(theme.quotes) >= 3
        on_theme = [q for q in theme.quotes if _group_of(q.rstrip("…")) == name]
        assert len(on_theme) == len(theme.quotes), (name, theme.quotes)  # each quote is one of its sentences


def test_topics_json_is_backward_compatible(fitted, tmp_path):
    _, _, _, result = fitted
    doc = json.loads(json.dumps(result.to_json()))
    old_keys = {"id", "label", "keywords", "size", "share", "mean_sentiment", "quotes", "status", "centroid"}
    for record in doc["topics"]:
        assert old_keys <= set(record) and {"parent_id", "mentions", "sentences"} <= set(record)
        assert record["size"] == int((result.primary == record["id"]).sum())
    assert {c for p in doc["parents"] for c in p["children"]} == {t["id"] for t in doc["topics"]}
    # a topics.json written before themes (no parents) is a valid previous cycle
    old = json.loads(open("tests/data/run-0.1.0/run/topics.json").read())
    previous = ThemeResult.previous_from_json(old)
    assert previous.parents == [] and len(previous.themes) == len(old["topics"]) + len(old["fading"])


def test_ids_stay_stable_across_cycles(base_embedder, fitted):
    docs, vectors, sentences, first = fitted
    previous = ThemeResult.previous_from_json(json.loads(json.dumps(first.to_json())))
    order = np.random.default_rng(5).permutation(len(docs) - 15)  # shuffled, the two-sided comments gone
    keep = [i for i in order if docs[i] not in STAFF]  # the staff theme gone
    docs2 = [docs[i] for i in keep] + REFUND
    vectors2 = np.vstack([vectors[keep], base_embedder.encode(REFUND)])
    second = fit_themes(
        split_comments(docs2, vectors2, base_embedder.encode), vectors2, docs2, TopicSettings(),
        encode=base_embedder.encode, previous=previous,
    )  # fmt: skip
    first_ids = {name: _theme_of(first, sentences, name)[0] for name in GROUPS}
    frame = pd.Series(second.primary[: len(keep)])
    for name in ("delivery", "sizing", "app"):
        rows = [j for j, i in enumerate(keep) if _group_of(docs[i]) == name]
        assert frame.iloc[rows].mode()[0] == first_ids[name]
        assert next(t for t in second.themes if t.id == first_ids[name]).status == "stable"
    assert first_ids["staff"] in {t.id for t in second.fading}
    refund_ids = set(second.primary[len(keep) :].tolist()) - {-1}
    assert refund_ids and all(i > previous.max_id for i in refund_ids)
    first_parents = {p.id for p in first.parents}
    assert {p.id for p in second.parents if p.status == "stable"} <= first_parents
    assert any(p.status == "stable" for p in second.parents)


def test_parents_group_children():
    """Three areas, each of two sub-themes: six child themes under three parents."""
    rng = np.random.default_rng(0)
    d = 64
    areas = np.linalg.qr(rng.normal(size=(d, d)))[0][:, :9].T  # orthonormal directions
    rows, truth_child, truth_parent = [], [], []
    for a in range(3):
        for c in range(2):
            centre = areas[a] + 0.75 * areas[3 + 2 * a + c]
            centre /= np.linalg.norm(centre)
            rows.append(centre + rng.normal(scale=0.05, size=(200, d)))
            truth_child += [2 * a + c] * 200
            truth_parent += [a] * 200
    emb = np.vstack(rows).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    texts = [f"area{p} part{c} comment number {i}" for i, (p, c) in enumerate(zip(truth_parent, truth_child))]
    frame = pd.DataFrame({"feedback_row": np.arange(len(texts)), "sentence_index": 0, "text": texts})
    result = fit_themes(SimpleSentences(frame, emb), emb, texts, TopicSettings(), encode=None)
    from sklearn.metrics import adjusted_rand_score, homogeneity_score

    # each child theme holds one sub-theme (the spectral reducer may cut a blob in pieces), every one found
    assert (result.primary >= 0).mean() >= 0.95
    assert homogeneity_score(truth_child, result.primary) > 0.95 and len(result.themes) >= 6
    parent_of = {t.id: t.parent_id for t in result.themes}
    parents = [parent_of.get(int(t), -1) for t in result.primary]
    assert adjusted_rand_score(truth_parent, parents) > 0.9
    assert len(result.parents) == 3 and all(len(p.children) >= 2 for p in result.parents)


def test_entity_words_are_masked():
    texts = [
        "Flew Skyjet to Denver and my bag was lost.",
        "Skyjet lost my luggage again @skyjet_help",
        "thanks Skyjet, the crew was great",
        "the ATM at Denver airport ate my card",
        "my flight from Denver was delayed",
        "We asked Skyjet for a refund twice.",
    ]
    entities = entity_words(texts)
    assert {"skyjet", "denver"} <= entities and "atm" not in entities
    masked = [mask_entities(t, entities) for t in texts]
    assert masked[1] == "lost my luggage again" and "ATM" in masked[3]
    assert all("Skyjet" not in m and "Denver" not in m and "@" not in m for m in masked)


def test_phrase_candidates():
    theme = ["The app keeps crashing on startup.", "App keeps crashing when I pay.", "the app keeps crashing"]
    other = ["Delivery was late.", "The parcel came late.", "Great staff."]
    all_phrases = phrase_counts(theme + other)
    from collections import Counter

    counts = Counter(p for s in all_phrases for p in s)
    best = candidate_scores(all_phrases[:3], counts, 6)
    assert best[0][0] in {"app keeps crashing", "keeps crashing"}
    assert all(not p.startswith("the ") for p, _ in best)


def test_parent_count_stays_between_two_and_sqrt_children():
    """Many loosely related children get about sqrt(k) parents; children that all look alike still get two."""
    from refine.text.themes.stage import _group_children

    rng = np.random.default_rng(0)
    spread = rng.normal(size=(81, 32)).astype(np.float32)
    spread /= np.linalg.norm(spread, axis=1, keepdims=True)
    groups = _group_children(spread, 0.55)
    assert 2 <= len(set(groups.tolist())) <= 9
    alike = np.ones((12, 32), np.float32) + rng.normal(scale=0.01, size=(12, 32)).astype(np.float32)
    alike /= np.linalg.norm(alike, axis=1, keepdims=True)
    assert len(set(_group_children(alike, 0.55).tolist())) == 2


def test_name_candidates_respect_clauses_particles_and_open_verbs():
    from refine.text.themes.naming import _stop_words, phrases, tokens

    stop = _stop_words()

    def found(text):
        return phrases(tokens(text), stop)

    arrive = found("My order took over a week to arrive, way longer than promised.")
    assert "longer than promised" in arrive and not any("arrive way" in p for p in arrive)  # no phrase crosses ","
    assert "order took" not in arrive  # a verb that needs what follows ends no name
    assert "fee went up" in found("The membership fee went up again.")  # a particle may end one
    assert "soft feel" in found("I love the soft feel of it.")  # "feel" is a noun here
    assert "great value fast shipping" not in found("great value—fast shipping")  # a dash is a clause break
    assert {"3", "50"}.isdisjoint(found("It was 3.50 more"))  # numbers name nothing
