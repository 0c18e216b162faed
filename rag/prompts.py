"""Every prompt the pipeline sends, in one place, by name."""

REFUSAL = "The articles don't say."

# The reader: reads the evidence sentences and answers in a few words with the source number.
READ_SYSTEM = (
    "Answer the question from the numbered sources in as few words as possible: a name, number, date "
    "or short phrase, then the number of the source that states it in brackets, e.g. Maria Lopez [2]. "
    "If the question asks two things, answer both: first answer [1]; second answer [2]. "
    "If the sources do not answer the question, reply NONE."
)

# The shape every in-process reply takes (a llama.cpp grammar, GBNF): one to three short answers (a
# question may ask for a list of three), each with one source number, or NONE. A server without
# grammars is read leniently by verify.parse_reply.
READ_GRAMMAR = r"""
root ::= "NONE" | part ("; " part ("; " part)?)?
part ::= phrase " [" [1-9] "]"
phrase ::= [^\[\]\n;] [^\[\]\n;]*
"""

# The check model's question about one sentence and the answer it is to prove; its P("Yes") decides
# whether the answer stands with that sentence as its citation.
JUDGE_SYSTEM = "You check whether a sentence answers a question. Reply Yes or No."


# Worked examples the reader sees before every question, as earlier turns of the chat: an answer found
# in other words than the question's, a two-part answer, and a near miss it must decline. Invented, about
# nothing in any article; they sit in the prompt's fixed start, which is evaluated once per process
# (generate.PrefixStates), so they cost no time per question.
_EXAMPLE_SOURCES = [
    "The library, which cost 4.2 million euros, opened to readers on Monday after two years of building work.",
    "\u201cIt is a place for everyone,\u201d said Mayor Ines Carvalho, who cut the ribbon.",
    "Readers began queueing at 7 a.m., and the first 500 visitors received a free tote bag.",
]
READ_EXAMPLES = (
    ("Who opened the new library?", "Mayor Ines Carvalho [2]"),
    ("How much did the library cost, and when did it open?", "4.2 million euros [1]; Monday [1]"),
    ("How many books does the library hold?", "NONE"),
)


def _read_turn(question: str, evidence: list[str]) -> str:
    sources = "\n".join(f"[{i}] {' '.join(text.split())}" for i, text in enumerate(evidence, 1))
    q = question.strip()
    return f"Question: {q}\n\nSources:\n{sources}\n\nQuestion: {q}\nAnswer:"


def read_messages(question: str, evidence: list[str]) -> list[dict[str, str]]:
    """Chat messages for the reader: the worked examples, then the question before and after the
    numbered sources (the model reads the sources knowing what to look for, and answers with the
    question fresh)."""
    messages = [{"role": "system", "content": READ_SYSTEM}]
    for q, a in READ_EXAMPLES:
        messages += [{"role": "user", "content": _read_turn(q, _EXAMPLE_SOURCES)}, {"role": "assistant", "content": a}]
    return messages + [{"role": "user", "content": _read_turn(question, evidence)}]


# The check of an open answer's sentence: do the quotes it cites state it? Not "does it answer the question":
# a true sentence of background ("The accord was signed at 5:15 pm") is not an answer to "how did the
# outlets differ?", and that check dropped it (dev questions).
SUPPORT_SYSTEM = "You check whether a claim is stated by the sources. Reply Yes or No."


def support_messages(sources: str, claim: str) -> list[dict[str, str]]:
    """Chat messages for the check model: do these quotes state this claim? Quotes first."""
    return [{"role": "system", "content": SUPPORT_SYSTEM},
            {"role": "user", "content": f"Sources: {sources}\nClaim: {claim.strip()}\nDo the sources state this claim?"}]


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


# The "which one?" check (verify.choose_check): the answer among the rivals the evidence offers, as
# lettered options; the letters' probabilities as the next token are read, nothing is sampled.
CHOICE_SYSTEM = "You answer a question about news sentences by choosing one of the options. Reply with its letter only."


def choice_messages(question: str, sources: str, options: list[str]) -> list[dict[str, str]]:
    """Chat messages for the choice: sources, question, lettered options."""
    lettered = "\n".join(f"{'ABCDEFGH'[i]}. {o}" for i, o in enumerate(options))
    return [{"role": "system", "content": CHOICE_SYSTEM},
            {"role": "user", "content": f"Sentences: {sources}\nQuestion: {question.strip()}\nOptions:\n{lettered}\n"
                                        "Which option answers the question?"}]


# The reader for open questions (shape.py: what happened, why, summarize ...): a few sentences in its own
# words. It is neither asked to cite nor to decline: a 1.5B model asked to cite *and* decline in one breath
# loses most of its answer (shared/MODELS.md), and asked to cite under a grammar it copied the sources
# out (dev questions). So it writes, and verification attributes each sentence to the evidence that
# states it, drops the ones none states, and declines when none stands. A ``[n]`` it adds anyway is a hint.
OPEN_SYSTEM = (
    "You answer questions about news articles. Using only the numbered sources, answer the question in "
    "three to five sentences of your own words. State the specific facts the sources give: who, what, "
    "numbers, dates, places and reasons. Do not copy whole sentences."
)

# One to five sentences on one line: no lists, headings or line breaks. A server without grammars is read
# leniently by verify.split_sentences (list items and lines become sentences).
OPEN_GRAMMAR = r"""
root ::= sentence (" " sentence){0,4}
sentence ::= [A-Z0-9"“'(] [^\n]* [.!?] ["”’)]?
"""


def _open_turn(question: str, evidence: list[tuple[str, str]]) -> str:
    """Numbered sentences under their article's title, a heading line each time the article changes."""
    lines, last = [], None
    for i, (title, text) in enumerate(evidence, 1):
        if title != last:
            lines.append(f"Article: {title}" if title else "Article:")
            last = title
        lines.append(f"[{i}] {' '.join(text.split())}")
    sources = "\n".join(lines)
    q = question.strip()
    return f"Question: {q}\n\nSources:\n{sources}\n\nQuestion: {q}\nAnswer:"


def open_messages(question: str, evidence: list[tuple[str, str]]) -> list[dict[str, str]]:
    """Chat messages for the open reader: numbered sources as (article title, sentence)."""
    return [{"role": "system", "content": OPEN_SYSTEM}, {"role": "user", "content": _open_turn(question, evidence)}]


# The follow-up rewrite, when a model does it (conversation.ModelRewriter; a stronger model on a server).
REWRITE_SYSTEM = (
    "You rewrite the last question of a conversation about news articles so that it can be understood "
    "without the conversation. Replace each pronoun (he, she, it, they, his, her, its, their) with the name it "
    "stands for, and fill in what a short question leaves out, from the earlier questions and answers. A question "
    "that already names its own subject is a new question: return it unchanged. Keep its words otherwise. "
    "Reply with one question only."
)
# Worked examples: invented conversations in the shapes people use (pronoun, short "And X?", a complete question
# after "And", a change of topic). Nothing in them comes from any article.
REWRITE_EXAMPLES = [
    ([("Who won the city marathon in 2019?", "Lena Ortiz")], "How old is she?", "How old is Lena Ortiz?"),
    ([("How much did Norland pledge to the climate fund?", "$200 million")], "And Westmark?",
     "How much did Westmark pledge to the climate fund?"),
    ([("Who represented Brazil at the trade summit?", "Foreign Minister Ana Lima")],
     "And in which city did the summit take place?", "In which city did the trade summit take place?"),
    ([("Which ship hit the pier in Dunmore?", "The Aurora")], "Which company manages it?",
     "Which company manages the Aurora?"),
    ([("When did the Kestel steel plant close?", "In March 2021")], "What about the paper mill?",
     "When did the Kestel paper mill close?"),
    ([("What did the court order the bank to pay?", "$12 million")], "Who is the mayor of Brookfield?",
     "Who is the mayor of Brookfield?"),
]
REWRITE_GRAMMAR = r"""
root ::= [A-Z] [^\n?]* "?"
"""


def rewrite_messages(question: str, history, hint: str = "") -> list[dict[str, str]]:
    """Chat messages for the rewrite: the worked examples, then the earlier turns (``conversation.Turn``) as
    Q/A lines and the question to rewrite; ``hint``, the rules' reading, when they have one."""
    def user(turns, q, hint=""):
        convo = "\n".join(f"Q: {tq}\nA: {ta}" for tq, ta in turns)
        return f"Conversation:\n{convo}\n\nLast question: {q.strip()}" + (f"\nA first reading: {hint}" if hint else "")

    messages = [{"role": "system", "content": REWRITE_SYSTEM}]
    for turns, q, rewritten in REWRITE_EXAMPLES:
        messages += [{"role": "user", "content": user(turns, q)}, {"role": "assistant", "content": rewritten}]
    turns = [(t.standalone, t.plain_answer or "The articles do not say.") for t in history]
    messages.append({"role": "user", "content": user(turns, question, hint)})
    return messages