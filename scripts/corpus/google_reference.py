"""Replies of Google's "Gmail SMTP errors and codes" page (support.google.com/a/answer/3726730),
from the HTML snapshots kept in azumakuniyuki/feb-2024-no-auth-no-entry (our own code).

The page's table rows are (reply code, enhanced code, text); every version of the page in the
repository's history is read.  Inline tags (links, emphasis) are removed without a space, other
tags become a space.  The page's placeholders domain-name / ip-address are filled with
example.com / 192.0.2.1.
"""
import html, re
from common import git, write

REPO = "azumakuniyuki+feb-2024-no-auth-no-entry"


def cell_text(c):
    c = re.sub(r"</?(?:a|strong|em|b|i|code|span|var)\b[^>]*>", "", c, flags=re.I)
    c = re.sub(r"<[^>]+>", " ", c)
    c = html.unescape(c)
    c = re.sub(r"\s+", " ", c).strip()
    c = re.sub(r"\s+([.,;:?!)])", r"\1", c)
    return c


def main():
    rows, seen = [], set()
    for line in git(REPO, "rev-list", "--all", "--objects").decode().split("\n"):
        parts = line.split(" ", 1)
        if len(parts) != 2 or not re.search(r"3726730.*\.html?$", parts[1]) or parts[0] in seen:
            continue
        seen.add(parts[0])
        page = git(REPO, "cat-file", "blob", parts[0]).decode("utf-8", "replace")
        src = f"azumakuniyuki/feb-2024-no-auth-no-entry:{parts[1]} (HTML snapshot of https://support.google.com/a/answer/3726730)"
        for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", page, re.S | re.I):
            cells = [cell_text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S | re.I)]
            if len(cells) < 3 or not re.fullmatch(r"[45]\d\d", cells[0]) or not re.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}", cells[1]):
                continue
            t = cells[2]
            t = re.sub(r"\bdomain-name\b", "example.com", t)
            t = re.sub(r"\bip-address\b", "192.0.2.1", t)
            if t:
                rows.append((f"{cells[0]} {cells[1]} {t}", "", "google", src, "google-smtp-reference-snapshots"))
    write("googleref", rows)


main()
