"""Follow-ups read in their conversation: rules (conversation.py), the pipeline's use of them, the CLI's
--history and `rag chat`, and the chat page's history read back from its messages."""

import io
import json

import pytest

from rag import build, cli
from rag.answer import Pipeline
from rag.conversation import (ELLIPSIS, MORE, NEW, PRONOUN, SOURCE, WHY, ModelRewriter, RuleRewriter, Turn,
                              names_in, read_history)
from ui.render import render_answer, turns_from_chat

from conftest import SEEDS
from fakes import HashEmbedder, ScriptedGenerator, extractive_reply, sources_in

rules = RuleRewriter()


def resolve(question, *turns):
    return rules.resolve(question, [t if isinstance(t, Turn) else Turn(*t) for t in turns])


@pytest.mark.parametrize("question,turns,expected", [
    # a pronoun: a name in the last answer first ("their" = the team that won), then in the questions
    ("Who scored their winning goal?", [("Who won the Copper Cup final?", "Calveira [1].")],
     "Who scored Calveira’s winning goal?"),
    ("What did he say about Belarus?", [("What did Putin say about the multipolar world?",
                                         "That it is emerging [1].")], "What did Putin say about Belarus?"),
    ("What is his job?", [("Did Putin meet Recep Tayyip Erdoğan?", "")], "What is Recep Tayyip Erdoğan’s job?"),
    ("When did it join?", [("Which country became the tenth member of the SCO?", "")], "When did SCO join?"),
    ("When did it join?", [("Which country became the tenth member of the SCO?", "Belarus [1].")],
     "When did Belarus join?"),
    ("Which country does she represent?", [("Who chaired the summit?", "Sefa Orlund [2].")],
     "Which country does Sefa Orlund represent?"),
    ("Where is it based?", [("Who bought the data?", "Meridane Analytics [1].")], "Where is Meridane Analytics based?"),
    ("Who is their chief executive?", [("Who builds the rocket?", "Arvane Launch Systems [1].")],
     "Who is Arvane Launch Systems’ chief executive?"),
    # "he" is a person: never an acronym, a full name or one after a title before a single word
    ("What did he say?", [("Which bloc grew?", "The SCO [1].")], "What did he say?"),
    # ellipsis: the fragment replaces its counterpart in the last question
    ("And for England?", [("Who scored for Spain in the final?", "Nico Williams [1].")],
     "Who scored for England in the final?"),
    ("What about Tamsel?", [("How many people were evacuated from Kellmoor?", "1,200 [1].")],
     "How many people were evacuated from Tamsel?"),
    ("And Velsany's?", [("Who announced Droskovia's pledge?", "Mirela Fanu [1].")], "Who announced Velsany's pledge?"),
    ("And according to the Wire?", [("What was the margin according to the Courier?", "4,218 [1].")],
     "What was the margin according to the Wire?"),
    ("And the second day?", [("What happened on the first day of the summit?", "")],
     "What happened on the second day of the summit?"),
    ("And its chief executive?", [("Who is Brightwater's chief legal officer?", "Desmond Achterberg [1].")],
     "Who is Brightwater’s chief executive?"),
    # a whole question after "And": the conversation's topic added when it names none of it
    ("And who scored for England?", [("Who won the Euro 2024 final?", "Spain [1]."),
                                     ("Who scored Spain’s winning goal?", "Mikel Oyarzabal [1].", "", False, (),
                                      "fact", PRONOUN)],
     "Who scored for England? (Euro 2024 final)"),
])
def test_rewrites(question, turns, expected):
    assert resolve(question, *turns).question == expected


@pytest.mark.parametrize("question", [
    "Which minister chaired the Tarnmouth Water Summit?",  # a new topic: left alone
    "What did Putin say in his speech?",  # the pronoun is the question's own
    "How long did it take to rebuild the bridge?",  # "it" points at nothing
    "Is Brightwater going to challenge it?",
])
def test_a_question_that_stands_alone_is_left_alone(question):
    r = resolve(question, ("Who won the Copper Cup final?", "Calveira [1]."))
    assert r.kind == NEW and r.question == question and not r.rewritten


def test_no_history_no_rewrite():
    assert rules.resolve("What did he say?", []).question == "What did he say?"


def test_the_same_one_as_last_time():
    first = Turn("Where was Roeske born?", "Saltmere [1].")
    second = Turn("How did it vote?", "For Hasselgren [1].", "How did Saltmere vote?", kind=PRONOUN)
    assert resolve("What was its turnout?", first, second).question == "What was Saltmere’s turnout?"


def test_they_after_a_count_is_not_a_name():
    turn = Turn("How many people were arrested in Tarnmouth?", "17 [1].")
    assert resolve("What were they arrested for?", turn).kind == NEW


@pytest.mark.parametrize("question,kind", [
    ("Why?", WHY), ("How come?", WHY), ("why was that", WHY), ("Tell me more.", MORE), ("Go on", MORE),
    ("Can you say more about that?", MORE), ("Which article says that?", SOURCE), ("Who reported that?", SOURCE),
    ("Where does it say that?", SOURCE), ("Who else reported it?", SOURCE),
])
def test_turns_about_the_last_answer(question, kind):
    last = Turn("What did Ostrevia refuse to sign?", "Annex B [1].", sources=("a.txt", "b.txt"))
    r = resolve(question, last)
    assert r.kind == kind and r.about == last and r.sources == ("a.txt", "b.txt")
    assert "Ostrevia" in r.question and "Annex B" in r.question


def test_tell_me_more_about_her_is_about_the_person():
    r = resolve("Tell me more about her.", ("Who won the run-off?", "Ilvana Roeske [1]."))
    assert r.kind == MORE and r.question == "Tell me more about Ilvana Roeske."


def test_names_in_skips_question_words_possessives_and_dates():
    assert names_in("Which Kremlin official said Putin's plan would help Vladimir Putin?") == \
        ["Kremlin", "Putin", "Vladimir Putin"]
    assert names_in("Since 2019, in January 2019, mid-April") == []
    assert names_in("Who won Euro 2024?") == ["Euro 2024"]


def test_read_history_takes_ask_json_lines_and_says_what_is_wrong():
    line = json.dumps({"question": "Who won?", "answer": "Calveira [1].", "searched": "Who won the final?",
                       "citations": [{"source": "a.txt", "quote": "q"}]})
    (t,) = read_history(line + "\n\n")
    assert t.standalone == "Who won the final?" and t.sources == ("a.txt",) and not t.refused
    (t,) = read_history('{"question": "Who?", "answer": "The articles don\'t say."}')
    assert t.refused and t.plain_answer == ""
    with pytest.raises(ValueError, match="line 2 is not JSON"):
        read_history('{"question": "a", "answer": "b"}\nnot json')
    with pytest.raises(ValueError, match="line 1 needs"):
        read_history('{"answer": "b"}')


def test_model_rewriter_is_asked_only_for_follow_ups_and_falls_back_to_the_rules():
    gen = ScriptedGenerator("Who scored Calveira's winning goal in the Copper Cup final?")
    model = ModelRewriter(gen)
    last = Turn("Who won the Copper Cup final?", "Calveira [1].")
    assert model.resolve("Which bridge collapsed?", [last]).kind == NEW and not gen.prompts  # stands alone
    r = model.resolve("Who scored their winning goal?", [last])
    assert r.kind == PRONOUN and r.question == "Who scored Calveira's winning goal in the Copper Cup final?"
    assert "Calveira" in gen.prompts[0][-1]["content"]  # it saw the answer
    empty = ModelRewriter(ScriptedGenerator(""))
    assert empty.resolve("Who scored their winning goal?", [last]).question == "Who scored Calveira’s winning goal?"


# ---- the pipeline -----------------------------------------------------------------------------------

QUESTION = "Which country became the tenth member of the SCO?"


def _pipeline(indexed, embedder, reply=extractive_reply):
    return Pipeline(store=indexed, embedder=embedder, generator=ScriptedGenerator(reply))


def test_a_follow_up_is_answered_as_its_standalone_form(indexed, embedder):
    p = _pipeline(indexed, embedder)
    first = p.ask(QUESTION)
    follow = p.ask("When did it join?", history=[Turn.of(QUESTION, first)])
    alone = p.ask("When did Belarus join?")
    assert follow.searched == "When did Belarus join?" and follow.followup == PRONOUN
    assert follow.question == "When did it join?"
    assert (follow.text, follow.citations) == (alone.text, alone.citations)
    assert follow.to_dict()["searched"] == "When did Belarus join?"


def test_which_article_says_that_cites_the_last_answer_without_the_reader(indexed, embedder):
    def reply(messages):
        n = next(n for n, t in sources_in(messages).items() if "tenth member" in t)
        return f"Belarus [{n}]"
    p = _pipeline(indexed, embedder, reply)
    first = p.ask(QUESTION)
    asked = len(p.generator.prompts)
    ans = p.ask("Which article says that?", history=[Turn.of(QUESTION, first)])
    assert len(p.generator.prompts) == asked  # no model call
    assert ans.followup == SOURCE and not ans.refused
    assert [c.source for c in ans.citations] == [c.source for c in first.citations]
    text = (SEEDS / ans.citations[0].source).read_text(encoding="utf-8")
    assert text[ans.citations[0].start:ans.citations[0].end] == ans.citations[0].quote and "Belarus" in ans.citations[0].quote
    assert ans.citations[0].source in ans.text and "[1]" in ans.text
    others = p.ask("Who else reported it?", history=[Turn.of(QUESTION, first)])
    assert all(c.source not in [x.source for x in first.citations] for c in others.citations)
    assert all("Belarus" in c.quote for c in others.citations)


def test_which_article_after_a_decline_declines(indexed, embedder):
    p = _pipeline(indexed, embedder, "NONE")
    first = p.ask("Who won the 1966 World Cup?")
    ans = p.ask("Which article says that?", history=[Turn.of("Who won the 1966 World Cup?", first)])
    assert ans.refused


def test_why_reads_an_open_answer_from_the_last_answers_articles_first(indexed, embedder):
    p = _pipeline(indexed, embedder)
    first = p.ask(QUESTION)
    ans = p.ask("Why?", history=[Turn.of(QUESTION, first)])
    assert ans.followup == WHY and ans.shape == "open"
    assert ans.searched.startswith("Why ") and "SCO" in ans.searched
    assert ans.retrieved[0][0] in [c.source for c in first.citations]


# ---- the CLI and the page ---------------------------------------------------------------------------


@pytest.fixture
def fake_cli(monkeypatch, seeds):
    emb = HashEmbedder()
    monkeypatch.setattr(build, "make_embedder", lambda cfg: emb)
    monkeypatch.setattr(build, "make_generator", lambda cfg: ScriptedGenerator(extractive_reply))
    monkeypatch.setenv("RAG_SEEDS_DIR", str(seeds))
    monkeypatch.setenv("RAG_JUDGE_MODEL", "none")


def test_ask_with_history_file_and_stdin(fake_cli, tmp_path, monkeypatch, capsys):
    assert cli.main(["ask", "--json", QUESTION]) == 0
    first = capsys.readouterr().out
    hist = tmp_path / "history.jsonl"
    hist.write_text(first, encoding="utf-8")
    assert cli.main(["ask", "--json", "--history", str(hist), "When did it join?"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["searched"] == "When did Belarus join?" and out["followup"] == PRONOUN
    monkeypatch.setattr("sys.stdin", io.StringIO(first))
    assert cli.main(["ask", "--history", "-", "When did it join?"]) == 0
    assert "(Searched for: “When did Belarus join?”)" in capsys.readouterr().out


def test_ask_with_a_bad_history_file_is_one_line_error(fake_cli, tmp_path, capsys):
    bad = tmp_path / "h.jsonl"
    bad.write_text("{not json\n", encoding="utf-8")
    assert cli.main(["ask", "--history", str(bad), "When did it join?"]) == 2
    assert "history line 1 is not JSON" in capsys.readouterr().err
    assert cli.main(["ask", "--history", str(tmp_path / "missing.jsonl"), "Why?"]) == 2


def test_rag_chat_keeps_the_conversation_and_starts_a_new_one(fake_cli, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{QUESTION}\nWhen did it join?\n/new\nWhen did it join?\n\n"))
    assert cli.main(["chat"]) == 0
    out = capsys.readouterr().out
    answers = out.split("\n\n")
    assert "(Searched for: “When did Belarus join?”)" in out
    assert out.count("Searched for") == 1  # after /new, "it" has nothing to point to
    assert "(New conversation.)" in out and len(answers) >= 3


def test_the_page_reads_the_conversation_back_from_its_messages(indexed, embedder):
    p = _pipeline(indexed, embedder)
    first = p.ask(QUESTION)
    html = render_answer(first, lambda s: indexed.article(s), "u1")
    follow = p.ask("Why?", history=[Turn.of(QUESTION, first)])
    html2 = render_answer(follow, lambda s: indexed.article(s), "u2", searched_for=follow.searched)
    chat = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": html},
            {"role": "user", "content": "Why?"}, {"role": "assistant", "content": html2},
            {"role": "user", "content": "oops"}, {"role": "assistant", "content": "<div class='error'>⚠️ x</div>"}]
    t1, t2 = turns_from_chat(chat, str)
    assert t1 == Turn(QUESTION, first.text, "", False, tuple(dict.fromkeys(c.source for c in first.citations)), "fact", NEW)
    assert t2.kind == WHY and t2.searched == follow.searched and t2.shape == "open"
    # a client of the API may send plain text answers
    (t,) = turns_from_chat([{"role": "user", "content": "Who?"}, {"role": "assistant", "content": "Belarus [1]."}], str)
    assert t.plain_answer == "Belarus" and not t.refused
