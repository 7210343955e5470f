"""Normalised form of a reply, used only to find duplicates (our own code)."""
import re

def norm(reply):
    s = reply.replace("\\n", " ")
    m = re.match(r"^([2-5]\d\d)[ -]?((?:[245]\.\d{1,3}\.\d{1,3})?)", s)
    head = (m.group(1) + " " + m.group(2)) if m else ""
    rest = s[m.end():] if m else s
    # drop the repeated code prefixes of a multi-line reply
    rest = re.sub(r"\b[2-5]\d\d[ -](?:[245]\.\d{1,3}\.\d{1,3})?", " ", rest)
    rest = rest.lower()
    rest = re.sub(r"https?://\S+", "<url>", rest)
    rest = re.sub(r"[\w.+=/-]+@[\w.-]+", "<addr>", rest)
    rest = re.sub(r"\b(?:\d{1,3}\.){3}\d{1,3}\b", "<ip>", rest)
    rest = re.sub(r"\b[0-9a-f:]*:[0-9a-f:]+:[0-9a-f:]*\b", "<ip6>", rest)
    rest = re.sub(r"\b(?=[0-9a-z]*\d)[0-9a-z]{8,}\b", "<id>", rest)
    rest = re.sub(r"\b[0-9a-f]{6,}\b", "<hex>", rest)
    rest = re.sub(r"\d+", "0", rest)
    # hostnames: collapse label runs like mx0.example.com
    # host names count as addresses: mx0.example.com, host.domain.tld
    rest = re.sub(r"\b(?:[a-z0-9-]+\.)+[a-z]{2,}\b", "<host>", rest)
    rest = re.sub(r"[^\w<>]+", " ", rest).strip()
    return head + "|" + rest
