"""Prompt-start snapshots on disk: whole files are read back, broken ones are ignored (no model needed)."""

from rag.generate import PrefixStates


def test_snapshot_files_round_trip_and_broken_ones_are_ignored(tmp_path):
    states = PrefixStates(directory=tmp_path / "states", identity="model.gguf|123")
    key = (1, 2, 3)
    states._write(key, b"kv cells" * 100)
    assert states._read(key) == b"kv cells" * 100
    assert states._read((1, 2, 4)) is None  # another prompt start
    assert PrefixStates(directory=tmp_path / "states", identity="other.gguf|9")._read(key) is None  # another model

    path = states._path(key)
    blob = path.read_bytes()
    path.write_bytes(blob[:-40])  # cut short, as by a full disk
    assert states._read(key) is None
    path.write_bytes(b"x" + blob[1:])  # one byte changed
    assert states._read(key) is None
    assert not list((tmp_path / "states").glob("*.tmp"))


def test_unwritable_snapshot_folder_is_not_an_error(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    states = PrefixStates(directory=tmp_path / "file" / "states")
    states._write((1, 2), b"data")  # nothing raised: the next process just evaluates the start again
    assert states._read((1, 2)) is None
    assert PrefixStates()._read((1, 2)) is None  # no folder: memory only
