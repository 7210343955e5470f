//! The wire-text parser behind [`Reply::parse`] and [`Reply::from_parts`].

use super::{EnhancedCode, Reply, ReplyCode, MAX_REPLY_BYTES};
use crate::error::ParseError;

/// Gathers the text lines of one reply, adopting the first enhanced code found and
/// removing it from every line that repeats it.
struct Lines {
    enhanced: Option<EnhancedCode>,
    text: String,
    count: usize,
}

impl Lines {
    fn new(enhanced: Option<EnhancedCode>) -> Self {
        Self {
            enhanced,
            text: String::new(),
            count: 0,
        }
    }

    fn push(&mut self, line: &str) {
        let mut line = line.trim();
        if let Some((esc, len)) = EnhancedCode::read_prefix(line) {
            match self.enhanced {
                None => {
                    self.enhanced = Some(esc);
                    line = line[len..].trim_start();
                }
                Some(known) if known == esc => line = line[len..].trim_start(),
                Some(_) => {}
            }
        }
        if self.count > 0 {
            self.text.push('\n');
        }
        self.text.push_str(line);
        self.count += 1;
    }

    fn finish(self, code: ReplyCode) -> Reply {
        Reply::from_checked(code, self.enhanced, self.text)
    }
}

fn check_len(len: usize) -> Result<(), ParseError> {
    if len > MAX_REPLY_BYTES {
        Err(ParseError::TooLong {
            len,
            max: MAX_REPLY_BYTES,
        })
    } else {
        Ok(())
    }
}

/// Reads three ASCII digits at the start of `line`.
fn leading_code(line: &str) -> Option<u16> {
    let b = line.as_bytes();
    if b.len() >= 3 && b[..3].iter().all(u8::is_ascii_digit) {
        Some(
            b[..3]
                .iter()
                .fold(0u16, |n, d| n * 10 + u16::from(d - b'0')),
        )
    } else {
        None
    }
}

pub(super) fn parse(input: &[u8]) -> Result<Reply, ParseError> {
    check_len(input.len())?;
    // Valid UTF-8 (nearly every reply) is checked by the word-at-a-time validator;
    // only invalid input takes the byte-by-byte lossy conversion.
    let input = match std::str::from_utf8(input) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(input),
    };
    let mut code: Option<ReplyCode> = None;
    let mut lines = Lines::new(None);
    let mut ended = false;

    for (index, raw) in input.split('\n').enumerate() {
        let number = index + 1;
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if ended {
            return Err(ParseError::LinesAfterLast { line: number });
        }
        let Some(value) = leading_code(line) else {
            if code.is_none() {
                return Err(ParseError::MissingCode {
                    line: number,
                    found: line.chars().take(16).collect(),
                });
            }
            // A line without a code inside a reply: keep it as text.
            lines.push(line);
            continue;
        };
        let this = ReplyCode::new(value)?;
        match code {
            None => code = Some(this),
            Some(first) if first != this => {
                return Err(ParseError::CodeMismatch {
                    line: number,
                    expected: first.get(),
                    found: value,
                })
            }
            Some(_) => {}
        }
        // The code is three ASCII bytes, so index 3 is a char boundary.
        let rest = &line[3..];
        let mut chars = rest.chars();
        match chars.next() {
            None => ended = true,
            Some(' ' | '\t') => ended = true,
            Some('-') => {}
            Some(found) => {
                return Err(ParseError::BadSeparator {
                    line: number,
                    found,
                })
            }
        }
        lines.push(chars.as_str());
    }
    match code {
        Some(code) => Ok(lines.finish(code)),
        None => Err(ParseError::Empty),
    }
}

pub(super) fn from_parts(
    code: u16,
    enhanced: Option<EnhancedCode>,
    text: &str,
) -> Result<Reply, ParseError> {
    check_len(text.len())?;
    let code = ReplyCode::new(code)?;
    let mut lines = Lines::new(enhanced);
    let text = text.trim_matches(|c: char| c == '\r' || c == '\n');
    for line in text.split('\n') {
        lines.push(line);
    }
    Ok(lines.finish(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Reply {
        Reply::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn single_line() {
        let r = p("550 5.1.1 User unknown\r\n");
        assert_eq!(r.code().get(), 550);
        assert_eq!(r.enhanced().unwrap().to_string(), "5.1.1");
        assert_eq!(r.text(), "User unknown");
        assert!(!r.enhanced_mismatch());
    }

    #[test]
    fn multi_line_crlf_and_lf() {
        let crlf = p("421-4.7.0 first\r\n421-4.7.0 second\r\n421 4.7.0 third\r\n");
        let lf = p("421-4.7.0 first\n421-4.7.0 second\n421 4.7.0 third");
        assert_eq!(crlf, lf);
        assert_eq!(
            crlf.lines().collect::<Vec<_>>(),
            ["first", "second", "third"]
        );
    }

    #[test]
    fn enhanced_only_on_first_line_or_none() {
        let first = p("550-5.7.1 blocked\n550 see the page");
        assert_eq!(first.enhanced().unwrap().to_string(), "5.7.1");
        assert_eq!(first.text(), "blocked\nsee the page");
        let none = p("250-mx.example.com\n250-PIPELINING\n250 8BITMIME");
        assert_eq!(none.enhanced(), None);
        assert_eq!(none.lines().count(), 3);
    }

    #[test]
    fn other_enhanced_code_on_later_line_stays_text() {
        let r = p("550-5.7.1 one\n550 5.7.2 two");
        assert_eq!(r.text(), "one\n5.7.2 two");
    }

    #[test]
    fn mismatched_enhanced_class_is_kept_and_flagged() {
        let r = p("451 5.7.3 STARTTLS is required to send mail");
        assert_eq!(r.enhanced().unwrap().class(), 5);
        assert!(r.enhanced_mismatch());
        // The reply code decides, as in Postfix's SMTP client.
        assert!(r.is_transient());
        let r = p("550 4.4.7 QUEUE.Expired; message expired");
        assert!(r.enhanced_mismatch());
    }

    #[test]
    fn bare_code() {
        let r = p("250");
        assert_eq!(r.text(), "");
        assert_eq!(r.enhanced(), None);
        assert_eq!(r.to_string(), "250");
        assert_eq!(p("421-\r\n421 closing").text(), "\nclosing");
    }

    #[test]
    fn stray_whitespace() {
        let r = p("  \r\n  451   4.3.0   Temporary lookup error  \r\n\r\n");
        assert_eq!(r.text(), "Temporary lookup error");
        assert_eq!(r.enhanced().unwrap().to_string(), "4.3.0");
        assert_eq!(p("550\t5.1.1 x").text(), "x");
    }

    #[test]
    fn non_utf8_is_lossy() {
        let r = Reply::parse(b"550 5.7.1 Mail rejet\xe9\xff").unwrap();
        assert!(r.text().starts_with("Mail rejet"));
        assert!(r.text().contains('\u{fffd}'));
    }

    #[test]
    fn errors() {
        assert_eq!(Reply::parse(""), Err(ParseError::Empty));
        assert_eq!(Reply::parse(" \r\n\n"), Err(ParseError::Empty));
        assert!(matches!(
            Reply::parse("hello"),
            Err(ParseError::MissingCode { line: 1, .. })
        ));
        assert_eq!(
            Reply::parse("999 what"),
            Err(ParseError::InvalidCode { code: 999 })
        );
        assert_eq!(
            Reply::parse("099 what"),
            Err(ParseError::InvalidCode { code: 99 })
        );
        assert_eq!(
            Reply::parse("4211 x"),
            Err(ParseError::BadSeparator {
                line: 1,
                found: '1'
            })
        );
        assert_eq!(
            Reply::parse("421-a\n450 b"),
            Err(ParseError::CodeMismatch {
                line: 2,
                expected: 421,
                found: 450
            })
        );
        assert_eq!(
            Reply::parse("250 ok\n250 again"),
            Err(ParseError::LinesAfterLast { line: 2 })
        );
        let long = format!("550 {}", "x".repeat(100_000));
        assert!(matches!(
            Reply::parse(&long),
            Err(ParseError::TooLong { len: 100_004, .. })
        ));
        assert!(matches!(
            Reply::from_parts(550, None, &long),
            Err(ParseError::TooLong { .. })
        ));
    }

    #[test]
    fn odd_codes_in_text() {
        // "4.7" and "6.0.0" are not enhanced codes: they stay in the text.
        assert_eq!(p("450 4.7 later").enhanced(), None);
        assert_eq!(p("550 6.0.0 odd").text(), "6.0.0 odd");
        assert_eq!(
            p("554 554 5.7.0 Header error").text(),
            "554 5.7.0 Header error"
        );
    }

    #[test]
    fn cut_short_and_codeless_lines() {
        let r = p("550-5.7.1 first\n550-5.7.1 second");
        assert_eq!(r.lines().count(), 2);
        let r = p("550-5.7.1 first\ncontinued without code\n550 5.7.1 end");
        assert_eq!(r.text(), "first\ncontinued without code\nend");
    }

    #[test]
    fn from_parts_variants() {
        let r = Reply::from_parts(421, None, "4.7.0 Try again later, closing connection.").unwrap();
        assert_eq!(
            r.to_string(),
            "421 4.7.0 Try again later, closing connection."
        );
        let esc = EnhancedCode::new(4, 2, 1).ok();
        let r = Reply::from_parts(450, esc, "4.2.1 line one\nline two\r\n").unwrap();
        assert_eq!(r.text(), "line one\nline two");
        assert_eq!(
            Reply::from_parts(600, None, "x"),
            Err(ParseError::InvalidCode { code: 600 })
        );
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "421-4.7.28 a\r\n421-4.7.28\r\n421 4.7.28 c",
            "250-mx\r\n250-\r\n250 SIZE",
            "250",
            "550 x",
            "550 5.1.1",
            "554-one\r\n554 two",
        ] {
            let r = p(s);
            assert_eq!(r.to_string(), s, "display of {s:?}");
            assert_eq!(p(&r.to_string()), r);
        }
    }
}
