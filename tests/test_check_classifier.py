"""evals/check_classifier.py: the checks measured as a classifier on labelled sentences of real replies."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _module():
    spec = importlib.util.spec_from_file_location("check_classifier", ROOT / "evals" / "check_classifier.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check(text, ok, why="", p_yes=None, bridge=0):
    return {"answer": text, "ok": ok, "why": why, "p_yes": p_yes, "bridge": bridge}


RESULTS = [
    {"id": "o1", "shape": "open", "refused": False, "reason": "verified; dropped …", "checks": [
        _check("The dam broke on Monday.", True, p_yes=0.9),
        _check("It killed 12 people.", False, "not stated in the sources: the number 12 is not in the cited sentences"),
        _check("The mayor resigned.", True, p_yes=0.6, bridge=2),
    ]},
    {"id": "o2", "shape": "open", "refused": True,
     "reason": "the sentences that stand do not answer the question (the check model's P(Yes) 0.19)", "checks": [
         _check("Smoke from wildfires darkened the sky.", True, p_yes=0.8),
     ]},
    {"id": "o3", "shape": "open", "refused": False, "reason": "verified", "checks": [
        _check("Prices rose.", False, "the check model doubts the sources state it (P(Yes) 0.31)", p_yes=0.31),
    ]},
    {"id": "f1", "shape": "fact", "refused": False, "checks": [_check("Belarus", True)]},
]
LABELS = [
    {"id": "o1", "sentence": "The dam broke on Monday.", "supported": True, "premise": False, "set": "a"},
    {"id": "o1", "sentence": "It killed 12 people.", "supported": True, "premise": False, "set": "a"},
    {"id": "o1", "sentence": "The mayor resigned.", "supported": False, "premise": True, "set": "b"},
    {"id": "o2", "sentence": "Smoke from wildfires darkened the sky.", "supported": True, "premise": False, "set": "b"},
    {"id": "o3", "sentence": "Prices rose.", "supported": False, "premise": False, "set": "b"},
    {"id": "o9", "sentence": "A reply that changed since it was labelled.", "supported": True, "set": "a"},
]


def test_both_figures_and_the_rule_behind_every_miss():
    m = _module().measure(LABELS, RESULTS)
    assert (m["sentences"], m["supported"], m["unsupported"], m["unmatched_labels"]) == (5, 3, 2, 1)
    assert m["supported_kept"] == 1 / 3  # the dam kept; the 12 dropped by a rule; the smoke by the answer's veto
    assert m["unsupported_dropped"] == 1 / 2  # prices dropped by the check model; the mayor let through
    assert m["true_dropped_by"] == {"a number not in the cited sentences": 1, "answer-level relevance veto": 1}
    assert m["false_dropped_by"] == {"the check model: not stated": 1}
    assert m["false_kept"] == [{"id": "o1", "sentence": "The mayor resigned.", "p_yes": 0.6, "bridge": 2, "note": ""}]
    assert (m["premise_sentences"], m["premise_kept"]) == (1, 1)
    assert m["by_set"]["a"] == {"sentences": 2, "supported_kept": 0.5, "unsupported_dropped": None}


def test_the_command_reads_runs_and_labels_and_writes_the_figures(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in RESULTS), encoding="utf-8")
    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps(r) + "\n" for r in LABELS), encoding="utf-8")
    mod = _module()
    assert mod.main(["--labels", str(labels), str(run), "--out", str(tmp_path / "m.json")]) == 0
    out = capsys.readouterr().out
    assert "supported kept:      0.333" in out and "unsupported dropped: 0.500" in out
    assert "answer-level relevance veto" in out and "The mayor resigned." in out
    assert json.loads((tmp_path / "m.json").read_text())["sentences"] == 5
    assert mod.main(["--labels", str(labels), str(tmp_path / "nothing")]) == 2


def test_a_sentence_written_twice_counts_as_kept_when_it_is_shown_once():
    result = {"id": "o1", "shape": "open", "refused": False, "reason": "verified", "checks": [
        _check("The dam broke on Monday.", True, p_yes=0.9),
        _check("The dam broke on Monday.", False, "it repeats an earlier sentence of the reply")]}
    label = {"id": "o1", "sentence": "The dam broke on Monday.", "supported": True, "premise": False, "set": "a"}
    assert _module().measure([label], [result])["supported_kept"] == 1.0
