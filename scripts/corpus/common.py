"""Shared helpers of the corpus scripts (our own code)."""
import os, re, subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")
MIRROR = "/work/.mirror"
REPLY_RE = re.compile(r"^([2-5][0-9][0-9])(?:[ -]|$)")


def git(repo, *a):
    """repo is 'owner+name'; runs git on its bare mirror."""
    d = f"{MIRROR}/{repo}/repo"
    if os.path.isdir(d + "/.git"):
        d += "/.git"
    return subprocess.run(["git", "--git-dir", d] + list(a),
                          capture_output=True, check=True).stdout


def ls(repo, under=""):
    args = ["ls-tree", "-r", "--name-only", "HEAD"] + ([under] if under else [])
    return [n for n in git(repo, *args).decode("utf-8", "replace").split("\n") if n]


def show(repo, path):
    return git(repo, "show", "HEAD:" + path)


def clean(reply):
    r = reply.replace("\t", " ").replace("\r", "").strip()
    r = re.sub(r"(?:\^M)+$", "", r).strip()
    r = re.sub(r"^smtp;\s*", "", r, flags=re.I)
    r = re.sub(r"\s*\(in reply to (?:end of )?[A-Za-z /]+ command\)+\s*$", "", r)
    r = re.sub(r"[ ]{2,}", " ", r) if "\\n" not in r else r
    return r


def ok(reply):
    m = REPLY_RE.match(reply)
    return bool(m) and 200 <= int(m.group(1)) <= 599 and re.search(r"[A-Za-z]{2}", reply) is not None


def write(name, rows):
    """rows: (reply, hint, provider, source, group)"""
    os.makedirs(OUT, exist_ok=True)
    n = 0
    with open(os.path.join(OUT, name + ".tsv"), "w") as f:
        for r in rows:
            r = list(r)
            r[0] = clean(r[0])
            if not ok(r[0]):
                continue
            f.write("\t".join(str(x).replace("\t", " ").replace("\n", "\\n") for x in r) + "\n")
            n += 1
    print(name, n)
