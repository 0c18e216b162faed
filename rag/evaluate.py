"""`rag eval`: run an eval set through a pipeline and write results, metrics and reports."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import InputError
from .metrics import LOWER_IS_BETTER, answer_f1, is_correct, is_direct, is_direct_correct, is_open_item, summarize

REQUIRED = {"id": str, "question": str, "answer": str, "keywords": list, "sources": list, "answerable": bool}


def load_dataset(path: Path, split: str | None = None, limit: int | None = None, every: int = 1,
                 categories: str | None = None) -> list[dict]:
    """Read and validate a JSONL eval set; ``split`` and ``category`` are optional fields.

    ``categories``: comma-separated, "open" for the open ones and "fact" for the rest (``--category``).
    ``every``: a fixed sample, the 1st, (every+1)th, ... question of the split, in file order."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"dataset not found: {path}")
    items, ids = [], set()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path.name} line {n}: not valid JSON ({exc.msg})") from None
        for key, typ in REQUIRED.items():
            if not isinstance(item.get(key), typ):
                raise InputError(f"{path.name} line {n}: field {key!r} missing or not a {typ.__name__}")
        if item["id"] in ids:
            raise InputError(f"{path.name} line {n}: duplicate id {item['id']!r}")
        problem = _reference_problem(item) or _turn_problem(item)
        if problem:
            raise InputError(f"{path.name} line {n}: {problem}")
        ids.add(item["id"])
        items.append(item)
    if split:
        items = [i for i in items if i.get("split") == split]
        if not items:
            raise InputError(f"{path.name}: no questions in split {split!r}")
    if categories:
        wanted = {c.strip() for c in categories.split(",") if c.strip()}
        items = [i for i in items if i.get("category") in wanted or ("open" in wanted and is_open_item(i))
                 or ("fact" in wanted and not is_open_item(i))]
        if not items:
            raise InputError(f"{path.name}: no questions of the categories {categories!r}")
    if every < 1:
        raise InputError(f"--every takes 1 or more, not {every}")
    if is_conversation_set(items):  # whole conversations: every Nth, in file order, turns in order
        names = list(dict.fromkeys(i["conversation"] for i in items))
        keep = set(names[::every][:limit] if limit else names[::every])
        return sorted((i for i in items if i["conversation"] in keep),
                      key=lambda i: (names.index(i["conversation"]), i["turn"]))
    items = items[::every]
    return items[:limit] if limit else items


def is_conversation_set(items: list[dict]) -> bool:
    """A set of conversations: each turn has ``conversation`` and ``turn`` (and ``standalone``)."""
    return bool(items) and all("conversation" in i and "turn" in i for i in items)


def _reference_problem(item: dict) -> str:
    """What makes an item unscorable (checked for the whole file before the first question is asked)."""
    groups, sources = item["keywords"], item["sources"]
    if not all(isinstance(g, list) and g and all(isinstance(k, str) and k.strip() for k in g) for g in groups):
        return "field 'keywords' must be a list of groups, each a non-empty list of words"
    if not all(isinstance(s, str) and s.strip() for s in sources):
        return "field 'sources' must be a list of file names"
    if item["answerable"] and not sources:
        return "field 'sources' is empty for an answerable question: name the articles that state the answer"
    if item["answerable"] and not groups:
        return "field 'keywords' is empty for an answerable question: give the words a right answer contains"
    if not item["answerable"] and (sources or groups):
        return "an unanswerable question has empty 'keywords' and 'sources'"
    return ""


def _turn_problem(item: dict) -> str:
    if "conversation" not in item and "turn" not in item:
        return ""
    if not isinstance(item.get("conversation"), str) or not isinstance(item.get("turn"), int) or item["turn"] < 1:
        return "a conversation turn needs 'conversation' (a string) and 'turn' (1, 2, ...)"
    if "standalone" in item and not isinstance(item["standalone"], str):
        return "field 'standalone' must be the question as a string"
    return ""


def check_sources(items: list[dict], articles: dict[str, str]) -> list[str]:
    """Source file names the dataset cites that are not among the indexed articles."""
    return sorted({s for item in items for s in item["sources"]} - set(articles))


@dataclass(frozen=True)
class RunInfo:
    """What was evaluated: pipeline name, model, dataset."""

    pipeline: str
    model: str
    dataset: str
    split: str | None


def result_line(item: dict, answer_dict: dict) -> dict:
    """One results.jsonl line in the fixed format, plus timing fields and the verdict."""
    return {
        "id": item["id"],
        "question": item["question"],
        "answer": answer_dict["answer"],
        "refused": bool(answer_dict["refused"]),
        "citations": [{"source": c["source"], "quote": c["quote"], **({"n": c["n"]} if "n" in c else {})}
                      for c in answer_dict["citations"]],
        "retrieved": answer_dict["retrieved"],
        "latency_s": answer_dict["latency_s"],
        "ttft_s": answer_dict.get("ttft_s", 0.0),
        "tokens": answer_dict.get("tokens", 0),
        "timings": answer_dict.get("timings", {}),
        "raw": answer_dict.get("raw", ""),
        "reason": answer_dict.get("reason", ""),
        "checks": answer_dict.get("checks", []),
        **({"shape": answer_dict["shape"]} if "shape" in answer_dict else {}),
        **({"note": answer_dict["note"]} if answer_dict.get("note") else {}),
        **({"answers_question": answer_dict["answers_question"]}
           if answer_dict.get("answers_question") is not None else {}),
    }


def run(
    answer_fn: Callable[..., dict], items: list[dict], articles: dict[str, str], out_dir: Path,
    info: RunInfo, progress: bool = True, standalone_of: dict[str, dict] | None = None,
) -> dict:
    """Answer every item, write results.jsonl, summary.json and the reports; return the summary.

    A conversation set is run turn by turn: each turn gets the conversation so far as the pipeline
    itself answered it (``answer_fn(question, history)``), never the references. ``standalone_of``
    (id → result of the same turn asked in its ``standalone`` form) adds the figures that compare with it."""
    from .conversation import Turn

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results: list[dict] = []
    bar = _bar(items, progress)
    correct = 0
    talks = is_conversation_set(items)
    history: dict[str, list] = {}
    with open(out_dir / "results.jsonl", "w", encoding="utf-8") as f:
        for item in bar:
            if talks:
                turns = history.setdefault(item["conversation"], [])
                got = answer_fn(item["question"], list(turns))
                turns.append(Turn.of(item["question"], got))
                line = result_line(item, got)
                line.update(conversation=item["conversation"], turn=item["turn"],
                            searched=got.get("searched", item["question"]), followup=got.get("followup", ""))
            else:
                line = result_line(item, answer_fn(item["question"]))
            line["correct"] = is_correct(item, line)
            line["direct"] = is_direct(line)
            line["direct_correct"] = is_direct_correct(item, line)
            line["answer_f1"] = round(answer_f1(line["answer"], item["answer"]), 4) if not line["refused"] else 0.0
            correct += line["direct_correct"]
            results.append(line)
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
            f.flush()
            if progress and hasattr(bar, "set_postfix_str"):
                bar.set_postfix_str(f"direct & correct {correct / len(results):.2f}")
    summary = summarize(items, results, articles)
    if talks:
        from .metrics import conversation_summary

        summary.update(conversation_summary(items, results, standalone_of))
    summary["run"] = info.__dict__
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def run_all(
    answer_fns: dict[str, Callable[[str], dict]], items: list[dict], articles: dict[str, str], out_dir: Path,
    model: str, dataset: str, split: str | None, progress: bool = True, standalone: bool = True,
) -> dict[str, dict]:
    """Run each pipeline (the first into ``out_dir``, others into ``out_dir/<name>``), then write
    report.md and report.html that show them side by side. Returns name -> summary.

    A conversation set's follow-ups are also asked alone (``standalone``), unless told not to: that doubles
    the model's work, and only the figures that compare the two need it."""
    from .report import write_reports

    out_dir = Path(out_dir)
    runs = {}
    for k, (name, fn) in enumerate(answer_fns.items()):
        target = out_dir if k == 0 else out_dir / name
        alone = None
        if standalone and is_conversation_set(items):  # the same turns asked in their standalone form, in the same run
            alone = standalone_run(fn, items, articles, target / "standalone", RunInfo(name, model, dataset, split),
                                   progress)
        summary = run(fn, items, articles, target, RunInfo(name, model, dataset, split), progress=progress,
                      standalone_of=alone)
        runs[name] = (items, read_results(target), summary)
    write_reports(out_dir, runs)
    return {name: r[2] for name, r in runs.items()}


def standalone_run(fn, items: list[dict], articles: dict[str, str], out_dir: Path, info: RunInfo,
                   progress: bool) -> dict[str, dict]:
    """The follow-up turns (those whose ``standalone`` differs from the question) asked as they stand
    alone, without history: the figure a follow-up should reach. Written to ``out_dir``; id → result."""
    asked = [dict(i, question=i["standalone"]) for i in items
             if i.get("standalone") and i["standalone"] != i["question"]]
    asked = [{k: v for k, v in i.items() if k not in ("conversation", "turn")} for i in asked]
    if not asked:
        return {}
    run(lambda q, history=(): fn(q, []), asked, articles, out_dir, info, progress=progress)
    return {r["id"]: r for r in read_results(out_dir)}


def compare(current: dict, baseline: dict) -> list[tuple[str, float, float, float, bool]]:
    """(metric, baseline, current, change, worse) for every numeric metric both runs have."""
    rows = []
    for key, value in current.items():
        if isinstance(value, (int, float)) and isinstance(baseline.get(key), (int, float)) and key not in (
            "questions", "answerable", "unanswerable"
        ):
            delta = value - baseline[key]
            worse = delta > 1e-9 if key in LOWER_IS_BETTER else delta < -1e-9
            rows.append((key, float(baseline[key]), float(value), delta, worse))
    return rows


def regressions(current_results: list[dict], baseline_results: list[dict]) -> list[str]:
    """Ids of questions right in the baseline and wrong now."""
    before = {r["id"]: r.get("correct") for r in baseline_results}
    return [r["id"] for r in current_results if before.get(r["id"]) is True and r.get("correct") is False]


def parse_floors(specs: list[str]) -> dict[str, float]:
    floors = {}
    for spec in specs or []:
        name, sep, value = spec.partition("=")
        try:
            floors[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise InputError(f"--fail-under wants METRIC=VALUE, got {spec!r}")
    return floors


def failed_floors(summary: dict, floors: dict[str, float]) -> list[str]:
    """Messages for every metric on the wrong side of its floor (a ceiling for lower-is-better)."""
    out = []
    for name, bound in floors.items():
        if name not in summary:
            raise InputError(f"unknown metric {name!r}; known: {', '.join(k for k in summary if k != 'run')}")
        value = summary[name]
        bad = value > bound if name in LOWER_IS_BETTER else value < bound
        if bad:
            out.append(f"{name} = {value:.3f} is {'above' if name in LOWER_IS_BETTER else 'below'} {bound}")
    return out


def read_results(out_dir: Path) -> list[dict]:
    path = Path(out_dir) / "results.jsonl"
    if not path.is_file():
        raise InputError(f"no results.jsonl in {out_dir}")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _bar(items, enabled):
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc="Evaluating", unit="q", file=sys.stderr)
