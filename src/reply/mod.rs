//! SMTP replies: parsing from wire text, building from parts, and writing back.
//!
//! A [`Reply`] is one server answer: a basic [`ReplyCode`], an optional
//! [`EnhancedCode`] (RFC 3463) and the text, one entry per line. It is what
//! [`classify`](crate::classify()) reads.
//!
//! ```
//! use smtp_throttle::Reply;
//! let reply = Reply::parse("421-4.7.28 Gmail has detected an unusual rate\r\n421 4.7.28 of mail - gsmtp\r\n")?;
//! assert_eq!(reply.code().get(), 421);
//! assert_eq!(reply.enhanced().map(|e| e.to_string()).as_deref(), Some("4.7.28"));
//! assert_eq!(reply.lines().count(), 2);
//! # Ok::<(), smtp_throttle::ParseError>(())
//! ```

mod code;
mod parse;

use std::fmt;
use std::str::FromStr;

pub use code::{EnhancedCode, ReplyCode};

use crate::error::ParseError;

/// The longest input [`Reply::parse`] and [`Reply::from_parts`] accept, in bytes.
///
/// RFC 5321 §4.5.3.1.5 limits a reply line to 512 octets; real servers exceed that and
/// multi-line replies run to a few KiB (Gmail's longest are under 1 KiB). 16 KiB leaves
/// ample room while refusing a runaway buffer: longer input is
/// [`ParseError::TooLong`].
pub const MAX_REPLY_BYTES: usize = 16 * 1024;

/// The SMTP command a reply answered, when the sender knows it.
///
/// It matters for what a reply means: Postfix only throttles a destination for failures
/// at the connection, greeting or EHLO stage, while a 4xx to `RCPT TO` concerns one
/// recipient. [`Limits::feedback`](crate::limit::Limits::feedback) follows that rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
#[non_exhaustive]
pub enum Command {
    /// Opening the connection itself (TCP, before any reply): a refused or timed-out
    /// connect.
    Connect,
    /// The greeting sent when the connection opens.
    Greeting,
    /// `EHLO` or `HELO`.
    Ehlo,
    /// `STARTTLS`.
    StartTls,
    /// `AUTH`.
    Auth,
    /// `MAIL FROM`.
    MailFrom,
    /// `RCPT TO`.
    RcptTo,
    /// `DATA` (the reply before the message is sent).
    Data,
    /// The end of the message data (`.` or the last `BDAT` chunk).
    DataEnd,
    /// `RSET`.
    Rset,
    /// `QUIT`.
    Quit,
}

/// One SMTP reply: code, optional enhanced status code, text.
///
/// Build it with [`Reply::parse`] from wire text or [`Reply::from_parts`] when the client
/// already split the reply. `Display` writes it back in wire form, each line
/// `code[-| ][enhanced ]text`, lines separated by CRLF, without a final CRLF.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reply {
    code: ReplyCode,
    enhanced: Option<EnhancedCode>,
    /// The lines' text, codes removed, joined by `\n`.
    text: String,
    command: Option<Command>,
}

impl Reply {
    /// Parses a reply from wire text.
    ///
    /// Accepted: one line or several (`421-…` continuation lines, last line `421 …`), CRLF
    /// or bare LF, an enhanced status code on every line, only on the first, or on none;
    /// a bare code with no text; white space around lines; bytes that are not UTF-8 (read
    /// lossily, as U+FFFD). A last line written with `-` (a reply cut short) is accepted
    /// as the end. A line without a code after the first is kept as text.
    ///
    /// Errors: empty input, input longer than [`MAX_REPLY_BYTES`], a first line without a
    /// three-digit code, a code outside 200..=599, a code followed by anything but space,
    /// `-` or the line's end, continuation lines whose code differs, lines after the last.
    pub fn parse(input: impl AsRef<[u8]>) -> Result<Self, ParseError> {
        parse::parse(input.as_ref())
    }

    /// Builds a reply from parts a client already parsed.
    ///
    /// `text` may hold several lines separated by `\n`. When `enhanced` is `None` and the
    /// text starts with an enhanced code, that code is taken from the text, so lettre's
    /// `Response` (whose lines still start with `4.7.0 …`) converts as it is:
    ///
    /// ```
    /// use smtp_throttle::Reply;
    /// // lettre: error.status() gives the code, error.source() the server's text.
    /// let reply = Reply::from_parts(451, None, "4.7.1 Greylisting in action, please come back later")?;
    /// assert_eq!(reply.enhanced().unwrap().to_string(), "4.7.1");
    /// assert_eq!(reply.text(), "Greylisting in action, please come back later");
    ///
    /// // smtp-proto: Response { code, esc, message }, esc all zero when absent.
    /// let esc = [5u8, 1, 1];
    /// let enhanced = smtp_throttle::reply::EnhancedCode::new(esc[0], esc[1].into(), esc[2].into()).ok();
    /// let reply = Reply::from_parts(550, enhanced, "User unknown")?;
    /// assert_eq!(reply.to_string(), "550 5.1.1 User unknown");
    /// # Ok::<(), smtp_throttle::ParseError>(())
    /// ```
    pub fn from_parts(
        code: u16,
        enhanced: Option<EnhancedCode>,
        text: &str,
    ) -> Result<Self, ParseError> {
        parse::from_parts(code, enhanced, text)
    }

    /// Records which command this reply answered.
    #[must_use]
    pub fn with_command(mut self, command: Command) -> Self {
        self.command = Some(command);
        self
    }

    /// The basic reply code.
    pub fn code(&self) -> ReplyCode {
        self.code
    }

    /// The enhanced status code, if the server sent one.
    pub fn enhanced(&self) -> Option<EnhancedCode> {
        self.enhanced
    }

    /// The text of all lines, without codes, joined by `\n`.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text line by line.
    pub fn lines(&self) -> impl Iterator<Item = &str> + '_ {
        self.text.split('\n')
    }

    /// The command answered, when recorded with [`Reply::with_command`].
    pub fn command(&self) -> Option<Command> {
        self.command
    }

    /// Whether the enhanced code's class disagrees with the reply code's first digit,
    /// as in Microsoft's `451 5.7.3 STARTTLS is required`. Both are kept; the reply code
    /// decides whether the failure is temporary ([`Reply::is_transient`]).
    pub fn enhanced_mismatch(&self) -> bool {
        self.enhanced
            .is_some_and(|esc| esc.class() != self.code.class())
    }

    /// Whether the reply reports a temporary failure: a 4xx code, whatever class its
    /// enhanced code gives. As in Postfix's SMTP client, which ignores an enhanced code
    /// whose first digit is out of step with the reply code, the reply code is what the
    /// server's protocol state follows (`421 5.3.5` still closes a session that may be
    /// tried again). Whether a retry can succeed is the classifier's answer.
    pub fn is_transient(&self) -> bool {
        self.code.class() == 4
    }

    pub(crate) fn from_checked(
        code: ReplyCode,
        enhanced: Option<EnhancedCode>,
        text: String,
    ) -> Self {
        Self {
            code,
            enhanced,
            text,
            command: None,
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut lines = self.lines().peekable();
        while let Some(line) = lines.next() {
            let last = lines.peek().is_none();
            write!(f, "{}", self.code)?;
            let mut sep = if last { ' ' } else { '-' };
            if let Some(esc) = self.enhanced {
                write!(f, "{sep}{esc}")?;
                sep = ' ';
            }
            if !line.is_empty() {
                write!(f, "{sep}{line}")?;
            } else if self.enhanced.is_none() && !last {
                // "421-" keeps the continuation mark even without text.
                write!(f, "{sep}")?;
            }
            if !last {
                f.write_str("\r\n")?;
            }
        }
        Ok(())
    }
}

impl FromStr for Reply {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        Self::parse(s)
    }
}
