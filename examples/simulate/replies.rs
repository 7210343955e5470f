//! The receivers' reply texts: built-in sets, verbatim from `tests/data/replies.tsv`
//! and `../shared/corpus` where they have the text, and a scenario's replacements.

use smtp_throttle::Reply;

use crate::scenario::RepliesSpec;

/// What a receiver says, verbatim from `tests/data/replies.tsv` where it has the text.
struct Texts {
    rate: &'static str,
    window: &'static str,
    connections: &'static str,
    connects: &'static str,
    per_connection: &'static str,
    block: &'static str,
    busy: &'static str,
    unknown: &'static str,
    full: &'static str,
    full_for_now: &'static str,
    greylisted: &'static str,
    accepted: &'static str,
}

const GOOGLE: Texts = Texts {
    rate: "421 4.7.28 [192.0.2.25] Our system has detected an unusual rate of unsolicited mail originating from your IP address. To protect our users from spam, mail sent from your IP address has been temporarily rate limited. Please visit https://support.google.com/mail/?p=UnsolicitedRateLimitError to review our Bulk Email Senders Guidelines.",
    window: "421 4.7.28 [192.0.2.25] Our system has detected an unusual rate of unsolicited mail originating from your IP address. To protect our users from spam, mail sent from your IP address has been temporarily rate limited. Please visit https://support.google.com/mail/?p=UnsolicitedRateLimitError to review our Bulk Email Senders Guidelines.",
    connections: "421 4.7.0 Try again later, closing connection.",
    connects: "421 4.7.0 Try again later, closing connection.",
    per_connection: "452 4.4.5 Maximum number of messages per session exceeded.",
    block: "550-5.7.1 [192.0.2.25       1] Our system has detected an unusual rate of\n550-5.7.1 unsolicited mail originating from your IP address. To protect our\n550-5.7.1 users from spam, mail sent from your IP address has been blocked.\n550-5.7.1 Please visit\n550 5.7.1  https://support.google.com/mail/answer/188131 for more information.",
    busy: "421 4.4.5 Server busy, try again later.",
    unknown: "550 5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces. Learn more at https://support.google.com/mail/?p=NoSuchUser - gsmtp",
    full: "552 5.2.2 The email account that you tried to reach is over quota. Please direct the recipient to https://support.google.com/mail/?p=OverQuotaPerm - gsmtp",
    full_for_now: "452 4.2.2 The email account that you tried to reach is over quota. Please direct the recipient to https://support.google.com/mail/?p=OverQuotaTemp - gsmtp",
    greylisted: "",
    accepted: "250 2.0.0 OK  1700000000 a1-20020a170902ee0100b001bc5dd8d7e1si123456plb.123 - gsmtp",
};

const MICROSOFT: Texts = Texts {
    rate: "451 4.7.500 Server busy. Please try again later from [192.0.2.25]. (S77719) [BN8NAM12FT055.eop-nam12.prod.protection.outlook.com]",
    window: "451 4.7.500 Server busy. Please try again later from [192.0.2.25]. (S77719) [BN8NAM12FT055.eop-nam12.prod.protection.outlook.com]",
    connections: "432 4.3.2 Concurrent connections limit exceeded. Visit https://aka.ms/concurrent_sending for more information. [Hostname=OS0PR01MB6099.jpnprd01.prod.outlook.com]",
    connects: "421 4.3.2 The maximum number of concurrent connections per resource forest has exceeded a limit, closing transmission channel. example.com. PRX8 [example.com]",
    per_connection: "452 4.4.5 Maximum number of messages per session exceeded.",
    block: "550 5.7.606 Access denied, banned sending IP [192.0.2.25]. To request removal from this list please visit https://sender.office.com/ and follow the directions. For more information please go to  http://go.microsoft.com/fwlink/?LinkID=526655 (AS16012609)",
    busy: "451 4.7.700 PFA agent busy, please try again. [xxx.prod.protection.outlook.com]",
    unknown: "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
    full: "550 5.2.2 <user@outlook.com>... Mailbox Full",
    full_for_now: "450 4.2.2 <user@outlook.com>... Mailbox Full",
    greylisted: "",
    accepted: "250 2.6.0 <id@example.com> [InternalId=1, Hostname=BN8NAM12HT123.eop-nam12.prod.protection.outlook.com] Queued mail for delivery",
};

const YAHOO: Texts = Texts {
    rate: "421 4.7.0 [TSS04] Messages from 192.0.2.25 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
    window: "421 4.7.0 [TSS04] Messages from 192.0.2.25 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
    connections: "421 4.7.0 [TSS04] Messages from 192.0.2.25 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
    connects: "421 4.7.0 [TSS04] Messages from 192.0.2.25 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
    per_connection: "421 Max message per connection reached, closing transmission channel",
    block: "553 5.7.2 [TSS09] All messages from 192.0.2.25 will be permanently deferred; Retrying will NOT succeed. See https://postmaster.yahooinc.com/error-codes",
    busy: "421 Service not available, closing transmission channel",
    unknown: "554 delivery error: dd This user doesn't have a yahoo.com account (this-local-part-does-not-exist@yahoo.com) [0] - mta1061.mail.ne1.yahoo.com",
    full: "554 delivery error: dd Sorry, your message to example@example.com cannot be delivered. This mailbox is disabled (554.30). - example.yahoo.com",
    full_for_now: "450 4.2.2 <user@yahoo.com>... Mailbox Full",
    greylisted: "",
    accepted: "250 ok dirdel",
};

const APPLE: Texts = Texts {
    rate: "450 4.7.1 Error: too many recipients from 192.0.2.1",
    window: "450 4.7.1 Error: too many recipients from 192.0.2.1",
    connections: "421 4.7.0 mx.example.com Error: too many connections from 192.0.2.1",
    connects: "421 4.7.0 mx.example.com Error: too many connections from 192.0.2.1",
    per_connection: "452 4.4.5 Maximum number of messages per session exceeded.",
    block: "554 5.7.1 [CS01] Message rejected due to local policy. Please visit https://support.apple.com/en-us/HT204137",
    busy: "451 [BS02] Temporary server error. Please try again later.",
    unknown: "550 5.1.1 <example@icloud.com>: user does not exist",
    full: "552 5.2.2 <pseudo-local-part-of-apple-icloud-mail@icloud.com>: user is over quota",
    full_for_now: "450 4.2.2 <user@icloud.com>... Mailbox Full",
    greylisted: "",
    accepted: "250 2.0.0 Ok: queued as 4Xk9F2",
};

const COMCAST: Texts = Texts {
    rate: "421 4.7.0 Try again later, closing connection.",
    window: "421 4.7.0 Try again later, closing connection.",
    connections: "421 Too many connections",
    connects: "421 Too many connections",
    per_connection: "452 4.4.5 Maximum number of messages per session exceeded.",
    block: "554 imta14.emeryville.ca.mail.comcast.net comcast 192.0.2.2 Comcast block for spam.",
    busy: "450 4.3.2 try again later",
    unknown: "550 5.1.1 <example@comcast.net> recipient mailbox unallocated",
    full: "550 5.2.2 <user@comcast.net>... Mailbox Full",
    full_for_now: "450 4.2.2 <user@comcast.net>... Mailbox Full",
    greylisted: "",
    accepted: "250 2.0.0 Ok: queued as 4Xk9F2",
};

/// A Postfix server of the long tail; some run postgrey.
const POSTFIX: Texts = Texts {
    rate: "421 4.7.0 Try again later, closing connection.",
    window: "450 4.7.1 Error: too much mail from 192.0.2.1",
    connections: "421 4.7.0 mx.example.com Error: too many connections from 192.0.2.1",
    connects: "421 4.7.0 mx.example.com Error: too many connections from 192.0.2.1",
    per_connection: "421 too many messages in this connection",
    block: "554 5.7.1 <a8-95.smtp-out.amazonses.com[203.0.113.22]>: Client host rejected: blocked using mail.neko.example.org; Please see http://mail.neko.example.org/rbl/?ip=203.0.113.22 to send.",
    busy: "451 4.3.0 Temporary lookup error",
    unknown: "550 5.1.1 <neko@example.co.jp>: Recipient address rejected: User unknown in virtual mailbox table",
    full: "550 5.2.2 <mailboxfull@bouncehammer.jp>... Mailbox Full",
    full_for_now: "450 4.2.2 <kijitora@example.jp>... Mailbox Full",
    greylisted: "450 4.2.0 <xo@wvvw.me>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/wvvw.me.html",
    accepted: "250 2.0.0 Ok: queued as 4Xk9F2",
};

/// The built-in sets, by the name a scenario's `replies.base` gives.
const SETS: [(&str, Texts); 6] = [
    ("google", GOOGLE),
    ("microsoft", MICROSOFT),
    ("yahoo", YAHOO),
    ("apple", APPLE),
    ("comcast", COMCAST),
    ("postfix", POSTFIX),
];

/// A receiver class's replies, parsed once.
pub struct Replies {
    pub rate: Reply,
    pub window: Reply,
    pub connections: Reply,
    pub connects: Reply,
    pub per_connection: Reply,
    pub block: Reply,
    pub busy: Reply,
    pub unknown: Reply,
    pub full: Reply,
    pub full_for_now: Reply,
    pub greylisted: Reply,
    pub accepted: Reply,
}

/// Parses one reply text, saying which one failed.
pub fn parse(what: &str, text: &str) -> Result<Reply, String> {
    Reply::parse(text).map_err(|e| format!("replies.{what} {text:?}: {e}"))
}

impl Replies {
    /// The set `spec.base` names (Postfix's by default) with `spec`'s texts in place.
    pub fn new(spec: &RepliesSpec) -> Result<Self, String> {
        let base = spec.base.as_deref().unwrap_or("postfix");
        let texts = SETS
            .iter()
            .find(|(name, _)| *name == base)
            .map(|(_, t)| t)
            .ok_or_else(|| {
                let names: Vec<&str> = SETS.iter().map(|(n, _)| *n).collect();
                format!("replies.base = {base:?}: one of {}", names.join(", "))
            })?;
        let pick = |what: &str, own: &Option<String>, built_in: &str| {
            parse(what, own.as_deref().unwrap_or(built_in))
        };
        let greylisted = if texts.greylisted.is_empty() {
            POSTFIX.greylisted
        } else {
            texts.greylisted
        };
        Ok(Self {
            rate: pick("rate", &spec.rate, texts.rate)?,
            window: pick("window", &spec.window, texts.window)?,
            connections: pick("connections", &spec.connections, texts.connections)?,
            connects: pick("connects", &spec.connects, texts.connects)?,
            per_connection: pick("per_connection", &spec.per_connection, texts.per_connection)?,
            block: pick("block", &spec.block, texts.block)?,
            busy: pick("busy", &spec.busy, texts.busy)?,
            unknown: pick("unknown", &spec.unknown, texts.unknown)?,
            full: pick("full", &spec.full, texts.full)?,
            full_for_now: pick("full_for_now", &spec.full_for_now, texts.full_for_now)?,
            greylisted: pick("greylisted", &spec.greylisted, greylisted)?,
            accepted: pick("accepted", &spec.accepted, texts.accepted)?,
        })
    }
}
