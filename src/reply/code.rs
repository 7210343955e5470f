//! Reply codes: the basic three-digit code (RFC 5321 §4.2) and the enhanced status code
//! (RFC 3463, registry of RFC 5248).

use std::fmt;
use std::str::FromStr;

use crate::error::ParseError;

/// A basic SMTP reply code, `200` to `599`.
///
/// RFC 5321 §4.2 gives the first digit the values 2 to 5; the second and third digits are
/// accepted as any digit, since real servers send codes such as `542` or `591`.
///
/// ```
/// use smtp_throttle::reply::ReplyCode;
/// let code = ReplyCode::new(421)?;
/// assert_eq!(code.class(), 4);
/// assert!(ReplyCode::new(999).is_err());
/// # Ok::<(), smtp_throttle::ParseError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(try_from = "u16", into = "u16")
)]
pub struct ReplyCode(u16);

impl ReplyCode {
    /// Checks that `code` is an SMTP reply code (200 to 599).
    pub fn new(code: u16) -> Result<Self, ParseError> {
        if (200..=599).contains(&code) {
            Ok(Self(code))
        } else {
            Err(ParseError::InvalidCode { code })
        }
    }

    /// The code as a number.
    pub const fn get(self) -> u16 {
        self.0
    }

    /// The first digit: 2 (success), 3 (intermediate), 4 (transient), 5 (permanent).
    pub const fn class(self) -> u8 {
        (self.0 / 100) as u8
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<ReplyCode> for u16 {
    fn from(code: ReplyCode) -> u16 {
        code.0
    }
}

impl TryFrom<u16> for ReplyCode {
    type Error = ParseError;
    fn try_from(code: u16) -> Result<Self, ParseError> {
        Self::new(code)
    }
}

/// An enhanced status code `class.subject.detail` (RFC 3463), such as `4.7.28`.
///
/// The class is 2, 4 or 5; subject and detail are 0 to 999 (RFC 3463 allows up to three
/// digits each).
///
/// ```
/// use smtp_throttle::reply::EnhancedCode;
/// let esc: EnhancedCode = "5.7.1".parse()?;
/// assert_eq!((esc.class(), esc.subject(), esc.detail()), (5, 7, 1));
/// assert!("6.0.0".parse::<EnhancedCode>().is_err());
/// assert!("4.7".parse::<EnhancedCode>().is_err());
/// # Ok::<(), smtp_throttle::ParseError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnhancedCode {
    class: u8,
    subject: u16,
    detail: u16,
}

impl EnhancedCode {
    /// Checks and builds a code from its three parts.
    ///
    /// smtp-proto gives them as `esc: [u8; 3]`, all zero when the server sent none:
    /// `EnhancedCode::new(esc[0], esc[1].into(), esc[2].into()).ok()`.
    pub fn new(class: u8, subject: u16, detail: u16) -> Result<Self, ParseError> {
        if matches!(class, 2 | 4 | 5) && subject <= 999 && detail <= 999 {
            Ok(Self {
                class,
                subject,
                detail,
            })
        } else {
            Err(ParseError::InvalidEnhancedCode {
                text: format!("{class}.{subject}.{detail}"),
            })
        }
    }

    /// 2 (success), 4 (persistent transient failure) or 5 (permanent failure).
    pub const fn class(self) -> u8 {
        self.class
    }

    /// The subject: 1 addressing, 2 mailbox, 3 mail system, 4 network and routing,
    /// 5 protocol, 6 content, 7 security or policy.
    pub const fn subject(self) -> u16 {
        self.subject
    }

    /// The detail within the subject.
    pub const fn detail(self) -> u16 {
        self.detail
    }

    /// Reads a code at the start of `text`: returns it and the number of bytes it took.
    ///
    /// A code must end at white space or the end of the text, so `5.7.1.` or `4.7` are not
    /// codes. A leading `#`, as qmail and some appliances write it (`#5.1.0`), is accepted.
    pub(crate) fn read_prefix(text: &str) -> Option<(Self, usize)> {
        let bytes = text.as_bytes();
        let mut pos = usize::from(bytes.first() == Some(&b'#'));
        let mut parts = [0u16; 3];
        for (i, part) in parts.iter_mut().enumerate() {
            let start = pos;
            while pos < bytes.len() && bytes[pos].is_ascii_digit() && pos - start < 3 {
                *part = *part * 10 + u16::from(bytes[pos] - b'0');
                pos += 1;
            }
            if pos == start || (i == 0 && pos - start != 1) {
                return None;
            }
            if i < 2 {
                if bytes.get(pos) != Some(&b'.') {
                    return None;
                }
                pos += 1;
            }
        }
        match bytes.get(pos) {
            None => {}
            Some(b) if b.is_ascii_whitespace() => {}
            Some(_) => return None,
        }
        let class = u8::try_from(parts[0]).ok()?;
        Self::new(class, parts[1], parts[2])
            .ok()
            .map(|code| (code, pos))
    }
}

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

impl FromStr for EnhancedCode {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let trimmed = s.trim();
        match Self::read_prefix(trimmed) {
            Some((code, len)) if len == trimmed.len() && !trimmed.starts_with('#') => Ok(code),
            _ => Err(ParseError::InvalidEnhancedCode {
                text: s.chars().take(32).collect(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_code_bounds() {
        assert!(ReplyCode::new(199).is_err());
        assert!(ReplyCode::new(200).is_ok());
        assert!(ReplyCode::new(599).is_ok());
        assert_eq!(
            ReplyCode::new(999),
            Err(ParseError::InvalidCode { code: 999 })
        );
        assert_eq!(ReplyCode::new(591).map(ReplyCode::class), Ok(5));
    }

    #[test]
    fn enhanced_prefix() {
        let (code, len) = EnhancedCode::read_prefix("4.7.28 Gmail").unwrap();
        assert_eq!(code.to_string(), "4.7.28");
        assert_eq!(len, 6);
        assert_eq!(EnhancedCode::read_prefix("#5.1.0 Address").unwrap().1, 6);
        assert!(EnhancedCode::read_prefix("4.7 x").is_none());
        assert!(EnhancedCode::read_prefix("6.0.0 x").is_none());
        assert!(EnhancedCode::read_prefix("5.7.1234 x").is_none());
        assert!(EnhancedCode::read_prefix("5.7.1.").is_none());
        assert!(EnhancedCode::read_prefix("45.7.1").is_none());
        assert!(EnhancedCode::read_prefix("").is_none());
    }

    #[test]
    fn enhanced_from_str() {
        assert_eq!("5.7.1".parse::<EnhancedCode>().unwrap().detail(), 1);
        assert!("#5.7.1".parse::<EnhancedCode>().is_err());
        assert!("5.7.1 x".parse::<EnhancedCode>().is_err());
        assert!(EnhancedCode::new(3, 0, 0).is_err());
        assert!(EnhancedCode::new(5, 1000, 0).is_err());
    }
}
