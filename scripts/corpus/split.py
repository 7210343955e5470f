"""The dev/test split by whole source group (our own code).

Rule: the groups of the hand-labelled rows of replies.tsv are dev (the rules were written
from them).  Every other group is taken in the order of the SHA-256 of its name; a group goes
to test while the test share stays at or under 30 % of all rows, otherwise to dev.
Once written, tests/data/corpus-split.tsv is the frozen record: a group keeps its split for
ever; only groups not yet listed are placed, by the same rule, and appended.
"""
import hashlib, os

HERE = os.path.dirname(os.path.abspath(__file__))
FROZEN = os.path.join(HERE, "..", "..", "tests", "data", "corpus-split.tsv")


def choose_split(rows):
    sizes = {}
    hand = set()
    for r in rows:
        sizes[r["group"]] = sizes.get(r["group"], 0) + 1
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
    new = [g for g in sizes if g not in split]
    for g in sorted(new, key=lambda g: hashlib.sha256(g.encode()).hexdigest()):
        if g in hand:
            split[g] = "dev"
        elif test + sizes[g] <= 0.30 * total:
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
