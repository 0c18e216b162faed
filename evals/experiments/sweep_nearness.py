"""Dev analysis of a "nearness" rule for wrong-side answers, measured and not built (evals/experiments/results/choice-sweep).

The answer belongs to the question's entity when the question's words (names weighted double) stand
closer to it in the cited sentence than to a rival of the same kind (verify.rivals). Offline, on the
answers and quotes of a sweep_judge.py dump (no model): how many wrong answers it would catch, how many
right ones it would lose.

Usage: python evals/experiments/sweep_nearness.py evals/experiments/results/calibration/dev-6-of-12-all-164-bridge.jsonl 0.5 [-v]
"""
import json, sys, re, math
sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parents[2]))
from rag.verify import rivals, TOKEN, number_values
from rag.text import content_terms, stem
from rag.conversation import names_in
items = {json.loads(l)['id']: json.loads(l) for l in open(__import__('pathlib').Path(__file__).resolve().parents[1] / 'corpus' / 'questions.jsonl')}

def positions(sentence, phrase):
    toks = [t.lower() for t in TOKEN.findall(sentence)]
    ph = [t.lower() for t in TOKEN.findall(phrase)]
    out = []
    for i in range(len(toks)):
        if ph and toks[i:i+len(ph)] == ph: out.append(i)
        elif ph and number_values(phrase) and number_values(toks[i]) & number_values(phrase): out.append(i)
    return out, toks

def score(sentence, option, question):
    pos, toks = positions(sentence, option)
    if not pos: return None
    qnames = {w.lower() for n in names_in(question) for w in TOKEN.findall(n)}
    qterms = set(content_terms(question)) | qnames
    s = 0.0
    for j, t in enumerate(toks):
        tt = stem(re.sub(r"[’']s$", "", t))
        if (tt in qterms or t in qnames) and not any(j in range(p, p + len(TOKEN.findall(option))) for p in pos):
            w = 2.0 if t in qnames else 1.0
            d = min(abs(j - p) for p in pos)
            s += w / (1 + d)
    return s

def gap(question, answer, sentence, margin):
    opts = rivals(question, answer, [sentence])
    mine = score(sentence, answer, question)
    if mine is None or not opts: return ""
    for o in opts:
        so = score(sentence, o, question)
        if so is not None and so > mine * (1 + margin) + 0.05:
            return o
    return ""

src = sys.argv[1]; margin = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5
caught = lost = wrong = right = 0
for l in open(src):
    r = json.loads(l); v = r['verdicts']['0.5']; i = items[r['id']]
    if v['refused'] or i.get('category') in ('summary','why','describe','list','compare','overview'): continue
    parts = [re.sub(r"\s*\[\d+\]\.?$", "", p).strip() for p in v['answer'].split('; ')]
    flagged = [(p, gap(r['question'], p, q, margin)) for p, q in zip(parts, v['quotes'])]
    flagged = [(p, o) for p, o in flagged if o]
    if v['right']: right += 1; lost += bool(flagged)
    else: wrong += 1; caught += bool(flagged)
    if flagged and '-v' in sys.argv: print('RIGHT' if v['right'] else 'WRONG', r['id'], r['question'][:70], flagged)
print(f"margin {margin}: wrong {wrong}, caught {caught}; right {right}, lost {lost}")
