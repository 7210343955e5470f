"""Sample replies quoted in the comments of bounce-handler rule lists (our own code).

PHPMailer-BMH and twisted1919/bounce-handler document each rule with the bounce text it
was written for ("sample: Diagnostic-Code: SMTP; 550 ...", "Remote host said: 550 ...").
A comment line indented deeper than the one before continues it (wrapped), and is joined.
Samples with regex syntax in them (".*") are skipped.
"""
import re
from common import ls, show, write
from emlreplies import START, TRAILER

SOURCES = [
    ("voku+PHPMailer-BMH", r"rules\.php$", "phpmailer-bmh-rules", "voku/PHPMailer-BMH:"),
    ("twisted1919+bounce-handler", r"rules\.php$", "phpmailer-bmh-rules", "twisted1919/bounce-handler:"),
    ("crazy-max+CwsMailBounceHandler", r"^lib/.*\.php$", "phpmailer-bmh-rules", "crazy-max/CwsMailBounceHandler:"),
]


def main():
    rows = []
    for repo, rx, group, pre in SOURCES:
        for p in ls(repo):
            if not re.search(rx, p):
                continue
            lines = show(repo, p).decode("utf-8", "replace").split("\n")
            com = []
            for l in lines:
                m = re.match(r"^(\s*\*\s*)(\S.*)$", l)
                com.append((len(m.group(1)), m.group(2).rstrip()) if m else None)
            i = 0
            while i < len(com):
                c = com[i]
                if not c:
                    i += 1
                    continue
                ind, text = c
                m = START.match(text)
                if not m or ".*" in text or "\\" in text:
                    i += 1
                    continue
                reply = m.group("reply")
                j = i + 1
                while j < len(com) and com[j] and com[j][0] > ind and not START.match(com[j][1]):
                    reply += " " + com[j][1]
                    j += 1
                reply = TRAILER.sub("", reply).strip()
                code = reply[:3]
                if not (re.match(code + "-", reply) and not re.search(r"\s" + code + " ", reply)):
                    rows.append((reply, "", "", pre + p + " (sample in a rule comment)", group))
                i = j
    write("rulecomments", rows)


main()
