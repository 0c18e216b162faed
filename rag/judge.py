"""The answer check: does the sentence we are about to cite really answer the question?

Word overlap cannot tell a question the articles answer in other words ("Beijing's leader"
for "Xi") from one whose words all appear in a sentence about something else ("the SCO's
Secretary-General" against "UN Secretary-General Antonio Guterres"). A second, larger
instruction model reads the question and the one sentence and says Yes or No; its
probability of "Yes" is the score, and the threshold on it was calibrated on the dev split.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

from . import prompts
from .errors import GenerationError
from .generate import chat_formatter, load_llama

# The check model's P("Yes") an answer needs to stand with its sentence, chosen on the corpus dev events
# (`python evals/experiments/sweep_judge.py --shuffle 1`, the first 72 questions of the shuffled dev split, 4 evidence
# sentences): 0.45 and 0.50 both got 44 of 72 right (direct answers and declines); 0.50 declines more,
# 13/18 against 12/18, for one more false refusal. 0.40: 43, 0.55 and 0.60: 40, 0.70: 39. With the 6
# sentences now shown, 0.45 and 0.50 tie again (24 of 36). With the reader's worked examples (72 dev questions,
# 6 sentences), 0.50 keeps the most direct answers (39 of 54, as 0.45) with more declines (12 of 18 against 10).
# See evals/reports/README.md.
MIN_JUDGE = 0.5


class Judge:
    """Scores how likely one sentence answers a question, 0 to 1."""

    name: str = "judge"

    def load(self):
        """Get ready (load weights); errors here say what to fix. Returns self."""
        return self

    def p_yes(self, question: str, sentence: str, answer: str = "") -> float:
        """P(the sentence answers the question), with ``answer`` as its answer when one is given."""
        raise NotImplementedError

    def supports(self, sources: str, claim: str) -> float:
        """P(the sources state the claim): an open answer's sentence against the quotes it cites. By
        default the answer check, with the claim as the answer to an empty question."""
        return self.p_yes("", sources, claim)

    def choose(self, question: str, sources: str, options: list[str]) -> list[float] | None:
        """P(each option is the answer to the question), from the sources: the "which one?" check
        (verify.choose_check). None when this judge cannot choose (no check is made)."""
        return None


class LlamaCppJudge(Judge):
    """P("Yes") from a GGUF instruction model in-process, read from the logits of one forward pass.

    Nothing is sampled: the prompt is evaluated once and the next-token logits of "Yes" and
    "No" are compared. The prompt's shared start (system prompt, and the question when
    several sentences of one question are judged) stays in the KV cache between calls.
    """

    def __init__(self, model_path: str | Path, n_ctx: int = 2048, n_threads: int = 2, shared=None):
        """``shared``: a ``LlamaCppGenerator`` of the same model, whose weights, KV cache and lock this
        check then uses: one model both reads and checks, mapped once."""
        self.model_path = Path(model_path)
        self.name = self.model_path.stem
        self.n_ctx = shared.n_ctx if shared is not None else n_ctx
        self.n_threads = n_threads
        self.shared = shared
        self._llm = None
        self._format = None
        self._yes = self._no = -1
        # one model, one KV cache: one call at a time (loading included)
        self._lock = shared.lock if shared is not None else threading.RLock()

    def load(self) -> "LlamaCppJudge":
        with self._lock:
            self._load()
        return self

    def load_in_background(self) -> threading.Thread:
        """Start loading now, in a thread; the first ``p_yes`` waits for it. Errors surface there."""
        def run():
            try:
                self.load()
            except Exception:  # noqa: BLE001 - reported again, in the caller's thread, by p_yes
                pass

        thread = threading.Thread(target=run, name="judge-load", daemon=True)
        thread.start()
        return thread

    def _load(self) -> None:
        if self._llm is None:
            llm = self.shared._load() if self.shared is not None else \
                load_llama(self.model_path, self.n_ctx, self.n_threads, what="the check model")
            self._format = chat_formatter(llm, self.model_path)
            self._yes = llm.tokenize(b"Yes", add_bos=False)[0]
            self._no = llm.tokenize(b"No", add_bos=False)[0]
            self._llm = llm

    def p_yes(self, question: str, sentence: str, answer: str = "") -> float:
        with self._lock:
            self._load()
            return self._p_yes(question, sentence, answer)

    def supports(self, sources: str, claim: str) -> float:
        with self._lock:
            self._load()
            return self._score(prompts.support_messages(sources[:3000], claim[:1000]))

    def choose(self, question: str, sources: str, options: list[str]) -> list[float]:
        """The probabilities of the options' letters as the next token, normalised over the options."""
        import numpy as np

        with self._lock:
            self._load()
            letters = [self._llm.tokenize(ch.encode(), add_bos=False)[0] for ch in "ABCDEFGH"[:len(options)]]
            logits = self._logits(prompts.choice_messages(question[:1500], sources[:3000], [o[:200] for o in options]))
            picked = np.array([logits[t] for t in letters], dtype=np.float64)
            p = np.exp(picked - picked.max())
            return list(p / p.sum())

    def _p_yes(self, question: str, sentence: str, answer: str = "") -> float:
        # evidence sentences come from chunks of about 160 tokens; the caps only guard n_ctx
        return self._score(prompts.judge_messages(question[:1500], sentence[:1500], answer[:300]))

    def _score(self, messages: list[dict[str, str]]) -> float:
        logits = self._logits(messages)
        yes, no = float(logits[self._yes]), float(logits[self._no])
        return 1.0 / (1.0 + math.exp(no - yes))

    def _logits(self, messages: list[dict[str, str]]):
        """The next-token logits after the chat prompt of ``messages`` (call under the lock, loaded)."""
        llm = self._llm
        if self.shared is not None:  # tokens and fixed start from the shared model, which keeps snapshots of it
            tokens, fixed = self.shared.tokens(messages)
        else:
            tokens, fixed = llm.tokenize(self._format(messages=messages).prompt.encode("utf-8"), add_bos=False,
                                         special=True), 0
        if len(tokens) >= self.n_ctx:
            raise GenerationError(f"the check prompt is {len(tokens)} tokens, over the check model's n_ctx {self.n_ctx}")
        try:
            if self.shared is None:
                return self.logits_after(tokens)[0]
            with self.shared.aside():  # a check while the reader writes: its reply goes on after
                if fixed:  # the reader's prompt has replaced ours in the shared cache: get our start back
                    self.shared.prime(tokens, fixed)
                return self.logits_after(tokens)[0]
        except (ValueError, RuntimeError) as exc:
            llm.reset()
            raise GenerationError(f"the check model failed: {exc}") from exc

    def p_yes_after(self, tokens: list[int]) -> tuple[float, int]:
        """P("Yes") as the next token after ``tokens`` (call under the lock, loaded), evaluating only
        what the KV cache does not already hold of them; and how many tokens that was."""
        logits, n = self.logits_after(tokens)
        yes, no = float(logits[self._yes]), float(logits[self._no])
        return 1.0 / (1.0 + math.exp(no - yes)), n

    def logits_after(self, tokens: list[int]):
        """The next-token logits after ``tokens`` (a copy), evaluating only what the KV cache does not
        already hold of them; and how many tokens that was."""
        import numpy as np

        llm = self._llm
        keep = min(llm.longest_token_prefix(llm._input_ids[: llm.n_tokens].tolist(), tokens), len(tokens) - 1)
        llm.n_tokens = keep  # eval() drops the cached positions past this point
        llm.eval(tokens[keep:])
        return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).copy(), len(tokens) - keep
