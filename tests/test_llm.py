"""The optional LLM labels and summary: a tiny local model, a stub OpenAI-compatible server, fallbacks.

Everything is offline: the model is built and trained here in seconds, and the "endpoint" is an
http.server thread on 127.0.0.1.
"""

import json
import re
import socket
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest

from refine.errors import RefineError
from refine.io.config import CONFIG_TEMPLATE, LLMSettings, config_from_dict, llm_api_key, load_config
from refine.report.llm import (
    DEFAULT_PROMPTS,
    LABEL_CHARS,
    PROMPT_FILES,
    apply_labels,
    clean_label,
    clean_summary,
    executive_summary,
    label_topics,
    render_prompt,
)
from refine.text.themes.model import Theme

PII = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+|\d{3}[ .-]?\d{3}[ .-]?\d{4}")


def make_topics() -> list[Theme]:
    """Two live topics and a fading one, with personal data planted in a quote as if redaction had missed it."""
    return [Theme.from_record(record) for record in topic_records()]


def topic_records() -> list[dict]:
    """make_topics() as topics.json records."""
    return [
        {
            "id": 0,
            "label": "delivery / late",
            "keywords": ["delivery", "late", "courier"],
            "size": 40,
            "share": 0.5,
            "mean_sentiment": -0.5,
            "status": "new",
            "quotes": [
                "Delivery was late again, call me on 415-555-0132 or write to jo.smith@example.com",
                "the courier left the box outside",
            ],
        },
        {
            "id": 1,
            "label": "app / crash",
            "keywords": ["app", "crash", "login"],
            "size": 30,
            "share": 0.375,
            "mean_sentiment": -0.3,
            "status": "stable",
            "quotes": ["app crashes on login", "cannot log in"],
        },
        {
            "id": 7,
            "label": "old topic",
            "keywords": ["old"],
            "size": 0,
            "share": 0.0,
            "mean_sentiment": None,
            "status": "fading",
            "quotes": [],
        },
    ]


SUMMARY_CONTEXT = {
    "comments": 80,
    "respondents": 70,
    "customers": 1000,
    "segments": 3,
    "negative_share": "40%",
    "topics": [{"label": "Late deliveries", "share": "50%", "sentiment": "-0.50"}],
    "confirmed": ['Split “Loyal”: a subgroup that differs (region == "west")'],
    "not_confirmed": 1,
}


# ---- a tiny local text-generation model -------------------------------------------------------

TAUGHT = {0: "late parcel delivery", 1: "app login crashes"}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A 1-layer GPT-2 with a word-level tokenizer, taught to answer the two label prompts."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-gpt2")
    settings = LLMSettings()
    topics = {t["id"]: t for t in topic_records()}
    prompts = {
        i: render_prompt(
            "topic_label.j2",
            settings,
            keywords=topics[i]["keywords"],
            quotes=topics[i]["quotes"],
            size=topics[i]["size"],
            keyword_label=topics[i]["label"],
        )
        for i in TAUGHT
    }
    words = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    words.decoder = decoders.WordPiece()  # joins words with spaces
    words.train_from_iterator(
        [*prompts.values(), *TAUGHT.values()], trainers.WordLevelTrainer(special_tokens=["[UNK]", "[PAD]", "[EOS]"])
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=words, unk_token="[UNK]", pad_token="[PAD]", eos_token="[EOS]")
    torch.manual_seed(0)
    model = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=len(tokenizer),
            n_positions=256,
            n_embd=32,
            n_layer=1,
            n_head=2,
            bos_token_id=tokenizer.eos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    # teach it each prompt's answer so that greedy decoding has something definite to say
    sequences = [tokenizer(prompts[i] + " " + TAUGHT[i])["input_ids"] + [tokenizer.eos_token_id] for i in TAUGHT]
    width = max(map(len, sequences))
    ids = torch.tensor([s + [tokenizer.pad_token_id] * (width - len(s)) for s in sequences])
    mask = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in sequences])
    targets = ids.masked_fill(mask == 0, -100)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small trains fastest on one core (and leaves the other free)
    try:
        model.train()
        for _ in range(80):
            optimizer.zero_grad()
            model(input_ids=ids, attention_mask=mask, labels=targets).loss.backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    model.eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def local(model, **overrides) -> LLMSettings:
    return LLMSettings(provider="transformers", model=str(model), **overrides)


def test_labels_come_from_the_local_model(tiny_model):
    topics = make_topics()
    labels, status = label_topics(topics, local(tiny_model))
    assert status == "ok"
    assert labels == TAUGHT  # greedy decoding: exactly what it was taught, every time
    assert label_topics(make_topics(), local(tiny_model)) == (labels, status)
    apply_labels(topics, labels)
    assert [(t.label, t.label_source, t.keyword_label) for t in topics] == [
        ("late parcel delivery", "llm", "delivery / late"),
        ("app login crashes", "llm", "app / crash"),
        ("old topic", None, None),
    ]  # fading topics keep last cycle's label untouched
    assert all(len(label) <= LABEL_CHARS and "\n" not in label for label in labels.values())


def test_local_model_sees_redacted_prompts_only(tiny_model, monkeypatch):
    import refine.report.llm

    seen = []
    real = refine.report.llm._ask_local
    monkeypatch.setattr(refine.report.llm, "_ask_local", lambda s, prompt, n: seen.append(prompt) or real(s, prompt, n))
    label_topics(make_topics(), local(tiny_model))
    assert len(seen) == 2 and not any(PII.search(p) for p in seen)
    assert "[EMAIL]" in seen[0] and "[PHONE]" in seen[0]


def test_missing_or_broken_model_falls_back_to_keyword_labels(tmp_path):
    topics = make_topics()
    labels, status = label_topics(topics, local(tmp_path / "absent"))
    assert labels == {} and status.startswith("fallback: model folder") and "\n" not in status
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{ not json")
    labels, status = label_topics(topics, local(broken))
    assert labels == {} and status.startswith("fallback: ") and "\n" not in status and len(status) < 260
    text, status = executive_summary(SUMMARY_CONTEXT, local(broken))
    assert text is None and status.startswith("fallback: ")
    apply_labels(topics, labels)
    assert [(t.label, t.label_source) for t in topics[:2]] == [
        ("delivery / late", "keywords"),
        ("app / crash", "keywords"),
    ]


def test_provider_none_asks_nothing():
    topics = make_topics()
    assert label_topics(topics, LLMSettings()) == ({}, "off")
    assert executive_summary(SUMMARY_CONTEXT, LLMSettings()) == (None, "off")
    assert topics[0].label_source is None and "label_source" not in topics[0].to_record()


# ---- a stub OpenAI-compatible endpoint --------------------------------------------------------


class Stub:
    """What the stub server does next, and every request it received."""

    def __init__(self):
        self.mode = "ok"
        self.requests: list[dict] = []
        self.release = threading.Event()

    def answer(self, prompt: str) -> str:
        if "Summary:" in prompt:
            return (
                "Summary: Most comments are about **late deliveries**; ask ops@example.com. "
                "R&D costs <b>rose</b> & sentiment fell.\n\nA second paragraph."
            )
        if "CUSTOM PROMPT" in prompt:
            return "Custom label"
        if "courier" in prompt:
            return '**"Late deliveries."**\nand some chatter after the label'
        return "Label: <b>App login failures</b>"


@pytest.fixture
def stub(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    state = Stub()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.requests.append({"path": self.path, "headers": dict(self.headers), "raw": raw.decode("utf-8")})
            if state.mode == "hang":
                state.release.wait(10)
                return
            if state.mode == "500":
                self.send_error(500, "model exploded")
                return
            if state.mode == "garbage":
                body = b"<html>this is not json</html>"
            elif state.mode == "empty":
                body = json.dumps({"choices": [{"message": {"role": "assistant", "content": "  \n"}}]}).encode()
            else:
                prompt = json.loads(raw)["messages"][0]["content"]
                body = json.dumps(
                    {
                        "id": "x",
                        "object": "chat.completion",
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": state.answer(prompt)},
                                "finish_reason": "stop",
                            }
                        ],
                    }
                ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.endpoint = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()


def remote(stub, **overrides) -> LLMSettings:
    return LLMSettings(provider="openai", model="stub-model", endpoint=stub.endpoint, **overrides)


def test_labels_and_summary_come_from_the_endpoint(stub, monkeypatch):
    monkeypatch.setenv("REFINE_TEST_LLM_KEY", "sk-test-123")
    settings = remote(stub, api_key_env="REFINE_TEST_LLM_KEY", timeout_s=5)
    labels, status = label_topics(make_topics(), settings)
    assert status == "ok" and labels == {0: "Late deliveries", 1: "App login failures"}  # cleaned of markup
    text, status = executive_summary(SUMMARY_CONTEXT, settings)
    assert status == "ok"
    assert text == (
        "Most comments are about late deliveries; ask [EMAIL]. R&D costs rose & sentiment fell. A second paragraph."
    )  # one paragraph, no markup, redacted
    assert len(stub.requests) == 3
    for request in stub.requests:
        body = json.loads(request["raw"])
        assert request["path"] == "/v1/chat/completions"
        assert request["headers"]["Authorization"] == "Bearer sk-test-123"
        assert body["model"] == "stub-model" and body["temperature"] == 0
        assert not PII.search(request["raw"]), "personal data left the machine"
    assert "[EMAIL]" in stub.requests[0]["raw"] and "[PHONE]" in stub.requests[0]["raw"]
    assert json.loads(stub.requests[0]["raw"])["max_tokens"] == settings.max_new_tokens
    assert json.loads(stub.requests[2]["raw"])["max_tokens"] == settings.summary_max_new_tokens


@pytest.mark.parametrize(
    "mode, reason", [("500", "HTTP 500"), ("garbage", "not a chat completion"), ("hang", "no answer within 0.5 s")]
)
def test_a_failing_endpoint_falls_back_after_one_try(stub, mode, reason):
    stub.mode = mode
    topics = make_topics()
    started = time.perf_counter()
    labels, status = label_topics(topics, remote(stub, timeout_s=0.5))
    assert time.perf_counter() - started < 5
    assert labels == {} and status.startswith("fallback: ") and reason in status
    assert len(stub.requests) == 1  # the first failure stops the asking: no timeout per topic
    text, status = executive_summary(SUMMARY_CONTEXT, remote(stub, timeout_s=0.5))
    assert text is None and status.startswith("fallback: ") and reason in status
    apply_labels(topics, labels)
    assert topics[0].label == "delivery / late" and topics[0].label_source == "keywords"


def test_empty_answers_keep_keyword_labels(stub):
    stub.mode = "empty"
    labels, status = label_topics(make_topics(), remote(stub))
    assert labels == {} and status.startswith("partial: 2 of 2")
    assert executive_summary(SUMMARY_CONTEXT, remote(stub)) == (None, "fallback: answer unusable (empty or garbled)")


def test_refused_connection_falls_back():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = LLMSettings(provider="openai", model="m", endpoint=f"http://127.0.0.1:{port}/v1", timeout_s=2)
    labels, status = label_topics(make_topics(), settings)
    assert labels == {} and status.startswith("fallback: cannot reach endpoint")


def test_a_prompt_folder_of_your_own(stub, tmp_path):
    mine = tmp_path / "prompts"
    mine.mkdir()
    (mine / "topic_label.j2").write_text("CUSTOM PROMPT {{ keywords | join(' ') }} {{ quotes | join(' ') }}\n")
    labels, status = label_topics(make_topics()[:1], remote(stub, prompts=str(mine)))
    assert (labels, status) == ({0: "Custom label"}, "ok")
    sent = json.loads(stub.requests[0]["raw"])["messages"][0]["content"]
    assert sent.startswith("CUSTOM PROMPT delivery late courier") and "[EMAIL]" in sent and not PII.search(sent)
    text, status = executive_summary(SUMMARY_CONTEXT, remote(stub, prompts=str(mine)))  # default summary prompt
    assert status == "ok" and text
    labels, status = label_topics(make_topics(), remote(stub, prompts=str(tmp_path / "nowhere")))
    assert labels == {} and status.startswith("fallback: prompt folder")


# ---- cleaning, prompts, config ----------------------------------------------------------------


@pytest.mark.parametrize(
    "answer, label",
    [
        ('**"Late deliveries."**\nmore text', "Late deliveries"),
        ("Label: <b>App crashes</b>", "App crashes"),
        ("1. Refund delays", "Refund delays"),
        ("<|im_start|>Slow checkout<|im_end|>", "Slow checkout"),
        ("'Customer's refund'", "Customer's refund"),
        ("[UNK] [UNK]", None),
        ("", None),
        ("!!! ???", None),
        ("weeks weeks weeks weeks", None),
        ("call 415-555-0132 now", None),
        ("mail bo@example.com", None),
        ("write to [EMAIL] now", None),
        (" ".join(f"word{i}" for i in range(30)), "word0 word1 word2 word3 word4 word5 word6 word7 word8 word9"),
    ],
)
def test_clean_label(answer, label):
    assert clean_label(answer) == label


def test_clean_summary_caps_length_and_redacts():
    sentences = " ".join(f"Customers in segment {i} wait {i + 2} days for parcel number {i}." for i in range(40))
    text = clean_summary("## Summary\n" + sentences)
    assert text is not None and 600 < len(text) <= 1200 and text.endswith(".") and "\n" not in text
    assert clean_summary("Customers wait too long for their parcels. " * 20) is None  # a model stuck in a loop
    assert clean_summary("ok") is None
    assert "[PHONE]" in clean_summary("Customers asked us to call them on 415-555-0132 about their orders.")


def test_default_prompts_have_one_copy_and_ship_inside_the_package(tmp_path):
    """prompts/ is the source; the wheel's build step (setup.py) copies it into the package as refine/prompts."""
    import subprocess
    import sys

    repo, packaged = DEFAULT_PROMPTS
    assert all((repo / name).is_file() for name in PROMPT_FILES)
    assert not packaged.exists(), "refine/prompts/ is a second copy in the checkout; edit prompts/ only"
    root = repo.parent
    (tmp_path / "egg").mkdir()  # egg_info's metadata goes there, not into the checkout
    built = subprocess.run(
        [sys.executable, "setup.py", "-q", "egg_info", "--egg-base", str(tmp_path / "egg")]
        + ["build_py", "--build-lib", str(tmp_path)],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    for name in PROMPT_FILES:
        assert (tmp_path / "refine" / "prompts" / name).read_text() == (repo / name).read_text()
    prompt = render_prompt("executive_summary.j2", LLMSettings(), **SUMMARY_CONTEXT)
    assert "Late deliveries: 50% of comments" in prompt and prompt.rstrip().endswith("Summary:")


def test_config_llm_section():
    assert config_from_dict({}).llm.provider == "none"
    assert load_config(None).llm == LLMSettings()
    config = config_from_dict(
        {"llm": {"provider": "openai", "model": "m", "endpoint": "http://127.0.0.1:9/v1", "timeout_s": 3}}
    )
    assert config.llm.timeout_s == 3.0
    assert set(config.to_dict()["llm"]) == {
        "provider",
        "model",
        "endpoint",
        "api_key_env",
        "timeout_s",
        "max_new_tokens",
        "summary_max_new_tokens",
        "prompts",
    }  # no key


def test_config_template_documents_llm(tmp_path):
    path = tmp_path / "refine.toml"
    path.write_text(CONFIG_TEMPLATE)
    assert load_config(path).llm == LLMSettings()


@pytest.mark.parametrize(
    "raw, fragment",
    [
        ({"llm": {"api_key": "sk-1"}}, "unknown key 'api_key' in [llm]"),
        ({"llm": {"provider": "gpt"}}, "provider must be one of"),
        ({"llm": {"provider": "transformers"}}, "model is required"),
        ({"llm": {"provider": "openai", "model": "m"}}, "endpoint must be an http"),
        (
            {"llm": {"provider": "openai", "model": "m", "endpoint": "https://u:pw@host/v1"}},
            "must not hold credentials",
        ),
        ({"llm": {"timeout_s": 0}}, "timeout_s"),
    ],
)
def test_config_llm_refuses(raw, fragment):
    with pytest.raises(RefineError) as err:
        config_from_dict(raw, where="x.toml")
    assert fragment in str(err.value)


def test_api_key_comes_from_the_named_variable(monkeypatch):
    monkeypatch.setenv("MY_LLM_KEY", "sk-abc")
    assert llm_api_key(LLMSettings(api_key_env="MY_LLM_KEY")) == "sk-abc"
    monkeypatch.delenv("MY_LLM_KEY")
    assert llm_api_key(LLMSettings(api_key_env="MY_LLM_KEY")) is None


# ---- wired into a cycle -----------------------------------------------------------------------


class WordEmbedder:
    """Hashed bag of words: topics without loading a model (the wiring, not the quality, is under test)."""

    model_id = "test-bag-of-words"
    last_hits = 0
    last_computed = 0

    def encode(self, texts):
        vectors = np.full((len(texts), 384), 1e-3, dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z]+", text.lower()):
                vectors[row, zlib.crc32(word.encode()) % 384] += 1
        self.last_computed = len(texts)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


class WordScorer:
    model_id = "test-word-list"

    def score(self, texts, embeddings):
        negative = np.array([bool(re.search(r"late|slow|broke|never|not|bad|worst|crash", t.lower())) for t in texts])
        return pd.DataFrame(
            {
                "sentiment_score": np.where(negative, -0.6, 0.4),
                "sentiment_label": np.where(negative, "negative", "positive"),
                "p_negative": np.where(negative, 0.8, 0.1),
                "p_neutral": 0.1,
                "p_positive": np.where(negative, 0.1, 0.8),
            }
        )


def test_a_cycle_uses_llm_labels_and_summary(stub, tmp_path, monkeypatch):
    import refine.text.embed
    import refine.text.sentiment.scorers
    from refine.demo.company import generate_company, write_demo_data
    from refine.run.cycle import run_cycle

    monkeypatch.setattr(refine.text.embed, "build_embedder", lambda *a, **k: WordEmbedder())
    monkeypatch.setattr(refine.text.sentiment.scorers, "load_scorer", lambda *a, **k: WordScorer())
    monkeypatch.setenv("REFINE_TEST_LLM_KEY", "sk-secret-999")
    stub.answer = lambda prompt: (
        "A <script>x</script> summary: R&D < costs, most comments are negative."
        if "Summary:" in prompt
        else f"Theme {len(stub.requests)}"
    )
    paths = write_demo_data(tmp_path / "data", generate_company(seed=0, n_customers=1500))
    config = load_config(
        paths["config"],
        overrides={
            "llm": {
                "provider": "openai",
                "model": "stub-model",
                "endpoint": stub.endpoint,
                "timeout_s": 5,
                "api_key_env": "REFINE_TEST_LLM_KEY",
            }
        },
    )
    result = run_cycle(paths["feedback"], paths["customers"], config, tmp_path / "run", quiet=True)
    run = tmp_path / "run"

    topics = json.loads((run / "topics.json").read_text())["topics"]
    assert topics and all(t["label_source"] == "llm" and t["label"].startswith("Theme ") for t in topics)
    assert all(t["keyword_label"] and not t["keyword_label"].startswith("Theme") for t in topics)
    feedback = pd.read_parquet(run / "feedback.parquet")
    by_id = {t["id"]: t["label"] for t in topics}
    assigned = feedback[feedback["topic_id"] >= 0]
    assert (assigned["topic_label"] == assigned["topic_id"].map(by_id)).all()

    manifest_text = (run / "run.json").read_text()
    manifest = json.loads(manifest_text)
    assert manifest["llm"] == {
        "provider": "openai",
        "model": "stub-model",
        "labels": "ok",
        "summary": "ok",
        "endpoint": stub.endpoint,
    }
    assert "sk-secret-999" not in manifest_text
    assert not any(
        "sk-secret" in p.read_text(errors="ignore") for p in run.iterdir() if p.suffix in (".json", ".md", ".html")
    )

    assert result.llm_summary == "A x summary: R&D costs, most comments are negative."
    html = (run / "report.html").read_text()
    assert "Machine-written summary" in html and "A x summary: R&amp;D costs, most comments are negative." in html
    assert "<script>" not in html
    assert "Machine-written summary" in (run / "report.md").read_text()
    assert not any(PII.search(r["raw"]) for r in stub.requests)
