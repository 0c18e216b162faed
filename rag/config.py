"""Settings, built once at the edge (CLI or UI) and passed in.

Four layers, later ones winning: the defaults below, a TOML file (``--config FILE``,
``RAG_CONFIG``, or ``./rag.toml`` when it exists), environment variables ``RAG_<FIELD>``
(for example ``RAG_INDEX_DIR``), then command-line flags. Unknown keys and bad values
are errors at start, and ``rag config`` shows where each effective value came from.
The LLM server's API key is read from the environment only (``RAG_LLM_API_KEY`` or
``OPENAI_API_KEY``), never from the file.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from .errors import InputError
from .judge import MIN_JUDGE

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _default_home(name: str) -> Path:
    """``<checkout>/<name>`` when running from a source checkout, else ``./<name>``."""
    if (PROJECT_ROOT / "pyproject.toml").exists():
        return PROJECT_ROOT / name
    return Path.cwd() / name


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rag-articles"


# "rules"; "model": the reader writes every later turn; "followups": it writes the turns the rules call
# follow-ups; "hybrid": the rules keep the pronouns they resolve, the reader writes the elliptical turns
REWRITERS = ("rules", "model", "followups", "hybrid")


@dataclass(frozen=True)
class Config:
    """Everything the pipeline needs to know about paths, models and retrieval."""

    index_dir: Path = field(default_factory=lambda: _default_home("index"))
    seeds_dir: Path = field(default_factory=lambda: _default_home("seeds"))
    cache_dir: Path = field(default_factory=_default_cache)
    collection: str = "articles"
    model: str = "qwen2.5-coder-1.5b"  # the reader; when it is also the check model, one model does both
    judge_model: str = "qwen2.5-coder-1.5b"  # checks each cited sentence answers the question; "none": grounding only
    min_judge: float = MIN_JUDGE  # the check model's P(Yes) a sentence needs to be cited; higher declines more
    embed_model: str = "all-minilm-l6-v2"  # the packaged model; with embed_url, the model name the server knows
    # how the packaged model runs: "onnx" (int8, built once from the packaged weights into the cache; about
    # twice as fast on 2 cores) or "torch" (sentence-transformers). An index keeps the embedder that built it.
    embed_backend: str = "onnx"
    embed_url: str = ""  # an OpenAI-compatible /v1/embeddings server; empty: the packaged model in-process
    embed_retry_s: float = 30.0  # how long to keep retrying an embedding server that fails or is busy
    embed_batch: int = 256  # chunks embedded and written to the store together when ingesting
    top_k: int = 12  # chunks whose sentences compete as evidence (see evidence_k)
    # Sentences the reader is shown. Corpus dev events: the answer is among them for 77% of answerable
    # questions at 4, 82% at 6, 85% at 8, 84% at 6 of 12 chunks; read and verified, 6 of 12 chunks got
    # 24 of 36 sampled questions right against 22 at 4 of 8 (evals/reports/README.md).
    evidence_k: int = 6
    chunk_size: int = 160
    chunk_overlap: int = 30
    n_threads: int = 0
    n_ctx: int = 2048
    max_tokens: int = 48  # the reader answers in a few words
    open_k: int = 8  # leading sentences an overview's reader is shown ("What are these articles about?")
    open_max_tokens: int = 200  # an open answer: two to five sentences, about 120 words
    max_file_mb: float = 20.0
    # who turns a follow-up into a question that stands alone: "rules" (no model, no time) or "model" (the
    # reader writes it: for a stronger model on a server; conversation.ModelRewriter)
    rewriter: str = "hybrid"  # REWRITERS: who turns a follow-up into a standalone question
    chroma_url: str = ""  # a Chroma server (`chroma run`), e.g. http://127.0.0.1:8000; empty: embedded, in index_dir
    llm_url: str = ""  # an OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1; empty: the packaged model in-process
    llm_model: str = ""  # the model name the server knows; empty: the server's only model
    llm_timeout: float = 120.0  # seconds to wait for the LLM server's next bytes

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> "Config":
        """The effective settings: defaults, config file, ``RAG_*`` variables, then non-None ``overrides``."""
        return cls.load(env, **overrides)[0]

    @classmethod
    def load(cls, env: dict[str, str] | None = None, config_file: str | Path | None = None,
             **overrides) -> tuple["Config", dict[str, str]]:
        """(settings, where each came from): "default", the file's path, "env RAG_X", or "flag"."""
        env = os.environ if env is None else env
        names = {f.name: f for f in dataclasses.fields(cls)}
        values: dict = {}
        origin = {name: "default" for name in names}
        path = _config_path(config_file, env)
        if path is not None:
            for key, raw in _read_toml(path).items():
                if key not in names:
                    hint = difflib.get_close_matches(key, names, n=1)
                    raise InputError(f"{path}: unknown setting {key!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
                                     + f"; known settings: {', '.join(names)}")
                values[key] = _coerce(key, names[key].type, raw, where=f"{path}: {key}")
                origin[key] = str(path)
        for name, f in names.items():
            raw = env.get(f"RAG_{name.upper()}")
            if raw is not None and raw != "":
                values[name] = _coerce(name, f.type, raw, where=f"RAG_{name.upper()}")
                origin[name] = f"env RAG_{name.upper()}"
        for key, value in overrides.items():
            if value is not None:
                values[key] = value
                origin[key] = "flag"
        for key in ("index_dir", "seeds_dir", "cache_dir"):
            if key in values:
                values[key] = Path(values[key]).expanduser()
        cfg = cls(**values)
        cfg.validate()
        return cfg, origin

    def validate(self) -> None:
        if self.top_k < 1:
            raise InputError(f"top_k must be at least 1, got {self.top_k}")
        if self.evidence_k < 1:
            raise InputError(f"evidence_k must be at least 1, got {self.evidence_k}")
        if not 0 <= self.chunk_overlap < self.chunk_size:
            raise InputError("chunk_overlap must be >= 0 and smaller than chunk_size")
        for name in ("n_ctx", "max_tokens", "open_k", "open_max_tokens"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.embed_backend not in ("onnx", "torch"):
            raise InputError(f"embed_backend must be 'onnx' or 'torch', got {self.embed_backend!r}")
        if self.embed_retry_s < 0:
            raise InputError(f"embed_retry_s must be 0 or more seconds, got {self.embed_retry_s}")
        if self.embed_batch < 1:
            raise InputError(f"embed_batch must be at least 1, got {self.embed_batch}")
        if self.rewriter not in REWRITERS:
            raise InputError(f"rewriter must be one of {', '.join(REWRITERS)}, got {self.rewriter!r}")
        if self.n_threads < 0:
            raise InputError(f"n_threads must be 0 (all cores) or more, got {self.n_threads}")
        if self.max_file_mb <= 0:
            raise InputError(f"max_file_mb must be positive, got {self.max_file_mb}")
        if not 0.0 <= self.min_judge <= 1.0:
            raise InputError(f"min_judge must be between 0 and 1, got {self.min_judge}")
        if self.llm_timeout <= 0:
            raise InputError(f"llm_timeout must be a positive number of seconds, got {self.llm_timeout}")
        if not COLLECTION_NAME.fullmatch(self.collection) or ".." in self.collection:
            raise InputError(f"collection must be 3-58 characters of letters, digits, '.', '_' or '-', starting and "
                             f"ending with a letter or digit; got {self.collection!r}")
        for name in ("chroma_url", "llm_url", "embed_url"):
            url = getattr(self, name)
            if url:
                parsed = urlparse(url)
                if parsed.scheme not in ("http", "https") or not parsed.hostname:
                    raise InputError(f"{name} must be an http:// or https:// URL with a host, got {url!r}")
                try:
                    parsed.port
                except ValueError:
                    raise InputError(f"{name} has a bad port: {url!r}") from None

    @property
    def llm_api_key(self) -> str:
        """From the environment only: a key never sits in a config file."""
        return os.environ.get("RAG_LLM_API_KEY") or os.environ.get("OPENAI_API_KEY") or ""

    @property
    def threads(self) -> int:
        return self.n_threads or max(1, os.cpu_count() or 1)


# Chroma's rule (3-512 characters of [a-zA-Z0-9._-], alphanumeric at both ends), kept short enough
# for the "-docs" companion collection.
COLLECTION_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{1,56}[A-Za-z0-9])")


def _config_path(explicit: str | Path | None, env) -> Path | None:
    if explicit is not None:
        path = Path(explicit).expanduser()
    elif env.get("RAG_CONFIG"):
        path = Path(env["RAG_CONFIG"]).expanduser()
    elif Path("rag.toml").is_file():
        return Path("rag.toml").resolve()
    else:
        return None
    if not path.is_file():
        raise InputError(f"config file not found: {path}")
    return path.resolve()


def _read_toml(path: Path) -> dict:
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not valid TOML: {exc}") from None
    if "llm_api_key" in data or "api_key" in data:
        raise InputError(f"{path}: keep the API key out of the file; set RAG_LLM_API_KEY in the environment")
    nested = [k for k, v in data.items() if isinstance(v, dict)]
    if nested:
        raise InputError(f"{path}: settings are top-level keys, found a table [{nested[0]}]")
    return data


def _coerce(name: str, type_name, raw, where: str = ""):
    """A value from the file (already typed) or the environment (a string), checked against the field's type."""
    where = where or name
    type_name = str(type_name)
    if isinstance(raw, bool):
        raise InputError(f"{where} must be a {'number' if type_name in ('int', 'float') else 'string'}, got {raw!r}")
    if type_name == "int":
        if isinstance(raw, int):
            return raw
        try:
            return int(str(raw).strip())
        except ValueError:
            raise InputError(f"{where} must be a whole number, got {raw!r}") from None
    if type_name == "float":
        if isinstance(raw, (int, float)):
            return float(raw)
        try:
            return float(str(raw).strip())
        except ValueError:
            raise InputError(f"{where} must be a number, got {raw!r}") from None
    if not isinstance(raw, str):
        raise InputError(f"{where} must be a string, got {raw!r}")
    return raw
