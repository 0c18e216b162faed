"""Evaluation metrics, each defined once, on eval items and results lines (plain dicts from JSONL)."""

from __future__ import annotations

import math
import re
from typing import Iterable

RETRIEVAL_K = 5


def keyword_match(answer: str, keywords: list[list[str]]) -> bool:
    """Every group has one alternative in the answer, case-insensitive, at a word start."""
    text = answer.lower()
    return all(
        any(re.search(r"(?<!\w)" + re.escape(alt.lower()), text) for alt in group) for group in keywords
    )


def is_correct(item: dict, result: dict) -> bool:
    """Answerable: answered (not refused) and keyword-correct. Unanswerable: declined."""
    if not item.get("answerable", True):
        return bool(result["refused"])
    return not result["refused"] and keyword_match(result["answer"], item["keywords"])


def first_relevant_rank(item: dict, result: dict) -> int | None:
    """1-based rank of the first retrieved article that is among the item's sources."""
    for rank, r in enumerate(result.get("retrieved", []), 1):
        if r["source"] in item["sources"]:
            return rank
    return None


def hit_at(item: dict, result: dict, k: int) -> bool:
    rank = first_relevant_rank(item, result)
    return rank is not None and rank <= k


def reciprocal_rank(item: dict, result: dict) -> float:
    rank = first_relevant_rank(item, result)
    return 1.0 / rank if rank else 0.0


def recall_at(item: dict, result: dict, k: int) -> float:
    top = {r["source"] for r in result.get("retrieved", [])[:k]}
    return len(top & set(item["sources"])) / len(item["sources"])


def quote_verbatim(citation: dict, articles: dict[str, str]) -> bool:
    text = articles.get(citation["source"])
    return bool(text) and bool(citation.get("quote")) and citation["quote"] in text


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return float(ordered[k])


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


def summarize(items: list[dict], results: list[dict], articles: dict[str, str]) -> dict:
    """All metrics for one run. ``items`` and ``results`` are aligned by position."""
    pairs = list(zip(items, results))
    ans = [(i, r) for i, r in pairs if i.get("answerable", True)]
    unans = [(i, r) for i, r in pairs if not i.get("answerable", True)]
    answered = [(i, r) for i, r in ans if not r["refused"]]
    cites = [(i, c) for i, r in answered for c in r["citations"]]
    all_cites = [c for _, r in pairs for c in r["citations"]]
    # Decode speed: tokens after the first, over the time after the first token.
    decode_time = sum(max(0.0, r.get("timings", {}).get("generate_s", 0.0) - r.get("ttft_s", 0.0)) for r in results)
    tokens = sum(max(0, r.get("tokens", 0) - 1) for r in results)
    ttfts = [r["ttft_s"] for r in results if r.get("ttft_s")]
    latencies = [r["latency_s"] for r in results]
    return {
        "questions": len(pairs),
        "answerable": len(ans),
        "unanswerable": len(unans),
        "accuracy": _mean(is_correct(i, r) for i, r in pairs),
        "answer_correctness": _mean(is_correct(i, r) for i, r in ans),
        "hit@1": _mean(hit_at(i, r, 1) for i, r in ans),
        f"hit@{RETRIEVAL_K}": _mean(hit_at(i, r, RETRIEVAL_K) for i, r in ans),
        "mrr": _mean(reciprocal_rank(i, r) for i, r in ans),
        f"recall@{RETRIEVAL_K}": _mean(recall_at(i, r, RETRIEVAL_K) for i, r in ans),
        "citation_precision": _mean(c["source"] in i["sources"] for i, c in cites),
        "quote_verbatim_rate": _mean(quote_verbatim(c, articles) for c in all_cites),
        "answers_with_citation": _mean(bool(r["citations"]) for _, r in answered),
        "refusal_rate_unanswerable": _mean(bool(r["refused"]) for _, r in unans),
        "false_refusal_rate": _mean(bool(r["refused"]) for _, r in ans),
        "latency_p50_s": percentile(latencies, 50),
        "latency_p95_s": percentile(latencies, 95),
        "ttft_p50_s": percentile(ttfts, 50),
        "tokens_per_s": tokens / decode_time if decode_time else 0.0,
    }


# Metrics where a larger value is better; the rest (latency, false refusals) are better smaller.
LOWER_IS_BETTER = {"false_refusal_rate", "latency_p50_s", "latency_p95_s", "ttft_p50_s"}
