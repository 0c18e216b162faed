"""Every prompt the pipeline sends, in one place, by name."""

ANSWER_SYSTEM = (
    "You answer questions about news articles using only the numbered sources given. "
    "Answer in one short sentence. End the sentence with the number of the source that "
    "supports it, like [1]. If the sources do not answer the question, reply exactly: "
    "The articles don't say."
)

# One worked example on an unrelated topic: it teaches the format without leaking facts.
FEW_SHOT = [
    (
        "Sources:\n"
        "[1] The bridge over the Tagus was opened in 1966 by the Portuguese government.\n"
        "[2] Engineers said the bridge carries about 150,000 cars a day.\n\n"
        "Question: When did the Tagus bridge open?",
        "The bridge opened in 1966 [1].",
    ),
    (
        "Sources:\n"
        "[1] The mayor said the new tram line would be finished next spring.\n\n"
        "Question: How much did the tram line cost?",
        "The articles don't say.",
    ),
]

REFUSAL = "The articles don't say."


def answer_messages(question: str, evidence: list[str]) -> list[dict[str, str]]:
    """Chat messages for the answer step. The fixed prefix comes first so its KV cache is reused."""
    messages = [{"role": "system", "content": ANSWER_SYSTEM}]
    for user, assistant in FEW_SHOT:
        messages.append({"role": "user", "content": user})
        messages.append({"role": "assistant", "content": assistant})
    sources = "\n".join(f"[{i}] {text}" for i, text in enumerate(evidence, 1))
    messages.append({"role": "user", "content": f"Sources:\n{sources}\n\nQuestion: {question.strip()}"})
    return messages
