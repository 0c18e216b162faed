"""Human-readable reports of an eval run: report.md and a self-contained report.html with plots."""

from __future__ import annotations

import base64
import html
import io
from collections import defaultdict
from pathlib import Path

from .metrics import (LOWER_IS_BETTER, first_relevant_rank, is_correct, is_direct_correct, is_open_item,
                      is_quoted_sentence, is_wrong_answer, point_recall)

HEADLINE = [
    "direct_correctness", "wrong_answer_rate", "answer_f1", "direct_answer_rate", "answer_words_median",
    "quoted_sentence_answers", "answer_correctness", "hit@1", "hit@5", "mrr", "recall@5", "citation_precision", "quote_verbatim_rate",
    "answers_with_citation", "refusal_rate_unanswerable", "false_refusal_rate", "accuracy",
    "latency_p50_s", "latency_p95_s", "ttft_p50_s", "tokens_per_s",
]
# The open questions' figures (metrics.open_summary), in a table of their own.
OPEN_HEADLINE = [
    "point_recall", "sentence_support", "open_near_miss_declined", "open_near_miss_declined_or_flagged",
    "open_answerable_flagged", "open_false_refusal_rate",
    "open_answer_words_median", "open_sentences_median", "first_sentence_p50_s", "open_latency_p50_s",
    "shape_misroutes",
]

# A conversation set's figures (metrics.conversation_summary): follow-ups beside their standalone forms.
CONVERSATION_HEADLINE = [
    "followup_direct_correctness", "standalone_direct_correctness", "followup_gap", "followup_point_recall",
    "standalone_point_recall", "rewrite_exact_rate", "rewrite_resolved_rate", "topic_change_kept", "wrong_side_answers",
    "standalone_wrong_side_answers", "followup_wrong_answer_rate", "resolve_ms_mean", "followup_latency_p50_s",
]


def _conversation_lines(summary: dict) -> list[str]:
    """The conversation section of report.md: the headline figures, then by turn depth and by form."""
    out = ["", "## Conversations", "",
           f"{summary['conversations']} conversations, {summary['followup_turns']} follow-up turns, each turn given "
           "the pipeline's own earlier answers; 'standalone' is the same turn asked in its hand-written standalone form.",
           "", "| metric | value |", "|---|---|"]
    out += [f"| {m} | {_fmt(summary[m])} |" for m in CONVERSATION_HEADLINE if m in summary]
    out += ["", "| turn | fact follow-ups | direct and correct | asked alone |", "|---|---|---|---|"]
    out += [f"| {d} | {v['turns']} | {v['followup']:.3f} | {_fmt(v['standalone'])} |" for d, v in summary["by_depth"].items()]
    forms = [k[:-len("_turn_score")] for k in summary if k.endswith("_turn_score")]
    out += ["", "| form | score in the conversation | asked alone |", "|---|---|---|"]
    out += [f"| {f} | {summary[f + '_turn_score']:.3f} | {_fmt(summary.get(f + '_standalone_score'))} |" for f in forms]
    return out


def _fmt(value) -> str:
    """A figure for a table; None (not measured in this run) as a dash."""
    return "—" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def by_category(items: list[dict], results: list[dict], verdict=is_direct_correct) -> dict[str, tuple[int, int]]:
    """category -> (right by ``verdict``, total); items without a category count as 'uncategorised'."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for item, result in zip(items, results):
        cat = item.get("category", "uncategorised")
        out[cat][0] += verdict(item, result)
        out[cat][1] += 1
    return {k: (v[0], v[1]) for k, v in sorted(out.items())}


def _quoted_line(summary: dict) -> str:
    return (f"{summary.get('quoted_sentence_answers', 0)} of {summary['questions']} answers were a whole evidence "
            f"sentence handed back; median answer {_fmt(summary.get('answer_words_median', 0.0))} words.")


def comparison_rows(runs: dict[str, dict], metrics: list[str] = HEADLINE) -> list[tuple[str, list[float], str]]:
    """(metric, values per run, best run name) for the headline metrics every run has."""
    rows = []
    names = list(runs)
    for metric in metrics:
        if not all(metric in runs[n] for n in names):
            continue
        values = [runs[n][metric] for n in names]
        pick = min if metric in LOWER_IS_BETTER else max
        best = names[values.index(pick(values))] if len(set(values)) > 1 else "tie"
        rows.append((metric, values, best))
    return rows


def _categories(runs: dict[str, tuple]) -> list[str]:
    """The question categories of the runs' items, sorted; 'uncategorised' for items without one."""
    return sorted({i.get("category", "uncategorised") for run in runs.values() for i in run[0]})


def _plots(runs: dict[str, tuple[list[dict], list[dict]]]) -> dict[str, str]:
    """PNG plots as base64: correctness by category (where the questions fall in two categories or more: one bar
    says no more than the metrics table), latency distribution, first-source rank. A legend only where runs
    are compared."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pngs = {}
    names = list(runs)
    compared = len(names) > 1
    cats = _categories(runs)
    width = 0.8 / len(names)
    if len(cats) > 1:
        fig, ax = plt.subplots(figsize=(8, 3.6))
        for k, name in enumerate(names):
            stats = by_category(*runs[name])
            ax.bar([c + k * width for c in range(len(cats))],
                   [stats.get(cat, (0, 1))[0] / max(1, stats.get(cat, (0, 1))[1]) for cat in cats], width, label=name)
        ax.set_xticks([c + width * (len(names) - 1) / 2 for c in range(len(cats))], cats, rotation=20, ha="right")
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("direct and correct")
        ax.set_title("Direct correctness by question category")
        if compared:
            ax.legend()
        pngs["correctness_by_category"] = _png(fig)

    fig, ax = plt.subplots(figsize=(8, 3.2))
    for name in names:
        ax.hist([r["latency_s"] for r in runs[name][1]], bins=20, alpha=0.6, label=name)
    ax.set_xlabel("seconds per answer")
    ax.set_ylabel("questions")
    ax.set_title("Answer latency")
    if compared:
        ax.legend()
    pngs["latency"] = _png(fig)

    fig, ax = plt.subplots(figsize=(8, 3.2))
    labels = ["1", "2", "3", "4", "5", "6+", "not found"]
    for k, name in enumerate(names):
        counts = [0] * len(labels)
        items, results = runs[name]
        for item, result in zip(items, results):
            if not item.get("answerable", True):
                continue
            rank = first_relevant_rank(item, result)
            counts[6 if rank is None else min(rank, 6) - 1] += 1
        ax.bar([x + k * width for x in range(len(labels))], counts, width, label=name)
    ax.set_xticks([x + width * (len(names) - 1) / 2 for x in range(len(labels))], labels)
    ax.set_xlabel("rank of the first correct source")
    ax.set_ylabel("questions")
    ax.set_title("Retrieval: where the first correct article ranks")
    if compared:
        ax.legend()
    pngs["first_source_rank"] = _png(fig)
    return pngs


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def write_reports(out_dir: Path, runs: dict[str, tuple[list[dict], list[dict], dict]]) -> None:
    """runs: name -> (items, results, summary); the first run is the main one."""
    out_dir = Path(out_dir)
    summaries = {name: run[2] for name, run in runs.items()}
    main = next(iter(runs))
    items, results, summary = runs[main]
    rows = comparison_rows(summaries)
    open_rows = comparison_rows(summaries, OPEN_HEADLINE) if "open_questions" in summary else []
    (out_dir / "report.md").write_text(_markdown(main, items, results, summary, rows, list(runs), open_rows), encoding="utf-8")
    pngs = _plots({name: (r[0], r[1]) for name, r in runs.items()})
    (out_dir / "report.html").write_text(_html(main, items, results, summary, rows, list(runs), pngs, open_rows),
                                         encoding="utf-8")


def wrong_first(items: list[dict], results: list[dict]) -> list[tuple[dict, dict]]:
    """The questions in file order, the answers given and wrong first: the worst thing a reader can see."""
    pairs = list(zip(items, results))
    return sorted(pairs, key=lambda pair: not is_wrong_answer(*pair))


def _wrong_line(items: list[dict], results: list[dict]) -> str:
    n = sum(is_wrong_answer(i, r) for i, r in zip(items, results))
    return f"{n} of {len(items)} answers given and wrong (listed first)."


def _verdict(item: dict, result: dict) -> str:
    if is_open_item(item) and item.get("answerable", True) and not result["refused"]:
        return f"points {round(point_recall(item, result) * len(item['keywords']))} of {len(item['keywords'])}"
    if not item.get("answerable", True):
        return "declined (right)" if result["refused"] else "answered an unanswerable question"
    if result["refused"]:
        return "declined (wrong)"
    if not is_correct(item, result):
        return "wrong"
    if is_direct_correct(item, result):
        return "correct"
    return "correct but a quoted sentence" if is_quoted_sentence(result) else "correct but too long"


def _open_line(summary: dict) -> str:
    return (f"{summary.get('open_questions', 0)} open questions (summary, why, describe, list, compare, overview) are "
            "scored apart: the share of reference points stated, and of answer sentences whose numbers and names "
            "are in the quotes they cite. The fact figures above leave them out.")


def _table_head(names: list[str]) -> list[str]:
    """A metrics table's head in markdown: a column a run, and which did better only where runs are compared."""
    better = len(names) > 1
    return ["| metric | " + " | ".join(names) + (" | better |" if better else " |"),
            "|---" * (len(names) + 1 + better) + "|"]


def _table_line(metric: str, values: list, best: str, names: list[str]) -> str:
    return f"| {metric} | " + " | ".join(_fmt(v) for v in values) + (f" | {best} |" if len(names) > 1 else " |")


def _markdown(main, items, results, summary, rows, names, open_rows=()) -> str:
    run = summary.get("run", {})
    out = [f"# Eval report: {main}", "",
           f"Dataset `{run.get('dataset', '')}`, split `{run.get('split') or 'all'}`, model `{run.get('model', '')}`, "
           f"{summary['questions']} questions ({summary['answerable']} answerable, {summary['unanswerable']} unanswerable).", "",
           _quoted_line(summary), ""]
    out += ["## Metrics", "", *_table_head(names)]
    out += [_table_line(metric, values, best, names) for metric, values, best in rows]
    if open_rows:
        out += ["", "## Open questions", "", _open_line(summary), "", *_table_head(names)]
        out += [_table_line(metric, values, best, names) for metric, values, best in open_rows]
    if "followup_turns" in summary:
        out += _conversation_lines(summary)
    out += ["", "## By category", "", "| category | direct and correct | correct (keywords anywhere) | total |",
            "|---|---|---|---|"]
    loose = by_category(items, results, is_correct)
    for cat, (ok, n) in by_category(items, results).items():
        out.append(f"| {cat} | {ok} | {loose[cat][0]} | {n} |")
    out += ["", "## Questions", "", _wrong_line(items, results), "",
            "| id | question | answer | citations | verdict |", "|---|---|---|---|---|"]
    for item, r in wrong_first(items, results):
        cites = "; ".join(f"{c['source']}: “{c['quote'][:80]}…”" for c in r["citations"])
        cell = lambda s: s.replace("|", "\\|").replace("\n", " ")  # noqa: E731
        asked = item["question"] + (f" → {r['searched']}" if r.get("searched") and r["searched"] != item["question"] else "")
        out.append(f"| {item['id']} | {cell(asked)} | {cell(r['answer'])} | {cell(cites)} | {_verdict(item, r)} |")
    return "\n".join(out) + "\n"


def _html(main, items, results, summary, rows, names, pngs, open_rows=()) -> str:
    e = html.escape
    run = summary.get("run", {})
    compared = len(names) > 1  # which run did better: only where there is another run to compare with

    def table_rows(rows):
        return "".join(
            f"<tr><td>{e(m)}</td>" + "".join(f'<td class="num" data-metric="{e(m)}" data-run="{e(n)}">{_fmt(v)}</td>'
                                              for n, v in zip(names, values))
            + (f"<td>{e(best)}</td>" if compared else "") + "</tr>"
            for m, values, best in rows
        )

    metric_rows = table_rows(rows)
    head = (f"<tr><th>metric</th>{''.join(f'<th>{e(n)}</th>' for n in names)}"
            + ("<th>better</th>" if compared else "") + "</tr>")
    open_table = (f"<h2>Open questions</h2><p>{e(_open_line(summary))}</p><table id='open-metrics'>{head}"
                  f"{table_rows(open_rows)}</table>") if open_rows else ""
    q_rows = []
    for item, r in wrong_first(items, results):
        verdict = _verdict(item, r)
        cls = "ok" if verdict in ("correct", "declined (right)") or (
            verdict.startswith("points") and point_recall(item, r) >= 0.5) else "bad"
        cites = "".join(f"<li><b>{e(c['source'])}</b>: “{e(c['quote'])}”</li>" for c in r["citations"])
        q_rows.append(
            f"<tr class='{cls}'><td>{e(item['id'])}</td><td>{e(item.get('category', ''))}</td><td>{e(item['question'])}</td>"
            f"<td>{e(r['answer'])}</td><td><ul>{cites}</ul></td><td>{e(verdict)}</td><td class='num'>{r['latency_s']:.2f}</td></tr>"
        )
    images = "".join(f"<figure><img alt='{e(k)}' src='data:image/png;base64,{v}'></figure>" for k, v in pngs.items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Eval report: {e(main)}</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #1d2430; }}
table {{ border-collapse: collapse; width: 100%; margin: 1rem 0; }}
th, td {{ border-bottom: 1px solid #dde3ea; padding: .35rem .5rem; text-align: left; vertical-align: top; }}
th {{ background: #f3f6f9; }} td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
tr.bad td:last-child {{ color: #b3261e; font-weight: 600; }} tr.ok td:last-child {{ color: #1b6e3a; }}
figure {{ margin: 1rem 0; }} img {{ max-width: 100%; }} ul {{ margin: 0; padding-left: 1rem; font-size: 13px; }}
</style></head><body>
<h1>Eval report: {e(main)}</h1>
<p>Dataset <code>{e(str(run.get('dataset', '')))}</code>, split <code>{e(str(run.get('split') or 'all'))}</code>,
model <code>{e(str(run.get('model', '')))}</code>: {summary['questions']} questions
({summary['answerable']} answerable, {summary['unanswerable']} unanswerable).</p>
<p id="quoted">{e(_quoted_line(summary))}</p>
<h2>Metrics</h2>
<table id="metrics">{head}{metric_rows}</table>
{open_table}
<h2>Plots</h2>{images}
<h2>Questions</h2>
<p id="wrong">{e(_wrong_line(items, results))}</p>
<table id="questions"><tr><th>id</th><th>category</th><th>question</th><th>answer</th><th>citations</th><th>verdict</th><th>s</th></tr>
{''.join(q_rows)}</table>
</body></html>
"""
