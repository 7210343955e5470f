//! The built-in rules, in the order they are tried: provider tags and texts, generic
//! text, enhanced status codes, basic reply codes.
//!
//! Every rule says what it means, not which reply it was written for: phrases are the
//! wording servers use for that meaning. `tests/rules.rs` runs every rule against real
//! replies (`tests/data/replies.tsv`, `tests/data/witnesses.tsv`) and checks that each
//! one decides at least one of them and that none is shadowed by an earlier rule.

use std::time::Duration;

use super::Category::*;
use super::{Rule, Scope};
use crate::provider::Provider;

/// The built-in rules, in order.
pub(super) fn rules() -> Vec<Rule> {
    let mut rules = provider_rules();
    rules.extend(text_rules());
    rules.extend(enhanced_code_rules());
    rules.extend(basic_code_rules());
    rules
}

/// Provider tags and provider-specific wording: these know what a provider means by a
/// reply that would be read otherwise from its words or codes alone.
fn provider_rules() -> Vec<Rule> {
    vec![
        // Yahoo's error-code page (postmaster.yahooinc.com/error-codes): [TS03] and
        // [TSS09] are permanent deferrals, "Retrying will NOT succeed", even over 421.
        Rule::new("yahoo.permanent_deferral", Reputation)
            .any_phrase(["[ts03]", "[tss09]"])
            .retry(false)
            .scope(Scope::SourceIp),
        // Yahoo's temporary deferrals for volume or complaints ([TSS04], [TS01], [TS02],
        // "Message temporarily deferred - 4.16.5x"). Yahoo asks senders to come back
        // after about 4 hours (DESIGN.md, provider facts).
        Rule::new("yahoo.deferred", Reputation)
            .class(4)
            .from_provider(Provider::Yahoo)
            .any_phrase(["[tss04]", "[ts01]", "[ts02]", "temporarily deferred"])
            .retry_after(Duration::from_secs(4 * 3600))
            .scope(Scope::SourceIp),
        // Microsoft 365 / Outlook.com: 4.7.500 to 4.7.699 are "server busy / access denied,
        // try again later" answers to a sending IP that is being throttled
        // (learn.microsoft.com, Exchange Online NDR reference). The reputation-worded
        // ones (4.7.650 "... due to IP reputation") are left to the reputation rule.
        Rule::new("microsoft.throttled", RateLimited)
            .from_provider(Provider::Microsoft)
            .enhanced("4.7.500-699")
            .unless("reputation")
            .scope(Scope::SourceIp),
        // Gmail, "Our system has detected an unusual rate of unsolicited mail": 4xx is a
        // temporary rate limit on the source, 5xx a block for the same reason
        // (support.google.com/a/answer/3726730).
        Rule::new("google.unusual_rate", RateLimited)
            .class(4)
            .phrase("unusual rate of")
            .scope(Scope::SourceIp),
        Rule::new("google.unusual_rate_blocked", Reputation)
            .class(5)
            .phrase("unusual rate of")
            .retry(false),
        // Comcast's own block list: "Comcast block for spam", codes BL000000-BL000011
        // (postmaster.comcast.net/smtp-error-codes.php).
        Rule::new("comcast.blocklist", Blocklisted)
            .from_provider(Provider::Comcast)
            .any_phrase(["block for spam", "#bl0000"]),
        // Cox AUP#CDRBL: "the sending IP address has been temporarily blocked by Cox due
        // to exhibiting spam-like behavior" (cox.com, email error codes): a temporary
        // block on the source's standing, lifted without delisting.
        Rule::new("cox.complaints", Reputation)
            .from_provider(Provider::Cox)
            .phrase("aup#cdrbl")
            .retry(true),
        // Spectrum AUP#In-1310: the sending IP opened more concurrent connections than
        // Spectrum allows (spectrum.net, "understanding email error codes").
        Rule::new("spectrum.connections", TooManyConnections)
            .from_provider(Provider::Spectrum)
            .phrase("aup#in-1310"),
        // Orange "Service refuse. Veuillez essayer plus tard" (OFR_999, OFR006_xxx): a
        // temporary refusal of the sending IP, accepted again hours later; retry.
        Rule::new("orange.service_refused", Reputation)
            .from_provider(Provider::Orange)
            .phrase("service refuse")
            .retry(true)
            .scope(Scope::SourceIp),
        // Orange OFR_506: message refused as spam.
        Rule::new("orange.spam", Content)
            .from_provider(Provider::Orange)
            .phrase("ofr_506"),
        // Mimecast "Email rejected due to security policies": its content and signature
        // checks (community.mimecast.com, SMTP error codes).
        Rule::new("mimecast.security_policies", Content)
            .from_provider(Provider::Mimecast)
            .phrase("rejected due to security polic"),
        // Deutsche Telekom (T-Online) tags its block-list refusals "(BL)".
        Rule::new("tonline.blocklist", Blocklisted).phrase("(bl)"),
        // Trend Micro's block lists: BLOCK-RCPT (recipient refused by policy) and
        // BLOCK-SENDER (sender on the block list), written after Postfix's
        // "Recipient address rejected:".
        Rule::new("trendmicro.recipient_blocked", Policy).phrase("block-rcpt"),
        Rule::new("trendmicro.sender_blocked", SenderRejected).phrase("block-send"),
        // Postfix anvil limits (smtpd.c): "Error: too much mail from <ip>" and "Error: too
        // many recipients from <ip>" are per-client rates, not a transaction limit.
        Rule::new("postfix.client_rate", RateLimited)
            .any_phrase([
                "error: too much mail from",
                "error: too many recipients from",
            ])
            .scope(Scope::SourceIp),
    ]
}

/// Generic wording, most specific meaning first.
fn text_rules() -> Vec<Rule> {
    vec![
        // The sending MTA gave up: the message outlived its queue lifetime.
        Rule::new("text.expired", Network)
            .any_phrase([
                "queue.expired",
                "message expired",
                "message has expired",
                "in the queue too long",
                "delivery time expired",
            ])
            .retry(false)
            .scope(Scope::Message),
        Rule::new("text.mail_loop", Routing).any_phrase([
            "mail loop",
            "looping",
            "routing loop",
            "too many hops",
            " hops",
        ]),
        Rule::new("text.virus", Virus).any_phrase(["virus", "infected", "malware", "trojan"]),
        Rule::new("text.greylisted", Greylisted).any_phrase([
            "greylist",
            "graylist",
            "grey-list",
            "gray-list",
            "grey list",
            "gray list",
        ]),
        // A 4xx that only an allowlist entry can cure is permanent in effect.
        Rule::new("text.not_allowlisted", Policy)
            .any_phrase([
                "not in whitelist",
                "not whitelisted",
                "not in allowlist",
                "not allowlisted",
                "not on the allow list",
            ])
            .retry(false),
        Rule::new("text.go_away", Policy)
            .phrase("go away")
            .retry(false),
        Rule::new("text.relay_denied", RelayDenied).any_phrase([
            "relay access denied",
            "relaying denied",
            "relay denied",
            "unable to relay",
            "relay not permitted",
            "not permitted to relay",
            "relaying disallowed",
            "relaying not allowed",
            "relaying disabled",
            "allowed rcpthosts",
            "as a relay",
            // Exchange's answer to an unauthenticated client sending to a remote domain.
            "client was not authenticated",
        ]),
        Rule::new("text.blocklisted", Blocklisted).any_phrase([
            "spamhaus",
            "dnsbl",
            " rbl",
            "blacklist",
            "black list",
            "blocklist",
            "block list",
            "blocked using",
            "listed at",
            "sorbs.net",
            "spamcop",
            "abuseat.org",
            "open relay",
            "banned sender",
            "banned sending",
        ]),
        // A session cut off after many unknown recipients: a penalty for list quality.
        Rule::new("text.invalid_recipients", Reputation)
            .any_phrase([
                "too many invalid recipients",
                "too many unknown recipients",
                "too many bad recipients",
            ])
            .retry(true),
        Rule::new("text.reputation", Reputation).any_phrase([
            "reputation",
            "user complaints",
            "spam complaints",
        ]),
        Rule::new("text.authentication", Authentication).any_phrase([
            "spf",
            "dkim",
            "dmarc",
            "sender policy framework",
            "ptr record",
            "dns ptr",
            "reverse dns",
            "rdns",
            "cannot find your hostname",
            "cannot find your reverse hostname",
            "ip name lookup failed",
            "unauthenticated email",
            "is unauthenticated",
            "mismatches client ip",
            "unverifiable",
            "unverifyable",
            "invalid ip for sending",
        ]),
        Rule::new("text.tls_required", TlsRequired)
            .any_phrase([
                "tls required",
                "tls is required",
                "requires tls",
                "starttls is required",
                "starttls required",
                "must issue a starttls",
                "does not support tls",
                "encryption required",
                "requires encryption",
            ])
            .retry(false),
        Rule::new("text.tls_unavailable", TlsRequired).any_phrase([
            "tls currently unavailable",
            "tls not available",
            "tls unavailable",
        ]),
        Rule::new("text.too_many_connections", TooManyConnections).any_phrase([
            "too many connections",
            "too many concurrent",
            "concurrent connections",
            // Exchange: "The maximum number of concurrent server connections has exceeded
            // a limit".
            "concurrent server connections",
            "concurrent sessions",
            "too many sessions",
            "too many simultaneous",
            "simultaneous connections",
            "connection limit",
            "concurrency limit",
            "connection rate",
        ]),
        Rule::new("text.recipient_rate", RateLimited)
            .any_phrase([
                "recipient has exceeded",
                "receiving mail too quickly",
                "receiving mail at a rate",
            ])
            .scope(Scope::Recipient),
        Rule::new("text.rate_limited", RateLimited).any_phrase([
            "rate limit",
            "ratelimit",
            "rate-limit",
            "too much mail",
            "too many messages",
            "too many mails",
            "too fast",
            "sent too many",
            "exceeded permitted limits",
            "quota exceeded for",
            "queue quota exceeded",
            "relay limit",
            "per connection reached",
            "too many login attempts",
            "intrusion prevention",
            "mail flood",
            "unexpected volume",
        ]),
        Rule::new("text.too_many_recipients", TooManyRecipients).any_phrase([
            "too many recipients",
            "too many rcpt",
            "recipients reached",
            "maximum number of recipients",
            "recipient limit",
            "recipients per",
        ]),
        Rule::new("text.mailbox_full_temporarily", MailboxFull)
            .any_phrase(MAILBOX_FULL)
            .phrase("temporar")
            .retry(true),
        Rule::new("text.mailbox_full", MailboxFull).any_phrase(MAILBOX_FULL),
        Rule::new("text.message_too_large", MessageTooLarge).any_phrase([
            "message size",
            "size exceeds",
            "size limit",
            "too large",
            "too big",
            "message length exceeds",
            "databytes",
            "email size exceeded",
            "maximum size",
            "number of attachments",
        ]),
        Rule::new("text.sender_rejected", SenderRejected).any_phrase([
            "sender address rejected",
            "bad sender",
            "bad outbound sender",
            "unroutable sender",
            "domain of sender address",
            "sender domain",
            "envelope blocked",
            "blocked senders",
            "invalid dns mx",
            "not allowed as a from",
            "from: domain is invalid",
            "sender verify failed",
            "sender verification failed",
            "sender rejected",
            "sender denied",
        ]),
        Rule::new("text.content", Content).any_phrase([
            "spam",
            "content rejected",
            "message filtered",
            "attachment",
            "header",
            "message-id",
            " ube",
            "content filter",
        ]),
        Rule::new("text.mailbox_disabled", MailboxDisabled).any_phrase([
            "disabled",
            "inactive",
            "deactivated",
            "discontinued",
            "no longer valid",
            "no longer on server",
            "no longer active",
            "mailbox has moved",
            "account has been suspended",
        ]),
        Rule::new("text.bad_domain", BadDomain).any_phrase([
            "host unknown",
            "host not found",
            "invalid domain",
            "domain is not reachable",
            "does not accept mail",
            "domain not found",
            "no such domain",
            "domain does not exist",
            "null mx",
            "nullmx",
        ]),
        Rule::new("text.unknown_user", UnknownUser).any_phrase([
            "user unknown",
            "unknown user",
            "no such user",
            "user does not exist",
            "user doesn't exist",
            "user doesn't have",
            "recipient not found",
            "recipnotfound",
            "recipientnotfound",
            "mailbox not found",
            "mailbox does not exist",
            "mailbox unavailable",
            "mailbox unallocated",
            "invalid recipient",
            "not a valid recipient",
            "unknown recipient",
            "no such recipient",
            "not in recipient list",
            "undeliverable address",
            "invalid address",
            "address does not exist",
            "not our customer",
            "not our user",
            "no mailbox",
            "address rejected",
        ]),
        Rule::new("text.policy", Policy).any_phrase([
            "policy",
            "spoof",
            "smtp server of your isp",
            "not authenticated for",
            "access denied",
            "blocked",
            "client host rejected",
            "prohibited",
        ]),
        Rule::new("text.network", Network).any_phrase([
            "timed out",
            "timeout",
            "lost input connection",
            "lost connection",
            "connection lost",
            "connection reset",
            "connection dropped",
            "connection expired",
            "unable to connect",
            "could not connect",
            "establish an smtp connection",
            "no route to host",
        ]),
        // qmail and others refuse a message with bare LF line ends; the same bytes will be
        // refused again (cr.yp.to/docs/smtplf.html).
        Rule::new("text.bare_lf", Protocol)
            .any_phrase(["smtplf", "bare lf", "bare linefeed", "lone cr or lf"])
            .retry(false),
        Rule::new("text.protocol", Protocol).any_phrase([
            "syntax",
            "unrecognized command",
            "command unrecognized",
            "command not recognized",
            "invalid command",
            "bad sequence",
            "improper sequence",
            "line limit exceeded",
            "line is too long",
            "line too long",
            "too many unauthenticated commands",
            "may not be repeated",
            "protocol error",
            "too many errors",
        ]),
        // A security-class (x.7.x) deferral that only says "later" is a throttle: Gmail's
        // "421 4.7.0 Try again later, closing connection."
        Rule::new("text.security_deferral", RateLimited)
            .enhanced("4.7.*")
            .any_phrase(["try again later", "try later", "please try again"])
            .unless("busy"),
        Rule::new("text.server_busy", ServerBusy).any_phrase([
            "busy",
            "temporarily unavailable",
            "temporarily not available",
            "currently unavailable",
            "service unavailable",
            "service not available",
            "resources temporarily",
            "temporary server error",
            "temporary failure",
            "local error",
            "local data error",
            "lookup error",
            "configuration problem",
            "temporarily rejected",
            "temporarily refused",
            "insufficient system storage",
            "try again later",
            "try later",
        ]),
    ]
}

const MAILBOX_FULL: [&str; 9] = [
    "over quota",
    "quota exceeded",
    "exceeded storage",
    "storage allocation",
    "out of storage",
    "mailbox full",
    "mailbox is full",
    "mailbox size limit",
    "insufficient space",
];

/// RFC 3463 / RFC 5248 registry meanings, for replies whose text says nothing more.
fn enhanced_code_rules() -> Vec<Rule> {
    vec![
        // X.1.1 Bad destination mailbox address.
        Rule::new("esc.bad_mailbox", UnknownUser).enhanced("*.1.1"),
        // X.3.0 to X.3.3: the receiving mail system is full, not accepting, or failing.
        // (X.3.4, "message too big for system", is used by some MTAs for resources.)
        Rule::new("esc.mail_system", ServerBusy).enhanced("*.3.0-3"),
        // X.4.0 to X.4.2: no answer from host, bad connection.
        Rule::new("esc.network", Network).enhanced("*.4.0-2"),
        // X.4.3 directory (DNS) server failure, X.4.4 unable to route.
        Rule::new("esc.routing", Routing).enhanced("*.4.3-4"),
        // X.4.7 delivery time expired: the sending side gave up.
        Rule::new("esc.expired", Network)
            .enhanced("*.4.7")
            .retry(false)
            .scope(Scope::Message),
        // X.5.0 to X.5.2: invalid command, syntax error.
        Rule::new("esc.protocol", Protocol).enhanced("*.5.0-2"),
        // X.6.x media (content format) errors.
        Rule::new("esc.media", Content).enhanced("*.6.*"),
        // X.7.0 other security status, X.7.1 delivery not authorized, message refused.
        Rule::new("esc.not_authorized", Policy).enhanced("*.7.0-1"),
    ]
}

/// RFC 5321 §4.2 meanings of the basic code, when nothing else is known.
fn basic_code_rules() -> Vec<Rule> {
    vec![
        // "421 Service not available, closing transmission channel".
        Rule::new("code.421", ServerBusy).code(421),
        // "451 Requested action aborted: local error in processing".
        Rule::new("code.451", ServerBusy).code(451),
        // 500-504: syntax errors, unknown commands, bad sequence.
        Rule::new("code.syntax", Protocol).codes(500, 504),
    ]
}
