import numpy as np

from refine.text.embed import CachedEmbedder, HashingEmbedder, SentenceTransformerEmbedder

TEXTS = [
    "The parcel came two weeks late.",
    "Lovely staff at the store!",
    "The app crashes at login.",
    "The parcel came two weeks late.",
]


def test_real_model_embeds_normalised_vectors(base_embedder):
    vectors = base_embedder.encode(TEXTS)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    # similar meaning, similar vector: the two delivery complaints are identical, the others differ
    assert vectors[0] @ vectors[3] > 0.99 and vectors[0] @ vectors[1] < 0.5


def test_second_run_computes_nothing_and_never_loads_the_model(tmp_path):
    fresh_model = SentenceTransformerEmbedder("default")  # not loaded yet
    stand_in = HashingEmbedder()  # vectors under the real model's id: what matters is that none is recomputed
    stand_in.model_id = fresh_model.model_id
    first = CachedEmbedder(stand_in, tmp_path)
    cold = first.encode(TEXTS)
    assert first.last_computed == 3 and first.last_hits == 0  # the repeated text is embedded once
    second = CachedEmbedder(fresh_model, tmp_path)
    warm = second.encode(TEXTS)
    assert second.last_computed == 0 and second.last_hits == 3
    assert fresh_model.loads == 0
    assert np.array_equal(cold, warm)


def test_partial_overlap_embeds_only_new_texts(fake_embedder, tmp_path):
    cached = CachedEmbedder(fake_embedder, tmp_path)
    cached.encode(TEXTS[:2])
    cached = CachedEmbedder(fake_embedder, tmp_path)
    cached.encode(TEXTS)
    assert cached.last_hits == 2 and cached.last_computed == 1


def test_cache_holds_no_text(fake_embedder, tmp_path):
    CachedEmbedder(fake_embedder, tmp_path).encode(["secret words about my refund"])
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"refund" not in path.read_bytes()


def test_each_chunk_is_cached_as_it_completes(fake_embedder, tmp_path):
    """A run that dies mid-way keeps every finished chunk: the next run embeds only the rest."""

    class DiesOnThirdCall:
        model_id = fake_embedder.model_id
        calls = 0

        def encode(self, texts):
            DiesOnThirdCall.calls += 1
            if DiesOnThirdCall.calls == 3:
                raise KeyboardInterrupt
            return fake_embedder.encode(texts)

    texts = [f"the parcel arrived {i} days late" for i in range(25)]
    dying = CachedEmbedder(DiesOnThirdCall(), tmp_path)
    dying.chunk_size = 10
    try:
        dying.encode(texts)
    except KeyboardInterrupt:
        pass
    again = CachedEmbedder(fake_embedder, tmp_path)
    vectors = again.encode(texts)
    assert (again.last_hits, again.last_computed) == (20, 5)
    np.testing.assert_array_equal(vectors, fake_embedder.encode(texts))
