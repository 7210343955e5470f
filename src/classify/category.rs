//! What a reply means: [`Category`], [`Severity`] and [`Scope`].

use std::fmt;
use std::str::FromStr;

/// What a reply means, by the reason the server gave. Exactly one per reply.
///
/// The text form is snake_case (`rate_limited`), as `Display` and `FromStr` use it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Category {
    /// Sending too fast for a per-IP, per-domain or per-recipient rate.
    RateLimited,
    /// Too many simultaneous sessions, or connections per time.
    TooManyConnections,
    /// Unknown sender deferred on first contact; a retry in minutes is expected.
    Greylisted,
    /// Deferred or refused for complaints, spam rate, low IP or domain reputation.
    Reputation,
    /// The sending IP or domain is on a block list (Spamhaus, a provider's own list).
    Blocklisted,
    /// Refused by local policy without a more specific reason.
    Policy,
    /// SPF, DKIM, DMARC, PTR or alignment failure.
    Authentication,
    /// Spam-like content, prohibited attachment, bad headers.
    Content,
    /// Malware found.
    Virus,
    /// Recipient over quota.
    MailboxFull,
    /// No such recipient.
    UnknownUser,
    /// Recipient account disabled, inactive or moved.
    MailboxDisabled,
    /// Size limit exceeded.
    MessageTooLarge,
    /// Recipient domain does not exist, has a null MX, or does not accept mail.
    BadDomain,
    /// DNS or MX trouble, mail loops, unroutable.
    Routing,
    /// Timeouts, lost connections, no answer.
    Network,
    /// Receiver overloaded, temporarily unavailable, local error.
    ServerBusy,
    /// STARTTLS required, or TLS failed.
    TlsRequired,
    /// Relaying not permitted.
    RelayDenied,
    /// Envelope sender refused (bad address, unknown sender domain).
    SenderRejected,
    /// Too many recipients in one transaction.
    TooManyRecipients,
    /// Syntax errors, unknown commands, bad sequence.
    Protocol,
    /// Nothing more specific applies.
    Other,
}

impl Category {
    /// All categories, in declaration order.
    pub const ALL: [Category; 23] = [
        Category::RateLimited,
        Category::TooManyConnections,
        Category::Greylisted,
        Category::Reputation,
        Category::Blocklisted,
        Category::Policy,
        Category::Authentication,
        Category::Content,
        Category::Virus,
        Category::MailboxFull,
        Category::UnknownUser,
        Category::MailboxDisabled,
        Category::MessageTooLarge,
        Category::BadDomain,
        Category::Routing,
        Category::Network,
        Category::ServerBusy,
        Category::TlsRequired,
        Category::RelayDenied,
        Category::SenderRejected,
        Category::TooManyRecipients,
        Category::Protocol,
        Category::Other,
    ];

    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Category::RateLimited => "rate_limited",
            Category::TooManyConnections => "too_many_connections",
            Category::Greylisted => "greylisted",
            Category::Reputation => "reputation",
            Category::Blocklisted => "blocklisted",
            Category::Policy => "policy",
            Category::Authentication => "authentication",
            Category::Content => "content",
            Category::Virus => "virus",
            Category::MailboxFull => "mailbox_full",
            Category::UnknownUser => "unknown_user",
            Category::MailboxDisabled => "mailbox_disabled",
            Category::MessageTooLarge => "message_too_large",
            Category::BadDomain => "bad_domain",
            Category::Routing => "routing",
            Category::Network => "network",
            Category::ServerBusy => "server_busy",
            Category::TlsRequired => "tls_required",
            Category::RelayDenied => "relay_denied",
            Category::SenderRejected => "sender_rejected",
            Category::TooManyRecipients => "too_many_recipients",
            Category::Protocol => "protocol",
            Category::Other => "other",
        }
    }

    /// Whether a message deferred or refused for this reason is worth another try,
    /// whatever the reply code says.
    ///
    /// These are the reasons that concern *when* a message is sent, not the message
    /// itself: rate and connection limits, greylisting, too many recipients in one
    /// transaction. Providers send some of them with 5xx codes (Gmail's `550 5.2.1 …
    /// receiving mail at a rate …`), yet a later try succeeds. For every other category
    /// the reply's own class decides: a busy server or a lost connection answered with
    /// 5xx (`554 Service unavailable`) is that server's final word, and the rules that
    /// read "try again later" or "currently unavailable" in a 5xx say so themselves.
    pub const fn retry_regardless_of_code(self) -> bool {
        matches!(
            self,
            Category::RateLimited
                | Category::TooManyConnections
                | Category::Greylisted
                | Category::TooManyRecipients
        )
    }

    /// What a reply of this category is about, unless a rule says otherwise.
    pub const fn default_scope(self) -> Scope {
        match self {
            Category::RateLimited | Category::ServerBusy | Category::BadDomain => Scope::Route,
            Category::TooManyConnections | Category::Network | Category::TlsRequired => {
                Scope::Connection
            }
            Category::Reputation | Category::Blocklisted => Scope::SourceIp,
            Category::MailboxFull | Category::UnknownUser | Category::MailboxDisabled => {
                Scope::Recipient
            }
            Category::Authentication | Category::RelayDenied | Category::Routing => Scope::Route,
            Category::Greylisted
            | Category::Policy
            | Category::Content
            | Category::Virus
            | Category::MessageTooLarge
            | Category::SenderRejected
            | Category::TooManyRecipients
            | Category::Protocol
            | Category::Other => Scope::Message,
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not one of the 23 category names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown category {0:?}")]
pub struct UnknownCategory(pub String);

impl FromStr for Category {
    type Err = UnknownCategory;
    fn from_str(s: &str) -> Result<Self, UnknownCategory> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownCategory(s.to_owned()))
    }
}

/// The snake_case name, as [`Display`](fmt::Display) writes it.
#[cfg(feature = "serde")]
impl serde::Serialize for Category {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One of the 23 snake_case names; anything else is an error naming it.
#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Category {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// How final a reply is, from its basic code's first digit (RFC 5321 §4.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
pub enum Severity {
    /// 2xx: the command succeeded.
    Success,
    /// 3xx: go on (after `DATA`, or during `AUTH`).
    Intermediate,
    /// 4xx: failed for now.
    Transient,
    /// 5xx: failed for good, as far as the code says.
    Permanent,
}

impl Severity {
    /// The severity of a reply code's class.
    pub const fn of_class(class: u8) -> Severity {
        match class {
            2 => Severity::Success,
            3 => Severity::Intermediate,
            4 => Severity::Transient,
            _ => Severity::Permanent,
        }
    }

    /// The lowercase name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Success => "success",
            Severity::Intermediate => "intermediate",
            Severity::Transient => "transient",
            Severity::Permanent => "permanent",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a reply is about, and so what a sender should slow or stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum Scope {
    /// One recipient: the route is fine.
    Recipient,
    /// This message (its content, size, sender or recipients count).
    Message,
    /// The SMTP session: open fewer at once.
    Connection,
    /// The (source IP, destination) route: send slower there.
    Route,
    /// The sending IP as a whole, towards every destination.
    SourceIp,
}

impl Scope {
    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Recipient => "recipient",
            Scope::Message => "message",
            Scope::Connection => "connection",
            Scope::Route => "route",
            Scope::SourceIp => "source_ip",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
