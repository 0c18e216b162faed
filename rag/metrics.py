"""Evaluation metrics, each defined once, on eval items and results lines (plain dicts from JSONL)."""

from __future__ import annotations

import math
import re
import statistics
import unicodedata
from collections import Counter
from typing import Iterable

RETRIEVAL_K = 5
DIRECT_MAX_WORDS = 25
_MARKERS = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")
_ARTICLES_WORDS = {"a", "an", "the"}


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


def is_wrong_answer(item: dict, result: dict) -> bool:
    """An answer given and wrong: not keyword-correct, or any answer to an unanswerable question. With its
    citation it looks checked, so it is worse than a decline."""
    return not result["refused"] and not is_correct(item, result)


def strip_markers(answer: str) -> str:
    """The answer without its ``[n]`` citation markers."""
    return " ".join(_MARKERS.sub("", answer).split())


def answer_words(answer: str) -> int:
    """Words in the answer once the ``[n]`` markers are taken out."""
    return len(strip_markers(answer).split())


def _tokens(text: str) -> list[str]:
    """SQuAD normalisation: lower case, no punctuation, no a/an/the, ``[n]`` markers ignored."""
    text = strip_markers(text).lower()
    text = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in text)
    return [w for w in text.split() if w not in _ARTICLES_WORDS]


def answer_f1(answer: str, reference: str) -> float:
    """SQuAD-style token F1 of the answer against the reference answer."""
    got, want = _tokens(answer), _tokens(reference)
    if not got or not want:
        return float(got == want)
    common = sum((Counter(got) & Counter(want)).values())
    if not common:
        return 0.0
    precision, recall = common / len(got), common / len(want)
    return 2 * precision * recall / (precision + recall)


def is_quoted_sentence(result: dict) -> bool:
    """The answer is an evidence sentence handed back: it holds a whole cited quote, or is (nearly all
    of) one, word for word. A short span taken from a quote ("Belarus") is an answer, not a copy."""
    got = _tokens(result["answer"])
    if result.get("refused") or not got:
        return False
    joined = " " + " ".join(got) + " "
    for citation in result.get("citations", []):
        quote = _tokens(citation.get("quote", ""))
        if not quote:
            continue
        q = " " + " ".join(quote) + " "
        if q in joined or (joined in q and len(got) >= 0.8 * len(quote)):
            return True
    return False


def is_direct(result: dict) -> bool:
    """An answer the reader can use as it is: not a handed-back evidence sentence, at most 25 words."""
    return not result.get("refused") and not is_quoted_sentence(result) and answer_words(result["answer"]) <= DIRECT_MAX_WORDS


def is_direct_correct(item: dict, result: dict) -> bool:
    """Correct and direct (answerable questions; an unanswerable one is right when declined)."""
    return is_correct(item, result) and (not item.get("answerable", True) or is_direct(result))


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


# ---- open questions ------------------------------------------------------------------------------

# Categories of open questions (a few sentences answer them); every other item is a fact question. The
# fact metrics are computed on fact questions only, so adding open ones changes none of them.
OPEN_CATEGORIES = frozenset({"summary", "why", "describe", "list", "compare", "overview"})


def is_open_item(item: dict) -> bool:
    return item.get("category") in OPEN_CATEGORIES


def point_recall(item: dict, result: dict) -> float:
    """The share of the item's reference points (keyword groups) the answer states; 0 when declined."""
    groups = item.get("keywords") or []
    if result["refused"] or not groups:
        return 0.0
    return sum(keyword_match(result["answer"], [g]) for g in groups) / len(groups)


_SENT_END = re.compile(r"(?<=[.!?])(?:\s*\[\d+(?:\s*,\s*\d+)*\])*\.?(?=\s+[A-Z0-9\"“(]|\s*$)")
_CAPITAL = re.compile(r"(?<![\w'’])[A-Z][\w'’-]*")
_DIGITS = re.compile(r"\d+(?:[.,]\d+)*")
# Capitalised words that are not names wherever they stand.
_NOT_A_NAME = frozenset("""i a an the and but or if in on at of to for by with from as it its this that these those they
    their there he she his her we our you after before while when where which who what why how both also however
    meanwhile despite although though according""".split())


def answer_sentences(answer: str) -> list[str]:
    """The answer's sentences, each with the ``[n]`` markers that follow it."""
    out, pos = [], 0
    for m in _SENT_END.finditer(answer):
        out.append(answer[pos:m.end()].strip())
        pos = m.end()
    out.append(answer[pos:].strip())
    return [s for s in out if re.search(r"\w", strip_markers(s))]


def _digits(text: str) -> set[str]:
    return {n.replace(",", "").rstrip(".") for n in _DIGITS.findall(text)}


def sentence_supported(sentence: str, citations: list[dict], question: str = "",
                       articles: dict[str, str] | None = None) -> bool:
    """The sentence cites at least one quote, and every number and name in it is in the quotes it cites
    (names: capitalised words past the first, case-insensitive; numbers: digits, commas ignored). The
    question's own numbers and names count as given when a cited article holds them (``articles``: file
    name -> text): "... in November 2023 ..." answering a question about November 2023 need not be quoted."""
    cited = [int(n) for group in re.findall(r"\[([\d,\s]+)\]", sentence) for n in re.findall(r"\d+", group)]
    by_n = {c.get("n", k): c for k, c in enumerate(citations, 1)}
    quotes = [by_n[n]["quote"] for n in cited if n in by_n]
    if not quotes:
        return False
    given = ""
    if question and articles:
        held = " ".join(articles.get(by_n[n].get("source", ""), "") for n in cited if n in by_n)
        given = " ".join(w for w in re.findall(r"[\w'’-]+", question)
                         if re.search(rf"(?<![\w]){re.escape(w)}(?![\w])", held, re.IGNORECASE))
    body, quoted = strip_markers(sentence), " ".join(quotes) + " " + given
    if not _digits(body) <= _digits(quoted):
        return False
    have = {re.sub(r"['’]s$", "", w.lower()) for w in re.findall(r"[\w'’-]+", quoted)}
    for m in list(_CAPITAL.finditer(body))[1:] if body[:1].isupper() else _CAPITAL.finditer(body):
        word = re.sub(r"['’]s$", "", m.group(0)).lower()
        if word not in _NOT_A_NAME and word not in have and word.rstrip("s") not in have:
            return False
    return True


def open_summary(items: list[dict], results: list[dict], articles: dict[str, str] | None = None) -> dict:
    """The open questions' own figures (``OPEN_CATEGORIES``): point recall, sentence support, near
    misses declined, answer length, time to the first checked sentence."""
    pairs = [(i, r) for i, r in zip(items, results) if is_open_item(i)]
    if not pairs:
        return {}
    ans = [(i, r) for i, r in pairs if i.get("answerable", True)]
    misses = [(i, r) for i, r in pairs if not i.get("answerable", True)]
    sentences = [(s, r["citations"], i["question"]) for i, r in pairs if not r["refused"]
                 for s in answer_sentences(r["answer"])]
    words = [answer_words(r["answer"]) for _, r in pairs if not r["refused"]]
    firsts = [r.get("timings", {}).get("first_sentence_s") or r.get("latency_s", 0.0) for _, r in pairs if not r["refused"]]
    return {
        "open_questions": len(pairs),
        "point_recall": _mean(point_recall(i, r) for i, r in ans),
        "sentence_support": _mean(sentence_supported(s, c, q, articles) for s, c, q in sentences),
        "open_near_miss_declined": _mean(bool(r["refused"]) for _, r in misses),
        # declined, or answered with the note that the sentences may not answer the question as asked
        "open_near_miss_declined_or_flagged": _mean(bool(r["refused"]) or r.get("answers_question") is False
                                                    for _, r in misses),
        "open_answerable_flagged": _mean(not r["refused"] and r.get("answers_question") is False for _, r in ans),
        "open_false_refusal_rate": _mean(bool(r["refused"]) for _, r in ans),
        "open_answer_words_median": float(statistics.median(words)) if words else 0.0,
        "open_sentences_median": float(statistics.median(
            [len(answer_sentences(r["answer"])) for _, r in pairs if not r["refused"]] or [0])),
        "first_sentence_p50_s": percentile(firsts, 50),
        "open_latency_p50_s": percentile([r["latency_s"] for _, r in pairs], 50),
    }


def shape_misroutes(items: list[dict], results: list[dict]) -> int:
    """Questions answered in the other shape than their category asks for (open ones as facts, fact
    ones as open); 0 when the results do not record a shape (the plain recipe has one shape)."""
    return sum(("shape" in r) and ((r["shape"] != "fact") != is_open_item(i)) for i, r in zip(items, results))


def summarize(items: list[dict], results: list[dict], articles: dict[str, str]) -> dict:
    """All metrics for one run. ``items`` and ``results`` are aligned by position. The fact metrics are
    over the fact questions; the open questions have their own (``open_summary``)."""
    facts = [(i, r) for i, r in zip(items, results) if not is_open_item(i)]
    summary = _fact_summary([i for i, _ in facts], [r for _, r in facts], articles)
    summary.update(open_summary(items, results, articles))
    summary["shape_misroutes"] = shape_misroutes(items, results)
    return summary


def _fact_summary(items, results, articles: dict[str, str]) -> dict:
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
    words = [answer_words(r["answer"]) for _, r in pairs if not r["refused"]]
    return {
        "direct_correctness": _mean(is_direct_correct(i, r) for i, r in ans),
        "wrong_answer_rate": _mean(is_wrong_answer(i, r) for i, r in pairs),
        "answer_f1": _mean(answer_f1(r["answer"], i["answer"]) if not r["refused"] else 0.0 for i, r in ans),
        "direct_answer_rate": _mean(is_direct(r) for _, r in pairs if not r["refused"]),
        "answer_words_median": float(statistics.median(words)) if words else 0.0,
        "quoted_sentence_answers": sum(is_quoted_sentence(r) for _, r in pairs),
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
LOWER_IS_BETTER = {"false_refusal_rate", "wrong_answer_rate", "answer_words_median", "quoted_sentence_answers",
                   "latency_p50_s", "latency_p95_s", "ttft_p50_s", "open_false_refusal_rate", "first_sentence_p50_s",
                   "open_latency_p50_s", "shape_misroutes"}


# ---- conversations (a set whose turns carry ``conversation``, ``turn``, ``standalone`` and ``followup``) ----

FOLLOWUP_FORMS = ("pronoun", "ellipsis")  # the turns whose rewrite is compared with ``standalone``
ABOUT_ANSWER_FORMS = ("why", "more", "source")


def is_followup(item: dict) -> bool:
    """A turn that leans on the conversation: not its first, not a change of topic."""
    return item.get("turn", 1) > 1 and item.get("followup") not in ("first", "topic_change")


def rewrite_keeps(searched: str, standalone: str) -> bool:
    """The rewrite keeps every content word of the hand-written standalone form (stemmed)."""
    from .text import content_terms

    have = set(content_terms(searched))
    return all(t in have for t in content_terms(standalone))


def rewrite_resolves(question: str, searched: str, standalone: str) -> bool:
    """The rewrite holds every name and number of the standalone form that the question as typed
    lacks: what a pronoun or an ellipsis stood for was found (looser than ``rewrite_keeps``, which a
    hand-written standalone form full of context words makes strict)."""
    from .conversation import names_in
    from .text import number_values

    have = searched.lower()
    names = [n for n in names_in(standalone) if n.lower() not in question.lower()]
    numbers = number_values(standalone) - number_values(question)
    return all(n.lower() in have for n in names) and numbers <= number_values(searched)


def wrong_side(item: dict, result: dict) -> bool:
    """Answered, wrong, and with what the articles give for another side ("England" → Spain's scorer)."""
    alts = item.get("wrong_side") or []
    return (not result["refused"] and not is_correct(item, result)
            and any(keyword_match(result["answer"], [[a]]) for a in alts))


def _turn_score(item: dict, result: dict) -> float:
    return point_recall(item, result) if is_open_item(item) else float(is_direct_correct(item, result))


def wrong_kind(item: dict, result: dict) -> bool:
    """An answer shown that is not of the kind its question (as meant: ``standalone``) asks for: a number for
    "how many", a time for "when", a named place for "which city", not a bare number for "who"."""
    from .verify import answer_kind_gap, answer_type_gap

    if result.get("refused") or not item.get("answerable", True):
        return False
    question = item.get("standalone") or item["question"]
    answer = re.sub(r"\s*\[\d+(?:\s*,\s*\d+)*\]", "", result.get("answer", ""))  # its [n] markers are no figures
    if re.search(r"\band\b", question) and ";" in answer:  # "X, and Y?": parts of two kinds
        return False
    return bool(answer_type_gap(question, answer) or answer_kind_gap(question, answer))


def conversation_summary(items: list[dict], results: list[dict], standalone: dict[str, dict] | None) -> dict:
    """Follow-up turns against the same questions asked alone (``standalone``: id → result; a turn
    whose standalone form is the question itself is its own), by turn depth; rewrites; topic changes.
    ``standalone`` None: the turns were not asked alone, and the figures that compare with them are left out."""
    pairs = list(zip(items, results))
    follow = [(i, r) for i, r in pairs if is_followup(i)]
    fact = [(i, r) for i, r in follow if not is_open_item(i)]
    opened = [(i, r) for i, r in follow if is_open_item(i)]

    compared = standalone is not None

    def alone(i, r):
        return (standalone or {}).get(i["id"], r)

    out = {
        "conversations": len({i["conversation"] for i in items}),
        "followup_turns": len(follow),
        "followup_direct_correctness": _mean(is_direct_correct(i, r) for i, r in fact),
        "standalone_direct_correctness": _mean(is_direct_correct(i, alone(i, r)) for i, r in fact),
        "followup_point_recall": _mean(point_recall(i, r) for i, r in opened),
        "standalone_point_recall": _mean(point_recall(i, alone(i, r)) for i, r in opened),
        "rewrite_exact_rate": _mean(rewrite_keeps(r.get("searched") or i["question"], i["standalone"])
                                    for i, r in follow if i.get("followup") in FOLLOWUP_FORMS),
        "rewrite_resolved_rate": _mean(rewrite_resolves(i["question"], r.get("searched") or i["question"], i["standalone"])
                                       for i, r in follow if i.get("followup") in FOLLOWUP_FORMS),
        "topic_change_kept": _mean((r.get("searched") or i["question"]) == i["question"]
                                   for i, r in pairs if i.get("followup") == "topic_change"),
        "wrong_side_answers": sum(wrong_side(i, r) for i, r in pairs),
        "standalone_wrong_side_answers": sum(wrong_side(i, alone(i, r)) for i, r in pairs),
        "followup_wrong_answer_rate": _mean(is_wrong_answer(i, r) for i, r in fact),
        "wrong_kind_answers": sum(wrong_kind(i, r) for i, r in fact),
        "resolve_ms_mean": 1000 * _mean(r.get("timings", {}).get("resolve_s", 0.0) for _, r in follow),
        # the rewrite's share of a follow-up turn's time (its seconds over the turn's, summed over the turns)
        "resolve_share": sum(r.get("timings", {}).get("resolve_s", 0.0) for _, r in follow)
        / max(1e-9, sum(r.get("latency_s", 0.0) for _, r in follow)),
        "followup_latency_p50_s": percentile([r["latency_s"] for _, r in follow], 50),
    }
    out["followup_gap"] = out["standalone_direct_correctness"] - out["followup_direct_correctness"]
    for form in FOLLOWUP_FORMS + ABOUT_ANSWER_FORMS:
        turns = [(i, r) for i, r in follow if i.get("followup") == form]
        if turns:
            out[f"{form}_turn_score"] = _mean(_turn_score(i, r) for i, r in turns)
            out[f"{form}_standalone_score"] = _mean(_turn_score(i, alone(i, r)) for i, r in turns)
    depths = sorted({i["turn"] for i, _ in fact})
    out["by_depth"] = {str(d): {"turns": sum(i["turn"] == d for i, _ in fact),
                                "followup": _mean(is_direct_correct(i, r) for i, r in fact if i["turn"] == d),
                                "standalone": _mean(is_direct_correct(i, alone(i, r)) for i, r in fact if i["turn"] == d)}
                       for d in depths}
    if not compared:  # each turn would stand in for its own standalone form: say nothing rather than a false 0 gap
        for key in [k for k in out if k.startswith("standalone_") or k.endswith("_standalone_score")] + ["followup_gap"]:
            del out[key]
        for depth in out["by_depth"].values():
            depth["standalone"] = None
    return out


LOWER_IS_BETTER |= {"wrong_kind_answers", "resolve_share", "wrong_side_answers", "standalone_wrong_side_answers", "followup_wrong_answer_rate", "followup_gap",
                    "resolve_ms_mean", "followup_latency_p50_s"}
