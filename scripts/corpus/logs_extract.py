"""Replies quoted in real mail logs kept as test data (our own code).

Postfix "NOQUEUE: reject: RCPT from ...: 554 5.7.1 ...; from=<...>", "host ... said: ... (in
reply to ...)", "refused to talk to me: ...", sendmail "reject=550 5.7.1 ...", exim
"rejected ... : 550 ...".  The reply is the text between those markers, unchanged.
"""
import re
from common import ls, show, write

LOGS = [
    ("fail2ban+fail2ban", r"^fail2ban/tests/files/logs/", "fail2ban-test-logs", "fail2ban/fail2ban:"),
    ("whyscream+postfix-grok-patterns", r"^test/", "log-parser-test-logs", "whyscream/postfix-grok-patterns:"),
    ("wazuh+wazuh-ruleset", r"^rules/log-entries/|^decoders/|^rules/", "log-parser-test-logs", "wazuh/wazuh-ruleset:"),
    ("crowdsecurity+hub", r"\.(log|yaml|yml|json)$", "log-parser-test-logs", "crowdsecurity/hub:"),
]
PATS = [
    re.compile(r": reject: \w+ from [^:]*?(?:\[[^\]]*\])?(?::\d+)?: ([45]\d\d[ -].*?); (?:from=|proto=)"),
    re.compile(r"\bsaid: ([45]\d\d[ -].*?)(?: \(in reply to [^)]*\))?\)?\s*$"),
    re.compile(r"refused to talk to me: ([45]\d\d[ -].*?)\)?\s*$"),
    re.compile(r"\breject=([45]\d\d[ -].*?)\s*$"),
    re.compile(r"\bdsn=\S+, status=\w+ \(([45]\d\d[ -].*?)\)\s*$"),
]


def main():
    rows = []
    for repo, rx, group, pre in LOGS:
        for p in ls(repo):
            if not re.search(rx, p):
                continue
            try:
                txt = show(repo, p).decode("utf-8", "replace")
            except Exception:
                continue
            for line in txt.split("\n"):
                for pat in PATS:
                    m = pat.search(line)
                    if m:
                        t = m.group(1).strip().rstrip('"').strip()
                        t = re.sub(r"\s*\(in reply to[^)]*\)?\)?$", "", t)
                        if re.search(r"</?match>|\|reject=|\$\w|\\[dsw]|some error message", t, re.I):
                            break  # a decoder's regex or a test's made-up text, not a reply
                        rows.append((t, "", "", pre + p, group))
                        break
    write("logs", rows)


main()
