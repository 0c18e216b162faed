"""Diagnostic: how often the selected evidence contains the reference keywords. Usage: python evals/evidence_recall.py evals/seeds_qa.jsonl dev 4"""
import json
import sys

from rag.build import make_embedder, make_store
from rag.config import Config
from rag.evidence import select_evidence
from rag.metrics import keyword_match
from rag.retrieve import HybridRetriever

path = sys.argv[1]
split = sys.argv[2] if len(sys.argv) > 2 else "dev"
k = int(sys.argv[3]) if len(sys.argv) > 3 else 4
cfg = Config.from_env()
store, emb = make_store(cfg), make_embedder(cfg)
r = HybridRetriever(store, emb, top_k=cfg.top_k)
n = ok = 0
for line in open(path):
    it = json.loads(line)
    if it.get("split") != split or not it["answerable"]:
        continue
    ev = select_evidence(it["question"], r.search(it["question"]), emb, k=k, idf=r.keyword.idf)
    n += 1
    hit = keyword_match(" ".join(e.text for e in ev), it["keywords"])
    ok += hit
    if not hit:
        print(it["id"], it["question"], it["keywords"])
        for e in ev:
            print(f"    {e.score:.2f} {e.source[:3]} {e.text[:110]}")
print(f"evidence contains the keywords: {ok}/{n}")
