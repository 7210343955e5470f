"""Replies of Apache James: SMTPResponse(SMTPRetCode.X, DSNStatus.getStatus(C, D) + " text") (our own code).

SMTPRetCode and DSNStatus constants are read from James's own sources; only responses whose
text is one string literal (nothing concatenated after it) are taken.
"""
import re
from common import ls, show, write

REPO = "apache+james-project"


def main():
    ret = show(REPO, "protocols/smtp/src/main/java/org/apache/james/protocols/smtp/SMTPRetCode.java").decode()
    dsn = show(REPO, "protocols/smtp/src/main/java/org/apache/james/protocols/smtp/dsn/DSNStatus.java").decode()
    R = dict(re.findall(r'static final String (\w+)\s*=\s*"(\d{3})"', ret))
    D = {k: v for k, v in re.findall(r'static final (?:int|String) (\w+)\s*=\s*"?([\d.]+)"?', dsn)}
    call = re.compile(r'new SMTPResponse\(\s*SMTPRetCode\.(\w+)\s*,\s*(?:DSNStatus\.getStatus\(\s*DSNStatus\.(\w+)\s*,\s*DSNStatus\.(\w+)\s*\)\s*\+\s*)?"((?:[^"\\\n]|\\.)*)"\s*\)')
    rows = []
    for p in ls(REPO):
        if not (p.endswith(".java") and "/src/main/" in p and ("smtp" in p.lower() or "lmtp" in p.lower())):
            continue
        src = show(REPO, p).decode("utf-8", "replace")
        for m in call.finditer(src):
            code = R.get(m.group(1))
            if not code or code[0] not in "45":
                continue
            txt = m.group(4).strip()
            if m.group(2):
                cls, det = D.get(m.group(2)), D.get(m.group(3))
                if not cls or not det:
                    continue
                reply = f"{code} {cls}.{det} {txt}"
            else:
                reply = f"{code} {txt}"
            rows.append((reply, "", "james", "apache/james-project:" + p + " (reply template)", "james-source"))
    write("james", rows)


main()
