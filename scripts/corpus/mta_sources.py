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

# Added in the corpus14c pass.  Written to out/mta_more.tsv, which build.py reads after gathered.tsv, so
# no earlier row changes its representative or group.  The sixth column is how the literals are read
# ("c": double-quoted literals, adjacent ones joined; "js": '...', "..." and `...`).  None of them is a
# fork or copy of a repository above (mailpit's internal/smtpd, a copy of mhale/smtpd, and chrj/smtpd, built
# on go-smtp's API, were left out; clamav-milter, OpenDKIM, OpenARC, sqlgrey, simscan, amavisd-milter and the
# Haraka plugins give their texts without a literal code or fill them from variables, and yielded nothing).
SOURCES_MORE = [
    ("twisted+twisted", r"^src/twisted/mail/(smtp|protocols|relay|_cred)\.py$", "twisted-mail-source", "generic", "twisted/twisted:", "js"),
    ("gen-smtp+gen_smtp", r"^src/(gen_smtp_server_session|smtp_server_example)\.erl$", "gen-smtp-source", "generic", "gen-smtp/gen_smtp:", "c"),
    ("inbucket+inbucket", r"^pkg/server/smtp/.*\.go$", "inbucket-source", "generic", "inbucket/inbucket:", "c"),
    ("simple-login+app", r"^(app/email/status\.py|email_handler\.py|app/[\w/]*\.py)$", "simplelogin-source", "simplelogin", "simple-login/app:", "c"),
    ("smtpd+qpsmtpd", r"^(lib/.*\.pm|plugins/.*|qpsmtpd[-\w]*)$", "qpsmtpd-source", "qpsmtpd", "smtpd/qpsmtpd:", "c"),
    ("rnwood+smtp4dev", r"^smtpserver/Rnwood\.SmtpServer/.*\.cs$", "smtp4dev-source", "generic", "rnwood/smtp4dev:", "c"),
    ("mailhog+smtp", r"^[^/]*\.go$", "mailhog-source", "generic", "mailhog/smtp:", "c"),
    ("moggers87+salmon", r"^salmon/.*\.py$", "salmon-source", "generic", "moggers87/salmon:", "c"),
    ("Mailu+Mailu", r"^core/admin/mailu/internal/.*\.py$", "mailu-source", "mailu", "Mailu/Mailu:", "js"),
    ("viridIT+vSMTP", r"^src/(?!vsmtp/vsmtp-test/).*\.(rs|rhai)$", "vsmtp-source", "vsmtp", "viridIT/vSMTP:", "c"),
    ("postfwd+postfwd", r"^sbin/postfwd3$", "postfwd-source", "postfwd", "postfwd/postfwd:", "c"),
    ("rs+net-server-mail", r"^lib/.*\.pm$", "net-server-mail-source", "generic", "rs/net-server-mail:", "js"),
    ("siebenmann+smtpd", r"^[^/]*\.go$", "siebenmann-smtpd-source", "generic", "siebenmann/smtpd:", "c"),
    ("alfmel+rsmtpd", r"^rsmtpd/.*\.py$", "rsmtpd-source", "generic", "alfmel/rsmtpd:", "c"),
    ("benningm+mtpolicyd", r"^lib/.*\.pm$", "mtpolicyd-source", "generic", "benningm/mtpolicyd:", "js"),
    ("MWinther+mw_greylist", r"^mw_greylist/.*\.py$", "mw-greylist-source", "generic", "MWinther/mw_greylist:", "js"),
    ("policyd-weight+policyd-weight", r"^policyd-weight$", "policyd-weight-source", "generic", "policyd-weight/policyd-weight:", "js"),
    ("proxmox+pmg-api", r"^src/PMG/.*\.pm$", "pmg-api-source", "generic", "proxmox/pmg-api:", "js"),
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


def more_calls(src, repo):
    """Call forms of the SOURCES_MORE servers (not applied to SOURCES, whose rows stay as they were)."""
    out = []
    # Twisted: self.sendCode(550, b"text")
    for m in re.finditer(r"\bsendCode\(\s*([45][0-9][0-9])\s*,\s*b?(['\"])((?:(?!\2)[^\\\n]|\\.)*)\2", src):
        out.append(m.group(1) + " " + m.group(3))
    # MailHog: &Reply{550, []string{"text"}, nil}
    for m in re.finditer(r"Reply\{\s*([45][0-9][0-9]),\s*\[\]string\{\s*\"((?:[^\"\\\n]|\\.)*)\"\s*\}", src):
        out.append(m.group(1) + " " + m.group(2))
    # smtp4dev: new SmtpResponse(StandardSmtpResponseCode.Name, "text"); the names' numbers are read from
    # its own StandardSmtpResponseCode.cs
    if repo == "rnwood+smtp4dev":
        enum = dict(re.findall(r"(\w+)\s*=\s*(\d{3})", show(repo, "smtpserver/Rnwood.SmtpServer/StandardSmtpResponseCode.cs").decode()))
        for m in re.finditer(r"new SmtpResponse\(\s*StandardSmtpResponseCode\.(\w+)\s*,\s*\"((?:[^\"\\\n]|\\.)*)\"\s*\)", src):
            if m.group(1) in enum:
                out.append(enum[m.group(1)] + " " + m.group(2))
    # vSMTP: ReplyCode::Code{ code: 451 }, "text" / ReplyCode::Enhanced{ code: 554, enhanced: "5.5.1".to_string() }, "text",
    # and its rule engine's codes.rhai: #{ code: 550, enhanced: "5.7.23", text: "text" }
    for m in re.finditer(r"ReplyCode::Code\{\s*code:\s*([45][0-9][0-9])\s*\}\s*,\s*\"((?:[^\"\\\n]|\\.)*)\"", src):
        out.append(m.group(1) + " " + m.group(2))
    for m in re.finditer(r"ReplyCode::Enhanced\{\s*code:\s*([45][0-9][0-9]),\s*enhanced:\s*\"([245]\.\d{1,3}\.\d{1,3})\"\.to_string\(\)\s*\}\s*,\s*\"((?:[^\"\\\n]|\\.)*)\"", src):
        out.append(f"{m.group(1)} {m.group(2)} {m.group(3)}")
    for m in re.finditer(r"#\{\s*code:\s*([45][0-9][0-9]),\s*enhanced:\s*\"([245]\.\d{1,3}\.\d{1,3})\",\s*text:\s*\"((?:[^\"\\\n]|\\.)*)\"", src):
        out.append(f"{m.group(1)} {m.group(2)} {m.group(3)}")
    # rsmtpd: class SmtpResponse451: _smtp_code = 451 / _message = "text"
    for m in re.finditer(r"_smtp_code\s*=\s*([45][0-9][0-9])\s*\n\s*_message\s*=\s*\"((?:[^\"\\\n]|\\.)*)\"", src):
        out.append(m.group(1) + " " + m.group(2))
    # postfwd's manual (POD in the script): action=450 4.7.1 text, action=rate(client_address/30/3600/450 4.7.1 text)
    if repo == "postfwd+postfwd":
        for m in re.finditer(r"action=(?:rate|size|rcpt)\([^/)\n]+/[\d.]+/\d+/([45][0-9][0-9] [^)\n]*)\)", src):
            out.append(m.group(1))
        for m in re.finditer(r"action=([45][0-9][0-9] [245]\.\d\.\d [^\n;]*)", src):
            out.append(m.group(1).strip())
    return out


def more_usable(t):
    # Perl / Erlang / C# interpolation left in the text: the literal goes on in a variable
    return not re.search(r"\$\w|~[spwa]\b|\{\w+\}|\\[rn]", t)


def main():
    rows = []
    extract(SOURCES, rows, False)
    write("mta", rows)
    more = []
    extract(SOURCES_MORE, more, True)
    write("mta_more", more)


def extract(sources, rows, more):
    for src_entry in sources:
        repo, rx, group, prov, pre = src_entry[:5]
        try:
            files = [p for p in ls(repo) if re.search(rx, p)]
        except Exception as e:
            print("skip", repo, e)
            continue
        n0 = len(rows)
        lang = src_entry[5] if more else "c" if repo.split("+")[0] in ("cmail-mta", "davidmoten", "greenmail-mail-test", "sagredo-dev", "svarshavchik", "mbhangui", "vdukhovni", "Exim", "hrs-allbsd", "notqmail", "OpenSMTPD", "kou") else "js"
        if not more and repo.startswith(("stalwartlabs", "foxcpp", "mjl-", "KumoCorp", "hmailserver", "poolpOrg", "mbhangui", "davidmoten", "greenmail-mail-test", "cmail-mta", "emersion", "mhale", "albertito", "cyrusimap", "dovecot", "phires", "trusteddomain")):
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
            if more:
                # commented-out code is never sent: drop whole comment lines (#, %, //)
                crx = r"^[ \t]*%.*$" if p.endswith(".erl") else r"^[ \t]*//.*$" if re.search(r"\.(go|rs|cs|rhai)$", p) else r"^[ \t]*#(?![\[!]).*$"
                src = re.sub(crx, "", src, flags=re.M)
                # rsmtpd's <server_name> is the server's own name
                src = src.replace("<server_name>", "mx.example.com")
                # mtpolicyd's CtIpRep messages: %IP% is the client's address, %REFID% a reference number
                src = src.replace("%IP%", "192.0.2.1").replace("%REFID%", "10")
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
            if more:
                lits += more_calls(src, repo)
            for lit in lits:
                if not placeholders_ok(lit):
                    continue
                t = fill(lit, not repo.startswith("OpenSMTPD"))
                if usable(t) and (not more or more_usable(t)):
                    rows.append((t, "", prov, pre + p + " (reply template; placeholders filled)", group))
        print(group, len(rows) - n0)


main()
