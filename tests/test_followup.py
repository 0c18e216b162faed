import pytest

from rag.followup import names_in, rewrite


@pytest.mark.parametrize("question,previous,expected", [
    ("What did he say about Belarus?", ["What did Putin say about the multipolar world?"],
     "What did Putin say about Belarus?"),
    ("What is his job?", ["Did Putin meet Recep Tayyip Erdoğan?"], "What is Recep Tayyip Erdoğan’s job?"),
    ("When did it join?", ["Which country became the tenth member of the SCO?"], "When did SCO join?"),
    # no pronoun, no history, or nobody to point to: unchanged
    ("Which country joined?", ["What did Putin say?"], "Which country joined?"),
    ("What did he say?", [], "What did he say?"),
    ("What did he say about Belarus?", ["Which country became the tenth member of the SCO?"],
     "What did he say about Belarus?"),  # "he" is never an acronym
])
def test_rewrite(question, previous, expected):
    assert rewrite(question, previous) == expected


def test_the_latest_question_that_names_someone_wins():
    previous = ["What did Xi Jinping say?", "Which country joined?"]
    assert rewrite("Where did he speak?", previous) == "Where did Xi Jinping speak?"


def test_names_in_skips_question_words_and_possessives():
    assert names_in("Which Kremlin official said Putin's plan would help Vladimir Putin?") == \
        ["Kremlin", "Putin", "Vladimir Putin"]
