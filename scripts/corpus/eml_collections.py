"""Replies from other bounce-parser test corpora of bounce emails (our own code).

Each collection is (mirror, path prefix, file-name regex, group, source prefix).
"""
import re, sys
from common import ls, show, write
from emlreplies import replies_in_message

COLLECTIONS = [
    ("rjbs+Mail-DeliveryStatus-BounceParser", "t/corpus", r".*", "bounceparser-perl-corpus",
     "rjbs/Mail-DeliveryStatus-BounceParser:"),
    ("wRAR+flufl.bounce", "flufl/bounce/tests/data", r".*", "flufl-bounce-tests", "wRAR/flufl.bounce:"),
    ("cfortune+PHP-Bounce-Handler", "eml", r".*", "php-bounce-handler-eml", "cfortune/PHP-Bounce-Handler:"),
    ("prasad83+node-bounce-handler", "eml", r".*", "php-bounce-handler-eml", "prasad83/node-bounce-handler:"),
    ("postalsys+emailengine", "test/fixtures/bounces", r"\.eml$", "emailengine-fixtures", "postalsys/emailengine:"),
    ("crisp-oss+email-bounce-parser", "test/fixtures", r"^test/fixtures/[^/]*$", "crisp-bounce-parser-fixtures", "crisp-oss/email-bounce-parser:"),
    ("osandum+bounce-parser", "src/test/resources", r".*", "osandum-bounce-parser-fixtures", "osandum/bounce-parser:"),
    ("mitio+bounce_email", "test/bounces", r".*", "bounce-email-gem-fixtures", "mitio/bounce_email:"),
    ("ronbeltran+bounce_email", "tests/bounces", r".*", "bounce-email-gem-fixtures", "ronbeltran/bounce_email:"),
    ("mikel+mail", "spec/fixtures/emails", r"\.eml$", "ruby-mail-fixtures", "mikel/mail:"),
    ("crazy-max+CwsMailBounceHandler", "tests/emls", r".*", "cws-mailbouncehandler-emls", "crazy-max/CwsMailBounceHandler:"),
]


def run(cols, name):
    rows = []
    for repo, under, rx, group, src in cols:
        try:
            files = ls(repo, under)
        except Exception as e:
            print("skip", repo, e)
            continue
        n0 = len(rows)
        for p in files:
            if not re.search(rx, p):
                continue
            try:
                raw = show(repo, p)
            except Exception:
                continue
            if len(raw) > 2_000_000:
                continue
            for kind, r in replies_in_message(raw):
                rows.append((r, "", "", src + p, group))
        print(group, len(rows) - n0)
    write(name, rows)


if __name__ == "__main__":
    run(COLLECTIONS, "emlcols")
