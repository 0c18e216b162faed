import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
sys.path.insert(0, str(Path(__file__).parent))

from fakes import HashEmbedder  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_paths(tmp_path, monkeypatch):
    """Every data path (index, caches) points into tmp_path; nothing touches the checkout's index/.
    Settings from the developer's shell (RAG_CHROMA_URL, RAG_LLM_URL, ...) do not leak in."""
    import os

    for name in list(os.environ):
        if name.startswith("RAG_") or name == "OPENAI_API_KEY":
            monkeypatch.delenv(name)
    monkeypatch.setenv("RAG_INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")
    yield


@pytest.fixture
def seeds(tmp_path) -> Path:
    """A private copy of the five seed articles."""
    dst = tmp_path / "seeds"
    shutil.copytree(SEEDS, dst)
    return dst


@pytest.fixture
def embedder():
    return HashEmbedder()


@pytest.fixture
def store(tmp_path):
    from rag.store import ChromaStore

    return ChromaStore(tmp_path / "index")


@pytest.fixture
def indexed(store, embedder, seeds):
    """A store with the five seeds ingested by the fake embedder."""
    from rag.chunk import Chunker
    from rag.ingest import ingest

    ingest([seeds], store, embedder, Chunker(), progress=False)
    return store


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory):
    """One assembled model file for the whole session (assembling and hashing 491 MB takes seconds)."""
    return tmp_path_factory.mktemp("model-cache")


# -- robustness figures: what the reliability tests tried, printed at the end and saved ------------
TALLY: dict = {"bad_inputs_tried": 0, "bad_inputs_handled": 0, "faults_injected": 0, "faults_survived": 0,
               "concurrent_sessions": 0, "soak_questions": 0, "soak_rss_growth_mib": None, "soak_rss_bound_mib": None}


@pytest.fixture
def tally() -> dict:
    return TALLY


# -- time by kind of test: what CI's budget table (.ci/run) divides between the fast tests and the slow and
# browser ones, measured inside the one `python -m pytest` run (setup, call and teardown of each test) ------
KIND_SECONDS: dict[str, float] = {}
KIND_TESTS: dict[str, set] = {}


def kind_of(keywords) -> str:
    """'slow' (real models, servers), 'browser' (headless Chromium, fake models) or 'fast'."""
    return "slow" if "slow" in keywords else "browser" if "browser" in keywords else "fast"


def pytest_runtest_logreport(report):
    kind = kind_of(report.keywords)
    KIND_SECONDS[kind] = KIND_SECONDS.get(kind, 0.0) + report.duration
    KIND_TESTS.setdefault(kind, set()).add(report.nodeid)


def pytest_terminal_summary(terminalreporter):
    if KIND_SECONDS:
        terminalreporter.write_sep("-", "time by kind of test")
        for kind in ("fast", "browser", "slow"):
            if kind in KIND_SECONDS:
                terminalreporter.write_line(f"{kind:<8} {len(KIND_TESTS[kind]):>4} tests {KIND_SECONDS[kind]:>8.1f} s")
        import json

        out = ROOT / "artifacts" / "test-times.json"  # read by .ci/run, which prints it beside the budget
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps({k: {"tests": len(KIND_TESTS[k]), "seconds": round(v, 1)}
                                   for k, v in KIND_SECONDS.items()}, indent=2) + "\n")
    if not (TALLY["bad_inputs_tried"] or TALLY["faults_injected"] or TALLY["concurrent_sessions"]):
        return
    import json

    out = ROOT / "artifacts" / "robustness.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(TALLY, indent=2) + "\n")
    t = TALLY
    terminalreporter.write_sep("-", "robustness")
    terminalreporter.write_line(
        f"bad inputs: {t['bad_inputs_handled']}/{t['bad_inputs_tried']} handled; faults: {t['faults_survived']}/"
        f"{t['faults_injected']} survived; load: {t['concurrent_sessions']} concurrent sessions; soak: "
        f"{t['soak_questions']} questions, RSS growth {t['soak_rss_growth_mib']} MiB (bound {t['soak_rss_bound_mib']} MiB)"
        f"; saved {out.relative_to(ROOT)}")
