"""Settings, built once at the edge (CLI or UI) and passed in.

Every field can be set by an environment variable ``RAG_<FIELD>`` (for example
``RAG_INDEX_DIR``); command-line flags override the environment.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _default_home(name: str) -> Path:
    """``<checkout>/<name>`` when running from a source checkout, else ``./<name>``."""
    if (PROJECT_ROOT / "pyproject.toml").exists():
        return PROJECT_ROOT / name
    return Path.cwd() / name


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rag-articles"


@dataclass(frozen=True)
class Config:
    """Everything the pipeline needs to know about paths, models and retrieval."""

    index_dir: Path = field(default_factory=lambda: _default_home("index"))
    seeds_dir: Path = field(default_factory=lambda: _default_home("seeds"))
    cache_dir: Path = field(default_factory=_default_cache)
    collection: str = "articles"
    model: str = "qwen2.5-coder-0.5b"
    embed_model: str = "all-minilm-l6-v2"
    top_k: int = 5
    evidence_k: int = 4
    chunk_size: int = 160
    chunk_overlap: int = 30
    n_threads: int = 0
    n_ctx: int = 2048
    max_tokens: int = 96
    max_file_mb: float = 20.0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> "Config":
        """Read ``RAG_*`` variables, then apply non-None ``overrides``."""
        env = os.environ if env is None else env
        values: dict = {}
        for f in dataclasses.fields(cls):
            raw = env.get(f"RAG_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _coerce(f.name, f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        for key in ("index_dir", "seeds_dir", "cache_dir"):
            if key in values:
                values[key] = Path(values[key]).expanduser()
        cfg = cls(**values)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if self.top_k < 1:
            raise InputError(f"top_k must be at least 1, got {self.top_k}")
        if self.evidence_k < 1:
            raise InputError(f"evidence_k must be at least 1, got {self.evidence_k}")
        if not 0 <= self.chunk_overlap < self.chunk_size:
            raise InputError("chunk_overlap must be >= 0 and smaller than chunk_size")

    @property
    def threads(self) -> int:
        return self.n_threads or max(1, os.cpu_count() or 1)


def _coerce(name: str, type_name, raw: str):
    type_name = str(type_name)
    try:
        if type_name == "int":
            return int(raw)
        if type_name == "float":
            return float(raw)
    except ValueError:
        raise InputError(f"RAG_{name.upper()} must be a number, got {raw!r}") from None
    return raw
