"""Prints the count tables of tests/data/README.md from tests/data/corpus.tsv (our own code)."""
import csv, os
from collections import Counter, defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
rows = list(csv.DictReader(open(os.path.join(HERE, "..", "..", "tests", "data", "corpus.tsv"), encoding="utf-8"), delimiter="\t"))
CATS = ("rate_limited too_many_connections greylisted reputation blocklisted policy authentication content virus "
        "mailbox_full unknown_user mailbox_disabled message_too_large bad_domain routing network server_busy "
        "tls_required relay_denied sender_rejected too_many_recipients protocol other").split()
THR = set(CATS[:4] + ["server_busy"])
c = Counter((r["category"], r["split"]) for r in rows)
print("| category | dev | test | all |\n| --- | ---: | ---: | ---: |")
for k in CATS:
    print(f"| `{k}` | {c[(k,'dev')]} | {c[(k,'test')]} | {c[(k,'dev')]+c[(k,'test')]} |")
d = Counter(r["split"] for r in rows)
print(f"| **all** | {d['dev']} | {d['test']} | {len(rows)} |")
t = Counter(r["split"] for r in rows if r["category"] in THR)
print(f"| throttling (first four + `server_busy`) | {t['dev']} | {t['test']} | {t['dev']+t['test']} |")
rt = Counter((r["retry"], r["split"]) for r in rows)
print(f"| retry `yes` | {rt[('yes','dev')]} | {rt[('yes','test')]} | {rt[('yes','dev')]+rt[('yes','test')]} |")
print()
g = defaultdict(list)
for r in rows:
    g[r["group"]].append(r)
print("| group | split | rows | throttling |\n| --- | --- | ---: | ---: |")
for k, v in sorted(g.items(), key=lambda x: (-len(x[1]), x[0])):
    print(f"| `{k}` | {v[0]['split']} | {len(v)} | {sum(1 for r in v if r['category'] in THR)} |")
