"""Merge, deduplicate, label and split the corpus (our own code).

Inputs: tests/data/replies.tsv (hand-labelled, kept as they are), scripts/corpus/out/*.tsv
written by the extractors, and the hand-copied issues.tsv, docs_hand.tsv, gathered.tsv and gathered_d.tsv.
Output: tests/data/corpus.tsv.  `--append` (no mirror needed) keeps the committed corpus.tsv as it is and
adds the rows of gathered_d.tsv, which a full rebuild reads last: both give the same file.

Dedup: one row per normalised form (norm.py); the hand-labelled rows come first, then the
extractors' rows in a fixed order, so the representative kept is deterministic.
Labels: overrides.tsv (hand corrections) > label.py.
Split: by whole source group, see split.py.
"""
import csv, glob, os, re, sys
from collections import Counter, defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from norm import norm
from label import label
from split import choose_split, freeze

ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
DATA = os.path.join(ROOT, "tests", "data")
CATS = ("rate_limited too_many_connections greylisted reputation blocklisted policy authentication content virus "
        "mailbox_full unknown_user mailbox_disabled message_too_large bad_domain routing network server_busy "
        "tls_required relay_denied sender_rejected too_many_recipients protocol other").split()

PROVIDER_HINTS = [
    ("google", r"gsmtp|google\.com|gmail"), ("microsoft", r"outlook\.com|protection\.outlook|hotmail|microsoft|\(AS\d+\)|\[\w+\.(?:eop|prod)[\w.-]*\]|RESOLVER\.|\bS3150\b"),
    ("yahoo", r"yahoo|\[TSS?0\d\]|aol\.com|postmaster\.verizonmedia"), ("apple", r"icloud|apple\.com|\[CS0\d\]|\[HM\d+\]"),
    ("comcast", r"comcast"), ("cox", r"\bcox\b|cox\.(?:net|com)"), ("godaddy", r"secureserver|\bIB\d{3}\b"),
    ("mimecast", r"mimecast"), ("proofpoint", r"proofpoint|pphosted"), ("barracuda", r"barracuda|cuda_nsu"),
    ("orange", r"\bOFR\w*|orange\.fr|wanadoo|\bLPN\d+|laposte"), ("gmx", r"gmx\.|web\.de|kundenserver|1und1"),
    ("mailru", r"mail\.ru"), ("yandex", r"yandex|ya\.cc"), ("zoho", r"zoho"), ("qq", r"qq\.com|tencent"),
    ("messagelabs", r"messagelabs|symanteccloud|broadcom"), ("spectrum", r"spectrum|charter|rr\.com"),
    ("att", r"\batt\.net|prodigy|sbcglobal|bellsouth"),
]

# group of the hand-labelled rows, from their source
def group_of_existing(src):
    s = src.lower()
    for key, g in [("set-of-emails", "sisimai-set-of-emails"), ("sisimai/go-sisimai:rhost", "sisimai-code-comments"),
                   ("sisimai/go-sisimai:reason", "sisimai-code-comments"), ("smtp-field-manual", "activecampaign-smtp-field-manual"),
                   ("zone-mta:config", "zone-mta-bounces"), ("postfix", "postfix-source"), ("exim", "exim-source"),
                   ("qmail", "qmail-source"), ("milter-greylist", "greylisters-source"), ("support.google.com", "provider-docs"),
                   ("github.com/", "issue-threads")]:
        if key in s:
            return g
    return "other-sources"


def provider_of(reply, given):
    if given and given not in ("", "generic"):
        return given
    for p, rx in PROVIDER_HINTS:
        if re.search(rx, reply, re.I):
            return p
    return given or "generic"


def load_out():
    """(reply, hint, provider, source, group) from every extractor's output, fixed order."""
    for name, group in (("issues.tsv", "issue-threads-corpus14"), ("docs_hand.tsv", "provider-docs")):
        p = os.path.join(HERE, name)
        if os.path.exists(p):
            for line in open(p, encoding="utf-8"):
                if line.startswith("#") or not line.strip():
                    continue
                r = line.rstrip("\n").split("\t")
                yield (r[0], r[1], r[2], r[3], r[4] if len(r) > 4 else group)
    order = ["sisimai", "sisimaicode", "fieldmanual", "zonemta", "docs_more", "issues", "emlcols", "mta"]
    files = sorted(glob.glob(os.path.join(HERE, "out", "*.tsv")),
                   key=lambda f: (order.index(os.path.basename(f)[:-4]) if os.path.basename(f)[:-4] in order else 99, f))
    for f in files:
        name = os.path.basename(f)[:-4]
        if name == "mta_more":
            continue  # read last, below
        for line in open(f, encoding="utf-8"):
            r = line.rstrip("\n").split("\t")
            if name == "sisimai":  # reply, hint, source, kind
                yield (r[0], r[1], "", r[2], "sisimai-set-of-emails")
            else:
                yield tuple(r[:5])
    # the hand-gathered rows of the corpus14b pass come last, so no earlier row changes group; their
    # group is the fifth column (issue-threads-b, qa-pages, greylister-sources, provider-docs-b)
    yield from load_gathered("gathered.tsv")
    # the MTA / filter sources of the corpus14c pass (mta_sources.py's SOURCES_MORE) come after them
    p = os.path.join(HERE, "out", "mta_more.tsv")
    if os.path.exists(p):
        for line in open(p, encoding="utf-8"):
            yield tuple(line.rstrip("\n").split("\t")[:5])
    yield from load_late()


def load_late():
    """The hand-gathered rows of the corpus14d pass (gathered_d.tsv), read after every other
    input, so that adding them changed no earlier row (see --append)."""
    yield from load_gathered("gathered_d.tsv")


def load_gathered(name):
    """(reply, =label, provider, source, group) rows of a hand-gathered file, comments skipped."""
    p = os.path.join(HERE, name)
    if os.path.exists(p):
        for line in open(p, encoding="utf-8"):
            if line.startswith("#") or not line.strip():
                continue
            r = line.rstrip("\n").split("\t")
            yield (r[0], r[1], r[2], r[3], r[4])


def load_committed():
    """The rows of the committed corpus.tsv, as they are (for --append, which needs no mirror)."""
    rows = list(csv.reader(open(os.path.join(DATA, "corpus.tsv"), encoding="utf-8"), delimiter="\t",
                           quoting=csv.QUOTE_NONE))[1:]
    return [dict(reply=r[0], category=r[1], retry=r[2], provider=r[3], source=r[4], group=r[5],
                 how="committed", hint="") for r in rows]


def load_overrides():
    ov = {}
    p = os.path.join(HERE, "overrides.tsv")
    if os.path.exists(p):
        for line in open(p, encoding="utf-8"):
            if not line.strip() or line.startswith("#"):
                continue
            reply, cat, retry = line.rstrip("\n").split("\t")[:3]
            ov[norm(reply)] = (cat, retry)
    return ov


def valid(reply):
    m = re.match(r"^([2-5][0-9][0-9])(?:[ -]|$)", reply)
    if not (m and 400 <= int(m.group(1)) <= 599 and "\t" not in reply):
        return False
    # a text, not just an address or a code: two words of letters outside addresses
    t = re.sub(r"<[^>]*>|\S+@\S+|https?://\S+|\b[2-5]\d\d[ -]|\b[245]\.\d+\.\d+", " ", reply.replace("\\n", " "))
    return len(re.findall(r"[A-Za-z]{2,}", t)) >= 2


def main():
    ov = load_overrides()
    rows, seen = [], set()
    if "--append" in sys.argv:
        # The committed rows stay as they are; only the rows read last (load_late) are added.
        rows = load_committed()
        seen = {norm(r["reply"]) for r in rows}
        new_rows = load_late()
    else:
        ex = list(csv.reader(open(os.path.join(DATA, "replies.tsv"), encoding="utf-8"), delimiter="\t"))[1:]
        for r in ex:
            k = norm(r[0])
            if k in seen:
                continue
            seen.add(k)
            rows.append(dict(reply=r[0], category=r[1], retry=r[2], provider=r[3], source=r[4],
                             group=group_of_existing(r[4]), how="hand (replies.tsv)", hint=""))
        new_rows = load_out()
    for reply, hint, prov, src, group in new_rows:
        reply = reply.strip()
        if not valid(reply):
            continue
        k = norm(reply)
        if k in seen:
            continue
        seen.add(k)
        if k in ov and ov[k][0] == "DROP":
            continue  # looked at by hand: not a whole reply text (a fragment, a signature, a help text)
        if k in ov:
            cat, retry = ov[k]
            how = "hand (overrides.tsv)"
        elif hint.startswith("="):
            cat, retry = hint[1:].split("/")
            how = "hand (transcribed)"
            hint = ""
        else:
            cat, retry, why = label(reply, hint)
            how = "label.py " + why
        rows.append(dict(reply=reply, category=cat, retry=retry, provider=provider_of(reply, prov), source=src,
                         group=group, how=how, hint=hint))
    for r in rows:
        assert r["category"] in CATS, r
        assert r["retry"] in ("yes", "no"), r
    split = choose_split(rows)
    if "--freeze" in sys.argv:
        freeze(split)
    with open(os.path.join(DATA, "corpus.tsv"), "w", encoding="utf-8") as f:
        f.write("reply\tcategory\tretry\tprovider\tsource\tgroup\tsplit\n")
        for r in rows:
            f.write("\t".join([r["reply"], r["category"], r["retry"], r["provider"], r["source"], r["group"],
                               split[r["group"]]]) + "\n")
    # a side file for review (not committed data): how each label was made
    os.makedirs(os.path.join(HERE, "out"), exist_ok=True)
    with open(os.path.join(HERE, "out", "review.tsv"), "w", encoding="utf-8") as f:
        for r in rows:
            f.write("\t".join([r["category"], r["retry"], r["hint"], r["how"], r["group"], r["reply"], norm(r["reply"])]) + "\n")
    c = Counter((r["category"], split[r["group"]]) for r in rows)
    g = Counter(r["group"] for r in rows)
    print("rows", len(rows), "groups", len(g))
    for cat in CATS:
        print(f"  {cat:22} dev {c[(cat,'dev')]:5}  test {c[(cat,'test')]:5}")
    thr = sum(1 for r in rows if r["category"] in ("rate_limited", "too_many_connections", "greylisted", "reputation", "server_busy"))
    print("throttling", thr)
    THR = ("rate_limited", "too_many_connections", "greylisted", "reputation", "server_busy")
    for k, v in sorted(g.items(), key=lambda x: -x[1]):
        t = sum(1 for r in rows if r["group"] == k and r["category"] in THR)
        print(f"  {k:40} {v:5} {split[k]:5} throttling {t}")
    print("split rows", Counter(split[r["group"]] for r in rows))
    print("split throttling", Counter(split[r["group"]] for r in rows if r["category"] in THR))
    print("retry", Counter((r["retry"], split[r["group"]]) for r in rows))


if __name__ == "__main__":
    main()
