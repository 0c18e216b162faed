"""End to end with the real packaged models on the real seed articles (slow: loads torch and llama.cpp)."""

import json
import os
import subprocess
import sys

import pytest

from conftest import SEEDS

pytestmark = pytest.mark.slow


def _rag(*args, env_extra=None, timeout=600):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def test_fresh_index_ask_json_tenth_member(tmp_path, model_cache):
    """The README's promise: from an empty index, one command answers with a verbatim-quote citation."""
    env = {"RAG_INDEX_DIR": str(tmp_path / "fresh-index"), "RAG_CACHE_DIR": str(model_cache)}
    proc = _rag("ask", "--json", "Which country became the tenth member of the SCO?", env_extra=env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert "belarus" in out["answer"].lower()
    assert out["refused"] is False and out["citations"]
    articles = {p.name: p.read_text(encoding="utf-8") for p in SEEDS.glob("*.txt")}
    for c in out["citations"]:
        assert c["quote"] in articles[c["source"]]
    assert any("Belarus" in c["quote"] for c in out["citations"])
    assert out["retrieved"] and out["latency_s"] > 0 and out["model"] == "qwen2.5-coder-1.5b"  # the default reader
    # an answer, not the evidence sentence handed back: a few words, with the answer marked in its quote
    assert len(out["answer"].split()) <= 8 and out["answer"] not in out["citations"][0]["quote"]
    assert out["reason"] == "verified"
    assert any(c["answer_spans"] for c in out["citations"])

    # The index is now built: listing it shows the five seeds with their chunks, as the demo.
    listed = json.loads(_rag("list", "--json", env_extra=env).stdout)
    assert sorted(d["source"] for d in listed) == sorted(articles) and all(d["demo"] for d in listed)

    # The API of the server `rag ui` starts answers exactly as `rag ask --json` did, through the openai client.
    from openai import OpenAI

    from rag.config import Config
    from ui.app import serve
    from ui_server import free_port

    cfg = Config.from_env(index_dir=tmp_path / "fresh-index", cache_dir=model_cache, seeds_dir=SEEDS)
    server = serve(cfg, host="127.0.0.1", port=free_port(), block=False)
    try:
        client = OpenAI(base_url=server.url + "v1", api_key="none", timeout=600, max_retries=0)
        reply = client.chat.completions.create(model="qwen2.5-coder-1.5b", messages=[
            {"role": "user", "content": "Which country became the tenth member of the SCO?"}])
        api = reply.model_extra["rag"]
        assert reply.choices[0].message.content == out["answer"]
        for key in ("answer", "refused", "citations", "retrieved", "reason", "shape", "raw", "model"):
            assert api[key] == out[key], key
    finally:
        server.close()


def test_real_models_decline_and_bad_input(tmp_path, model_cache):
    env = {"RAG_INDEX_DIR": str(tmp_path / "index"), "RAG_CACHE_DIR": str(model_cache)}
    proc = _rag("ask", "--json", "What is the capital of Australia according to the SCO declaration on marine biology?",
                env_extra=env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    if not out["refused"]:  # if it answers at all, its citation must still be verbatim
        articles = {p.name: p.read_text(encoding="utf-8") for p in SEEDS.glob("*.txt")}
        assert all(c["quote"] in articles[c["source"]] for c in out["citations"])
    assert "canberra" not in out["answer"].lower()

    proc = _rag("ask", "   ", env_extra=env)
    assert proc.returncode == 2 and proc.stderr.strip() == "rag: error: the question is empty: type a question about the articles"
    proc = _rag("ask", "--model", str(tmp_path / "none.gguf"), "Who met in Astana?", env_extra=env)
    assert proc.returncode == 1 and "model file not found" in proc.stderr


def test_real_embedder_reingest_embeds_nothing(tmp_path):
    from rag.build import make_embedder, run_ingest
    from rag.config import Config
    from rag.store import ChromaStore

    cfg = Config.from_env(index_dir=tmp_path / "idx")
    store, emb = ChromaStore(cfg.index_dir), make_embedder(cfg)
    first = run_ingest(cfg, [SEEDS], store, emb, progress=False)
    assert len(first.added) == 5 and first.chunks_embedded > 0
    again = run_ingest(cfg, [SEEDS], store, emb, progress=False)
    assert again.chunks_embedded == 0 and len(again.unchanged) == 5
    assert emb.embed(["Belarus joined"]).shape == (1, 384)


# llama.cpp is compiled for the CPU it is installed on, and its kernels round differently on each (AVX-512,
# AVX2, AVX, SSE; AMD, Intel). The same prompts scored by llama.cpp built three ways on one machine (native AVX2,
# AVX only, SSE only: evals/experiments/kernel_noise.py, figures in evals/reports/README.md, "Kernel noise") moved the
# check's P(Yes) by 0.012 at the median and by at most 0.060; a user's AVX-512 machine gave "Russia" 0.503
# where AVX2 gives 0.483. So a score is asserted against a threshold only when it measured at least
# 2 * KERNEL_NOISE from it here, and then with KERNEL_NOISE to spare: a CPU that moves it by the largest
# difference seen still passes. Two scores compared keep 2 * KERNEL_NOISE apart (each may move). Anything
# closer to the threshold is asserted as a ranking or as the product's decision, never as a raw score.
KERNEL_NOISE = 0.06


def test_real_check_model_tells_an_answer_from_a_near_miss(model_cache):
    """The packaged 1.5B check model, through the threshold the pipeline uses (calibrated on dev events)."""
    from rag.answer import MIN_JUDGE as threshold
    from rag.evidence import Evidence
    from rag.judge import LlamaCppJudge
    from rag.models import resolve_model
    from rag.verify import verify

    judge = LlamaCppJudge(resolve_model("qwen2.5-coder-1.5b", model_cache)).load()
    tenth = ("Putin remarked at the summit, “The multipolar world has become a reality,” celebrating Belarus’s "
             "accession as the tenth member of the SCO.")
    guterres = "UN Secretary-General Antonio Guterres was also at the summit, marking his visit to Central Asia."
    q = "Which country became the tenth member of the SCO?"
    yes = judge.p_yes(q, tenth, "Belarus")  # 0.80 native AVX2, 0.78 AVX, 0.78 SSE
    assert yes >= threshold + KERNEL_NOISE
    # The same true sentence vouches far less for another answer taken from the question's world. "Russia"
    # scores 0.48 (AVX2), 0.46 (AVX), 0.48 (SSE) and 0.50 (a user's AVX-512): a hair from the threshold, so its
    # side of it is not asserted; the ranking is (0.32 apart here), and so is the product's decision (the name
    # is not in the sentence).
    no = judge.p_yes(q, tenth, "Russia")
    assert yes - no >= 2 * KERNEL_NOISE
    evidence = [Evidence("a.txt", "", tenth, 0, len(tenth), 1.0)]
    russia = verify(q, "Russia [1]", evidence, judge=judge, min_judge=threshold, article=lambda source: tenth)
    assert russia.refused and "Russia" not in russia.text
    belarus = verify(q, "Belarus [1]", evidence, judge=judge, min_judge=threshold, article=lambda source: tenth)
    assert not belarus.refused and belarus.text == "Belarus [1]." and belarus.citations[0].quote == tenth
    assert judge.p_yes("Which UN official was at the SCO summit in Astana?", guterres,
                       "Antonio Guterres") >= threshold + KERNEL_NOISE  # 0.64 AVX2, 0.66 AVX, 0.66 SSE
    # a sentence with the answer's kind of word, for another question, is not an answer
    dam = "The Brannoch Dam rises 142 metres above the valley floor."
    tall = judge.p_yes("How tall is the Brannoch Dam?", dam, "142 metres")  # 0.92 AVX2, 0.91 AVX, 0.92 SSE
    opened = judge.p_yes("When did the Brannoch Dam open?", dam, "142 metres")  # 0.20 AVX2, 0.16 AVX, 0.18 SSE
    assert tall >= threshold + KERNEL_NOISE and opened <= threshold - KERNEL_NOISE
    # the KV cache now holds other prompts: reusing their shared start changes the score only by
    # float rounding (the prompt is evaluated in different batches)
    assert abs(judge.p_yes(q, tenth, "Belarus") - yes) < 0.01


def test_missing_check_model_fails_fast_and_none_switches_it_off(tmp_path, model_cache):
    env = {"RAG_INDEX_DIR": str(tmp_path / "index"), "RAG_CACHE_DIR": str(model_cache)}
    proc = _rag("ask", "--judge-model", str(tmp_path / "judge.gguf"), "Who met in Astana?", env_extra=env)
    assert proc.returncode == 1 and "model file not found" in proc.stderr
    assert not (tmp_path / "index").exists()  # it failed before building anything
    proc = _rag("ask", "--json", "Which country became the tenth member of the SCO?",
                env_extra={**env, "RAG_JUDGE_MODEL": "none"})
    assert proc.returncode == 0, proc.stderr
    assert "belarus" in json.loads(proc.stdout)["answer"].lower()


def test_shared_model_gets_each_prompts_start_back_from_a_snapshot(tmp_path, model_cache):
    """One model reads and checks, so each prompt overwrites the other's start in the KV cache. The
    system prompt comes back from a snapshot instead of being evaluated again, and the reply and the
    check's score are those of a fresh model given the same prompt."""
    from rag import prompts
    from rag.generate import LlamaCppGenerator
    from rag.judge import LlamaCppJudge
    from rag.models import resolve_model

    path = resolve_model("qwen2.5-coder-1.5b", model_cache)
    gen = LlamaCppGenerator(path, state_dir=tmp_path / "states").load()
    judge = LlamaCppJudge(path, shared=gen).load()
    batches: list[int] = []
    real_eval = gen._llm.eval
    gen._llm.eval = lambda tokens: (batches.append(len(tokens)), real_eval(tokens))[1]

    tenth = "Belarus joined the SCO as its tenth member at the Astana summit on 4 July."
    where = "The summit was held in Astana, Kazakhstan, on 3 and 4 July 2024."
    q = "Which country became the tenth member of the SCO?"
    messages = prompts.read_messages(q, [where, tenth])
    tokens, fixed = gen.tokens(messages)
    other, _ = gen.tokens(prompts.read_messages("Where was the summit?", [where]))
    assert 20 < fixed < len(tokens) and other[:fixed] == tokens[:fixed]

    def read(msgs):
        return "".join(gen.stream(msgs, max_tokens=24, grammar=prompts.READ_GRAMMAR))

    read(prompts.read_messages("Where was the summit?", [where]))
    first_check = judge.p_yes(q, tenth, "Belarus")
    batches.clear()
    reply = read(messages)
    assert batches[0] == len(tokens) - fixed  # only the question and its sources were evaluated
    batches.clear()
    check = judge.p_yes(q, tenth, "Belarus")
    judge_tokens, judge_fixed = gen.tokens(prompts.judge_messages(q, tenth, "Belarus"))
    assert batches == [len(judge_tokens) - judge_fixed]
    assert abs(check - first_check) < 0.01

    from llama_cpp import Llama, LlamaGrammar

    fresh = Llama(model_path=str(path), n_ctx=2048, n_threads=2, verbose=False, seed=0)
    expected = fresh.create_chat_completion(messages=messages, max_tokens=24, temperature=0.0, top_k=1,
                                            grammar=LlamaGrammar.from_string(prompts.READ_GRAMMAR, verbose=False))
    assert reply.strip() == expected["choices"][0]["message"]["content"].strip()
    assert "Belarus" in reply

    # A new process (a cold `rag ask`) starts from the snapshot files: only the question is evaluated.
    assert len(list((tmp_path / "states").glob("*.kvstate"))) == 2  # the reader's start, the check's
    del fresh
    cold = LlamaCppGenerator(path, state_dir=tmp_path / "states").load()
    batches.clear()
    real_cold_eval = cold._llm.eval
    cold._llm.eval = lambda tokens: (batches.append(len(tokens)), real_cold_eval(tokens))[1]
    assert "".join(cold.stream(messages, max_tokens=24, grammar=prompts.READ_GRAMMAR)) == reply
    assert batches[0] == len(tokens) - fixed


def test_checks_made_while_the_reader_writes_leave_its_reply_unchanged(model_cache):
    """An open reply is checked sentence by sentence as it is written, on the same model: each check sets
    the reader's state aside and puts it back, so the reply is token for token the one read with no check
    in between, and the checks score as they do on their own."""
    from rag import prompts
    from rag.generate import LlamaCppGenerator
    from rag.judge import LlamaCppJudge
    from rag.models import resolve_model
    from rag.verify import split_sentences

    path = resolve_model("qwen2.5-coder-1.5b", model_cache)
    gen = LlamaCppGenerator(path).load()
    judge = LlamaCppJudge(path, shared=gen).load()
    sources = [("SCO summit", "Belarus joined the SCO as its tenth member at the Astana summit on 4 July."),
               ("SCO summit", "The summit was held in Astana, Kazakhstan, on 3 and 4 July 2024."),
               ("SCO summit", "Leaders signed a declaration on security and trade and agreed to meet in China next year.")]
    messages = prompts.open_messages("What happened at the SCO summit?", sources)
    quotes = " ".join(t for _, t in sources)
    alone = "".join(gen.stream(messages, max_tokens=60, grammar=prompts.OPEN_GRAMMAR))

    pieces, scores = [], []
    for piece in gen.stream(messages, max_tokens=60, grammar=prompts.OPEN_GRAMMAR):
        pieces.append(piece)
        done = split_sentences("".join(pieces))[:-1]
        if len(done) > len(scores):  # a sentence is complete: check it now, mid-reply
            scores.append(judge.supports(quotes, done[len(scores)]))
    assert scores, "the reply should have more than one sentence, so one is checked mid-reply"
    assert "".join(pieces) == alone
    assert abs(scores[0] - judge.supports(quotes, split_sentences(alone)[0])) < 0.01


def test_rag_chat_with_the_real_models_reads_follow_ups_in_the_conversation(tmp_path, model_cache):
    """`rag chat` end to end: a pronoun follow-up is searched with the first answer's name, and "Which
    article says that?" cites the article of the first answer with a verbatim quote."""
    env = {**os.environ, "RAG_INDEX_DIR": str(tmp_path / "index"), "RAG_CACHE_DIR": str(model_cache)}
    turns = "Which country became the tenth member of the SCO?\nWhen did it join?\nWhich article says that?\n/quit\n"
    proc = subprocess.run([sys.executable, "-m", "rag.cli", "chat", "--no-stream"], input=turns, capture_output=True,
                          text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr
    answers = [a for a in proc.stdout.split("\n\n") if a.strip()]
    assert "belarus" in proc.stdout.split("Sources:")[0].lower()  # the first answer
    assert "(Searched for: “When did Belarus join?”; /astyped asks it as typed)" in proc.stdout
    which = proc.stdout.split("(Searched for: “Which articles say")
    assert len(which) == 2 and ".txt) [1]" in which[0].splitlines()[-1]  # it names the article it cites
    articles = {p.name: p.read_text(encoding="utf-8") for p in SEEDS.glob("*.txt")}
    quote = which[1].split("“", 1)[1].rsplit("”", 1)[0].replace("**", "")
    assert any(quote in text for text in articles.values()) and "Belarus" in quote
    assert len(answers) >= 3
