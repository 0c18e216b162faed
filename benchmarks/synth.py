"""A synthetic news corpus made from the seed articles: sentences recombined, names and numbers swapped.

Each article draws its sentences from all seeds at random and replaces every capitalised name and
every number with another one, so the corpus has realistic sentences but is not copies of five
articles: BM25 statistics, near-duplicate folding and the vector index all see varied text.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from rag.conversation import names_in
from rag.text import sentence_spans

FIRST = "Amara Bruno Chen Dana Elif Farid Greta Hugo Ines Jonas Kaito Lena Mateo Nadia Oskar Priya Rafael Sana Tomas Vera".split()
LAST = "Adler Baptiste Costa Dahl Eriksen Fischer Gallo Haddad Ivanova Jansen Kowalski Laine Moreau Novak Okafor Petrov Quist Rossi Silva Tanaka".split()
PLACES = "Arlen Brevik Castora Dunmore Elsfeld Farrow Galen Halvard Istra Jorvik Kestrel Lorne Marren Norvale Ostrava Pella Quorin Rasmora Selden Tarvik".split()
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def sentence_pool(texts: list[str]) -> list[str]:
    return [t[a:b] for t in texts for a, b in sentence_spans(t) if 40 <= b - a <= 400]


def _swap(sentence: str, rng: random.Random) -> str:
    for name in names_in(sentence):
        if " " in name:
            new = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        else:
            new = rng.choice(PLACES + LAST)
        sentence = re.sub(rf"\b{re.escape(name)}\b", new, sentence)
    return _NUMBER.sub(lambda m: str(rng.randint(2, 2000)), sentence)


def write_corpus(seeds_dir: Path, out_dir: Path, n_articles: int, seed: int = 0) -> list[Path]:
    """Write ``n_articles`` synthetic .txt articles into ``out_dir``; returns their paths."""
    rng = random.Random(seed)
    pool = sentence_pool([p.read_text(encoding="utf-8") for p in sorted(seeds_dir.glob("*.txt"))])
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n_articles):
        sentences = [_swap(rng.choice(pool), rng) for _ in range(rng.randint(8, 20))]
        title = sentences[0][:90].rstrip(" ,.;") + (f" ({rng.choice(PLACES)})")
        outlet = f"The {rng.choice(PLACES)} {rng.choice(['Herald', 'Times', 'Post', 'Courier', 'Ledger'])}"
        byline = f"By {rng.choice(FIRST)} {rng.choice(LAST)}, {outlet}, {rng.randint(1, 28)} May 2024"
        paras = [" ".join(sentences[k:k + 3]) for k in range(1, len(sentences), 3)]
        path = out_dir / f"synth_{i:06d}.txt"
        path.write_text("\n\n".join([title, byline, *paras]) + "\n", encoding="utf-8")
        paths.append(path)
    return paths
