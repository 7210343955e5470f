"""Review helper: ov.py SUBSTRING CATEGORY RETRY appends the matching corpus reply(ies) to
overrides.tsv (every row of the last build whose reply contains SUBSTRING)."""
import sys, os
HERE = os.path.dirname(os.path.abspath(__file__))
sub, cat, retry = sys.argv[1:4]
rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(HERE, "out", "review.tsv"), encoding="utf-8")]
hits = [r[5] for r in rows if sub in r[5] and not r[3].startswith("hand (replies.tsv)")]
with open(os.path.join(HERE, "overrides.tsv"), "a", encoding="utf-8") as f:
    for h in hits:
        f.write(f"{h}\t{cat}\t{retry}\n")
print(len(hits), "x", sub[:60])
