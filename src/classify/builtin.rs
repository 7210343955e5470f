//! The built-in rules, in three tiers around the enhanced-code registry
//! ([`super::registry`]): provider tags and specific wording before its specific codes,
//! general wording before its vague codes, the basic reply codes last.
//!
//! Every rule says what it means, not which reply it was written for: phrases are the
//! wording servers use for that meaning. `tests/rules.rs` runs every rule against real
//! replies (`tests/data/replies.tsv`, `tests/data/witnesses.tsv` and the development side
//! of `tests/data/corpus.tsv`) and checks that each one decides at least one of them and
//! that none is shadowed by an earlier rule.

use std::time::Duration;

use super::Category::*;
use super::{Rule, Scope};
use crate::provider::Provider;

/// The built-in rules that come before the enhanced-code registry
/// ([`super::registry`]), in order.
pub(super) fn rules() -> Vec<Rule> {
    let mut rules = provider_rules();
    rules.extend(text_rules());
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
            .unless("connections")
            .scope(Scope::SourceIp),
        // Microsoft's Directory Based Edge Blocking answers a recipient missing from the
        // directory with "550 5.4.1 Recipient address rejected: Access denied"
        // (learn.microsoft.com, Exchange Online NDR 5.4.1): no such user, not the
        // registry's "no answer from host".
        Rule::new("microsoft.no_such_recipient", UnknownUser)
            .from_provider(Provider::Microsoft)
            .enhanced("5.4.1")
            .phrase("access denied"),
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
        // "Service refusé. Veuillez essayer plus tard" (Orange OFR_999, OFR006_xxx; La
        // Poste LPN007_505): the French providers' temporary refusal of the sending IP,
        // accepted again hours later; retry, whatever the code.
        Rule::new("text.service_refused", Reputation)
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

/// Wording specific enough to decide ahead of the enhanced code: phrase families by
/// meaning, most specific meaning first. Each family covers the word forms, word orders
/// and languages servers use for that meaning.
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
            "forwarding loop",
            "loop detected",
            "loop broken",
            "infinite loop",
            "too many hops",
            " hops",
            "boucle",
        ]),
        Rule::new("text.virus", Virus).any_phrase([
            "virus",
            "infected",
            "malware",
            "trojan",
            "worm detected",
            "viren",
        ]),
        Rule::new("text.greylisted", Greylisted).any_phrase([
            "greylist",
            "graylist",
            "grey-list",
            "gray-list",
            "grey list",
            "gray list",
            "greylisting",
            "grey listed",
            "gray listed",
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
        Rule::new("text.too_many_recipients", TooManyRecipients)
            .any_phrase([
                "too many recipients",
                "too many rcpt",
                "recipients reached",
                "maximum number of recipients",
                "max recipients",
                "maximum recipients",
                "recipient limit",
                "recipients per",
                "per transaction",
                "separate transaction",
            ])
            // "... has sent to too many recipients this hour" is a rate.
            .unless("this hour")
            .unless("per hour")
            .unless("per day")
            .unless("today"),
        // An address the server cannot parse: the command, not the mailbox, is wrong.
        // (A sender's address the server cannot parse is the sender's to fix.)
        Rule::new("text.address_syntax", Protocol)
            .any_phrase(["syntax", "too long", "malformed"])
            .any_phrase(["address", "mailbox", "path"])
            .unless("sender"),
        // SMTP AUTH refused the sender's own credentials (RFC 4954: 534 mechanism too weak,
        // 535 credentials invalid): nothing about the message or the route.
        Rule::new("auth.credentials", Other).codes(534, 535),
        Rule::new("text.auth_failed", Other)
            .any_phrase([
                "authentication credentials invalid",
                "authentication mechanism is too weak",
                "password transition",
                "authentication failed",
                "authentication failure",
                "authentication unsuccessful",
                "authenticated failed",
                "password not accepted",
                "password required",
                "invalid credentials",
                "xoauth",
                "oauth",
                "login disabled",
                "authentification invalide",
            ])
            .unless("relay"),
        // A cap on one session's messages: the session is over, the next one may carry
        // as many again (Exim's, Yahoo's, GoDaddy's, Stalwart's texts).
        Rule::new("text.session_limit", RateLimited)
            .any_phrase([
                "messages per session",
                "messages per connection",
                "message per connection",
                "in this connection",
                "on this connection",
                "per session exceeded",
                "open a new session",
            ])
            .scope(Scope::Connection),
        // Limits named as a rate, a count per time or per session: ahead of the words for
        // relaying, recipients and quotas that such replies also use.
        Rule::new("text.sending_limit", RateLimited)
            .any_phrase([
                "sending limit",
                "send limit",
                "sending quota",
                "sending rate",
                "relay limit",
                "quota for sending",
                "exceeded its quota",
                "exceeded the quota",
                "frequency limit",
                "too frequent",
                "messages per session",
                "per session",
                "per hour",
                "per minute",
                "per day",
                "per second",
                "this hour",
                "an hour",
                "hourly",
                "daily limit",
                "daily quota",
                "too many recent",
                "too many new",
            ])
            // How often connections may open is a connection limit.
            .unless("connection frequency"),
        Rule::new("text.relay_denied", RelayDenied)
            .any_phrase([
                "user not local",
                "relay access denied",
                "relaying denied",
                "relay denied",
                "unable to relay",
                "relay not permitted",
                "not permitted to relay",
                "relaying disallowed",
                "relaying not allowed",
                "relay not allowed",
                "relaying disabled",
                "relaying prohibited",
                "relaying to",
                "no relaying",
                "not relay",
                "don't relay",
                "configured to relay",
                "be relayed",
                "unauthorized relay",
                "insecure mail relay",
                "mail relay",
                "smtp relay",
                "allowed rcpthosts",
                "as a relay",
                "local user only",
                "send email directly to our servers",
                "send mail directly to our servers",
                // Exchange's answer to an unauthenticated client sending to a remote domain.
                "client was not authenticated",
                "authentication required",
                "authentication is required",
                "must be authenticated",
                "must authenticate",
                "requires authentication",
                "smtp authentication",
                "authentification requise",
            ])
            .unless("lookup failed")
            .unless("try again later"),
        // A policy the reply names as violated, whatever the code's detail says.
        Rule::new("text.policy_violation", Policy)
            .any_phrase([
                "policy violation",
                "violates our policy",
                "violation of policy",
                "local policy",
                "policy reasons",
                "policy restriction",
                "policy error",
                "due to policy",
                "anti spoofing policy",
            ])
            // An authentication or block-list policy says which.
            .unless("dmarc")
            .unless("spf")
            .unless("dkim")
            .unless("blacklist")
            .unless("blocklist")
            .unless("dnsbl"),
        // X.1.7 and X.1.8 say the address is the sender's: words about a missing or
        // invalid address or domain are then about the sender.
        Rule::new("esc.sender_address", SenderRejected)
            .enhanced("*.1.7-8")
            .any_phrase([
                "domain",
                "address",
                "does not exist",
                "no such",
                "invalid",
                "unknown",
                "not found",
            ])
            .unless("syntax")
            .unless("character"),
        // URI block lists judge links in the message, not the sender.
        Rule::new("text.uri_blocklisted", Content).any_phrase([
            "uribl",
            "surbl",
            "url in message",
            "blacklisted url",
            "blocklisted url",
            "blacklisted link",
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
            "listed in",
            "listed on",
            "listed by",
            "is listed",
            "sorbs.net",
            "spamcop",
            "abuseat.org",
            "invaluement",
            " cbl",
            " pbl",
            " sbl",
            " xbl",
            "barracuda",
            "spamrats",
            "mailspike",
            "backscatter",
            "uceprotect",
            "barracudacentral",
            "junkemailfilter",
            "open relay",
            "banned sender",
            "banned sending",
            "bad ip",
            "blocked for abuse",
            "blocked for spam",
            "ip source bloquee",
            "unwanted messages",
            "ipcheck",
        ]),
        // A session cut off after many unknown recipients: a penalty for list quality.
        Rule::new("text.invalid_recipients", Reputation)
            .any_phrase([
                "too many invalid",
                "too many unknown recipients",
                "too many bad recipients",
                "too many bad addresses",
            ])
            .retry(true),
        // A block on the sender's standing that says it is for a time.
        Rule::new("text.reputation_for_now", Reputation)
            .any_phrase(["temporarily blocked", "blocked for the day"])
            .retry(true),
        Rule::new("text.reputation", Reputation).any_phrase([
            "reputation",
            "user complaints",
            "spam complaints",
            "complaint rate",
            "unusual amount of",
            "messages containing content judged",
            "spam-like behavior",
            "sender score",
            "senderscore",
            "complaint",
            "unusual sending activity",
            "suspicious activity",
        ]),
        Rule::new("text.tls_required", TlsRequired)
            .any_phrase([
                "tls required",
                "tls is required",
                "requires tls",
                "require tls",
                "use tls",
                "starttls is required",
                "starttls required",
                "must issue a starttls",
                "issue starttls first",
                "starttls first",
                "does not support tls",
                "tls connection",
                "tls wasn't used",
                "tls was not used",
                "tls session initiation failed",
                "tls negotiation failed",
                "tls handshake",
                "starttls failed",
                "tls failed",
                "already in tls",
                "tls is already active",
                "tls not permitted",
                "tls support is not enabled",
                "ssl attempted",
                "encryption required",
                "requires encryption",
                "encryption needed",
                "certificate",
                "secure connection",
                "encrypted connection",
                "security conversion required",
                "security features not supported",
                "cryptographic failure",
                "cryptographic algorithm not supported",
                "requiretls",
            ])
            .retry(false),
        // A TLS word and a word of failure, in either order ("TLS not available", "TLS
        // handshake failed", "certificate error"): the retry follows the code, since a
        // handshake that failed once may pass later.
        Rule::new("text.tls_failure", TlsRequired)
            .any_phrase([
                "tls",
                "starttls",
                " ssl",
                "certificate",
                "encryption",
                "encrypted",
            ])
            .any_phrase([
                "not available",
                "unavailable",
                "fail",
                "error",
                "problem",
                "invalid",
                "expired",
                "unable",
                "cannot",
                "could not",
            ])
            // A STARTTLS out of sequence is a protocol error, not a TLS failure.
            .unless("already")
            .unless("pipelin")
            .unless("syntax")
            .unless("repeated"),
        Rule::new("text.authentication", Authentication)
            .any_phrase([
                "no passing dkim signature",
                "author-matched dkim",
                "spf validation",
                "reverse dns validation",
                "multiple authentication checks failed",
                "spf",
                "dkim",
                "dmarc",
                "domainkeys",
                "sender id",
                "senderid",
                "sender policy framework",
                "arc validation",
                "authentication check",
                "authentication information",
                "unauthenticated sender",
                "ptr record",
                "dns ptr",
                "reverse dns",
                "reverse lookup",
                "rdns",
                "fcrdns",
                "cannot find your hostname",
                "cannot find your reverse hostname",
                "ip name lookup failed",
                "unauthenticated email",
                "is unauthenticated",
                "mismatches client ip",
                "unverifiable",
                "unverifyable",
                "invalid ip for sending",
                "aligned with",
            ])
            .unless("duplicate header"),
        Rule::new("text.recipient_rate", RateLimited)
            .any_phrase([
                "recipient has exceeded",
                "receiving mail too quickly",
                "receiving email too quickly",
                "receiving mail at a rate",
                "receiving email at a rate",
                "recipient thread limit",
                "to this recipient per",
            ])
            .scope(Scope::Recipient),
        Rule::new("text.too_many_connections", TooManyConnections).any_phrase([
            "too many connection",
            "too many concurrent",
            "concurrent connection",
            // Exchange: "The maximum number of concurrent server connections has exceeded
            // a limit".
            "concurrent server connections",
            "concurrent session",
            "concurrent smtp",
            "too many session",
            "too many smtp sessions",
            "too many open connections",
            "too many simultaneous",
            "simultaneous connection",
            "parallel connection",
            "number of connection",
            "max connection",
            "maximum connection",
            "connections per",
            "connection per",
            "connections from your",
            "connection limit",
            "connections limit",
            "concurrency limit",
            "connection rate",
            "connection frequency",
            "session limit",
            "thread limit",
            "process limit",
            "too many processes",
            "too many threads",
            "trop de connexions",
            "zu viele verbindungen",
            "demasiadas conexiones",
        ]),
        // Gmail's "421 4.7.28 ... unusual rate" family and the like: a volume objection
        // that names its cause; ahead of `too many recipients`, which such texts contain.
        Rule::new("text.rate_limited", RateLimited)
            .any_phrase([
                "rate limit",
                "ratelimit",
                "rate-limit",
                "rate exceeded",
                "rate control",
                "throttl",
                "slow down",
                "too much mail from",
                "too many messages",
                "too many mails",
                "too many emails",
                "too fast",
                "too quickly",
                "sent too many",
                "sent to too many",
                "exceeded permitted limits",
                "exceeded the limit",
                "max number of messages",
                "maximum number of messages",
                "quota exceeded for",
                "queue quota exceeded",
                "per connection reached",
                "too many login attempts",
                "intrusion prevention",
                "mail flood",
                "unexpected volume",
                "high volume",
                "excessive volume",
                "excessive mail",
                "excessive messages",
                "exceeded sending",
                "too many emails sent",
                "trop de messages",
                "zu viele nachrichten",
                "demasiados mensajes",
            ])
            .unless("on the server")
            .unless("size"),
        Rule::new("text.mailbox_full_temporarily", MailboxFull)
            .any_phrase(MAILBOX_FULL)
            .any_phrase(["temporar", "try again later", "try later"])
            .retry(true),
        Rule::new("text.mailbox_full", MailboxFull).any_phrase(MAILBOX_FULL),
        Rule::new("text.message_too_large", MessageTooLarge).any_phrase([
            "message length exceeds administrative limit",
            "message too big for system",
            "too big for the specified priority",
            "message size",
            "size exceeds",
            "size exceeded",
            "size limit",
            "the size of",
            "too large",
            "too big",
            "message length exceeds",
            "exceeds maximum",
            "exceeds fixed maximum",
            "mail data",
            "databytes",
            "email size",
            "maximum size",
            "allowed size",
            "oversize",
            "message too long",
            "number of attachments",
            "trop volumineux",
            "zu gross",
            "zu groß",
            "demasiado grande",
        ]),
        Rule::new("text.sender_rejected", SenderRejected).any_phrase([
            "bad sender's system address",
            "sender address has null mx",
            "sender address rejected",
            "bad sender",
            "bad outbound sender",
            "unroutable sender",
            "domain of sender address",
            "sender domain",
            "sender address",
            "sender email",
            "sender account",
            "sender is not",
            "sender name",
            "envelope sender",
            "envelope blocked",
            "blocked senders",
            "badmailfrom",
            "invalid sender",
            "sender invalid",
            "unknown sender",
            "emetteur invalide",
            "expéditeur",
            "invalid dns mx",
            "not allowed as a from",
            "from: domain is invalid",
            "from: addresses",
            "from address",
            "is mismatched with",
            "sender verify failed",
            "sender verification failed",
            "sender rejected",
            "sender denied",
            "address is not verified",
            "identities failed",
            "purported responsible address",
            "helo domain must exist",
        ]),
        Rule::new("text.content", Content)
            .any_phrase([
                "media not supported",
                "conversion required and prohibited",
                "conversion required but not supported",
                "conversion with loss performed",
                "conversion failed",
                "message integrity failure",
                "spam",
                "junk",
                "unsolicited",
                "bulk mail",
                "bulk email",
                "content rejected",
                "content reject",
                "content denied",
                "mail content",
                "message content",
                "message filtered",
                "attachment",
                "header",
                "message-id",
                " ube",
                "content filter",
                " mime ",
                "8-bit",
                "eight bit",
                "nul byte",
                "message is malformed",
                "unacceptable content",
                "prohibited content",
                "forbidden content",
                "suspicious content",
                "phishing",
                "suspicious",
            ])
            .unless("spamhaus"),
        Rule::new("text.mailbox_disabled", MailboxDisabled)
            .any_phrase([
                "destination mailbox has moved",
                "user account disabled",
                "mailbox owner has changed",
                "domain owner has changed",
                "disabled",
                "inactive",
                "inactivity",
                "deactivated",
                "discontinued",
                "suspended",
                "frozen",
                "not activated",
                "inactivated",
                "account expired",
                "account closed",
                "account has been closed",
                "mailbox closed",
                "account is locked",
                "temporary locked",
                "temporarily locked",
                "account is blocked",
                "compte du destinataire",
                "archived",
                "archivee",
                "archivée",
                "no longer valid",
                "no longer on server",
                "no longer active",
                "no longer exists",
                "no longer available",
                "mailbox has moved",
                "account has been suspended",
            ])
            .unless("command")
            .unless("smtputf8")
            .unless("login"),
        Rule::new("text.bad_domain", BadDomain).any_phrase([
            "recipient address has null mx",
            "host unknown",
            "host not found",
            "invalid domain",
            "domain is not reachable",
            "does not accept mail",
            "domain not found",
            "domain name not found",
            "no such domain",
            "domain does not exist",
            "domain doesn't exist",
            "nonexistent domain",
            "non-existent domain",
            "domainnonexistent",
            "bad destination system",
            "destination domain",
            "recipient’s domain",
            "recipient's domain",
            "no mx",
            "mx record",
            "resolving mx",
            "no mail exchanger",
            "nxdomain",
            "null mx",
            "nullmx",
            "unknown domain",
            "domain unknown",
            "domain is invalid",
            "no such host",
            "domain name not valid",
            "host or domain name not found",
            "domaine inexistant",
            "dominio inexistente",
        ]),
        // RFC 5321 §4.2.2: 450 "mailbox unavailable (e.g., mailbox busy or temporarily
        // blocked)" is a passing state; only a 5xx says the mailbox is not there.
        Rule::new("text.mailbox_unavailable_for_now", ServerBusy)
            .class(4)
            .any_phrase([
                "mailbox unavailable",
                "mailbox not available",
                "mailbox busy",
                "mailbox temporarily",
                "mailbox is temporarily",
            ]),
        Rule::new("text.unknown_user", UnknownUser).any_phrase([
            "bad destination mailbox address",
            "destination mailbox address ambiguous",
            "mailbox name not allowed",
            "user unknown",
            "unknown user",
            "no such user",
            "no such mailbox",
            "no such account",
            "no such recipient",
            "no such address",
            "user does not exist",
            "user doesn't exist",
            "user not exist",
            "user doesn't have",
            "user not found",
            "user is unknown",
            "not a known user",
            "not a registered",
            "invalid user",
            "user invalid",
            "recipient not found",
            "recipient unknown",
            "recipient does not exist",
            "recipient doesn't exist",
            "recipnotfound",
            "recipientnotfound",
            "bad_recipient",
            "bad recipient",
            "badrcptto",
            "mailbox not found",
            "mailbox does not exist",
            "mailbox unavailable",
            "mailbox not available",
            "mailbox unknown",
            "unknown mailbox",
            "invalid mailbox",
            "mailbox unallocated",
            "mail box available",
            "mailbox here by that name",
            "invalid recipient",
            "not a valid recipient",
            "unknown recipient",
            "not in recipient list",
            "no valid recipients",
            "undeliverable address",
            "unrouteable address",
            "unroutable address",
            "invalid address",
            "address unknown",
            "unknown address",
            "addressee unknown",
            "address does not exist",
            "address could not be found",
            "is not deliverable",
            "not an active address",
            "not a valid mailbox",
            "mailbox invalid",
            "address not found",
            "address invalid",
            "does not have an account",
            "unknown local",
            "not our customer",
            "not our user",
            "no mailbox",
            "destinataire inconnu",
            "utilisateur inconnu",
            "adresse inconnue",
            "n'existe pas",
            "benutzer unbekannt",
            "unbekannt",
            "usuario desconocido",
            "no existe",
            "utente sconosciuto",
            "inesistente",
            "konto niedostepne",
        ]),
        Rule::new("text.routing", Routing).any_phrase([
            "directory server failure",
            "unable to route",
            "cannot route",
            "can't route",
            "could not route",
            "routing",
            "unroutable",
            "dns lookup",
            "dns error",
            "dns failure",
            "dns problem",
            "dns temporary",
            "temporary dns",
            "mx lookup",
            "could not resolve",
            "cannot resolve",
            "can't resolve",
            "unable to resolve",
            "failed to resolve",
            "name resolution",
            "smarthost",
        ]),
        Rule::new("text.network", Network)
            .any_phrase([
                "no answer from host",
                "bad connection",
                "timed out",
                "timeout",
                "lost input connection",
                "lost incoming connection",
                "lost connection",
                "connection lost",
                "connection reset",
                "connection dropped",
                "connection expired",
                "unable to connect",
                "could not connect",
                "establish an smtp connection",
                "no route to host",
                "connection refused",
                "connection closed",
                "connection terminated",
                "connection aborted",
                "unreachable",
                "broken pipe",
                "no answer",
            ])
            .unless("parameter"),
        Rule::new("text.busy", ServerBusy).any_phrase([
            "mail system full",
            "system not accepting network messages",
            "system incorrectly configured",
            "mail system congestion",
            "busy",
            "overloaded",
            "congestion",
            // The server's own failure, named: more than a command's code says.
            "internal error",
            "internal server error",
            "temporary error",
            "temporary failure",
            "temporary server error",
            "temporary system",
            "system error",
            "local error",
            "error in processing",
            "out of memory",
            "insufficient system storage",
        ]),
        // qmail and others refuse a message with bare LF line ends; the same bytes will be
        // refused again (cr.yp.to/docs/smtplf.html).
        Rule::new("text.bare_lf", Protocol)
            .any_phrase(["smtplf", "bare lf", "bare linefeed", "lone cr or lf"])
            .retry(false),
        Rule::new("text.protocol", Protocol).any_phrase([
            "system not capable of selected features",
            "invalid command arguments",
            "wrong protocol version",
            "authentication exchange line is too long",
            "already authenticated",
            "nested mail command",
            "base64",
            "unrecognized command",
            "command unrecognized",
            "command not recognized",
            "unknown command",
            "invalid command",
            "command rejected",
            "command too long",
            "too many bad commands",
            "bad sequence",
            "improper sequence",
            "out of sequence",
            "line limit exceeded",
            "line is too long",
            "line too long",
            "too long",
            "too many tokens",
            "too many unauthenticated commands",
            "may not be repeated",
            "protocol error",
            "protocol violation",
            "synchronization error",
            "pipelin",
            "too many errors",
            "need mail",
            "need rcpt",
            "need helo",
            "need ehlo",
            "helo first",
            "introduce yourself",
            "say hello",
            "not implemented",
            "not recognized",
            "unrecognized",
            "unrecognised",
            "not supported",
            "unsupported",
            "parameter",
            "not expected",
            "empty path",
            "badhelo",
            "non-fqdn",
            "internationalised",
            "internationalized",
            "smtputf8",
            "utf8",
            "utf-8",
        ]),
    ]
}

/// Generic wording that says less than a specific enhanced code: decided after the
/// registry's specific codes, ahead of its vague ones (`X.0.0`, `X.7.1`, a subject's
/// fallback) and the basic code.
pub(super) fn general_rules() -> Vec<Rule> {
    vec![
        // A subject word and a word saying it is missing, in either order.
        Rule::new("text.address_missing", UnknownUser)
            .any_phrase([
                "user",
                "recipient",
                "mailbox",
                "mail box",
                "addressee",
                "account",
                "rcpt",
            ])
            .any_phrase([
                "does not exist",
                "doesn't exist",
                "not exist",
                "no exist",
                "not found",
                "not known",
                "unknown",
                "invalid",
                "not valid",
                "not ok",
            ]),
        // A sender word and a word of refusal, in either order.
        Rule::new("text.sender_refused", SenderRejected)
            .any_phrase([
                "sender",
                "mail from",
                "envelope from",
                "from address",
                "return path",
                "return-path",
                "originator",
                "absender",
                "remitente",
            ])
            .any_phrase([
                "rejected",
                "refused",
                "denied",
                "invalid",
                "not valid",
                "not allowed",
                "not permitted",
                "blocked",
                "unknown",
                "bad",
                "does not exist",
                "not found",
                "verif",
            ])
            .unless("policy"),
        // A security-class (x.7.x) deferral that only says "later" is a throttle: Gmail's
        // "421 4.7.0 Try again later, closing connection."
        Rule::new("text.security_deferral", RateLimited)
            .enhanced("4.7.*")
            .any_phrase(["try again later", "try later", "please try again"])
            .unless("temporary")
            .unless("unavailable"),
        Rule::new("text.try_later", ServerBusy)
            .any_phrase([
                "try again later",
                "try later",
                "come back later",
                "please try again",
                "réessayer plus tard",
                "reessayer plus tard",
                "essayer plus tard",
                "später erneut",
                "spaeter erneut",
                "más tarde",
                "mas tarde",
                // A service "currently" or "temporarily" away comes back.
                "currently unavailable",
                "temporarily unavailable",
                "temporarily not available",
            ])
            .retry(true),
        Rule::new("text.server_busy", ServerBusy).any_phrase([
            "service unavailable",
            "service not available",
            "not available",
            "unavailable",
            "resources temporarily",
            "temporary problem",
            "operating system",
            "processing error",
            "local problem",
            "insufficient storage",
            "local data error",
            "lookup error",
            "configuration problem",
            "misconfigured",
            "temporarily rejected",
            "temporarily refused",
            "out of disk space",
            "disk full",
            "unable to fork",
            "unable to queue",
            "cannot create",
            "can't create",
            "closing connection",
            "closing transmission channel",
            "no smtp service",
            "could not store",
            "cannot store",
            "unable to store",
            "failed to store",
            "write error",
            "queue file",
            "database",
            "server error",
            "server failure",
            "system problem",
            "shutting down",
            "maintenance",
            "resources",
            "try again",
            "please retry",
        ]),
        Rule::new("text.syntax", Protocol).any_phrase([
            "syntax",
            "malformed",
            "command",
            "argument",
            "sequence",
            "expected",
        ]),
        Rule::new("text.policy", Policy).any_phrase([
            "policy",
            "spoof",
            "forging",
            "masquerading",
            "smtp server of your isp",
            "not authenticated for",
            "not authorized",
            "not authorised",
            "unauthorized",
            "access denied",
            "denied",
            "blocked",
            "bloque",
            "client host rejected",
            "prohibited",
            "prohibition",
            "not permitted",
            "not allowed",
            "refused",
            "rejected by",
            "restricted",
            "unsafe",
            "cannot mail directly",
            "insufficient permission",
            "security failure",
            "not accepted",
        ]),
        // "Recipient address rejected:" is Postfix's prefix for any refused recipient;
        // the words after it (the policy words above), or the enhanced code, say why.
        // Alone it means no such user.
        Rule::new("text.recipient_rejected", UnknownUser).any_phrase([
            "recipient address rejected",
            "recipient rejected",
            "recipient not ok",
            "address rejected",
        ]),
        // A 4xx that names a failure of its own: the server could not do it this time.
        Rule::new("text.transient_failure", ServerBusy)
            .class(4)
            .any_phrase(["failed", "failure", "error", "problem", "temporar", "later"]),
        Rule::new("text.rejected", Policy).any_phrase(["rejected", "reject", "refuse"]),
    ]
}

const MAILBOX_FULL: [&str; 33] = [
    "over quota",
    "overquota",
    "over the quota",
    "quota exceeded",
    "exceeds quota",
    "exceed mailbox quota",
    "mailbox quota",
    "quota violation",
    "quota usage",
    "disk quota",
    "exceeded storage",
    "storage allocation",
    "storage space",
    "storage full",
    "out of storage",
    "mailbox full",
    "full mailbox",
    "mailbox is full",
    "over its quota",
    "is full",
    "mailbox size limit",
    "insufficient space",
    "enough space",
    "too many messages on the server",
    "zuviele mails",
    "postfach voll",
    "postfach ist voll",
    "speicherplatz",
    "boite du destinataire pleine",
    "boîte du destinataire pleine",
    "casella piena",
    "buzón lleno",
    "buzon lleno",
];

/// The built-in rules that come after the registry: RFC 5321 §4.2 meanings of the basic
/// code, when nothing else is known.
pub(super) fn code_rules() -> Vec<Rule> {
    vec![
        // "421 Service not available, closing transmission channel".
        Rule::new("code.421", ServerBusy).code(421),
        // "451 Requested action aborted: local error in processing".
        Rule::new("code.451", ServerBusy).code(451),
        // 500-504: syntax errors, unknown commands, bad sequence.
        Rule::new("code.syntax", Protocol).codes(500, 504),
    ]
}
