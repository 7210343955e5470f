//! [`Mail`]: a message as SMTP carries it — the envelope and the content — for senders
//! and queues that hold messages as bytes.

/// A message as SMTP sends it: the envelope (`MAIL FROM`, `RCPT TO`) and the content
/// sent after `DATA`.
///
/// The durable queue (feature `sqlite`) stores messages as `Mail`; lettre's senders
/// (feature `lettre`) send it as it is. A `body` may also be a reference to content you
/// keep elsewhere, when your own [`Sender`](crate::throttle::Sender) of `Mail` loads it.
///
/// ```
/// use smtp_throttle::Mail;
/// let mail = Mail::new(
///     "news@example.com",
///     ["ann@example.org"],
///     b"Message-ID: <1@example.com>\r\nSubject: hi\r\n\r\nhello\r\n".to_vec(),
/// );
/// assert_eq!(mail.to, ["ann@example.org"]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Mail {
    /// The reverse-path; empty for the null sender `<>` (bounces, notifications).
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
    /// The content: RFC 5322 headers and body, lines ending in CRLF.
    pub body: Vec<u8>,
}

impl Mail {
    /// A message from `from` to `to` with `body` as its content.
    pub fn new(
        from: impl Into<String>,
        to: impl IntoIterator<Item = impl Into<String>>,
        body: Vec<u8>,
    ) -> Self {
        Self {
            from: from.into(),
            to: to.into_iter().map(Into::into).collect(),
            body,
        }
    }
}
