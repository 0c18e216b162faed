"""Generators: chat messages in, a stream of text pieces out."""

from __future__ import annotations

import threading
from collections import OrderedDict
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Iterator

from .errors import GenerationError, ModelError


class Generator:
    """A language model that streams its reply to a list of chat messages."""

    name: str = "generator"

    def load(self):
        """Get ready (load weights, reach the server); errors here say what to fix. Returns self."""
        return self

    def stream(self, messages: list[dict[str, str]], max_tokens: int = 128, grammar: str | None = None) -> Iterator[str]:
        """The reply, piece by piece; ``grammar`` (llama.cpp GBNF) constrains its shape where the backend can."""
        raise NotImplementedError


def load_llama(model_path: Path, n_ctx: int, n_threads: int, what: str = "model", **kwargs):
    """A ``llama_cpp.Llama`` for a GGUF file, quiet; ModelError saying what to fix if it cannot load."""
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        raise ModelError("llama-cpp-python is not installed: pip install llama-cpp-python==0.3.36") from exc
    try:
        return Llama(model_path=str(model_path), n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads,
                     verbose=False, **kwargs)
    except (ValueError, RuntimeError, OSError) as exc:
        raise ModelError(f"cannot load {what} {model_path}: {exc}") from exc


def chat_formatter(llm, model_path: Path):
    """The model's own chat template (from its GGUF metadata), as llama-cpp-python applies it."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        raise ModelError(f"the model {model_path.name} has no chat template")
    eos = llm.detokenize([llm.token_eos()]).decode("utf-8", "ignore")
    bos = llm.detokenize([llm.token_bos()]).decode("utf-8", "ignore") if llm.token_bos() >= 0 else ""
    return Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)


class PrefixStates:
    """Snapshots of llama.cpp's KV cache holding just a prompt's fixed start, by its tokens.

    llama.cpp reuses the cached positions a new prompt shares with the last one. When one model
    alternates between two prompts (the reader's, the check's), each would evaluate its system
    prompt again; a snapshot restores it in milliseconds. Only llama.cpp's own state is saved
    (the KV cells in use), not llama-cpp-python's logits table, which would be megabytes a token.
    With a ``directory``, snapshots are also files, so a new process (a cold ``rag ask``) starts
    with them; ``identity`` names the model file and llama.cpp build they belong to.
    """

    def __init__(self, limit: int = 4, directory: Path | None = None, identity: str = ""):
        self.limit = limit
        self.directory = Path(directory) if directory else None
        self.identity = identity
        self._states: OrderedDict[tuple[int, ...], bytes] = OrderedDict()

    def restore(self, llm, tokens: list[int], fixed: int) -> None:
        """Leave ``llm``'s cache holding at least ``tokens[:fixed]``: as it is, from a snapshot (in
        memory, then on disk), or evaluated now and snapshotted for the next time."""
        have = llm.longest_token_prefix(llm._input_ids.tolist(), tokens)
        if fixed <= 1 or have >= fixed:
            return
        key = tuple(tokens[:fixed])
        for data in (self._states.get(key), self._read(key)):
            if data is not None and self._load(llm, key, data):
                self._remember(key, data)
                return
        llm.n_tokens = have
        llm.eval(list(key[have:]))  # drops the cached positions past ``have`` first
        data = self._save(llm)
        self._remember(key, data)
        self._write(key, data)

    def _remember(self, key: tuple[int, ...], data: bytes) -> None:
        self._states[key] = data
        self._states.move_to_end(key)
        while len(self._states) > self.limit:
            self._states.popitem(last=False)

    @staticmethod
    def _save(llm) -> bytes:
        import ctypes

        import llama_cpp

        ctx = llm._ctx.ctx
        size = llama_cpp.llama_state_get_size(ctx)
        buf = (ctypes.c_uint8 * size)()
        return ctypes.string_at(buf, llama_cpp.llama_state_get_data(ctx, buf, size))

    @staticmethod
    def _load(llm, key: tuple[int, ...], data: bytes) -> bool:
        import ctypes

        import llama_cpp

        buf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        if llama_cpp.llama_state_set_data(llm._ctx.ctx, buf, len(data)) != len(data):
            llm.reset()
            return False
        llm.input_ids[:len(key)] = key
        llm.n_tokens = len(key)
        llm._requires_eval = True  # the logits are not restored: decode before sampling
        return True

    def _path(self, key: tuple[int, ...]) -> Path:
        import hashlib

        name = hashlib.sha256(f"{self.identity}|{','.join(map(str, key))}".encode()).hexdigest()[:32]
        return self.directory / f"{name}.kvstate"

    def _read(self, key: tuple[int, ...]) -> bytes | None:
        """A snapshot file's data if it is there and whole (its last 32 bytes are the data's sha256)."""
        import hashlib

        if self.directory is None:
            return None
        try:
            blob = self._path(key).read_bytes()
        except OSError:
            return None
        data, digest = blob[:-32], blob[-32:]
        return data if len(blob) > 32 and hashlib.sha256(data).digest() == digest else None

    def _write(self, key: tuple[int, ...], data: bytes) -> None:
        """Best effort: a read-only or full cache folder only means the next process evaluates again."""
        import hashlib
        import os

        if self.directory is None:
            return
        path = self._path(key)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data + hashlib.sha256(data).digest())
            os.replace(tmp, path)  # whole or not at all, whichever process writes last
        except OSError:
            with suppress(OSError):
                tmp.unlink(missing_ok=True)


class LlamaCppGenerator(Generator):
    """A GGUF model run in-process by llama-cpp-python, greedy decoding.

    The prompt's fixed prefix (the system prompt) is not evaluated again on the next call: it
    stays in llama.cpp's KV cache, and a check model that shares this model (judge.LlamaCppJudge)
    and overwrites that cache with its own prompt gets it back from a saved snapshot (``prime``).
    """

    def __init__(self, model_path: str | Path, n_ctx: int = 2048, n_threads: int = 2, seed: int = 0,
                 state_dir: Path | None = None):
        """``state_dir``: where snapshots of the prompts' fixed starts are kept between processes."""
        self.model_path = Path(model_path)
        self.name = self.model_path.stem
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.seed = seed
        self._llm = None
        self._format = None
        self._grammars: dict[str, object] = {}
        self.prefixes = PrefixStates(directory=state_dir)
        # One model, one KV cache: a check model that shares this one (judge.LlamaCppJudge) takes the same lock.
        self.lock = threading.RLock()
        self._replying = False  # a reply is streaming: whoever uses the model meanwhile must put its state back

    @contextmanager
    def aside(self):
        """Use the model for something else (a check of the sentence just written) in the middle of a
        reply: the reply's KV cache and position are saved first and put back after, so the reply goes on
        as if nothing had happened. Outside a reply, nothing is saved."""
        with self.lock:
            llm = self._llm
            if not self._replying or llm is None:
                yield
                return
            n, requires_eval = llm.n_tokens, llm._requires_eval
            key, data = tuple(llm.input_ids[:n].tolist()), PrefixStates._save(llm)
            self._replying = False  # a nested aside saves nothing more
            try:
                yield
            finally:
                self._replying = True
                if not PrefixStates._load(llm, key, data):
                    raise GenerationError("the model's state could not be put back after a check")
                llm._requires_eval = requires_eval

    def load(self) -> "LlamaCppGenerator":
        self._load()
        return self

    def _load(self):
        with self.lock:
            if self._llm is None:
                llm = load_llama(self.model_path, self.n_ctx, self.n_threads, seed=self.seed)
                import llama_cpp

                stat = self.model_path.stat()
                self.prefixes.identity = (f"{self.model_path.name}|{stat.st_size}|{stat.st_mtime_ns}|"
                                          f"{llama_cpp.__version__}|{self.n_ctx}")
                self._format = chat_formatter(llm, self.model_path)
                self._llm = llm
            return self._llm

    def tokens(self, messages: list[dict[str, str]]) -> tuple[list[int], int]:
        """The chat prompt's tokens, and how many of them are its fixed start: everything before the
        last message's content (the system prompt), found as what it shares with that message emptied."""
        self._load()
        prompt = self._tokenize(messages)
        blank = self._tokenize(messages[:-1] + [{**messages[-1], "content": ""}])
        return prompt, self._llm.longest_token_prefix(prompt, blank)

    def _tokenize(self, messages: list[dict[str, str]]) -> list[int]:
        text = self._format(messages=messages).prompt
        return self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def prime(self, tokens: list[int], fixed: int) -> None:
        """Have the KV cache hold ``tokens[:fixed]`` before a prompt is evaluated (call under ``lock``)."""
        self.prefixes.restore(self._load(), tokens, fixed)

    def _grammar(self, text: str | None):
        if not text:
            return None
        if text not in self._grammars:
            from llama_cpp import LlamaGrammar

            self._grammars[text] = LlamaGrammar.from_string(text, verbose=False)
        return self._grammars[text]

    def stream(self, messages: list[dict[str, str]], max_tokens: int = 128, grammar: str | None = None) -> Iterator[str]:
        with self.lock:
            llm = self._load()
            tokens, fixed = self.tokens(messages)
            try:
                self.prime(tokens, fixed)
                # the chat template applied here (tokens), as create_chat_completion would, so that the
                # fixed start is known; its end-of-turn token stops the reply
                chunks = llm.create_completion(
                    prompt=tokens, max_tokens=max_tokens, temperature=0.0, top_k=1, stream=True,
                    grammar=self._grammar(grammar), stop=self._format.eos_token or None,
                )
                for chunk in chunks:
                    piece = chunk["choices"][0]["text"]
                    if piece:
                        self._replying = True
                        try:
                            yield piece
                        finally:
                            self._replying = False
            except (ValueError, RuntimeError) as exc:
                llm.reset()
                raise GenerationError(f"the model failed while answering: {exc}") from exc


class OpenAIChatGenerator(Generator):
    """Any OpenAI-compatible chat-completions server: llama.cpp's server, Ollama, vLLM.

    Streams with server-sent events, greedy decoding (temperature 0, fixed seed). On first use it
    reads the server's model list, so a wrong model name is an error that names the models the
    server has, rather than a silent fallback (llama-cpp-python's server answers with its default
    model whatever name it is sent). ``timeout`` bounds connecting and every wait for more bytes.
    """

    def __init__(self, url: str, model: str = "", api_key: str = "", timeout: float = 120.0, seed: int = 0):
        base = url.rstrip("/")
        self.base_url = base if base.endswith("/v1") else base + "/v1"
        self.model = model
        self.name = model or "server"
        self.api_key = api_key
        self.timeout = timeout
        self.seed = seed
        self._checked = False

    def _client(self):
        import httpx

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=httpx.Timeout(self.timeout))

    def load(self) -> "OpenAIChatGenerator":
        """Check the server is up and serves the model; picks its only model when none is named."""
        if self._checked:
            return self
        with self._errors(), self._client() as client:
            resp = client.get("/models")
            self._raise_for_status(resp)
            served = [m.get("id", "") for m in resp.json().get("data", [])]
        if not self.model:
            if len(served) != 1:
                raise ModelError(f"the LLM server at {self.base_url} serves {len(served)} models "
                                 f"({', '.join(served) or 'none'}): choose one with --llm-model or RAG_LLM_MODEL")
            self.model = self.name = served[0]
        elif served and self.model not in served:
            raise ModelError(f"the LLM server at {self.base_url} has no model {self.model!r}; it serves: "
                             f"{', '.join(served)}. Set --llm-model or RAG_LLM_MODEL to one of those")
        self._checked = True
        return self

    def stream(self, messages: list[dict[str, str]], max_tokens: int = 128, grammar: str | None = None) -> Iterator[str]:
        import json

        self.load()
        # Greedy, as in-process: llama.cpp's servers default to a repeat penalty of 1.1, which changes
        # answers; top_k and repeat_penalty are understood by llama.cpp and vLLM and ignored by Ollama.
        body = {"model": self.model, "messages": messages, "max_tokens": max_tokens, "temperature": 0.0,
                "top_k": 1, "repeat_penalty": 1.0, "seed": self.seed, "stream": True}
        if grammar:
            # llama.cpp's servers read "grammar", vLLM "guided_grammar"; others ignore both, and their
            # free text is read leniently (verify.parse_reply).
            body.update(grammar=grammar, guided_grammar=grammar)
        with self._errors(), self._client() as client, client.stream("POST", "/chat/completions", json=body) as resp:
            if resp.status_code >= 400:
                resp.read()
                self._raise_for_status(resp)
            for line in resp.iter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                try:
                    event = json.loads(data)
                except ValueError:
                    raise GenerationError(f"the LLM server at {self.base_url} sent a line that is not JSON: {data[:120]!r}") from None
                if event.get("error"):
                    raise GenerationError(f"the LLM server failed while answering: {event['error']}")
                choices = event.get("choices") or [{}]
                piece = (choices[0].get("delta") or {}).get("content")
                if piece:
                    yield piece

    def _raise_for_status(self, resp) -> None:
        if resp.status_code < 400:
            return
        text = resp.text[:300]
        if resp.status_code in (401, 403):
            raise ModelError(f"the LLM server at {self.base_url} refused the API key (HTTP {resp.status_code}): "
                             "set RAG_LLM_API_KEY")
        if resp.status_code == 404 and "model" in text.lower():
            raise ModelError(f"the LLM server at {self.base_url} has no model {self.model!r}: {text}")
        raise GenerationError(f"the LLM server at {self.base_url} answered HTTP {resp.status_code}: {text}")

    @contextmanager
    def _errors(self):
        """Connection refused, timeouts and dropped streams, as errors that say what to check."""
        import httpx

        try:
            yield
        except httpx.TimeoutException as exc:
            raise GenerationError(f"the LLM server at {self.base_url} did not answer within {self.timeout:g} s "
                                  "(llm_timeout)") from exc
        except httpx.ConnectError as exc:
            raise GenerationError(f"cannot reach the LLM server at {self.base_url} ({exc}); is it running?") from exc
        except httpx.TransportError as exc:
            raise GenerationError(f"lost the LLM server at {self.base_url} while answering ({exc})") from exc
