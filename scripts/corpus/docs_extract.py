"""Reply texts from published reference collections (our own code).

- ActiveCampaign/smtp-field-manual data/codes/*.json  ("response" fields, providers' real replies)
- zone-eu/zone-mta config/bounces.txt               (the sample replies in its comment lines)
"""
import json, re, sys
from common import ls, show, write, git


def field_manual():
  for repo, group, pre, name in (("ActiveCampaign+smtp-field-manual", "activecampaign-smtp-field-manual", "ActiveCampaign/smtp-field-manual:", "fieldmanual"),
                                 ("fm+smtp-codes", "fm-smtp-codes", "fm/smtp-codes:", "fmcodes")):
    rows = []
    # every version of every data/codes/*.json in the history (entries were edited and removed)
    blobs = []
    for line in git(repo, "rev-list", "--all", "--objects").decode().split("\n"):
        parts = line.split(" ", 1)
        if len(parts) == 2 and re.match(r"^data/codes/\d+\.json$", parts[1]):
            blobs.append(parts)
    for sha, p in blobs:
        try:
            d = json.loads(git(repo, "cat-file", "blob", sha))
        except Exception:
            continue
        for prov in d.get("providers", []):
            for r in prov.get("responses", []):
                t = r.get("response", "")
                t = t.replace("$(_ipsrc)", "192.0.2.1").replace("{IP}", "192.0.2.1")
                rows.append((t, "", prov.get("id", "generic"), pre + p, group))
    write(name, rows)


def zonemta():
    rows = []
    repo = "zone-eu+zone-mta"
    txt = show(repo, "config/bounces.txt").decode()
    lines = txt.split("\n")
    for i, l in enumerate(lines):
        m = re.match(r"^#\s*([2-5][0-9][0-9][ -].*)$", l)
        if not m:
            continue
        t = m.group(1).strip()
        t = re.sub(r'^([2-5]\d\d[ -])"(.*)"$', r"\1\2", t)
        # the rule below the sample carries zone-mta's category as a hint
        hint = ""
        for k in range(i + 1, min(i + 4, len(lines))):
            if lines[k] and not lines[k].startswith("#"):
                parts = lines[k].rsplit(",", 3)
                if len(parts) == 4:
                    hint = "zonemta:" + parts[2]
                break
        rows.append((t, hint, "generic", "zone-eu/zone-mta:config/bounces.txt", "zone-mta-bounces"))
    write("zonemta", rows)


field_manual()
zonemta()


def kumomta_comments():
    """Sample replies quoted in comments of KumoMTA's community shaping/bounce rules."""
    rows = []
    repo = "KumoCorp+kumomta"
    for p in ("assets/community/shaping.toml", "assets/community/bounces.toml", "assets/bounce_classifier/iana.toml"):
        try:
            txt = show(repo, p).decode()
        except Exception:
            continue
        for l in txt.split("\n"):
            m = re.match(r"^\s*#+\s*([2-5][0-9][0-9][ -].*)$", l)
            if not m:
                continue
            t = m.group(1).strip()
            t = re.sub(r"\b(?:a\.b\.c\.d|x\.x\.x\.x|x\.y\.z\.a)\b", "192.0.2.1", t)
            rows.append((t, "", "generic", "KumoCorp/kumomta:" + p, "kumomta-rule-comments"))
    write("kumocomments", rows)


kumomta_comments()
