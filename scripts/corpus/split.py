"""The dev/test split by whole source group (our own code).

Rule: the groups of the hand-labelled rows of replies.tsv are dev (the rules were written
from them).  The other groups are taken in the order of the SHA-256 of their names, in two
passes: first the groups that hold throttling rows (rate_limited, too_many_connections,
greylisted, reputation, server_busy) go to test while the test split has under 30 % of all
throttling rows and stays at or under 30 % of all rows; then the remaining groups go to test
while the test split stays at or under 30 % of all rows.  Everything else is dev.
Once written, tests/data/corpus-split.tsv is the frozen record: a group keeps its split for
ever; only groups not yet listed are placed, by the same rule, and appended.
"""
import hashlib, os

HERE = os.path.dirname(os.path.abspath(__file__))
FROZEN = os.path.join(HERE, "..", "..", "tests", "data", "corpus-split.tsv")


def choose_split(rows):
    sizes = {}
    thr = {}
    hand = set()
    THR = ("rate_limited", "too_many_connections", "greylisted", "reputation", "server_busy")
    for r in rows:
        sizes[r["group"]] = sizes.get(r["group"], 0) + 1
        thr[r["group"]] = thr.get(r["group"], 0) + (r["category"] in THR)
        if r["how"].startswith("hand (replies.tsv)"):
            hand.add(r["group"])
    split = {}
    if os.path.exists(FROZEN):
        for line in open(FROZEN, encoding="utf-8"):
            if line.startswith("#") or not line.strip():
                continue
            g, s = line.rstrip("\n").split("\t")[:2]
            split[g] = s
    total = len(rows)
    test = sum(n for g, n in sizes.items() if split.get(g) == "test")
    total_thr = sum(thr.values())
    test_thr = sum(n for g, n in thr.items() if split.get(g) == "test")
    order = sorted((g for g in sizes if g not in split), key=lambda g: hashlib.sha256(g.encode()).hexdigest())
    for g in order:
        if g in hand:
            split[g] = "dev"
    for g in order:  # pass 1: groups with throttling rows
        if g in split or not thr[g]:
            continue
        if test_thr < 0.30 * total_thr and test + sizes[g] <= 0.30 * total:
            split[g] = "test"
            test += sizes[g]
            test_thr += thr[g]
    for g in order:  # pass 2: the rest
        if g in split:
            continue
        if test + sizes[g] <= 0.30 * total:
            split[g] = "test"
            test += sizes[g]
        else:
            split[g] = "dev"
    return split


def freeze(split):
    with open(FROZEN, "w", encoding="utf-8") as f:
        f.write("# group\tsplit   (frozen: see scripts/corpus/split.py; never change a line, only append)\n")
        for g in sorted(split):
            f.write(f"{g}\t{split[g]}\n")
