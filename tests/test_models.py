import hashlib

import pytest

from rag import models
from rag.errors import ModelError
from rag.models import PackagedModel, assemble, check_gguf, resolve_model


def _fake_model(tmp_path, payload: bytes, sha: str | None = None):
    parts = []
    for i, piece in enumerate([payload[: len(payload) // 2], payload[len(payload) // 2 :]]):
        p = tmp_path / f"part{i}.bin"
        p.write_bytes(piece)
        parts.append(p)
    m = PackagedModel("fake", "fake", "fake.gguf", (), sha or hashlib.sha256(payload).hexdigest(), "fake-pkg==1")
    return m, parts


def test_assemble_once_and_verify(tmp_path, monkeypatch):
    payload = b"GGUF" + bytes(range(256)) * 100
    m, parts = _fake_model(tmp_path, payload)
    monkeypatch.setattr(models, "part_files", lambda model: parts)
    path = assemble(m, tmp_path / "cache")
    assert path.read_bytes() == payload

    monkeypatch.setattr(models, "part_files", lambda model: pytest.fail("must not rebuild a verified file"))
    assert assemble(m, tmp_path / "cache") == path


def test_corrupt_cached_file_is_rebuilt(tmp_path, monkeypatch):
    payload = b"GGUF" + b"x" * 5000
    m, parts = _fake_model(tmp_path, payload)
    monkeypatch.setattr(models, "part_files", lambda model: parts)
    path = assemble(m, tmp_path / "cache")
    path.write_bytes(payload[:100])  # truncated behind our back
    assert assemble(m, tmp_path / "cache").read_bytes() == payload


def test_checksum_mismatch_is_a_clear_error(tmp_path, monkeypatch):
    m, parts = _fake_model(tmp_path, b"GGUF" + b"y" * 5000, sha="0" * 64)
    monkeypatch.setattr(models, "part_files", lambda model: parts)
    with pytest.raises(ModelError, match="pip install --force-reinstall fake-pkg==1"):
        assemble(m, tmp_path / "cache")
    assert not (tmp_path / "cache" / "models" / "fake.gguf").exists()
    assert list((tmp_path / "cache" / "models").iterdir()) == []


def test_missing_package_names_the_pip_command(monkeypatch):
    m = PackagedModel("x", "x", "x.gguf", (("no_such_pkg_for_rag_tests", "data/*"),), "0" * 64, "no-such-pkg==1")
    with pytest.raises(ModelError, match="run: pip install no-such-pkg==1"):
        models.part_files(m)


def test_user_gguf_checks(tmp_path):
    with pytest.raises(ModelError, match="model file not found"):
        check_gguf(tmp_path / "missing.gguf")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"NOPE" + b"0" * 10)
    with pytest.raises(ModelError, match="not a GGUF model file"):
        check_gguf(bad)
    small = tmp_path / "small.gguf"
    small.write_bytes(b"GGUF" + b"0" * 10)
    with pytest.raises(ModelError, match="truncated"):
        check_gguf(small)
    with pytest.raises(ModelError, match="unknown model 'gpt-17'"):
        resolve_model("gpt-17", tmp_path)


def test_packaged_default_parts_are_installed():
    files = models.part_files(models.PACKAGED["qwen2.5-coder-0.5b"])
    assert [f.name for f in files] == [f"part0{i}.bin" for i in range(1, 7)]
    assert sum(f.stat().st_size for f in files) > 400_000_000
