"""Every prompt the pipeline sends, in one place, by name."""

# Kept short: every prompt token costs about 6 ms on 2 cores before the first answer token.
# Measured on the dev split with Qwen2.5-Coder-0.5B: few-shot examples did not help this model
# (13/33 with two examples, 15/33 without), and an example refusal made it decline a third of
# answerable questions, so declining is decided from evidence and verification instead.
ANSWER_SYSTEM = (
    "Answer the question from the sources. Give a short answer (a few words or one sentence) "
    "and the number of the source in brackets. If no source answers it, say: The articles don't say."
)

REFUSAL = "The articles don't say."

# The check model's question about one sentence; its P("Yes") decides whether the sentence is cited.
JUDGE_SYSTEM = "You check whether a sentence answers a question. Reply Yes or No."


def answer_messages(question: str, evidence: list[str]) -> list[dict[str, str]]:
    """Chat messages for the answer step. The fixed system prompt comes first so its KV cache is reused.

    The question comes both before and after the sources: measured on the dev split, the small
    model's reply named the reference answer for 24 of 33 questions this way, 15 with the question
    only after the sources (the model reads the sources knowing what to look for).
    """
    sources = "\n".join(f"[{i}] {text}" for i, text in enumerate(evidence, 1))
    q = question.strip()
    return [
        {"role": "system", "content": ANSWER_SYSTEM},
        {"role": "user", "content": f"Question: {q}\n\nSources:\n{sources}\n\nQuestion: {q}"},
    ]


def judge_messages(question: str, sentence: str) -> list[dict[str, str]]:
    """Chat messages for the check model: does this one sentence answer the question?"""
    return [
        {"role": "system", "content": JUDGE_SYSTEM},
        {"role": "user", "content": f"Question: {question.strip()}\nSentence: {sentence}\nDoes the sentence answer the question?"},
    ]
