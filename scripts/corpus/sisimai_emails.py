"""Replies from Sisimai's set-of-emails (bounce mails with expected reasons).

Reads the bare mirror /work/.mirror/sisimai+set-of-emails/repo and the expected reasons
in go-sisimai's fact/*_test.go.  Writes out/sisimai.tsv: reply, hint (sisimai reason),
source, kind.
"""
import os, re, subprocess, sys
sys.path.insert(0, __file__.rsplit("/", 1)[0])
from emlreplies import replies_in_message

SOE = "/work/.mirror/sisimai+set-of-emails/repo"
GOS = "/work/.mirror/sisimai+go-sisimai/repo"

def git(repo, *a):
    return subprocess.run(["git", "--git-dir", repo] + list(a), capture_output=True, check=True).stdout

def expected():
    exp = {}
    names = git(GOS, "ls-tree", "-r", "--name-only", "HEAD", "fact").decode().split()
    for n in names:
        m = re.match(r"fact/\d+-(.+)_test\.go$", n)
        if not m:
            continue
        prefix = m.group(1)
        src = git(GOS, "show", "HEAD:" + n).decode()
        for lab, idx, st, rc, reason in re.findall(r'\{"(\d+)",\s*(\d+),\s*"([^"]*)",\s*"([^"]*)",\s*"([^"]*)"', src):
            exp.setdefault(f"{prefix}-{lab}", []).append((int(idx), st, rc, reason))
    return exp

def main():
    exp = expected()
    names = [n for n in git(SOE, "ls-tree", "-r", "--name-only", "HEAD", "maildir").decode().split("\n")
             if n.endswith(".eml") and "/not/" not in n]
    rows = []
    for n in names:
        raw = git(SOE, "show", "HEAD:" + n)
        label = n.rsplit("/", 1)[1][:-4]
        e = exp.get(label, [])
        for kind, r in replies_in_message(raw):
            hint = ""
            code = r[:3]
            for idx, st, rc, reason in e:
                if (st and st in r[:12]) or (rc and rc == code):
                    hint = reason
                    break
            if not hint and len(set(x[4] if len(x) > 4 else x[3] for x in e)) == 1 and e:
                hint = e[0][3]
            rows.append((r, hint, "sisimai/set-of-emails:" + n, kind))
    os.makedirs(__file__.rsplit("/", 1)[0] + "/out", exist_ok=True)
    with open(__file__.rsplit("/", 1)[0] + "/out/sisimai.tsv", "w") as f:
        for row in rows:
            f.write("\t".join(row) + "\n")
    print(len(rows), "rows from", len(names), "files")

main()
