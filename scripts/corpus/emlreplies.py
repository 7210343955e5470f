"""Pull the remote server's SMTP reply lines out of a bounce message (our own code).

Used by the extractors for every collection of bounce emails (Sisimai's set-of-emails,
the test corpora of other bounce parsers).  Only text that is in the message is returned:
the Diagnostic-Code field, "host ... said:" quotes, sendmail "<<<" transcript lines and
lines that start with a reply code.  Nothing is added except that folded lines are joined
(with a space for folded header/said: continuations, with the two characters \\n for the
lines of a real multi-line "550-..." reply).  Postfix's own "(in reply to ... command)"
trailer is cut, as it is the MTA's prose, not the reply.
"""
import email
import email.policy
import re

CODE = r"[2-5][0-9][0-9]"
ENH = r"[245]\.[0-9]{1,3}\.[0-9]{1,3}"
# prefixes after which a reply code is taken as the start of a server reply
START = re.compile(
    r"^(?P<pre>\s*(?:<<<\s*|>>>\s*)?"
    r"(?:diagnostic-code:\s*[a-z0-9-]+\s*;\s*|(?:.*?\bsaid:\s*)|(?:.*?\breason:\s*)|"
    r"(?:remote host said:\s*)|#|\(|(?:.*?[^\d\s]:\s+)|(?:.*?\]:\s*))?)"
    r"(?P<reply>(?P<code>" + CODE + r")(?:[ -]|$).*)$",
    re.I,
)
TRAILER = re.compile(r"\s*\(in reply to (?:end of )?[a-z /]+ command\)\s*$", re.I)


def _text_parts(msg):
    """Decoded text of the parts that can hold the reply (not the returned original)."""
    out = []

    def walk(m, depth=0):
        ct = m.get_content_type()
        if ct in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers") and depth > 0:
            return
        if ct == "message/delivery-status" or (ct.startswith("message/") and not m.is_multipart()):
            pl = m.get_payload()
            if isinstance(pl, list):
                txt = "\n".join(str(x) for x in pl)
            else:
                txt = str(pl)
            if not txt.strip():
                s = m.as_string()
                txt = s.split("\n\n", 1)[1] if "\n\n" in s else s
            out.append(txt)
            return
        if m.is_multipart():
            for p in m.get_payload():
                if isinstance(p, email.message.Message):
                    walk(p, depth + 1)
            return
        if ct.startswith("text/") or ct == "application/octet-stream":
            try:
                b = m.get_payload(decode=True) or b""
            except Exception:
                b = (m.get_payload() or "").encode("latin-1", "replace")
            cs = m.get_content_charset() or "utf-8"
            try:
                t = b.decode(cs, "replace")
            except LookupError:
                t = b.decode("utf-8", "replace")
            if ct == "text/html":
                t = re.sub(r"<br\s*/?>", "\n", t, flags=re.I)
                t = re.sub(r"<[^>]+>", "", t)
                t = t.replace("&nbsp;", " ").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
            out.append(t)

    walk(msg)
    return out


def _cut_original(text):
    # stop at an inline copy of the original message
    m = re.search(r"^(?:-+ ?(?:original message|this is a copy of the message|below this line is a copy)[^\n]*|"
                  r"------ This is a copy of the message[^\n]*)$", text, re.I | re.M)
    return text[: m.start()] if m else text


def replies_in_text(text):
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _cut_original(text)
    lines = text.split("\n")
    found = []
    i = 0
    while i < len(lines):
        line = lines[i]
        m = START.match(line)
        if not m or not re.search(r"[A-Za-z]{2}", m.group("reply")):
            i += 1
            continue
        pre = m.group("pre") or ""
        kind = "line"
        low = pre.lower()
        if "diagnostic-code" in low:
            kind = "dsn"
        elif "said:" in low:
            kind = "said"
        elif "<<<" in low:
            kind = "transcript"
        reply = m.group("reply").rstrip()
        code = m.group("code")
        j = i + 1
        parts = [reply]
        if kind in ("dsn", "said"):
            # folded continuation lines (indented), stop at blank line or a new field
            while j < len(lines) and lines[j].strip() and re.match(r"^[ \t]+", lines[j]):
                parts.append(lines[j].strip())
                j += 1
            reply = " ".join(parts)
        # a real multi-line reply: "550-..." followed by lines with the same code
        if re.match(code + "-", reply) and kind in ("line", "transcript", "dsn", "said"):
            ml = [reply]
            while j < len(lines):
                nxt = lines[j].strip()
                nxt = re.sub(r"^<<<\s*", "", nxt)
                if re.match(code + r"(?:[ -]|$)", nxt):
                    ml.append(nxt)
                    j += 1
                    if re.match(code + r"(?: |$)", nxt):
                        break
                else:
                    break
            if len(ml) > 1:
                reply = "\\n".join(ml)
            if kind in ("line", "transcript") and not re.match(code + r"(?: |$)", ml[-1]):
                i = j
                continue  # a piece of a multi-line reply whose last line is not here
        if re.match(code + "-", reply) and not re.search(r"(?:^|\s|\\n)" + code + r"(?: |$)", reply):
            i = j
            continue  # the first line(s) of a multi-line reply without its last line: a piece
        reply = TRAILER.sub("", reply)
        reply = reply.replace("\t", " ").strip()
        found.append((kind, reply))
        i = j
    return found


def replies_in_message(raw):
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    raw = raw.replace(b"\r\n", b"\n")
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    found = []
    for t in _text_parts(msg):
        found.extend(replies_in_text(t))
    # prefer the DSN fields; keep "said:"/transcript replies that are not already there
    out, seen = [], set()
    order = {"dsn": 0, "said": 1, "transcript": 2, "line": 3}
    for kind, r in sorted(found, key=lambda x: order[x[0]]):
        key = re.sub(r"\W+", "", r.replace("\\n", "")).lower()
        if any(key in s or s in key for s in seen):
            continue
        seen.add(key)
        out.append((kind, r))
    return out
