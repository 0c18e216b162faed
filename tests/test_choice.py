"""The "which one?" check: an answer that the evidence gives for another side must not stand."""

from rag.verify import choose_check, rivals, verify
from rag.evidence import Evidence

from fakes import WordJudge

SENTENCE = ("Oyarzabal scored Spain's winner in the 86th minute, after Cole Palmer had equalised for England "
            "with a low shot in the 73rd.")


class ChoosingJudge(WordJudge):
    """Says Yes to every sentence; asked to choose, picks the option that contains ``pick``."""

    def __init__(self, pick: str):
        super().__init__("")
        self.pick, self.choices = pick, []

    def p_yes(self, question, sentence, answer=""):
        return 1.0

    def choose(self, question, sources, options):
        self.choices.append(options)
        return [1.0 if self.pick in o else 0.0 for o in options]


def test_rivals_are_other_answers_of_the_same_kind():
    assert rivals("Who scored for England?", "Oyarzabal", [SENTENCE]) == ["Spain", "Cole Palmer"]
    assert rivals("In which minute did Spain score?", "86th", [SENTENCE]) == ["73rd"]
    # the question's own names and numbers are no rivals; a year only rivals a year
    assert rivals("How many people died in 2024?", "14", ["In 2024, 14 died and 3 were hurt."]) == ["3"]
    assert rivals("What did Spain win?", "the trophy", [SENTENCE]) == []  # not a name, not a number: nothing to choose


def test_the_answer_falls_when_the_check_model_chooses_a_rival():
    judge = ChoosingJudge("Palmer")
    rival, _ = choose_check("Who scored for England?", "Oyarzabal", [SENTENCE], judge)
    assert rival == "Cole Palmer"
    kept, _ = choose_check("Who scored for England?", "Cole Palmer", [SENTENCE], judge)
    assert kept == ""
    assert choose_check("Who scored?", "Oyarzabal", [SENTENCE], WordJudge("x"))[0] == ""  # this judge cannot choose


def test_the_other_parts_of_a_two_part_reply_are_no_rivals():
    text = "The assembly has 57 seats, of which the VPU and its allies hold 31."
    assert rivals("How many seats, and how many for the VPU?", "31", [text], others=["57"]) == []


def test_verify_does_not_use_the_choice_it_did_not_pay_for_on_dev():
    # measured on the dev events with the packaged model (evals/experiments/results/choice-sweep): off in verify
    e = [Evidence("a.txt", "Final", SENTENCE, 0, len(SENTENCE), 1.0)]
    judge = ChoosingJudge("Palmer")
    v = verify("Who scored for England?", "Oyarzabal [1]", e, judge=judge, article=lambda s: SENTENCE)
    assert not v.refused and judge.choices == []
