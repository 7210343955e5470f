"""Replies of the mox mail server: code and enhanced code are named constants (our own code).

smtp.C550MailboxUnavail -> 550 and smtp.SeAddr1UnknownDestMailbox1 -> "1.1" are read from
mox's smtp/codes.go; the class digit of the enhanced code is the reply code's first digit,
which is how mox writes its reply lines ("550 5.1.1 text").
"""
import re
from common import ls, show, write

REPO = "mjl-+mox"


def main():
    codes = show(REPO, "smtp/codes.go").decode()
    C = dict(re.findall(r"\b(C\d{3}\w*)\s*=\s*(\d{3})", codes))
    S = dict(re.findall(r"\b(Se\w+)\s*=\s*\"(\d+\.\d+)\"", codes))
    rows = []
    call = re.compile(r"(?:xsmtp\w*Errorf|xwritecodeline|xsmtpErrorf|smtpError\w*)\(\s*(?:[\w.]+,\s*)?smtp\.(C\d{3}\w*),\s*smtp\.(Se\w+),\s*\"((?:[^\"\\\n]|\\.)*)\"")
    for p in ls(REPO):
        if not re.match(r"^(smtpserver|queue|dsn|smtpclient)/.*\.go$", p) or p.endswith("_test.go"):
            continue
        src = show(REPO, p).decode("utf-8", "replace")
        for m in call.finditer(src):
            c, se, txt = m.groups()
            if c not in C or se not in S or not C[c].startswith(("4", "5")):
                continue
            if "%" in txt:
                continue
            rows.append((f"{C[c]} {C[c][0]}.{S[se]} {txt}", "", "mox", "mjl-/mox:" + p + " (reply template)", "mox-source"))
    write("mox", rows)


main()
