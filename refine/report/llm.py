"""Optional LLM topic labels and summary paragraph; the keyword labels stay whenever it fails.

Off unless ``[llm] provider`` names a local ``transformers`` text-generation model or an
OpenAI-compatible endpoint. Prompts are Jinja2 templates (``prompts/``, or a folder of your own)
that only ever see redacted text: every string is redacted again before a template renders it,
and every answer is redacted, cleaned and length-capped before anyone sees it. Any failure —
no model, refused connection, timeout, HTTP error, an answer that is not a chat completion,
an empty or garbled label — leaves the keyword label in place and a one-line reason in run.json.
"""

from __future__ import annotations

import functools
import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from refine.io.config import LLMSettings, llm_api_key, offline_env
from refine.io.privacy import REDACTION_TOKENS, redact
from refine.segments.model import Proposal
from refine.text.themes.model import Theme
from refine.wording import pct, proposal_headline

LABEL_CHARS = 60
SUMMARY_CHARS = 1200
PROMPT_FILES = ("topic_label.j2", "executive_summary.j2")
_PACKAGE = Path(__file__).resolve().parents[1]  # the refine package folder
# the repository's prompts/ (a source checkout or editable install), then the copy packaged with refine
DEFAULT_PROMPTS = (_PACKAGE.parent / "prompts", _PACKAGE / "prompts")


class LLMFailure(Exception):
    """The model could not be asked, or did not answer; the message is the one-line reason."""


# ---- prompts -----------------------------------------------------------------------------------


def prompt_folders(settings: LLMSettings) -> list[Path]:
    """Where templates are looked up, first match wins: the config's folder, then the defaults."""
    repo, packaged = DEFAULT_PROMPTS
    # beside an installed refine, parent/prompts would be site-packages/prompts: only a checkout's counts
    candidates = [repo, packaged] if (_PACKAGE.parent / "pyproject.toml").is_file() else [packaged]
    folders = [p for p in candidates if all((p / name).is_file() for name in PROMPT_FILES)][:1]
    if settings.prompts:
        user = Path(settings.prompts).expanduser()
        if not user.is_dir():
            raise LLMFailure(f"prompt folder {settings.prompts!r} not found")
        folders.insert(0, user)
    if not folders:
        raise LLMFailure("default prompt templates not found")
    return folders


def _redacted(value: Any) -> Any:
    """The same structure with every string redacted: templates never see personal data."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redacted(v) for v in value]
    return value


def render_prompt(name: str, settings: LLMSettings, **context: Any) -> str:
    """Render one prompt template with redacted context (plain text, no autoescaping)."""
    env = Environment(
        loader=FileSystemLoader([str(p) for p in prompt_folders(settings)]),
        autoescape=False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template(name).render(**_redacted(context)).strip() + "\n"


# ---- asking the model --------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _local_pipeline(path: str):
    """A transformers text-generation pipeline from a local folder, loaded once per process."""
    offline_env()
    from transformers import pipeline

    return pipeline("text-generation", model=path)


def _ask_local(settings: LLMSettings, prompt: str, max_new_tokens: int) -> str:
    path = Path(settings.model).expanduser()
    if not path.is_dir():  # a hub id would need the network; refine never downloads at run time
        raise LLMFailure(f"model folder {settings.model!r} not found")
    generator = _local_pipeline(str(path.resolve()))
    tokenizer = generator.tokenizer
    # instruction-tuned models expect their chat format; a base model continues the plain prompt
    inputs: Any = [{"role": "user", "content": prompt}] if getattr(tokenizer, "chat_template", None) else prompt
    options: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": False, "return_full_text": False}
    if tokenizer.pad_token_id is None and tokenizer.eos_token_id is not None:
        options["pad_token_id"] = tokenizer.eos_token_id
    answer = generator(inputs, **options)[0]["generated_text"]
    if isinstance(answer, list):  # chat input: the conversation with the model's turn last
        answer = answer[-1].get("content", "") if answer else ""
    return str(answer)


def _ask_endpoint(settings: LLMSettings, prompt: str, max_new_tokens: int) -> str:
    url = settings.endpoint.rstrip("/") + "/chat/completions"
    body = json.dumps(
        {
            "model": settings.model,
            "messages": [{"role": "user", "content": prompt}],
            "temperature": 0,
            "max_tokens": max_new_tokens,
        }
    ).encode("utf-8")
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    key = llm_api_key(settings)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=settings.timeout_s) as response:
            raw = response.read(2_000_000)
    except urllib.error.HTTPError as exc:
        raise LLMFailure(f"endpoint answered HTTP {exc.code}") from None
    except urllib.error.URLError as exc:
        raise LLMFailure(f"cannot reach endpoint ({exc.reason})") from None
    except TimeoutError:
        raise LLMFailure(f"no answer within {settings.timeout_s:g} s") from None
    try:
        content = json.loads(raw)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise LLMFailure("endpoint answer is not a chat completion") from None
    if not isinstance(content, str):
        raise LLMFailure("endpoint answer is not a chat completion")
    return content


def _asker(settings: LLMSettings) -> Callable[[str, int], str]:
    ask = _ask_local if settings.provider == "transformers" else _ask_endpoint
    return lambda prompt, max_new_tokens: ask(settings, prompt, max_new_tokens)


def _reason(exc: Exception) -> str:
    """One line, short, for run.json."""
    text = str(exc) if isinstance(exc, LLMFailure) else f"{type(exc).__name__}: {exc}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:200]


# ---- cleaning answers --------------------------------------------------------------------------

_SPECIAL = re.compile(r"<\|[^|>]{0,40}\|>|\[(?:UNK|PAD|CLS|SEP|MASK|BOS|EOS)\]|</?s>|<(?:unk|pad|eos|bos)>", re.I)
_TAG = re.compile(r"</?[A-Za-z][^>]{0,200}>")
_LEAD = re.compile(r"^\s*(?:(?:topic\s+)?label|topic|title|answer|summary|name)\s*[:=\-–—]\s*", re.I)
_BULLET = re.compile(r"^\s*(?:[-*•#>]+|\d{1,2}[.)])\s*")
_EMPHASIS = re.compile(r"[*`#~]")  # Markdown emphasis and headings: dropped, the words stay
_MARKUP = re.compile(r"[_|{}\[\]<>\\]")
_BEFORE_PUNCT = re.compile(r"\s+([,.;:!?])")
_QUOTES = "\"'“”‘’«»„`"
_SPACE = re.compile(r"\s+")


def _plain(text: str) -> str:
    return _EMPHASIS.sub("", _TAG.sub(" ", _SPECIAL.sub(" ", text)))


_TOKEN = re.compile("(" + "|".join(re.escape(t) for t in REDACTION_TOKENS) + ")")


def _words(text: str) -> str:
    """Markup characters become spaces; redaction placeholders ([EMAIL] ...) stay whole."""
    parts = _TOKEN.split(text)
    text = "".join(part if i % 2 else _MARKUP.sub(" ", part) for i, part in enumerate(parts))
    return _BEFORE_PUNCT.sub(r"\1", _SPACE.sub(" ", text)).strip()


def _garbled(text: str) -> bool:
    """Too few letters, or a loop: what a small model writes when it has nothing to say."""
    letters = sum(ch.isalpha() for ch in text)
    if letters < 3 or letters < len(text.replace(" ", "")) / 2:
        return True
    words = re.findall(r"\w+", text.casefold())
    if any(words[i] == words[i + 1] == words[i + 2] for i in range(len(words) - 2)):
        return True
    sentences = [s.strip() for s in re.split(r"[.!?]+", text.casefold()) if s.strip()]
    if len(sentences) >= 3 and len(set(sentences)) <= len(sentences) / 2:
        return True
    return 3 <= len(words) <= 12 and len(set(words)) < 0.4 * len(words)


def clean_label(answer: str) -> str | None:
    """A one-line plain label of at most LABEL_CHARS characters, or None when nothing usable is left."""
    lines = [line for line in _plain(str(answer)).splitlines() if line.strip()]
    if not lines:
        return None
    label = _BULLET.sub("", _LEAD.sub("", lines[0]))
    label = _words(label).strip(_QUOTES).strip()
    label = label.rstrip(".,;:!?-–— ").strip(_QUOTES).strip()
    redacted = redact(label)
    if redacted != label or any(token in redacted for token in REDACTION_TOKENS):
        return None  # a label that needed redacting is not a label
    if len(label) > LABEL_CHARS:
        cut = label[: LABEL_CHARS + 1]
        label = (cut.rsplit(" ", 1)[0] if " " in cut else cut[:LABEL_CHARS]).rstrip(".,;:!?-–— ")
    return None if _garbled(label) else label


def clean_summary(answer: str) -> str | None:
    """One redacted plain-text paragraph of at most SUMMARY_CHARS characters, or None."""
    lines = [_BULLET.sub("", _LEAD.sub("", line)) for line in _plain(str(answer)).splitlines() if line.strip()]
    text = _words(" ".join(lines)).strip(_QUOTES).strip()
    text = redact(text)
    if len(text) > SUMMARY_CHARS:
        cut = text[:SUMMARY_CHARS]
        end = cut.rfind(". ")
        text = cut[: end + 1] if end > SUMMARY_CHARS // 3 else cut.rsplit(" ", 1)[0] + " …"
    if len(text.split()) < 4 or sum(ch.isalpha() for ch in text) < 20 or _garbled(text):
        return None
    return text


# ---- the public API ----------------------------------------------------------------------------


def label_topics(topics: list[Theme], settings: LLMSettings) -> tuple[dict[int, str], str]:
    """Ask the configured model for a label per live topic; keep keyword labels wherever that fails.

    Args:
        topics: the cycle's themes (``CycleResult.topics``); fading themes are left alone.
        settings: the ``[llm]`` section.

    Returns:
        ``(labels, status)``: the model's labels by topic id (only those it produced and that
        survived cleaning), and ``"ok"``, ``"off"`` or a one-line fallback reason.

    Example:
        >>> labels, status = label_topics(result.topics, config.llm)
        >>> apply_labels(result.topics, labels)
    """
    live = [t for t in topics if t.status != "fading"]
    if settings.provider == "none" or not live:
        return {}, "off" if settings.provider == "none" else "ok"
    labels: dict[int, str] = {}
    unusable = 0
    try:
        ask = _asker(settings)
        for topic in live:
            keyword_label = topic.keyword_label if topic.keyword_label is not None else topic.label
            prompt = render_prompt(
                "topic_label.j2",
                settings,
                keywords=list(topic.keywords),
                quotes=list(topic.quotes),
                size=int(topic.size),
                keyword_label=keyword_label,
            )
            label = clean_label(ask(prompt, settings.max_new_tokens))
            # a label two topics share tells the reader nothing about either
            if label is None or label.casefold() in {v.casefold() for v in labels.values()}:
                unusable += 1
                continue
            labels[int(topic.id)] = label
    except Exception as exc:  # noqa: BLE001 - whatever went wrong, the keyword labels stay
        return labels, f"fallback: {_reason(exc)}" + (f" (after {len(labels)} label(s))" if labels else "")
    if unusable:
        return labels, f"partial: {unusable} of {len(live)} answer(s) unusable (empty, garbled or repeated)"
    return labels, "ok"


def apply_labels(topics: list[Theme], labels: dict[int, str]) -> None:
    """Put the model's labels on the themes, keeping the keyword label beside each."""
    for topic in topics:
        if topic.status == "fading":
            continue
        if topic.keyword_label is None:
            topic.keyword_label = topic.label
        label = labels.get(int(topic.id))
        topic.label = label if label is not None else topic.keyword_label
        topic.label_source = "llm" if label is not None else "keywords"


def summary_context(topics: list[Theme], proposals: list[Proposal], segments, feedback, limit: int = 10) -> dict:
    """The facts the summary prompt receives: counts, topics, proposal headlines (all redacted later)."""

    live = sorted((t for t in topics if t.status != "fading"), key=lambda t: -int(t.size))
    negative = float((feedback["sentiment_label"] == "negative").mean()) if len(feedback) else 0.0
    return {
        "comments": len(feedback),
        "respondents": int(segments["respondents"].sum()) if len(segments) else 0,
        "customers": int(segments["customers"].sum()) if len(segments) else 0,
        "segments": len(segments),
        "negative_share": pct(negative),
        "topics": [
            {
                "label": t.label,
                "share": pct(t.share or 0.0),
                "sentiment": "n/a" if t.mean_sentiment is None else f"{t.mean_sentiment:+.2f}",
            }
            for t in live[:limit]
        ],
        "confirmed": [proposal_headline(p) for p in proposals if p.confirmed][:5],
        "not_confirmed": sum(1 for p in proposals if not p.confirmed),
    }


def executive_summary(context: dict, settings: LLMSettings) -> tuple[str | None, str]:
    """Ask the configured model for the report's machine-written summary paragraph.

    Args:
        context: what ``executive_summary.j2`` receives (see ``summary_context``).
        settings: the ``[llm]`` section.

    Returns:
        ``(text, status)``: the cleaned, redacted paragraph or None, and ``"ok"``, ``"off"`` or a
        one-line fallback reason.
    """
    if settings.provider == "none":
        return None, "off"
    try:
        prompt = render_prompt("executive_summary.j2", settings, **context)
        text = clean_summary(_asker(settings)(prompt, settings.summary_max_new_tokens))
    except Exception as exc:  # noqa: BLE001 - the report simply goes without the paragraph
        return None, f"fallback: {_reason(exc)}"
    if text is None:
        return None, "fallback: answer unusable (empty or garbled)"
    return text, "ok"


def manifest_entry(settings: LLMSettings, status: dict[str, str]) -> dict:
    """What run.json records about the LLM: provider, model, endpoint host and outcomes; never a key."""
    if settings.provider == "none":
        return {"provider": "none"}
    entry = {"provider": settings.provider, "model": settings.model, **status}
    if settings.provider == "openai":
        entry["endpoint"] = settings.endpoint
    return entry
