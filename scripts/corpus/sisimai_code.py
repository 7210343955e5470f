"""Full replies quoted in comments of Sisimai's per-provider code (our own code).

go-sisimai rhost/*.go, lhost/*.go and reason/*.go quote providers' documented replies in
comments like "// - 550 5.7.26 This message ...", wrapped over "//   ..." lines.  We join
the wrapped lines (undoing the comment's own hyphenation "mes-" + "sage"), and fill the
placeholders of the documentation (domain-name, ip-address) with example.com / 192.0.2.1.
The reason name of the enclosing map is kept as a hint.
"""
import re
from common import ls, show, write

REPOS = [("sisimai+go-sisimai", r"^(rhost|lhost|reason)/.*\.go$", "sisimai/go-sisimai:"),
         ("sisimai+p5-sisimai", r"^lib/Sisimai/(Rhost|Lhost|Reason)/.*\.pm$", "sisimai/p5-sisimai:"),
         ("sisimai+rb-sisimai", r"^lib/sisimai/(rhost|lhost|reason)/.*\.rb$", "sisimai/rb-sisimai:")]


def main():
    rows = []
    for REPO, rx, pre in REPOS:
      for p in ls(REPO):
        if not re.match(rx, p) or p.endswith("_test.go"):
            continue
        lines = show(REPO, p).decode("utf-8", "replace").split("\n")
        key = ""
        i = 0
        while i < len(lines):
            l = lines[i]
            mk = re.match(r"""\s*["']?(\w+)["']?\s*(?::|=>)\s*\[""", l)
            if mk:
                key = mk.group(1)
            m = re.match(r"^\s*(?://|#)\s*-\s+([2-5][0-9][0-9][ -].*)$", l)
            if not m:
                i += 1
                continue
            text = m.group(1).rstrip()
            j = i + 1
            while j < len(lines):
                c = re.match(r"^\s*(?://|#)\s{2,}(\S.*)$", lines[j])
                if not c or re.match(r"^\s*(?://|#)\s*-\s", lines[j]):
                    break
                nxt = c.group(1).rstrip()
                if re.search(r"[a-z]-$", text) and re.match(r"[a-z]", nxt):
                    text = text[:-1] + nxt
                else:
                    text = text + " " + nxt
                j += 1
            text = re.sub(r"\[?domain-name\]?", "example.com", text)
            text = re.sub(r"\[?ip-address\]?", "192.0.2.1", text)
            text = text.replace("//", "/") if "https://" not in text else re.sub(r"(?<!:)//", "#", text)
            prov = re.sub(r"^(?:lib/sisimai/)?(?:rhost/(?:for-)?|lhost/(?:via-)?)|\.(?:go|pm|rb)$", "", p, flags=re.I).lower()
            if "reason/" in p.lower():
                prov = "generic"
            rows.append((text, key, prov, pre + p, "sisimai-code-comments"))
            i = j
    write("sisimaicode", rows)


main()

