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
    assert "(Searched for: “When did Belarus join?”; --no-history asks it as typed)" in capsys.readouterr().out
    # the rewrite is the user's to overrule: asked as typed, "it" is searched as it stands
    assert cli.main(["ask", "--json", "--history", str(hist), "--no-history", "When did it join?"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["searched"] == "When did it join?" and out["followup"] == "new"


def test_ask_with_a_bad_history_file_is_one_line_error(fake_cli, tmp_path, capsys):
    bad = tmp_path / "h.jsonl"
    bad.write_text("{not json\n", encoding="utf-8")
    assert cli.main(["ask", "--history", str(bad), "When did it join?"]) == 2
    assert "history line 1 is not JSON" in capsys.readouterr().err
    assert cli.main(["ask", "--history", str(tmp_path / "missing.jsonl"), "Why?"]) == 2


def test_rag_chat_keeps_the_conversation_and_starts_a_new_one(fake_cli, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{QUESTION}\nWhen did it join?\n/astyped\n/new\nWhen did it join?\n\n"))
    assert cli.main(["chat"]) == 0
    out = capsys.readouterr().out
    answers = out.split("\n\n")
    assert "(Searched for: “When did Belarus join?”; /astyped asks it as typed)" in out
    assert out.count("Searched for") == 1  # /astyped asks "When did it join?" as typed; after /new, "it" has nothing to point to
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


# ---- the eval sets and `rag eval` on a conversation set --------------------------------------------

import importlib.util  # noqa: E402
from pathlib import Path  # noqa: E402

from rag.evaluate import load_dataset  # noqa: E402
from rag.metrics import conversation_summary, rewrite_keeps  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _checker():
    spec = importlib.util.spec_from_file_location("check_evalset", REPO / "evals" / "check_evalset.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_conversation_sets_check_out_and_have_what_the_issue_asks():
    check = _checker()
    corpus = REPO / "evals" / "corpus" / "conversations.jsonl"
    errors, _, items = check.check_full(corpus, REPO / "evals" / "corpus" / "articles", strict=True)
    assert errors == []
    convs = {i["conversation"] for i in items}
    assert len(convs) >= 40 and all(3 <= sum(i["conversation"] == c for i in items) <= 5 for c in convs)
    events = {c.rsplit("-c", 1)[0] for c in convs}
    assert len(events) == 8  # split by event: each event's conversations are of its questions' split
    forms = {i["followup"] for i in items}
    assert forms == {"first", "pronoun", "ellipsis", "why", "more", "source", "topic_change"}
    assert any(not i["answerable"] and i["turn"] > 1 for i in items) and sum(bool(i.get("wrong_side")) for i in items) >= 24
    errors, _, seeds = check.check_full(REPO / "evals" / "seeds_conversations.jsonl")
    assert errors == [] and len({i["conversation"] for i in seeds}) >= 10


def test_every_nth_conversation_is_taken_whole():
    items = load_dataset(REPO / "evals" / "corpus" / "conversations.jsonl", split="dev", every=2)
    convs = list(dict.fromkeys(i["conversation"] for i in items))
    assert len(convs) == 10
    for c in convs:
        assert [i["turn"] for i in items if i["conversation"] == c] == list(range(1, 1 + sum(i["conversation"] == c for i in items)))


def test_rewrite_keeps_every_content_word_of_the_standalone_form():
    assert rewrite_keeps("Who scored for England? (Euro 2024 final)", "Who scored for England in the Euro 2024 final?")
    assert not rewrite_keeps("Who scored for England?", "Who scored for England in the Euro 2024 final?")


def test_conversation_summary_compares_follow_ups_with_their_standalone_form():
    def item(i, turn, form, kw, standalone=None, **kw2):
        return {"id": i, "conversation": "c", "turn": turn, "question": f"q{i}", "standalone": standalone or f"q{i}",
                "answer": "", "keywords": kw, "sources": ["a"], "answerable": True, "followup": form, **kw2}

    def res(answer, searched, refused=False):
        return {"answer": answer, "refused": refused, "citations": [], "latency_s": 1.0, "searched": searched,
                "timings": {"resolve_s": 0.001}}
    items = [item("1", 1, "first", [["spain"]]),
             item("2", 2, "pronoun", [["oyarzabal"]], "Who scored Spain's goal?"),
             item("3", 3, "ellipsis", [["palmer"]], "Who scored England's goal?", wrong_side=["oyarzabal"]),
             item("4", 4, "topic_change", [["orlund"]])]
    results = [res("Spain [1].", "q1"), res("Oyarzabal [1].", "Who scored Spain’s goal?"),
               res("Oyarzabal [1].", "Who scored goal? (x)"), res("Orlund [1].", "q4")]
    alone = {"2": res("Oyarzabal [1].", ""), "3": res("Palmer [1].", "")}
    s = conversation_summary(items, results, alone)
    assert s["followup_turns"] == 2 and s["followup_direct_correctness"] == 0.5
    assert s["standalone_direct_correctness"] == 1.0 and s["followup_gap"] == 0.5
    assert s["rewrite_exact_rate"] == 0.5 and s["topic_change_kept"] == 1.0
    assert s["wrong_side_answers"] == 1 and s["standalone_wrong_side_answers"] == 0
    assert s["by_depth"] == {"2": {"turns": 1, "followup": 1.0, "standalone": 1.0},
                             "3": {"turns": 1, "followup": 0.0, "standalone": 1.0}}


def test_rag_eval_runs_a_conversation_turn_by_turn_on_its_own_answers(fake_cli, tmp_path, capsys):
    rows = [
        {"id": "c1-t1", "conversation": "c1", "turn": 1, "question": QUESTION, "standalone": QUESTION,
         "answer": "Belarus", "keywords": [["belarus"]], "sources": ["000_be872feae246cb84.txt"], "answerable": True,
         "followup": "first"},
        {"id": "c1-t2", "conversation": "c1", "turn": 2, "question": "Which article says that?",
         "standalone": "Which article reports that Belarus became the tenth member of the SCO?", "answer": "000",
         "keywords": [["000_be872feae246cb84.txt"]], "sources": ["000_be872feae246cb84.txt"], "answerable": True,
         "category": "source", "followup": "source"},
    ]
    data = tmp_path / "conv.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    assert cli.main(["eval", "--quiet", "--dataset", str(data), "--out", str(out)]) == 0
    lines = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()]
    assert [x["turn"] for x in lines] == [1, 2] and lines[1]["followup"] == SOURCE
    first_sources = [c["source"] for c in lines[0]["citations"]]
    assert [c["source"] for c in lines[1]["citations"]] == first_sources  # its own first answer, not the reference
    alone = [json.loads(x) for x in (out / "standalone" / "results.jsonl").read_text().splitlines()]
    assert [x["id"] for x in alone] == ["c1-t2"] and alone[0]["question"] == rows[1]["standalone"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["followup_turns"] == 1 and "by_depth" in summary
    assert "## Conversations" in (out / "report.md").read_text()

    # --no-standalone (the CI gate): the turns only, and no comparison figure pretends the turn was its own
    # standalone form (the gap would read 0)
    quick = tmp_path / "quick"
    assert cli.main(["eval", "--quiet", "--no-standalone", "--dataset", str(data), "--out", str(quick)]) == 0
    assert not (quick / "standalone").exists()
    assert [json.loads(x)["answer"] for x in (quick / "results.jsonl").read_text().splitlines()] == \
        [x["answer"] for x in lines]
    brief = json.loads((quick / "summary.json").read_text())
    assert {k: brief[k] for k in ("followup_turns", "followup_direct_correctness", "followup_wrong_answer_rate",
                                  "wrong_side_answers")} == \
        {k: summary[k] for k in ("followup_turns", "followup_direct_correctness", "followup_wrong_answer_rate",
                                 "wrong_side_answers")}
    assert not [k for k in brief if "standalone" in k or k == "followup_gap"]
    assert brief["by_depth"]["2"]["standalone"] is None and "| 2 | 1 |" in (quick / "report.md").read_text()
    # a gate on a figure this run did not measure is an error, not a pass
    assert cli.main(["eval", "--quiet", "--no-standalone", "--dataset", str(data), "--out", str(quick),
                     "--fail-under", "followup_gap=0.5"]) != 0


def test_which_article_says_a_claim_of_its_own_searches_the_library(indexed, embedder):
    p = _pipeline(indexed, embedder)
    ans = p.ask("Which article says that Belarus became the tenth member of the SCO?")
    assert ans.followup == SOURCE and not ans.refused and p.generator.prompts == []
    assert "000_be872feae246cb84.txt" in [c.source for c in ans.citations]
    assert all("Belarus" in c.quote and "tenth" in c.quote for c in ans.citations)
    none = p.ask("Which article says that Belarus left the SCO in protest at the summit?")
    assert none.refused and none.text == "No article in the library says that."


def test_why_is_asked_about_what_the_last_answer_said():
    r = resolve("Why?", ("What did Ostrevia refuse to sign?", "Annex B [1]."))
    assert r.question == "Why did Ostrevia refuse to sign Annex B?"
    r = resolve("How come?", ("Who asked for the recount?", "Hasselgren's campaign [2]."))
    assert r.question == "Why Hasselgren's campaign asked for the recount?"
    r = resolve("Why?", ("How many people died?", "14 [1]."))
    assert r.question == "Why 14? (How many people died?)"


def test_rewrite_resolves_counts_the_names_and_numbers_a_follow_up_needed():
    from rag.metrics import rewrite_resolves

    standalone = "Where is Petra Valquist, the lead claimant against Brightwater, from?"
    assert rewrite_resolves("Where is she from?", "Where is Petra Valquist from?", standalone) is False  # Brightwater
    assert rewrite_resolves("Where is she from?", "Where is Petra Valquist from? (Brightwater)", standalone)
    assert rewrite_resolves("And in 2019?", "How many in 2019?", "How many people moved in 2019?")


def test_no_question_of_the_eval_sets_is_read_as_a_turn_about_an_answer_when_asked_alone():
    # "Who said that X?" asks for a person: it must reach the reader, not the article list
    for name in ("evals/corpus/questions.jsonl", "evals/seeds_qa.jsonl", "evals/realpages/questions.jsonl"):
        for line in (REPO / name).read_text(encoding="utf-8").splitlines():
            q = json.loads(line)["question"]
            assert rules.resolve(q, []).kind == NEW, q
    assert rules.resolve("Who said that exit polls don't govern provinces?", []).kind == NEW


# ---- issue 38: follow-ups read as the question a person meant ---------------------------------------

def test_a_complete_question_after_and_is_a_new_question():
    last = Turn("Who represented India at the summit?", "Subrahmanyam Jaishankar [1].")
    r = RuleRewriter().resolve("And in which city did the summit take place?", [last])
    assert r.kind == NEW and r.question == "In which city did the summit take place?"
    assert RuleRewriter().resolve("And Pakistan?", [last]).question == "Who represented Pakistan at the summit?"
    assert RuleRewriter().resolve("And when did he arrive?", [last]).kind != NEW  # a pronoun: still a follow-up


def test_model_rewriter_modes_decide_who_writes_the_rewrite():
    last = Turn("Who won the Copper Cup final?", "Calveira [1].")
    gen = ScriptedGenerator("Who were the runners-up in the Copper Cup final?")
    hybrid = ModelRewriter(gen, mode="hybrid")
    r = hybrid.resolve("Who was their coach?", [last])  # the rules' name agrees with "their": kept, no model
    assert r.kind == PRONOUN and "Calveira" in r.question and not gen.prompts
    # "he" put for a team, or "their" for a lone person: the rules are not sure, the model writes it
    hybrid.resolve("How old is he?", [last])
    assert len(gen.prompts) == 1
    gen.prompts.clear()
    r = hybrid.resolve("And the runners-up?", [last])  # an ellipsis: the model writes it, shown the rules' reading
    assert r.kind == ELLIPSIS and len(gen.prompts) == 1 and "A first reading:" in gen.prompts[0][-1]["content"]
    assert hybrid.resolve("Which bridge collapsed in Halvard?", [last]).kind == NEW and len(gen.prompts) == 1
    # "model": every later turn goes to the model, which may call it new by returning it unchanged
    same = ScriptedGenerator("Which bridge collapsed in Halvard?")
    assert ModelRewriter(same, mode="model").resolve("Which bridge collapsed in Halvard?", [last]).kind == NEW
    assert same.prompts  # it was asked
    # a follow-up the model leaves unchanged keeps the rules' reading
    lazy = ScriptedGenerator("And the runners-up?")
    assert ModelRewriter(lazy, mode="followups").resolve("And the runners-up?", [last]).question == \
        RuleRewriter().resolve("And the runners-up?", [last]).question
    with pytest.raises(ValueError):
        ModelRewriter(gen, mode="sometimes")


def test_the_rewriter_is_chosen_in_the_settings():
    from rag.config import Config
    from rag.errors import InputError

    for name in ("rules", "model", "followups", "hybrid"):
        Config(rewriter=name).validate()
    with pytest.raises(InputError, match="rewriter must be one of"):
        Config(rewriter="magic").validate()


def test_answers_of_the_kind_asked_and_about_the_subject_the_rewrite_meant():
    from rag.verify import answer_kind_gap, subject_gap

    text = "The summit was held in Astana. Subrahmanyam Jaishankar represented India. Belarus joined the bloc."
    assert answer_kind_gap("In which city did the summit take place?", "Astana", text) == ""
    assert "asks for a place" in answer_kind_gap("In which city did the summit take place?", "Subrahmanyam Jaishankar", text)
    assert "names none" in answer_kind_gap("Which city hosted it?", "the capital", text)
    assert answer_kind_gap("Which country joined the bloc?", "Belarus", text) == ""  # a country may be an actor
    assert "asks who" in answer_kind_gap("Who finished first?", "41.2%")
    assert answer_kind_gap("Who finished first?", "the Civic Renewal Alliance") == ""
    doc = ("The Dali left Baltimore at 1 am. Its crew reported a loss of power.\n" +
           "The bridge opened in 1977. It carried 30,000 vehicles a day. Traffic was light at night. " * 2 +
           "Separately, Brawner Builders was repairing potholes on the bridge. Six of its workers died.")
    at = doc.index("Separately")
    # "Which company manages it?" rewritten as "... manages Dali?": a passage that never names the Dali is not the answer
    assert "never names Dali" in subject_gap("Which company manages Dali?", "Brawner Builders", at, doc,
                                             typed="Which company manages it?")
    assert subject_gap("Which company manages Dali?", "Synergy Marine", doc.index("Its crew"), doc,
                       typed="Which company manages it?") == ""
    # names the user typed are the user's own: only what the rewrite put in is checked
    assert subject_gap("Which company manages Dali?", "Brawner Builders", at, doc, typed="Which company manages Dali?") == ""


def test_a_wrong_kind_answer_is_counted():
    from rag.metrics import wrong_kind

    item = {"question": "And where?", "standalone": "In which city did the summit take place?", "answerable": True}
    assert wrong_kind(item, {"answer": "Subrahmanyam Jaishankar [1].", "refused": False}) is False  # names a place-like name
    assert wrong_kind(item, {"answer": "the next day [1].", "refused": False}) is True
    how_many = {"question": "And killed?", "standalone": "How many people were killed?", "answerable": True}
    assert wrong_kind(how_many, {"answer": "the driver [1].", "refused": False}) is True
    assert wrong_kind(how_many, {"answer": "The articles don't say.", "refused": True}) is False
