"""Settings: defaults < TOML file < RAG_* environment < flags, validated at start, with their origins."""

import json
import subprocess
import sys

import pytest

from rag.config import Config
from rag.errors import InputError


def test_layers_and_origins(tmp_path):
    f = tmp_path / "rag.toml"
    f.write_text('top_k = 7\ncollection = "team-news"\nllm_url = "http://127.0.0.1:8080/v1"\nllm_timeout = 30\n')
    cfg, origin = Config.load({"RAG_TOP_K": "9", "RAG_LLM_MODEL": "qwen"}, config_file=f, collection="override")
    assert cfg.top_k == 9 and origin["top_k"] == "env RAG_TOP_K"
    assert cfg.collection == "override" and origin["collection"] == "flag"
    assert cfg.llm_url == "http://127.0.0.1:8080/v1" and origin["llm_url"] == str(f.resolve())
    assert cfg.llm_timeout == 30.0 and isinstance(cfg.llm_timeout, float)
    assert cfg.llm_model == "qwen" and origin["model"] == "default"


def test_config_file_from_env_and_cwd(tmp_path, monkeypatch):
    f = tmp_path / "elsewhere.toml"
    f.write_text("evidence_k = 2\n")
    assert Config.from_env({"RAG_CONFIG": str(f)}).evidence_k == 2
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rag.toml").write_text("evidence_k = 5\n")
    assert Config.from_env({}).evidence_k == 5


@pytest.mark.parametrize("text, message", [
    ("top_kk = 3\n", "unknown setting 'top_kk' (did you mean 'top_k'?)"),
    ('top_k = "five"\n', "top_k must be a whole number"),
    ("top_k = 0\n", "top_k must be at least 1"),
    ("llm_timeout = -1\n", "llm_timeout must be a positive number"),
    ('chroma_url = "localhost:8000"\n', "chroma_url must be an http:// or https:// URL"),
    ('llm_url = "ftp://x"\n', "llm_url must be an http:// or https:// URL"),
    ('collection = "a"\n', "collection must be 3-58 characters"),
    ('collection = "bad name!"\n', "collection must be 3-58 characters"),
    ('llm_api_key = "sk-123"\n', "keep the API key out of the file"),
    ("top_k = true\n", "top_k must be a number"),
    ("[rag]\ntop_k = 3\n", "settings are top-level keys"),
    ("top_k = = 3\n", "is not valid TOML"),
])
def test_bad_config_files_are_clear_errors(tmp_path, text, message):
    f = tmp_path / "rag.toml"
    f.write_text(text)
    with pytest.raises(InputError, match=None) as err:
        Config.load({}, config_file=f)
    assert message in str(err.value)


def test_bad_environment_values_name_the_variable():
    with pytest.raises(InputError, match="RAG_LLM_TIMEOUT must be a number"):
        Config.from_env({"RAG_LLM_TIMEOUT": "soon"})
    with pytest.raises(InputError, match="config file not found"):
        Config.from_env({"RAG_CONFIG": "/no/such/file.toml"})


def test_api_key_only_from_environment(monkeypatch):
    monkeypatch.setenv("RAG_LLM_API_KEY", "sk-test")
    assert Config().llm_api_key == "sk-test"


def _rag(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True, cwd=cwd)


def test_rag_config_prints_values_and_origins(tmp_path):
    f = tmp_path / "team.toml"
    f.write_text('chroma_url = "http://10.0.0.5:8000"\n')
    proc = _rag("--config", str(f), "config", "--json", "--collection", "desk-a")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["chroma_url"] == {"value": "http://10.0.0.5:8000", "from": str(f.resolve())}
    assert out["collection"] == {"value": "desk-a", "from": "flag"}
    assert out["top_k"]["from"] == "default"
    assert out["llm_api_key"]["value"] == "(not set)"

    f.write_text("chunk_sise = 100\n")
    proc = _rag("--config", str(f), "config")
    assert proc.returncode == 2 and "unknown setting 'chunk_sise' (did you mean 'chunk_size'?)" in proc.stderr


def test_collections_keep_article_sets_apart(tmp_path, seeds, embedder):
    from rag.chunk import Chunker
    from rag.ingest import ingest
    from rag.store import ChromaStore

    a = ChromaStore(tmp_path / "idx", collection="desk-a")
    b = ChromaStore(tmp_path / "idx", collection="desk-b")
    ingest([seeds], a, embedder, Chunker(), progress=False)
    ingest([sorted(seeds.glob("*.txt"))[0]], b, embedder, Chunker(), progress=False)
    assert a.count() == 5 and b.count() == 1
    assert a.collections() == [("desk-a", 5), ("desk-b", 1)]
    v = b.version()
    b.remove(sorted(seeds.glob("*.txt"))[0].name)
    assert b.version() != v and b.count() == 0 and a.count() == 5


def test_check_model_setting(tmp_path):
    from rag.build import make_judge
    from rag.errors import ModelError

    assert Config().judge_model == "qwen2.5-coder-1.5b"
    for off in ("none", "off", " None "):
        assert make_judge(Config.from_env({"RAG_JUDGE_MODEL": off})) is None
    with pytest.raises(ModelError, match="model file not found"):
        make_judge(Config.from_env({}, judge_model=str(tmp_path / "judge.gguf")))
    with pytest.raises(ModelError, match="unknown model 'qwen-9b'"):
        make_judge(Config.from_env({"RAG_JUDGE_MODEL": "qwen-9b"}))
    assert Config.from_env({"RAG_MIN_JUDGE": "0.5"}).min_judge == 0.5
    with pytest.raises(InputError, match="min_judge must be between 0 and 1"):
        Config.from_env({"RAG_MIN_JUDGE": "1.5"})


def test_check_model_load_error_surfaces_on_first_use(tmp_path):
    from rag.errors import ModelError
    from rag.judge import LlamaCppJudge

    bad = tmp_path / "judge.gguf"
    bad.write_bytes(b"GGUF" + b"\x00" * 4096)  # the magic, then nothing a loader can read
    judge = LlamaCppJudge(bad)
    judge.load_in_background().join(60)  # the background load fails quietly ...
    with pytest.raises(ModelError, match="cannot load the check model"):
        judge.p_yes("Who met?", "Xi met Putin.")  # ... and the caller gets the clear error
