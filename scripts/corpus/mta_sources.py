"""Reply templates from MTA / filter source code (our own code).

Takes string literals (adjacent C literals joined) that begin with a literal 3-digit reply
code, and fills printf/expansion placeholders with documentation values:
<%s> -> <user@example.com>, [%s] -> [192.0.2.1], "from %s"/"host %s"/"client %s" -> 192.0.2.1,
other %s -> example.com, %d/%u/%ld... -> 10.  Literals that still hold code-ish junk are dropped.
"""
import re, sys
from common import ls, show, write

SOURCES = [
    # mirror, path regex, group, provider, source prefix
    ("vdukhovni+postfix", r"^postfix/src/.*\.[ch]$", "postfix-source", "postfix", "vdukhovni/postfix:"),
    ("Exim+exim", r"^src/src/.*\.[ch]$", "exim-source", "exim", "Exim/exim:"),
    ("hrs-allbsd+sendmail", r"^(sendmail|libmilter)/.*\.[ch]$", "sendmail-source", "sendmail", "hrs-allbsd/sendmail:"),
    ("notqmail+notqmail", r"^[^/]*\.c$", "qmail-source", "qmail", "notqmail/notqmail:"),
    ("OpenSMTPD+OpenSMTPD", r"^(usr\.sbin/smtpd|smtpd)/.*\.[ch]$", "opensmtpd-source", "opensmtpd", "OpenSMTPD/OpenSMTPD:"),
    ("haraka+Haraka", r"^(?!node_modules).*\.js$", "haraka-source", "haraka", "haraka/Haraka:"),
    ("zone-eu+zone-mta", r"^(lib|plugins)/.*\.js$", "zone-mta-source", "zonemta", "zone-eu/zone-mta:"),
    ("nodemailer+smtp-server", r"^lib/.*\.js$", "nodemailer-smtp-server-source", "generic", "nodemailer/smtp-server:"),
    ("schweikert+postgrey", r"^(postgrey|contrib/.*)$", "greylisters-source", "postgrey", "schweikert/postgrey:"),
    ("kou+milter-greylist", r"\.[chy]$|\.l$", "greylisters-source", "milter-greylist", "kou/milter-greylist:"),
    ("rspamd+rspamd", r"^(src|conf|rules)/.*\.(c|h|cxx|hxx|lua|conf|inc)$", "rspamd-source", "rspamd", "rspamd/rspamd:"),
    ("stalwartlabs+mail-server", r"^crates/.*\.rs$", "stalwart-source", "stalwart", "stalwartlabs/mail-server:"),
    ("foxcpp+maddy", r"\.go$", "maddy-source", "maddy", "foxcpp/maddy:"),
    ("mjl-+mox", r"^(smtpserver|smtp|queue|dsn)/.*\.go$", "mox-source", "mox", "mjl-/mox:"),
    ("KumoCorp+kumomta", r"^crates/.*\.rs$", "kumomta-source", "kumomta", "KumoCorp/kumomta:"),
    ("hmailserver+hmailserver", r"^hmailserver/source/Server/.*\.(cpp|h)$", "hmailserver-source", "hmailserver", "hmailserver/hmailserver:"),
    ("aio-libs+aiosmtpd", r"^aiosmtpd/[^/]*\.py$", "python-smtpd-source", "generic", "aio-libs/aiosmtpd:"),
    ("postalserver+postal", r"^(app|lib)/.*\.rb$", "postal-source", "postal", "postalserver/postal:"),
    ("albertito+chasquid", r"^internal/.*\.go$", "chasquid-source", "chasquid", "albertito/chasquid:"),
    ("cyrusimap+cyrus-imapd", r"^imap/(lmtp|spool).*\.c$", "cyrus-lmtp-source", "cyrus", "cyrusimap/cyrus-imapd:"),
    ("dovecot+core", r"^src/(lmtp|lib-smtp|submission)/.*\.c$", "dovecot-source", "dovecot", "dovecot/core:"),
    ("phires+go-guerrilla", r"\.go$", "go-guerrilla-source", "generic", "phires/go-guerrilla:"),
    ("mbhangui+indimail-mta", r"^indimail-mta-x/(smtpd|mini-smtpd|ofmipd|dnsbl|greylist|qmail-greyd|qmail-dkim|smtp_plugin|qmail-spamfilter|rblsmtpd|qmail-qmtpd)\.c$", "indimail-source", "indimail", "mbhangui/indimail-mta:"),
    ("hrs-allbsd+sendmail", r"^cf/(m4|feature|hack)/.*\.m4$", "sendmail-cf-m4", "sendmail", "hrs-allbsd/sendmail:"),
    ("sagredo-dev+qmail", r"^(qmail-smtpd\.c|chkuser\.c|chkuser_settings\.h|qmail-spp\.c)$", "qmail-patched-source", "qmail", "sagredo-dev/qmail:"),
    ("svarshavchik+courier", r"^courier/courier/(submit|submit2|cmlmfilter)\.C$|^courier/courier/module\.(esmtp|local)/.*\.C$", "courier-source", "courier", "svarshavchik/courier:"),
    ("davidmoten+subethasmtp", r"^src/main/.*\.java$", "java-smtp-servers-source", "generic", "davidmoten/subethasmtp:"),
    ("greenmail-mail-test+greenmail", r"/src/main/.*\.java$", "java-smtp-servers-source", "generic", "greenmail-mail-test/greenmail:"),
    ("cmail-mta+cmail", r"^cmail-[a-z]+/.*\.c$", "cmail-source", "cmail", "cmail-mta/cmail:"),
    ("poolpOrg+filter-greylist", r"\.go$", "opensmtpd-filters-source", "opensmtpd", "poolpOrg/filter-greylist:"),
    ("poolpOrg+filter-senderscore", r"\.go$", "opensmtpd-filters-source", "opensmtpd", "poolpOrg/filter-senderscore:"),
    ("poolpOrg+filter-rspamd", r"\.go$", "opensmtpd-filters-source", "opensmtpd", "poolpOrg/filter-rspamd:"),
    ("poolpOrg+filter-spfgreylist", r"\.go$", "opensmtpd-filters-source", "opensmtpd", "poolpOrg/filter-spfgreylist:"),
    ("emersion+go-smtp", r"^[^/]*\.go$", "go-smtp-source", "generic", "emersion/go-smtp:"),
    ("mhale+smtpd", r"^[^/]*\.go$", "go-smtp-source", "generic", "mhale/smtpd:"),
    ("trusteddomainproject+OpenDMARC", r"^opendmarc/.*\.c$", "milters-source", "opendmarc", "trusteddomainproject/OpenDMARC:"),
]

LIT = {
    "c": re.compile(r'"((?:[^"\\\n]|\\.)*)"'),
    "js": re.compile(r'"((?:[^"\\\n]|\\.)*)"|\'((?:[^\'\\\n]|\\.)*)\'|`((?:[^`\\]|\\.)*)`'),
}
START = re.compile(r"^([2-5][0-9][0-9])([ -])")


def fill(t, host_first=True):
    # a %s right after the code is the server's hostname in postfix/exim/sendmail
    if host_first:
        t = re.sub(r"^([2-5][0-9][0-9][ -](?:[245]\.[0-9]+\.[0-9]+ )?)%s([ :])", r"\1mx.example.com\2", t)
    t = t.replace("\\r\\n", "").replace("\\n", "").replace("\\r", "").replace('\\"', '"').replace("\\'", "'").replace("\\t", " ")
    t = t.replace("\\\\", "\\")
    t = re.sub(r"<%[-.*0-9]*s>", "<user@example.com>", t)
    t = re.sub(r"\[%[-.*0-9]*s\]", "[192.0.2.1]", t)
    t = re.sub(r"(?i)\b(from|client|host|ip|address|connections from|for host)\s+%[-.*0-9]*s", r"\1 192.0.2.1", t)
    t = re.sub(r"%[-.*0-9]*s", "example.com", t)
    t = re.sub(r"%[-.*0-9]*l*[duzi]|%zu|%lu|%llu", "10", t)
    t = t.replace("%%", "%")
    # exim expansion variables
    t = re.sub(r"\$(?:\{)?sender_host_address\}?", "192.0.2.1", t)
    t = re.sub(r"\$(?:\{)?(?:local_part@\$domain)\}?", "user@example.com", t)
    t = re.sub(r"\$\{?(?:primary_hostname|smtp_active_hostname)\}?", "mx.example.com", t)
    # JS template literals: ${...} -> documentation values
    t = re.sub(r"\$\{[^}]*(?:addr|ip|remote)[^}]*\}", "192.0.2.1", t, flags=re.I)
    t = re.sub(r"\$\{[^}]*(?:email|rcpt|recipient|sender|from|to)[^}]*\}", "user@example.com", t, flags=re.I)
    t = re.sub(r"\$\{[^}]*(?:host|name|domain)[^}]*\}", "mx.example.com", t, flags=re.I)
    t = re.sub(r"\$\{[^}]*(?:size|limit|max|count|num|len)[^}]*\}", "10", t, flags=re.I)
    # Rust format! placeholders: a number after "of/in/than/maximum", else the host name
    t = re.sub(r"(?i)\b(of|in|than|maximum|max|limit|exceeds|after|every)\s+\{\w*\}", r"\1 10", t)
    t = re.sub(r"\{\w*(?:host|name)\w*\}|^([2-5]\d\d[ -](?:[245]\.\d+\.\d+ )?)\{\}", lambda m: (m.group(1) or "") + "mx.example.com", t)
    t = re.sub(r"\{\}", "example.com", t)
    return t.strip()


def placeholders_ok(lit):
    ph = re.findall(r"%[-.*0-9]*l*[sduzic]", lit)
    if len(ph) > 2 or re.search(r"%[-.*0-9]*[sd]\s*%[-.*0-9]*[sd]", lit) or re.search(r"%[-.*0-9]*s:\s*%", lit):
        return False
    return True


def usable(t):
    if re.search(r"[\s:]['\"]$|(?:found|position|encountered|topic)$", t):
        return False  # ends where a variable was to be inserted
    if re.search(r"[A-Za-z0-9]example\.com|example\.com[A-Za-z0-9]", t):
        return False  # a placeholder glued to a word: the literal is a fragment
    if "%" in t or re.search(r"(?i)(?:\s(?:for|to|from|of|with|at|in|by|is|the|as|and|on|address|host|domain|recipient|sender|user)|[(:=,])$", t):
        return False  # the literal goes on in a variable: not a whole text
    if not re.match(r"^[45]", t):
        return False  # keep failure replies only
    if not START.match(t):
        return False
    if re.search(r"\$\{|\{[^}]*\}|%[a-z]|\\x|\\[0-7]{3}", t):
        return False
    if len(t) < 8 or not re.search(r"[A-Za-z]{3}", t[4:]):
        return False
    rest = re.sub(r"^[2-5][0-9][0-9][ -](?:[245]\.[0-9]+\.[0-9]+ )?", "", t)
    rest = re.sub(r"mx\.example\.com|example\.com|user@example\.com|192\.0\.2\.1|\b10\b", " ", rest)
    if len(re.findall(r"[A-Za-z]{2,}", rest)) < 2:
        return False
    return True


def literals(src, lang):
    if lang == "c":
        # Rust concat!("a", "b") is one literal
        src = re.sub(r'concat!\(\s*((?:"(?:[^"\\\n]|\\.)*"\s*,?\s*)+)\)',
                     lambda m: '"' + "".join(re.findall(r'"((?:[^"\\\n]|\\.)*)"', m.group(1))) + '"', src)
        # join adjacent literals "a" "b"
        out = []
        for m in re.finditer(r'(?:"(?:[^"\\\n]|\\.)*"\s*)+', src):
            parts = re.findall(r'"((?:[^"\\\n]|\\.)*)"', m.group(0))
            # a literal that starts with its own reply code is a new text, not a continuation
            cur = []
            for part in parts:
                if cur and START.match(part):
                    out.append("".join(cur))
                    cur = []
                cur.append(part)
            out.append("".join(cur))
        return out
    out = []
    for m in LIT["js"].finditer(src):
        out.append(next(g for g in m.groups() if g is not None) if any(g is not None for g in m.groups()) else "")
    return out


def main():
    rows = []
    for repo, rx, group, prov, pre in SOURCES:
        try:
            files = [p for p in ls(repo) if re.search(rx, p)]
        except Exception as e:
            print("skip", repo, e)
            continue
        n0 = len(rows)
        lang = "c" if repo.split("+")[0] in ("cmail-mta", "davidmoten", "greenmail-mail-test", "sagredo-dev", "svarshavchik", "mbhangui", "vdukhovni", "Exim", "hrs-allbsd", "notqmail", "OpenSMTPD", "kou") else "js"
        if repo.startswith(("stalwartlabs", "foxcpp", "mjl-", "KumoCorp", "hmailserver", "poolpOrg", "mbhangui", "davidmoten", "greenmail-mail-test", "cmail-mta", "emersion", "mhale", "albertito", "cyrusimap", "dovecot", "phires", "trusteddomain")):
            lang = "c"
        for p in files:
            if "/test" in p or p.startswith("test") or "_test." in p:
                continue
            try:
                src = show(repo, p).decode("utf-8", "replace")
            except Exception:
                continue
            if p.endswith(".rs") and "#[cfg(test)]" in src:
                src = src[: src.index("#[cfg(test)]")]
            lits = [l for l in literals(src, lang) if placeholders_ok(l)]
            # code and text given separately: respond(550, "text") / send(550, 'text')
            for m in re.finditer(r"\b(?:respond|send|reply|smtp_respond)\(\s*([45][0-9][0-9])\s*,\s*(['\"`])((?:(?!\2).)*)\2", src):
                lits.append(m.group(1) + " " + m.group(3))
            # code, enhanced code and text as three arguments: smfi_setreply(ctx, "550", "5.7.1", "..."),
            # smtp_server_reply(cmd, 550, "5.1.1", "...")
            for m in re.finditer(r"\(\s*(?:[\w>.-]+\s*,\s*)?\"?([45][0-9][0-9])\"?\s*,\s*\"([245]\.[0-9]{1,3}\.[0-9]{1,3})\"\s*,\s*\"((?:[^\"\\\n]|\\.)*)\"", src):
                lits.append(f"{m.group(1)} {m.group(2)} {m.group(3)}")
            # go-smtp: writeResponse(550, EnhancedCode{5, 1, 1}, "text")
            for m in re.finditer(r"\(\s*([45][0-9][0-9]),\s*(?:smtp\.)?EnhancedCode\{(\d),\s*(\d+),\s*(\d+)\},\s*\"((?:[^\"\\\n]|\\.)*)\"", src):
                lits.append(f"{m.group(1)} {m.group(2)}.{m.group(3)}.{m.group(4)} {m.group(5)}")
            # OpenSMTPD filter protocol: "reject|451 text", "disconnect|550 text"
            for m in re.finditer(r"(?:reject|disconnect)\|([45][0-9][0-9] [^\"\n]*)\"", src):
                lits.append(m.group(1))
            # Go: return 550, "5.1.1 text"
            for m in re.finditer(r"\breturn\s+([45][0-9][0-9]),\s*\"((?:[^\"\\\n]|\\.)*)\"", src):
                lits.append(f"{m.group(1)} {m.group(2)}")
            # Go SMTPError{Code: 550, EnhancedCode: ...{5, 7, 1}, Message: "..."}
            for m in re.finditer(r"Code:\s*([45][0-9][0-9]),\s*EnhancedCode:\s*[\w.]*EnhancedCode\{(\d), (\d+), (\d+)\},\s*Message:\s*\"((?:[^\"\\\n]|\\.)*)\"", src):
                lits.append(f"{m.group(1)} {m.group(2)}.{m.group(3)}.{m.group(4)} {m.group(5)}")
            for lit in lits:
                if not placeholders_ok(lit):
                    continue
                t = fill(lit, not repo.startswith("OpenSMTPD"))
                if usable(t):
                    rows.append((t, "", prov, pre + p + " (reply template; placeholders filled)", group))
        print(group, len(rows) - n0)
    write("mta", rows)


main()
