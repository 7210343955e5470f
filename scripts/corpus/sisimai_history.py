"""Replies from every version of Sisimai's sample emails in the repositories' histories (our own code).

Older versions (before a file was renamed, re-anonymised or removed) sometimes carry replies
that the newest snapshot does not.  Each unique blob is read once; rows are deduplicated later.
"""
import re, subprocess
from common import git, write
from emlreplies import replies_in_message

REPOS = ["sisimai+set-of-emails", "sisimai+go-sisimai", "sisimai+p5-sisimai", "sisimai+rb-sisimai"]


def main():
    seen, rows = set(), []
    for repo in REPOS:
        out = git(repo, "rev-list", "--all", "--objects").decode("utf-8", "replace").split("\n")
        for line in out:
            parts = line.split(" ", 1)
            if len(parts) != 2 or not re.search(r"\.eml$", parts[1]) or "/not/" in parts[1]:
                continue
            sha, path = parts
            if sha in seen:
                continue
            seen.add(sha)
            try:
                raw = git(repo, "cat-file", "blob", sha)
            except subprocess.CalledProcessError:
                continue
            for kind, r in replies_in_message(raw):
                rows.append((r, "", "", f"{repo.replace('+', '/')}:{path} (blob {sha[:10]})", "sisimai-set-of-emails"))
    write("sisimai_history", rows)


main()
