"""fit_topics on a small real corpus (the packaged MiniLM): themes found, keywords, quotes, stable ids."""

import json
import random
from collections import Counter

import numpy as np
import pytest

from refine.errors import RefineError
from refine.io.config import TopicSettings, config_from_dict
from refine.text.themes.topics import TopicModel, clean_text, fit_topics, trim_quote

DELIVERY = [
    "My parcel arrived two weeks late.",
    "The delivery was delayed again with no explanation.",
    "Shipping took forever, I waited nearly a month.",
    "Package still hasn't arrived and tracking hasn't updated in days.",
    "The courier kept postponing my delivery date.",
    "Order shipped five days after the promised date.",
    "Delivery was supposed to be next day but took a week.",
    "Tracking said out for delivery for three days straight.",
    "My order got stuck in transit for ages.",
    "Shipping is far too slow, the parcel came late.",
    "I waited ten days for a package that should take two.",
    "The delivery driver never showed up in the time slot.",
    "Late delivery ruined the birthday present I ordered.",
    "Why does shipping take so long? Still waiting on my order.",
    "Parcel was lost by the courier and arrived weeks late.",
    "Estimated delivery date kept slipping every day.",
    "Express shipping was not express at all, it arrived late.",
    "My package sat at the depot for a week before delivery.",
    "The shipment was delayed twice without any notice.",
    "Delivery took much longer than the website promised.",
    "Still no sign of my parcel, the delivery is very late.",
    "Courier delays meant my order came after the holiday.",
    "The package arrived a fortnight after I ordered it.",
    "Slow shipping, my order took three weeks to arrive.",
    "Delivery was delayed because of the warehouse backlog.",
    "I paid for fast shipping and the parcel was still late.",
    "Tracking number didn't work and delivery was slow.",
    "Order arrived late, the courier blamed the weather.",
    "Waiting on a delayed delivery for over two weeks now.",
    "The delivery window was missed and the package came days later.",
    "Shipping delays are getting worse every time I order.",
    "It took ages for the parcel to be delivered.",
    "My delivery was late and nobody answered about the delay.",
    "The parcel finally arrived, nine days behind schedule.",
    "Dispatch was slow and the delivery came very late.",
    "Ordered on Monday, promised Wednesday, delivered the next Friday.",
    "Delivery delays again this month, parcel arrived late.",
    "The courier lost track of my shipment and it came late.",
]
SIZING = [
    "The dress runs small, I had to size up.",
    "These jeans are way too tight around the waist.",
    "The shirt fits loose, definitely order a size down.",
    "Sizing is inconsistent, a medium fits like a small.",
    "The trousers were too long and baggy on me.",
    "The jacket is too tight across the shoulders.",
    "I normally wear a large but this fits like an extra large.",
    "The sweater runs big, size down for a better fit.",
    "The sleeves are too short even though I ordered my usual size.",
    "Fit was off, the waist is huge but the hips are tight.",
    "This top is cut very small, order one size larger.",
    "The shoes run half a size small and pinch my toes.",
    "The skirt fits true to size and sits nicely at the waist.",
    "Too snug around the chest, had to return it for a bigger size.",
    "The size chart is wrong, everything fits smaller than stated.",
    "Pants are too short in the leg for my height.",
    "The coat is oversized, it swamps me even in a small.",
    "The fit is boxy and the size is bigger than expected.",
    "Great fabric but the sizing runs tight in the arms.",
    "I ordered my regular size and it was too small.",
    "The fit across the hips is too tight to be comfortable.",
    "The dress is far too big, the size guide is misleading.",
    "Waistband is too loose, the jeans keep falling down.",
    "Sizes are all over the place, my usual size did not fit.",
    "It fits snugly, I'd recommend sizing up one size.",
    "Length is perfect but the bust is too tight.",
    "The hoodie runs large, I should have ordered a medium.",
    "The small was huge on me, returning for an extra small.",
    "Shoulders too narrow and the size feels off.",
    "Tight fit around the thighs, size up if you're curvy.",
    "The blouse fits well but the sleeves are too long.",
    "Size medium fits like a large, very roomy cut.",
    "Tried two sizes and neither fit properly.",
    "The leggings are too tight at the calves.",
    "Inconsistent sizing between the two pairs I bought.",
    "Fits perfectly if you order one size down.",
    "The fit is awkward: loose at the waist, tight at the chest.",
    "I had to exchange it because it was a size too small.",
]
APP = [
    "The app crashes every time I open it.",
    "The app freezes at checkout and I lose my basket.",
    "Since the last update the app keeps crashing.",
    "The mobile app logs me out constantly.",
    "The app won't load on my phone, just a white screen.",
    "Payment screen in the app crashes before I can pay.",
    "The app is so buggy I gave up and used the website.",
    "After updating, the app closes as soon as I tap search.",
    "The app keeps showing an error when I try to log in.",
    "The iPhone app crashes when I add items to the cart.",
    "The Android app is slow and crashes randomly.",
    "App froze during payment and charged me twice.",
    "Can't log into the app, it says session expired every time.",
    "The app crashed three times while I was browsing.",
    "The latest app version is unusable, constant crashes.",
    "App is laggy and the product pages never load.",
    "Every time I open the app it force closes.",
    "The app gets stuck on the loading spinner forever.",
    "Bug in the app: the checkout button does nothing.",
    "The app logged me out and deleted my saved items.",
    "The app crashes whenever I try to view my orders.",
    "Terrible app, it hangs and then crashes.",
    "Push notifications open the app and it immediately crashes.",
    "The app keeps freezing on the home screen.",
    "Login in the app fails with an unknown error.",
    "The app crashed mid-order and I had to start again.",
    "The update broke the app, it won't even start.",
    "The app is glitchy, images don't load and it crashes.",
    "I reinstalled the app twice and it still crashes.",
    "The app's search crashes when I type more than one word.",
    "Checkout in the app throws an error every time.",
    "The app is unstable and crashes on my tablet.",
    "The shopping app keeps crashing on startup.",
    "My app freezes whenever I switch to the basket tab.",
    "App crashes after the splash screen every single time.",
    "The app won't let me sign in and crashes.",
    "Scrolling in the app makes it crash.",
    "The app crashes when I try to apply a discount code.",
]
STAFF = [
    "The staff in the store were so friendly and helpful.",
    "The sales assistant was lovely and helped me find my size.",
    "Customer service staff were kind and patient with me.",
    "The shop assistant went above and beyond to help.",
    "Friendly staff made my visit a pleasure.",
    "The cashier was cheerful and very polite.",
    "The team in store were welcoming and attentive.",
    "Staff greeted me with a smile and offered help.",
    "The employee at the counter was extremely helpful.",
    "Lovely, friendly staff who really cared about my needs.",
    "The store manager was courteous and sorted everything quickly.",
    "The assistant was warm, friendly and knowledgeable.",
    "Helpful staff explained all my options kindly.",
    "The young man at the till was so polite and friendly.",
    "Staff were attentive without being pushy.",
    "Everyone in the shop was welcoming and kind.",
    "A very helpful assistant in the fitting rooms.",
    "The staff member was patient and answered all my questions.",
    "Brilliant staff, friendly and quick to help.",
    "The lady at the store was incredibly kind to my kids.",
    "Service from the staff was friendly and professional.",
    "The employees were cheerful and made me feel welcome.",
    "The staff helped me carry my bags to the car, so kind.",
    "Super friendly team at the branch, always smiling.",
    "I was served by a lovely assistant who was very helpful.",
    "The staff were polite, helpful and genuinely nice.",
    "The shop staff gave great advice in a friendly way.",
    "Friendly and helpful employees at the store.",
    "The sales team were kind and attentive throughout.",
    "The assistant was very friendly and found what I needed.",
    "Such helpful and friendly staff, I'll be back.",
    "The in-store staff were welcoming and patient.",
    "Kind staff who went out of their way to help me.",
    "The store staff were courteous and friendly as always.",
    "The staff were amazing, friendly and really helpful.",
    "A friendly staff member helped me with the returns desk.",
    "Staff at the counter were helpful and kind.",
    "Always greeted by friendly, helpful staff.",
]
REFUND = [
    "I was charged twice and still haven't got my refund.",
    "My refund has not been processed after a month.",
    "Billing error: I was overcharged on my card.",
    "They took the money but never refunded the returned item.",
    "Waiting weeks for a refund that was promised in five days.",
    "My card was billed for an order I cancelled.",
    "The refund amount was less than what I paid.",
    "Double charged on my credit card, no refund yet.",
    "Still waiting on my money back for the return.",
    "I was billed the wrong amount and can't get a refund.",
    "Refund took six weeks to appear on my statement.",
    "The invoice shows charges I never agreed to.",
    "They charged my account twice for one purchase.",
    "Returned the item a month ago, still no refund.",
    "An unexpected charge appeared on my bank statement.",
    "Getting my refund was a nightmare of emails.",
    "I cancelled but was still charged the full price.",
    "The refund was rejected with no reason given.",
    "Overcharged at checkout and refund is pending forever.",
    "Money was taken from my account but the order was cancelled.",
    "Refund promised, never received.",
    "Billing charged me a subscription fee I never signed up for.",
    "Payment was taken twice, please refund the duplicate.",
    "Waiting on a refund for the faulty item for weeks.",
    "I want my money back, the refund still hasn't arrived.",
    "Charged a fee that wasn't mentioned anywhere.",
    "My refund went to an old card and now it's lost.",
    "Partial refund only, they kept the shipping charge.",
    "The refund process is slow and confusing.",
    "I was billed for items that were never sent.",
]


THEMES = {"delivery": DELIVERY, "sizing": SIZING, "app": APP, "staff": STAFF}
THEME_WORDS = {
    "delivery": {"delivery", "late", "parcel", "shipping", "delayed", "arrived"},
    "sizing": {"size", "fit", "fits", "small", "tight", "sizing"},
    "app": {"app", "crashes", "crash", "crashing", "app crashes"},
    "staff": {"staff", "friendly", "helpful", "friendly staff", "kind"},
    "refund": {"refund", "charged", "billed", "money"},
}


@pytest.fixture(scope="module")
def vectors(base_embedder):
    """Every corpus sentence embedded once for the module."""
    texts = [t for group in (DELIVERY, SIZING, APP, STAFF, REFUND) for t in group]
    return dict(zip(texts, base_embedder.encode(texts)))


def corpus(vectors, themes, seed=None):
    rows = [(text, name) for name in themes for text in (THEMES | {"refund": REFUND})[name]]
    if seed is not None:
        random.Random(seed).shuffle(rows)
    texts = [t for t, _ in rows]
    return texts, np.stack([vectors[t] for t in texts]), [name for _, name in rows]


@pytest.fixture(scope="module")
def fitted(vectors):
    texts, emb, themes = corpus(vectors, ["delivery", "sizing", "app", "staff"])
    return texts, emb, themes, fit_topics(texts, emb, TopicSettings(), seed=0)


def majority(model, themes, name):
    ids = model.doc_topics[[i for i, t in enumerate(themes) if t == name]]
    top, count = Counter(ids[ids >= 0].tolist()).most_common(1)[0]
    return top, count / len(ids)


def test_finds_each_theme_as_one_topic(fitted):
    texts, _, themes, model = fitted
    found = {}
    for name in THEMES:
        topic, purity = majority(model, themes, name)
        assert purity >= 0.8, (name, purity)
        found[name] = topic
    assert len(set(found.values())) == 4  # four different topics
    assert (model.doc_topics == -1).mean() <= 0.1
    assert [t.id for t in model.topics] == list(range(len(model.topics)))
    assert [t.size for t in model.topics] == sorted((t.size for t in model.topics), reverse=True)
    assert all(t.status == "new" for t in model.topics)
    for t in model.topics:
        assert t.size == int((model.doc_topics == t.id).sum())
        assert np.isclose(np.linalg.norm(t.centroid), 1.0, atol=1e-4)
    assert model.method["reducer"].startswith("pca")  # "auto" below 1000 texts
    assert model.method["unassigned"] == int((model.doc_topics == -1).sum())


def test_keywords_labels_and_quotes(fitted):
    texts, _, themes, model = fitted
    by_id = {t.id: t for t in model.topics}
    for name in THEMES:
        topic = by_id[majority(model, themes, name)[0]]
        assert 1 <= len(topic.keywords) <= TopicSettings().keywords
        assert set(topic.keywords[:3]) & THEME_WORDS[name], (name, topic.keywords)
        assert topic.label and set(topic.label.replace(" / ", " ").split()) & THEME_WORDS[name]
        assert 3 <= len(topic.quotes) <= TopicSettings().quotes
        assert len(set(topic.quotes)) == len(topic.quotes)
        members = {t for t, k in zip(texts, themes) if k == name}
        for quote in topic.quotes:
            assert quote.rstrip("…") in " ".join(texts) and len(quote) <= 301
        assert sum(q in members for q in topic.quotes) >= len(topic.quotes) - 1  # quotes are on the theme


def test_same_input_same_topics(vectors, fitted):
    texts, emb, _, first = fitted
    again = fit_topics(list(texts), emb.copy(), TopicSettings(), seed=0)
    assert np.array_equal(first.doc_topics, again.doc_topics)
    assert np.array_equal(first.doc_similarity, again.doc_similarity)
    assert [(t.id, t.label, t.keywords, t.quotes, t.size) for t in first.topics] == [
        (t.id, t.label, t.keywords, t.quotes, t.size) for t in again.topics
    ]
    assert json.dumps(first.to_records()) == json.dumps(again.to_records())


def test_ids_stay_stable_across_cycles(vectors, fitted):
    _, _, themes, first = fitted
    previous = json.loads(json.dumps(first.to_records()))  # as read back from topics.json
    old = {name: majority(first, themes, name)[0] for name in THEMES}
    labels = {t.id: t.label for t in first.topics}
    # next month: shuffled, the staff theme gone, a refund theme new
    texts, emb, new_themes = corpus(vectors, ["app", "refund", "delivery", "sizing"], seed=3)
    model = fit_topics(texts, emb, TopicSettings(), seed=0, previous=previous)
    by_id = {t.id: t for t in model.topics}
    for name in ("delivery", "sizing", "app"):
        topic_id, purity = majority(model, new_themes, name)
        assert topic_id == old[name] and purity >= 0.8
        assert by_id[topic_id].status == "stable" and by_id[topic_id].label == labels[topic_id]
    # the new theme gets new ids, flagged emerging (the spectral reducer may see two sub-themes in it:
    # "refund / item / money" and "charged / billed / cancelled"); each such topic is mostly refund texts
    refund_rows = np.array([t == "refund" for t in new_themes])
    refund_ids = set(model.doc_topics[refund_rows].tolist()) - {-1}
    assert np.isin(model.doc_topics[refund_rows], list(refund_ids)).mean() >= 0.8
    for topic_id in refund_ids:
        assert by_id[topic_id].status == "emerging" and topic_id > max(p["id"] for p in previous)
        assert refund_rows[model.doc_topics == topic_id].mean() >= 0.8
    refund_id, _ = majority(model, new_themes, "refund")
    fading = {f["id"]: f for f in model.fading}
    assert old["staff"] in fading and set(fading) <= {p["id"] for p in previous}
    assert fading[old["staff"]]["status"] == "fading" and fading[old["staff"]]["size"] == 0
    records = model.to_records()
    staff_record = next(r for r in records if r["id"] == old["staff"])
    assert staff_record["status"] == "fading" and staff_record["label"] == labels[old["staff"]]
    assert set(model.doc_topics.tolist()) - {-1} == {t.id for t in model.topics}

    # a third cycle with the staff theme back: it regains its old id, the refund topic keeps its new one
    third_prev = json.loads(json.dumps(records))
    texts, emb, third_themes = corpus(vectors, ["staff", "refund", "delivery", "sizing", "app"], seed=4)
    third = fit_topics(texts, emb, TopicSettings(), seed=0, previous=third_prev)
    assert majority(third, third_themes, "staff")[0] == old["staff"]
    assert majority(third, third_themes, "refund")[0] in refund_ids
    assert old["staff"] not in {f["id"] for f in third.fading}


def test_assign_uses_the_nearest_centroid(base_embedder, fitted):
    _, _, themes, model = fitted
    new = base_embedder.encode(["The parcel came a week later than promised.", "The app crashed when I tried to pay."])
    ids, sims = model.assign(new)
    assert ids.tolist() == [majority(model, themes, "delivery")[0], majority(model, themes, "app")[0]]
    assert (sims >= model.outlier_similarity).all()
    ids, sims = model.assign(np.zeros((2, new.shape[1]), dtype=np.float32))
    assert ids.tolist() == [-1, -1]
    assert model.assign(np.zeros((0, new.shape[1])))[0].shape == (0,)


def test_records_are_json_ready(fitted):
    _, _, _, model = fitted
    sentiment = {np.int64(t.id): -0.25 for t in model.topics[:2]}
    records = model.to_records(mean_sentiment=sentiment)
    json.dumps(records)
    assert len(records) == len(model.topics)
    first = records[0]
    assert set(first) >= {"id", "label", "keywords", "size", "share", "mean_sentiment", "quotes", "status", "centroid"}
    assert first["mean_sentiment"] == -0.25 and records[-1]["mean_sentiment"] is None
    assert len(first["centroid"]) == 384 and all(round(x, 5) == x for x in first["centroid"])
    assert abs(sum(r["share"] for r in records) - (model.doc_topics >= 0).mean()) < 1e-3


def test_max_topics_caps_the_count(fitted):
    texts, emb, _, _ = fitted
    model = fit_topics(texts, emb, TopicSettings(max_topics=2), seed=0)
    assert len(model.topics) == 2
    assert model.method["topics_dissolved"] >= 2
    assert set(model.doc_topics.tolist()) <= {-1, 0, 1}


def test_tiny_and_degenerate_inputs(vectors):
    empty = fit_topics([], np.zeros((0, 384), dtype=np.float32), TopicSettings())
    assert isinstance(empty, TopicModel) and empty.topics == [] and len(empty.doc_topics) == 0
    assert empty.to_records() == []
    texts, emb, _ = corpus(vectors, ["delivery"])
    few = fit_topics(texts[:8], emb[:8], TopicSettings())
    assert few.topics == [] and (few.doc_topics == -1).all() and len(few.doc_similarity) == 8
    same = fit_topics([texts[0]] * 60, np.repeat(emb[:1], 60, axis=0), TopicSettings())
    assert same.topics == [] and (same.doc_topics == -1).all()
    noise = np.random.default_rng(0).normal(size=(80, 384)).astype(np.float32)
    random_model = fit_topics(["lorem ipsum"] * 80, noise, TopicSettings())  # keywords from one repeated text
    assert len(random_model.doc_topics) == 80
    blank = fit_topics([""] * len(texts) + ["the and of"] * len(texts), np.vstack([emb, emb]), TopicSettings())
    assert len(blank.doc_topics) == 2 * len(texts)  # no usable words: no crash
    assert all(t.keywords == [] and t.label == "misc" for t in blank.topics)
    with pytest.raises(ValueError, match="embeddings"):
        fit_topics(texts, emb[:5], TopicSettings())
    # previous topics with nothing to match them: all fading
    prev = [{"id": 3, "label": "x", "centroid": list(emb[0].astype(float))}]
    assert [f["id"] for f in fit_topics([], np.zeros((0, 384)), TopicSettings(), previous=prev).fading] == [3]


def test_clean_text_and_quotes():
    raw = (
        "Love it!! see https://shop.example.com/x?y=1 @support_team [EMAIL] #fastshipping "
        "don't wait.\nSent from my iPhone"
    )
    cleaned = clean_text(raw)
    assert "http" not in cleaned and "@" not in cleaned and "EMAIL" not in cleaned
    assert "iPhone" not in cleaned and "fastshipping" in cleaned and "dont" in cleaned
    long = "word " * 100
    cut = trim_quote(long.strip(), 50)
    assert cut.endswith("…") and len(cut) <= 51 and cut[:-1].split() == ["word"] * len(cut[:-1].split())


def test_topic_settings_in_config():
    config = config_from_dict({"topics": {"reducer": "umap", "match_similarity": 0.7}})
    assert config.topics.reducer == "umap" and config.topics.match_similarity == 0.7
    with pytest.raises(RefineError, match="reducer"):
        fit_topics(["a b c"] * 30, np.random.default_rng(1).normal(size=(30, 8)), TopicSettings(reducer="tsne"))


def test_auto_reducer_goes_spectral_on_a_large_corpus():
    """From 1000 texts "auto" embeds the kNN graph; five separated themes come back as five topics."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(5, 64))
    emb = np.repeat(centres, 240, axis=0) + rng.normal(scale=0.6, size=(1200, 64))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    truth = np.repeat(np.arange(5), 240)
    texts = [f"theme{t} word{t} text {i}" for i, t in enumerate(truth)]
    model = fit_topics(texts, emb.astype(np.float32), TopicSettings(), seed=0)
    assert model.method["reducer"].startswith("spectral")
    from sklearn.metrics import homogeneity_score

    # every topic holds one theme (it may split a theme in sub-topics: isotropic blobs like these
    # have no real sub-structure, and spectral still cuts them in pieces), and every theme is found
    assigned = model.doc_topics >= 0
    assert assigned.mean() >= 0.95
    assert homogeneity_score(truth[assigned], model.doc_topics[assigned]) > 0.95
    assert set(truth[assigned]) == set(range(5))


def test_spectral_outliers_are_placed_in_the_wider_spectral_space(vectors):
    texts, emb, truth = corpus(vectors, ["delivery", "sizing", "app", "staff", "refund"])
    model = fit_topics(texts, emb, TopicSettings(reducer="spectral", max_topics=150), seed=0)
    assert model.method["reducer"].startswith("spectral")
    assert model.method["placed_in_spectral_space"] >= 0
    assert (model.doc_topics == -1).mean() <= 0.1
    from sklearn.metrics import normalized_mutual_info_score

    assert normalized_mutual_info_score(truth, model.doc_topics) >= 0.8


def _unit_rows(x):
    x = np.asarray(x, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_spectral_embedding_keeps_every_piece_of_a_graph_in_pieces_apart():
    """14 subjects nothing links (14 graph components, more than the 5 dimensions kept): no subject lands on
    the origin, each is one point of its own, and the result does not change between calls."""
    from refine.text.themes.topics import spectral_embedding

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(14, 16))
    emb = _unit_rows(np.vstack([c + 0.01 * rng.normal(size=(30, 16)) for c in centres]))
    vectors = spectral_embedding(emb, 5)
    assert vectors.shape == (420, 5) and not (np.abs(vectors).sum(axis=1) == 0).any()
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    points = np.array([unit[i * 30 : (i + 1) * 30].mean(axis=0) for i in range(14)])
    spread = max(float(np.abs(unit[i * 30 : (i + 1) * 30] - points[i]).max()) for i in range(14))
    gaps = np.linalg.norm(points[:, None] - points[None], axis=2)[np.triu_indices(14, 1)]
    assert spread < 1e-6 < gaps.min()  # a piece is one point, and no two pieces share one
    assert np.array_equal(vectors, spectral_embedding(emb, 5))


def test_spectral_embedding_matches_a_dense_solve_and_gives_repeated_texts_one_point():
    """Eigenvectors taken piece by piece span what a dense solve of the whole graph gives; copies of a text
    (here 40 copies each of 300 texts) get their text's coordinates."""
    import scipy.sparse as sp

    from refine.text.themes.topics import _top_eigenvectors, spectral_embedding

    rng = np.random.default_rng(1)
    blocks = []
    for n in (330, 40, 25):  # three pieces, symmetric non-negative weights
        links = np.triu(rng.random((n, n)) < 0.15, 1) | np.eye(n, k=1, dtype=bool)  # a chain: connected
        weights = rng.random((n, n))
        blocks.append(np.where(links | links.T, weights + weights.T, 0.0))
    w = sp.csr_matrix(sp.block_diag(blocks))
    inv = 1.0 / np.sqrt(np.asarray(w.sum(axis=1)).ravel())
    adj = sp.diags(inv) @ w @ sp.diags(inv)
    values, vectors = _top_eigenvectors(adj, 12)
    dense = np.linalg.eigvalsh(adj.toarray())[::-1][:12]
    assert np.allclose(np.sort(values)[::-1], dense, atol=1e-8)
    assert np.allclose(adj @ vectors, vectors * values, atol=1e-7)
    assert np.allclose(vectors.T @ vectors, np.eye(12), atol=1e-8)
    texts = _unit_rows(rng.normal(size=(300, 8)))
    copies = np.repeat(texts, 40, axis=0)
    once, repeated = spectral_embedding(texts, 6), spectral_embedding(copies, 6)
    assert np.array_equal(repeated, np.repeat(once, 40, axis=0))
