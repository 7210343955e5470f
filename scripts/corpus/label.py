"""First-pass labels by meaning for the corpus rows (our own code, independent of the crate).

label(reply, hint) -> (category, retry, rule)

An ordered list of phrase tests on the reply's text decides the category; the reply code
and a source's own reason (Sisimai reason, zone-mta category) are used only where the text
says nothing specific.  Every label this gives was then looked over by hand in samples of
every group and in every row where it disagrees with the source's reason; corrections made
by hand are in overrides.tsv (normalised reply -> category, retry).
"""
import re

# (category, regex) in order: the first match decides
RULES = [
    ("rate_limited", r"unusual (?:rate|amount) of[^.]*\..{0,200}rate limited|same message-id|try again later, closing connection"),
    ("tls_required", r"rate limited because (?:tls|this message wasn.t sent over a tls|you.re not using a tls)"),
    ("relay_denied", r"relay denied|credentials for relay"),
    ("bad_domain", r"find the recipient domain"),
    ("authentication", r"(?:ptr record|unauthenticated|spf|dkim|dmarc).{0,300}rate limited|rate limited because .{0,80}(?:unauthenticated|spf|dkim|dmarc|ptr|authenticat)|spf record of the sending domain"),
    ("authentication", r"\bspf\b|dkim|dmarc"),
    ("other", r"login disabled"),
    ("tls_required", r"mta-sts"),
    ("rate_limited", r"too many recent messages"),
    ("sender_rejected", r"sender address malformed"),
    ("protocol", r"(?:smtputf8|requiretls|chunking|8bitmime|pipelining|dsn|etrn|vrfy|expn|binarymime) (?:extension |command )?(?:has been |is )?disabled|body type|body value|malformed \w+ parameter|not allowed during|parameters? not recognized|address too long|extension (?:has been |is )?disabled|cannot use both|command .{0,12}not recognized|address syntax|not valid utf-?8|already speaking tls|tls already|binarymime|urlauth|imap url|malformed (?:cram|sasl|auth|response|base64)|cram-md5|syntax error|syntax:|body can only|userdata|http requests"),
    ("sender_rejected", r"not allowed to send from this address"),
    ("policy", r"multi-recipient bounce"),
    ("content", r"eight bit data"),
    ("reputation", r"too many invalid addresses"),
    ("other", r"oauth"),
    ("other", r"log in (?:with|through) your web browser|username and password|password not accepted|authentication (?:failed|unsuccessful|credentials invalid)|invalid credentials|incorrect authentication|authentication not allowed|bad ?credentials|auth(?:entication)? (?:mechanism )?(?:failed|failure)|invalid (?:user ?name|login)"),
    ("protocol", r"smtplf|unauthenticated commands|starttls may not be repeated|tls already active|already (?:running|using|started) tls|line is too long|too many (?:bad |unrecognized |invalid )?commands|too many errors"),
    ("policy", r"not in whitelist|not in allowlist|policy rejection|local policy|for policy reasons|policy reasons"),
    ("blocklisted", r"dnsbl|is an open relay|block for spam|blocked using|blacklisted|blocklisted|listed (?:at|in|on|by) (?:the )?(?:spamhaus|sorbs|dnsbl|rbl|\S+\.(?:org|net|com))"),
    ("sender_rejected", r"from: (?:domain|address)|as a from|domain of sender|sender (?:address|domain) (?:rejected|refused|invalid|unknown|must)|unroutable sender|unrouteable sender|bad (?:outbound )?sender|sender (?:rejected|refused|denied|verify failed)|invalid sender|sender (?:address )?not (?:allowed|accepted|verified)|unknown sender|emetteur invalide"),
    ("reputation", r"reputation|complaint|\[tss?0\d\]|temporarily deferred - 4\.16|service refuse|spam rate|sender score|senderscore"),
    ("rate_limited", r"too many new tls sessions|too many (?:login|auth\w*) attempts|intrusion prevention|\(s77719\)|excessive volume|ip frequency limited|sender frequency limited|domain frequency limited|unusual rate of[^\n]{0,300}rate limited"),
    ("reputation", r"unsolicited mail originating|unusual rate of unsolicited"),
    ("too_many_connections", r"concurrent connections|connections limit|connection limit|connection frequency limited"),
    ("bad_domain", r"dns domain .{0,60} does not exist|domainnonexistent"),
    ("policy", r"valid shell for mailing|cannot mail directly to|unsafe for mailing to|sites access list denies|does not accept masquerading|not from trusted ip"),
    ("mailbox_full", r"does not have enough space|not enough space|mailbox size limit|mailbox (?:size )?(?:limit )?exceeded"),
    ("tls_required", r"\btlsa\b|\bdane\b"),
    ("unknown_user", r"is not an active address|is not deliverable|bad_recipient"),
    ("virus", r"\bvirus|malware|infected|trojan|\bworm\b|malicious (?:content|attachment|payload|software)"),
    ("greylisted", r"gr[ae]y-?list|gr[ae]ylisting|greylisted|graylisted|try again in \d+ ?(?:s|sec|seconds|min|minutes)\b|please (?:come back|retry) (?:in|after) \d|temporarily deferred.{0,40}(?:please )?retry in|deferred due to greylist"),
    ("rate_limited", r"too many recipients (?:from|for this hour|this hour|per)|sent too many to too many"),
    ("too_many_recipients", r"too many (?:recipients|rcpt)|recipient limit|maximum (?:number of )?recipients|max(?:imum)? (?:limit of )?\d+ recipients|number of recipients|recipients? (?:count )?(?:limit )?exceeded|too many (?:envelope )?addresses|rcpt.{0,10}limit|domain policy size per transaction|limit of \d+ recipients"),
    ("too_many_connections", r"too many (?:concurrent |simultaneous |smtp |open |parallel )?(?:connections|sessions|smtp sessions)|connection (?:rate )?limit|connection rate|too many connections|concurrency limit|max(?:imum)? (?:number of )?connections|connections? per (?:ip|host)|too many concurrent|too many simultaneous|exceeded the maximum number of connections|too many sessions"),
    ("rate_limited", r"rate[- ]?limit|ratelimit|too much mail(?! data)|too many messages|too many mails|too fast|too quickly|throttl|sending rate|messages per session|per session exceeded|message rate|at a rate that|receiving mail at a rate|sent too many|exceeded (?:the )?(?:maximum )?(?:number of )?(?:messages|emails)|messages? per (?:hour|minute|day|connection)|per hour|hourly|daily (?:sending )?(?:limit|quota)|sending limit|submission quota|queue quota|max message per connection|unexpected volume|volume of (?:mail|email|messages)|exceeded permitted limits|limit exceeded for (?:customer|sending)|slow down|relay limit|too much traffic|high volume"),
    ("reputation", r"reputation|complaint|spam rate|sender score|senderscore|unsolicited mail originating|\[ts0[1-3]\]|\[tss0\d\]|bad sender ip|poor (?:sender|ip)|too many invalid recipients|too many bad recipients|suspicious activity|ip (?:address )?(?:has been )?temporarily (?:blocked|deferred)|ts0[123]|not yet authorized to deliver|deferred due to (?:user )?complaints|excessive (?:invalid|unknown) recipients"),
    ("blocklisted", r"black ?list|block ?list|dnsbl|\brbl\b|spamhaus|spamcop|sorbs|barracudacentral|abuseat|\bcbl\b|\bsbl\b|\bxbl\b|\bpbl\b|\bdbl\b|zen\.|blocked using|listed (?:at|in|on|by)|is listed|banned sending ip|banned sender|found on one or more|on our block|denylist|deny list|ip (?:is )?blocked|blocked ip|your ip .{0,30}(?:blocked|listed|banned)|ip address .{0,20}(?:blocked|banned|listed)|spam source|known spam|blocked by (?:dnsbl|rbl|our anti-spam list)|adresse ip source bloquee|\bbl0000|cdrbl|ipblock|ip block|blocked for spam|hostkarma|psbl|uceprotect|junkemailfilter"),
    ("tls_required", r"starttls|\btls\b|ssl|encryption (?:is )?required|must (?:use|issue) (?:a )?starttls|secure connection|encrypted connection|not encrypted|requires encryption"),
    ("authentication", r"\bspf\b|dkim|dmarc|\bptr\b|reverse dns|reverse lookup|\brdns\b|reverse (?:dns )?(?:lookup|record)|cannot find your hostname|hostname lookup|ip name lookup|name lookup failed|unauthenticated|not authenticated(?! for relay)|authentication (?:results|checks|requirements|level)|fails? (?:to pass )?authentication|sender (?:id|policy framework)|alignment|domainkeys|arc |forward dns|fcrdns|helo (?:name|hostname|host) .{0,30}(?:invalid|rejected|not found|unknown)|invalid (?:dns )?ptr|unverifiable sending|unverifyable sending|not authorized to send (?:on behalf|for)|not permitted to send|mismatches client ip|invalid ip for sending|sender (?:ip )?(?:not )?(?:authorized|permitted) by|reverse-dns|no dns ptr|does not resolve to|designates|authentication required for sender"),
    ("relay_denied", r"relay(?!=)|relaying|rcpthosts|not (?:a )?local (?:domain|recipient)|not our domain|we do not relay|unable to relay|relay access|not permitted to relay|open relay|use your (?:own|isp'?s?) (?:smtp|mail) server|select another host to act as your forwarder|forwarding to remote hosts disabled|not allowed to send mail to this domain|authentication required to send|must authenticate|please turn on smtp authentication"),
    ("message_too_large", r"size (?:limit|exceeds|exceeded)|too large|too big|message size|exceeds (?:the )?(?:maximum|max|fixed|size|message)|databytes|message (?:is )?(?:length|too long)|exceeds .{0,40}limit|mesg too big|maximum (?:message )?size|sendsizelimit|recipsizelimit|size (?:of|is) .{0,20}(?:exceeded|too)|class=size|larger than|message length exceeds|too much (?:mail )?data|attachment size"),
    ("mailbox_full", r"quota|mailbox (?:is )?full|full mailbox|mailbox (?:size|storage)|over ?quota|out of storage|storage (?:space|allocation|limit|full)|exceeded storage|insufficient (?:disk )?space for|mailbox (?:has )?exceeded|too many messages on the server|inbox is full|box is full|boite .{0,20}pleine|postfach voll|user .{0,20}full|recipient .{0,20}full|account .{0,20}full|mail ?box .{0,20}full|disk quota|space (?:limit|quota)|not enough (?:disk )?space in mailbox|zuviele mails"),
    ("mailbox_disabled", r"disabled|inactive|in-?active|suspended|suspend|deactivated|de-activated|no longer (?:valid|on (?:this )?server|available|active|in use|exists|accept)|has (?:been )?moved|moved to|frozen|account (?:is )?(?:locked|blocked|closed|expired|terminated)|mailbox (?:is )?(?:locked|blocked|closed|disabled|frozen|archived)|boite .{0,30}(?:archivee|fermee)|closed account|account has been (?:closed|terminated|removed)|archived|not (?:currently )?active|expired account|user (?:account )?(?:is )?(?:locked|blocked|closed|expired)|is a deactivated mailbox|temporarily (?:disabled|blocked) (?:for|mailbox)"),
    ("bad_domain", r"host unknown|unknown host|domain (?:not found|does not exist|doesn'?t exist|unknown|name not found|is not (?:valid|configured)|not exist)|no such domain|unknown domain|invalid (?:recipient )?domain|domain .{0,40}does not accept mail|null ?mx|nullmx|does not accept mail|not accepting mail|no mx (?:record|host)|no (?:valid )?mx|host not found|domain is not reachable|nonexistent domain|domain (?:is )?(?:invalid|disabled|unavailable)|bad destination (?:mailbox address|system address)|unrouteable (?:domain|mail domain)|name service error"),
    ("unknown_user", r"user unknown|unknown user|unknown (?:recipient|local[- ]?part|address|mailbox)|no such (?:user|recipient|mailbox|address|account|local user|person)|(?:does not|doesn'?t|do not) exist|not exist|nonexist|non-exist|not found|invalid (?:recipient|mailbox|address|user|e-?mail)|recipient (?:address )?(?:rejected|invalid|not (?:found|valid|known|recognized))|mailbox unavailable|mailbox (?:not found|not available|unavailable|does not)|not a (?:known|valid) (?:user|recipient|mailbox)|unrouteable address|undeliverable address|address rejected|no mailbox|no mail ?box|bad (?:recipient|destination)|user not (?:found|known|local|exist)|not our customer|mailbox unallocated|unknown or illegal|no account|account does not exist|is not a valid|unknown alias|address (?:is )?(?:unknown|invalid|not valid)|recipnotfound|not (?:listed|found) in|destinataire invalide|niet bekend|benutzer unbekannt|not in recipient list|mailbox name not allowed|no valid recipients|user doesn'?t|requested action not taken: mailbox|recipient not|addressee unknown|konto niedostepne|badrcptto|no such list|not known here|no longer registered|who\?|not a registered|unknown or invalid|not recognized|cannot deliver to"),
    ("routing", r"loop|hops|mx (?:problem|lookup)|dns (?:lookup|error|failure|problem|temporary)|unroutable|unrouteable|no route|routing|mail for .{0,40} loops back|cannot (?:route|resolve)|could not be routed|misrouted|not resolv|mx points|smart ?host|transport (?:unavailable|error)|no (?:smtp )?servers? (?:found|available)|could not find a mail exchanger"),
    ("network", r"time ?out|timed out|connection (?:lost|reset|refused|closed|dropped|expired|error|died|failure)|lost (?:input|incoming|connection)|broken pipe|no answer|not responding|network (?:error|unreachable|failure)|unable to connect|could not connect|can'?t connect|connect to .{0,40} failed|reset by peer|queue ?\.?expired|message expired|expired|in the queue too long|remote protocol error|i/o error|eof|premature"),
    ("sender_rejected", r"sender (?:address )?(?:rejected|refused|denied|invalid|unknown|not (?:allowed|accepted|verified|valid|authorized)|verify failed|verification failed|blocked|domain (?:not found|unknown|must exist|invalid|does not exist))|bad sender|invalid sender|unknown sender|sender is not|from: domain|domain of sender|sender domain|mail from (?:rejected|refused|address)|envelope (?:blocked|sender)|unverified (?:sender|address)|sender (?:address )?(?:must|has|does)|return path|reverse path|sender syntax|sender's|emetteur|blocked senders|blocked sender|sender (?:address )?is (?:blacklisted|blocked|invalid)|your address|unroutable sender|unrouteable sender|<> not|null sender|bounce address|sender mailbox|sender denied|address of sender|from address|bad originator|originator|mailbox name not allowed.{0,20}sender|from header|5\.1\.[78]"),
    ("content", r"spam|content|attachment|filtered|filter|suspicious|phish|header|bare (?:lf|linefeed|cr)|8-?bit|\burl\b|uribl|surbl|link|message (?:was )?(?:rejected|refused|blocked|not accepted) (?:as|because of|for) (?:spam|content|suspect)|not rfc|rfc ?5322|rfc ?2822|rfc ?822|malformed|mime|body|executable|file type|prohibited|junk|bulk|unsolicited|message (?:looks|appears)|html|subject|character set|encoding|message-?id|date header|too many received|scam|fraud|dangerous"),
    ("protocol", r"syntax|command|sequence|need (?:mail|rcpt|helo|ehlo|data)|(?:mail|rcpt|helo|ehlo|data|auth|bdat) (?:first|required)|first|unrecognized|not implemented|unknown command|line (?:too long|limit|length)|pipelin|parameter|argument|polite people|\bhelo\b|\behlo\b|protocol|not supported|unsupported|invalid (?:command|address syntax|sequence)|already|too many errors|bad (?:command|sequence)|smtputf8|utf-?8|chunking|expected|not allowed (?:here|in|with|after)|vrfy|expn|etrn|verb|nested|missing|requires a|must be|no (?:valid )?(?:sender|recipients) (?:specified|given)|empty|invalid (?:address|domain name|arguments)|mechanism|base64"),
    ("server_busy", r"try (?:again )?later|please try later|retry later|temporar|busy|unavailable|local (?:error|problem|data error|configuration)|resources|overload|shutting down|shutdown|restart|service not available|not available|system (?:error|problem|failure|resources)|internal (?:server )?error|server error|configuration (?:error|problem)|config error|disk|insufficient (?:system )?storage|too much load|load average|out of memory|cannot (?:write|open|create|read)|queue|unable to (?:queue|write|read|open|process|accept|save|store)|processing error|error (?:processing|writing|reading)|failed to|could not|can'?t (?:write|open|create)|please try again|maintenance|database|backend|try again|deferred|not ready|fork|process|spool|server (?:closing|shutting)|closing (?:connection|transmission channel)|sigterm|interrupted|lookup|out of|no free|all server ports|limit reached"),
    ("policy", r"policy|rejected|denied|blocked|not allowed|prohibited|refused|forbidden|not permitted|access denied|administrative prohibition|not accepted|reject|unauthori[sz]ed|permission|go away|banned|whitelist|allowlist|allowed|security|not authorized|abuse|restricted|geo|country|block"),
]
RULES = [(c, re.compile(rx, re.I)) for c, rx in RULES]

HINT = {
    # Sisimai reasons
    "userunknown": "unknown_user", "mailboxfull": "mailbox_full", "hostunknown": "bad_domain",
    "mesgtoobig": "message_too_large", "exceedlimit": "message_too_large", "suspend": "mailbox_disabled",
    "hasmoved": "mailbox_disabled", "norelaying": "relay_denied", "blocked": "blocklisted",
    "spamdetected": "content", "contenterror": "content", "virusdetected": "virus",
    "policyviolation": "policy", "filtered": "policy", "rejected": "sender_rejected",
    "securityerror": "authentication", "authfailure": "authentication", "requireptr": "authentication",
    "failedstarttls": "tls_required", "toomanyconn": "too_many_connections", "speeding": "rate_limited",
    "badreputation": "reputation", "syntaxerror": "protocol", "systemerror": "server_busy",
    "systemfull": "server_busy", "networkerror": "network", "expired": "network",
    "notaccept": "bad_domain", "notcompliantrfc": "content", "mailererror": "other",
    # zone-mta categories
    "zonemta:rate": "rate_limited", "zonemta:blacklist": "blocklisted", "zonemta:spam": "content",
    "zonemta:recipient": "unknown_user", "zonemta:greylist": "greylisted", "zonemta:auth": "authentication",
    "zonemta:capacity": "mailbox_full", "zonemta:network": "network", "zonemta:protocol": "protocol",
    "zonemta:envelope": "sender_rejected", "zonemta:message": "content", "zonemta:block": "policy",
    "zonemta:config": "relay_denied", "zonemta:policy": "policy", "zonemta:dmarc": "authentication",
}

NO_RETRY_4XX = re.compile(r"will not succeed|not going to try again|permanently deferred|permanent(?:ly)? (?:reject|fail)|do not retry|don'?t retry|never succeed", re.I)
RETRY_5XX = re.compile(r"try (?:again )?later|try again in|please try (?:again )?later|retry later|resend (?:your message|it) (?:at a later time|later)|essayer plus tard|temporar(?:il)?y|over quota temporarily|currently unavailable|try later", re.I)
NOT_RETRY_5XX = re.compile(r"do not (?:retry|try again)|don'?t (?:retry|try again)|not (?:be )?(?:accepted|delivered) (?:if|when) (?:you )?(?:retry|try)|permanent", re.I)


def by_text(body):
    for cat, rx in RULES:
        if rx.search(body):
            return cat, "text:" + rx.pattern[:30]
    return None, None


# Postfix-style "<x>: Recipient address rejected: TEXT": TEXT decides, the prefix gives the default
PREFIXES = [
    (re.compile(r"recipient address rejected:\s*(.*)", re.I), "unknown_user", ()),
    (re.compile(r"sender address rejected:\s*(.*)", re.I), "sender_rejected",
     ("bad_domain", "unknown_user", "routing", "policy", "other", "protocol", "server_busy")),
    (re.compile(r"client host rejected:\s*(.*)", re.I), "policy", ()),
    (re.compile(r"helo command rejected:\s*(.*)", re.I), "protocol", ("bad_domain", "unknown_user", "routing", "other")),
]


def category_of(reply, hint=""):
    if reply.startswith("535") and not re.search(r"spf|dkim|dmarc", reply, re.I):
        return "other", "code 535 (SMTP AUTH)"
    text = reply.replace("\\n", " ")
    # the code (and enhanced code) of every line of a multi-line reply is not text
    text = re.sub(r"(?:^|(?<=\s))[2-5][0-9][0-9][ -](?:[245]\.[0-9]{1,3}\.[0-9]{1,3}\s*)?", " ", text).strip()
    body = text
    for rx, default, override_to_default in PREFIXES:
        m = rx.search(body)
        if m:
            cat, why = by_text(m.group(1))
            if cat is None or cat in override_to_default:
                return default, "prefix"
            return cat, why
    cat, why = by_text(body)
    if cat:
        return cat, why
    text = reply.replace("\\n", " ")
    h = HINT.get(hint.lower(), "")
    if h:
        return h, "hint"
    m = re.match(r"^([2-5][0-9][0-9])[ -]?(?:([245])\.([0-9]{1,3})\.([0-9]{1,3}))?", text)
    enh = m.group(2) and (m.group(3) + "." + m.group(4))
    code = m.group(1)
    byenh = {"1.1": "unknown_user", "1.2": "bad_domain", "1.10": "bad_domain", "2.1": "mailbox_disabled",
             "2.2": "mailbox_full", "2.3": "message_too_large", "3.4": "message_too_large", "1.8": "sender_rejected",
             "1.7": "sender_rejected", "4.4": "routing", "4.6": "routing", "4.7": "network", "5.2": "protocol",
             "5.1": "protocol", "5.4": "protocol", "7.1": "policy", "3.2": "server_busy", "3.0": "server_busy",
             "4.1": "network", "4.2": "network", "7.0": "policy", "7.26": "authentication", "7.23": "authentication",
             "7.25": "authentication", "7.27": "authentication", "7.24": "authentication", "7.0": "policy"}
    if enh == "3.5":
        return "server_busy", "enhanced"  # X.3.5 system incorrectly configured: a local error
    if enh and enh in byenh:
        return byenh[enh], "enhanced"
    bycode = {"421": "server_busy", "450": "server_busy", "451": "server_busy", "452": "server_busy",
              "500": "protocol", "501": "protocol", "502": "protocol", "503": "protocol", "504": "protocol",
              "550": "other", "551": "unknown_user", "552": "other", "553": "other", "554": "other"}
    return bycode.get(code, "other"), "code"


def retry_of(reply, cat):
    text = reply.replace("\\n", " ")
    code = text[:3]
    if code[0] == "4":
        if NO_RETRY_4XX.search(text):
            return "no"
        if cat == "tls_required" and not re.search(r"unavailable|not available|temporar", text, re.I):
            return "no"
        if cat == "protocol" and re.search(r"smtplf|bare|starttls may not|pipelin|syntax", text, re.I):
            return "no"
        if cat == "policy" and re.search(r"whitelist|allowlist|go away", text, re.I):
            return "no"
        return "yes"
    if code[0] == "5":
        if cat == "rate_limited":
            return "yes"  # a rate or quota window: later sending succeeds (as in replies.tsv)
        if RETRY_5XX.search(text) and not NOT_RETRY_5XX.search(text):
            return "yes"
        return "no"
    return "no"


def label(reply, hint=""):
    cat, why = category_of(reply, hint)
    return cat, retry_of(reply, cat), why
