"""Every prompt the pipeline sends, in one place, by name."""

REFUSAL = "The articles don't say."

# The reader: reads the evidence sentences and answers in a few words with the source number.
READ_SYSTEM = (
    "Answer the question from the numbered sources in as few words as possible: a name, number, date "
    "or short phrase, then the number of the source that states it in brackets, e.g. Maria Lopez [2]. "
    "If the question asks two things, answer both: first answer [1]; second answer [2]. "
    "If the sources do not answer the question, reply NONE."
)

# The shape every in-process reply takes (a llama.cpp grammar, GBNF): one or two short answers, each
# with one source number, or NONE. A server without grammars is read leniently by verify.parse_reply.
READ_GRAMMAR = r"""
root ::= "NONE" | part ("; " part)?
part ::= phrase " [" [1-9] "]"
phrase ::= [^\[\]\n;] [^\[\]\n;]*
"""

# The check model's question about one sentence and the answer it is to prove; its P("Yes") decides
# whether the answer stands with that sentence as its citation.
JUDGE_SYSTEM = "You check whether a sentence answers a question. Reply Yes or No."


def read_messages(question: str, evidence: list[str]) -> list[dict[str, str]]:
    """Chat messages for the reader: the question before and after the numbered sources (the model
    reads the sources knowing what to look for, and answers with the question fresh)."""
    sources = "\n".join(f"[{i}] {' '.join(text.split())}" for i, text in enumerate(evidence, 1))
    q = question.strip()
    return [
        {"role": "system", "content": READ_SYSTEM},
        {"role": "user", "content": f"Question: {q}\n\nSources:\n{sources}\n\nQuestion: {q}\nAnswer:"},
    ]


def judge_messages(question: str, sentence: str, answer: str = "") -> list[dict[str, str]]:
    """Chat messages for the check model: does this one sentence answer the question, with this answer
    when one is given? A true sentence must not vouch for a wrong answer taken from it ("Russia" from
    a sentence about Belarus joining). Sentence first: several answers to one sentence share its prefix."""
    if not answer:
        ask = f"Question: {question.strip()}\nSentence: {sentence}\nDoes the sentence answer the question?"
    else:
        ask = (f"Sentence: {sentence}\nQuestion: {question.strip()}\nAnswer: {answer.strip()}\n"
               "Does the sentence state this answer to this question?")
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": ask}]
