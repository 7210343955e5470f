//! Reading reply text without allocating: normalisation for phrase matching, and the
//! server's retry hint.

use std::time::Duration;

use crate::reply::EnhancedCode;

/// Normalisation for phrase matching, one byte at a time: ASCII letters lowercased;
/// ASCII punctuation read as white space and every run of white space one space, so
/// that "rate-limit", "rate_limit" and "rate limit", or "(BL)" and "BL", are one
/// phrase and a phrase may mark a word edge with a space; the accented Latin letters of
/// UTF-8 (`é`, `ü`, `ñ`, `ß` …, U+00C0 to U+00FF) read as their base letter, so that
/// "refusé" and "refuse" are one phrase; typographic quotes and dashes (`’`, `“`, `–`)
/// read as punctuation. Other bytes pass unchanged, except that a lead byte folded away
/// is not restored when the sequence turns out to be another one (phrases are
/// normalised the same way, so both sides agree).
#[derive(Clone, Copy, Debug)]
pub(super) struct Fold {
    last_space: bool,
    /// The bytes of a multi-byte sequence seen so far: 0, `0xC3`, `0xE2`, or `0x80`
    /// after `0xE2`.
    lead: u8,
}

impl Fold {
    /// A fold that treats the text as following white space (`true`) or not.
    pub(super) const fn new(last_space: bool) -> Self {
        Self {
            last_space,
            lead: 0,
        }
    }

    /// Whether the last byte folded was white space.
    #[cfg(test)]
    pub(super) const fn at_space(&self) -> bool {
        self.last_space
    }

    /// Folds one byte: `None` for a byte that adds nothing (white space after white
    /// space, the lead bytes of a sequence that is folded as a whole).
    #[inline(always)]
    pub(super) fn push(&mut self, byte: u8) -> Option<u8> {
        if byte < 0x80 && self.lead == 0 {
            return self.ascii(byte);
        }
        self.sequence(byte)
    }

    /// Folds one byte outside ASCII, or an ASCII byte within a multi-byte sequence,
    /// leaving runs of white space to the caller: a quote or dash read as white space
    /// is always returned.
    #[inline(never)]
    pub(super) fn push_sequence(&mut self, byte: u8) -> Option<u8> {
        self.last_space = false;
        self.sequence(byte)
    }

    #[inline(always)]
    fn ascii(&mut self, byte: u8) -> Option<u8> {
        if byte.is_ascii_whitespace() || byte.is_ascii_punctuation() {
            let first = !self.last_space;
            self.last_space = true;
            first.then_some(b' ')
        } else {
            self.last_space = false;
            Some(byte.to_ascii_lowercase())
        }
    }

    #[inline(never)]
    fn sequence(&mut self, byte: u8) -> Option<u8> {
        let lead = std::mem::replace(&mut self.lead, 0);
        let folded = match (lead, byte) {
            (0, 0xC3 | 0xE2) | (0xE2, 0x80) => {
                self.lead = byte;
                return None;
            }
            (0xC3, 0x80..=0xBF) => LATIN1[usize::from(byte - 0x80)],
            (0x80, 0x93 | 0x94 | 0x98 | 0x99 | 0x9C | 0x9D) => return self.ascii(b' '),
            (_, b) if b < 0x80 => return self.ascii(b),
            (_, b) => b,
        };
        self.last_space = false;
        Some(folded)
    }
}

/// The base letter of U+00C0 to U+00FF (the second byte of `0xC3 xx`), lowercase;
/// the few that are not letters (`×`, `÷`, `Þ`, `þ`) keep their byte.
const LATIN1: [u8; 64] = *b"aaaaaaaceeeeiiii\
dnooooo\x97ouuuuy\x9es\
aaaaaaaceeeeiiii\
dnooooo\xb7ouuuuy\xbey";

/// Normalises a phrase the way [`Fold`] normalises reply text for matching.
pub(super) fn normalise(phrase: &str) -> Vec<u8> {
    let mut fold = Fold::new(false);
    phrase.bytes().filter_map(|b| fold.push(b)).collect()
}

/// The longest phrase [`folded_contains`] looks for, in bytes after normalisation.
pub(super) const LONGEST_PHRASE: usize = 128;

/// Whether the text, folded and framed by one space on each side as the phrase
/// automaton reads it, holds `phrase` (normalised, at most [`LONGEST_PHRASE`] bytes;
/// a longer one is never found). A plain search through a window of the last folded
/// bytes: it serves the few phrases the automaton reports inexactly, so it runs seldom.
pub(super) fn folded_contains(text: &str, phrase: &[u8]) -> bool {
    let len = phrase.len();
    if len == 0 || len > LONGEST_PHRASE {
        return len == 0;
    }
    let mut window = [0u8; LONGEST_PHRASE];
    let mut seen = 0usize;
    let mut push = |byte: u8| {
        window[seen % LONGEST_PHRASE] = byte;
        seen += 1;
        seen >= len && (0..len).all(|k| window[(seen - len + k) % LONGEST_PHRASE] == phrase[k])
    };
    if push(b' ') {
        return true;
    }
    let mut fold = Fold::new(true);
    for byte in text.bytes() {
        if let Some(folded) = fold.push(byte) {
            if push(folded) {
                return true;
            }
        }
    }
    !fold.last_space && push(b' ')
}

/// The enhanced code qmail and its descendants (netqmail, indimail, many appliances)
/// write in parentheses at the end of the text instead of after the reply code:
/// `553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)`. The last
/// `(#c.s.d)` in the text counts.
pub(super) fn trailing_code(text: &str) -> Option<EnhancedCode> {
    // A byte scan from the end: most texts hold no `#` at all, and a substring
    // searcher's set-up costs more than the whole scan.
    let b = text.as_bytes();
    (1..b.len())
        .rev()
        .filter(|&i| b[i] == b'#' && b[i - 1] == b'(')
        .find_map(|i| parenthesised_code(&b[i + 1..]))
}

/// `c.s.d)` at the start of `b`.
fn parenthesised_code(b: &[u8]) -> Option<EnhancedCode> {
    let mut parts = [0u16; 3];
    let mut pos = 0;
    for (i, part) in parts.iter_mut().enumerate() {
        let start = pos;
        while pos < b.len() && b[pos].is_ascii_digit() && pos - start < 3 {
            *part = *part * 10 + u16::from(b[pos] - b'0');
            pos += 1;
        }
        let end = if i < 2 { b'.' } else { b')' };
        if pos == start || b.get(pos) != Some(&end) {
            return None;
        }
        pos += 1;
    }
    let class = u8::try_from(parts[0]).ok()?;
    EnhancedCode::new(class, parts[1], parts[2]).ok()
}

/// The longest hint taken from a text; a larger figure is more likely something else
/// (a count, a date) than a wait.
pub const MAX_HINT: Duration = Duration::from_secs(7 * 24 * 3600);

/// Finds a wait the server asks for: a number with a unit after `in`, `after`, `for` or
/// `wait` ("try again in 5 minutes", "retry after 60 seconds", "greylisted for 60
/// seconds", "please come back in 00:05:00", "try again in 4 hours"). The first one
/// found counts; waits above [`MAX_HINT`] are ignored.
pub(super) fn retry_hint(text: &str) -> Option<Duration> {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        // The next digit, in a tight loop; the checks below run only at digits.
        match b[i..].iter().position(u8::is_ascii_digit) {
            Some(skip) => i += skip,
            None => return None,
        }
        if i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.' || b[i - 1] == b':') {
            // Inside a word or a dotted or timed number: skip the rest of its digits.
            i = number(b, i).1;
            continue;
        }
        let start = i;
        let (first, next) = number(b, i);
        i = next;
        if !cue_before(b, start) {
            continue;
        }
        let seconds = if b.get(i) == Some(&b':') {
            clock(b, first, i)
        } else {
            unit_after(b, i).map(|unit| first.saturating_mul(unit))
        };
        if let Some(s) = seconds.filter(|&s| s > 0) {
            let wait = Duration::from_secs(s);
            if wait <= MAX_HINT {
                return Some(wait);
            }
        }
    }
    None
}

/// Reads up to 9 digits at `i`; returns the value and the index after the digits.
fn number(b: &[u8], mut i: usize) -> (u64, usize) {
    let mut n: u64 = 0;
    let mut digits = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        if digits < 9 {
            n = n * 10 + u64::from(b[i] - b'0');
        } else {
            n = u64::MAX / 2;
        }
        digits += 1;
        i += 1;
    }
    (n, i)
}

/// `h:mm:ss` or `m:ss` starting with `first`, the colon at `i`.
fn clock(b: &[u8], first: u64, mut i: usize) -> Option<u64> {
    let mut total = first;
    let mut parts = 1;
    while b.get(i) == Some(&b':') && parts < 3 {
        let (n, next) = number(b, i + 1);
        if next != i + 3 || n > 59 {
            return None;
        }
        total = total.saturating_mul(60).saturating_add(n);
        i = next;
        parts += 1;
    }
    (parts >= 2
        && !b
            .get(i)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b':'))
    .then_some(total)
}

/// Whether the word before `start` is one that introduces a wait.
fn cue_before(b: &[u8], start: usize) -> bool {
    let mut end = start;
    while end > 0 && b[end - 1] == b' ' {
        end -= 1;
    }
    let mut begin = end;
    while begin > 0 && b[begin - 1].is_ascii_alphabetic() {
        begin -= 1;
    }
    let word = &b[begin..end];
    ["in", "after", "for", "wait"]
        .iter()
        .any(|cue| word.eq_ignore_ascii_case(cue.as_bytes()))
}

/// The unit word after a number, in seconds.
fn unit_after(b: &[u8], mut i: usize) -> Option<u64> {
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    let start = i;
    while i < b.len() && b[i].is_ascii_alphabetic() {
        i += 1;
    }
    let word = &b[start..i];
    let is = |names: &[&str]| {
        names
            .iter()
            .any(|n| word.eq_ignore_ascii_case(n.as_bytes()))
    };
    if is(&["s", "sec", "secs", "second", "seconds"]) {
        Some(1)
    } else if is(&["min", "mins", "minute", "minutes"]) {
        Some(60)
    } else if is(&["h", "hr", "hrs", "hour", "hours"]) {
        Some(3600)
    } else if is(&["day", "days"]) {
        Some(86_400)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn punctuation_accents_and_typographic_quotes_fold() {
        let n = |t: &str| String::from_utf8_lossy(&normalise(t)).into_owned();
        assert_eq!(n("Service refusé, réessayer"), "service refuse reessayer");
        assert_eq!(n("Größe überschritten"), "grose uberschritten");
        assert_eq!(n("recipient’s “domain” – ok"), "recipient s domain ok");
        assert_eq!(
            n("Rate-limit (BL) [TS03]: e_mail"),
            "rate limit bl ts03 e mail"
        );
        assert_eq!(n("ÀÉÎÕÜÇÑ"), "aeiouçn".replace('ç', "c"));
        // Other sequences keep their bytes, but for a lead folded away.
        assert_eq!(normalise("€"), vec![0x82, 0xAC]);
        assert_eq!(n("日本"), "日本");
        assert_eq!(n("a\u{e9}"), "ae");
        // A lead byte at the end adds nothing.
        assert_eq!(normalise("x\u{e9}")[..], b"xe"[..]);
    }

    #[test]
    fn folded_contains_searches_the_framed_folded_text() {
        let has = |t: &str, p: &str| folded_contains(t, &normalise(p));
        assert!(has("Error [TS01]: try later", " ts01 "));
        assert!(!has("Error [TS02]: try later", " ts01 "));
        assert!(has("TS01", " ts01 "));
        assert!(has("utf-8 body", "utf 8"));
        assert!(!has("utf-16 body", "utf 8 "));
        assert!(has("x  per\r\n24 HOURS", "per 24 hours"));
        assert!(has("Größe 5", "grose 5"));
        assert!(!has("", "a"));
        assert!(has("", " "));
        let long = "a".repeat(LONGEST_PHRASE + 1);
        assert!(!has(&long, &long));
        let longest = "a".repeat(LONGEST_PHRASE);
        assert!(has(&format!("b{longest}b"), &longest));
    }

    #[test]
    fn trailing_code_reads_qmail_style_codes() {
        let code = |t: &str| trailing_code(t).map(|c| (c.class(), c.subject(), c.detail()));
        assert_eq!(
            code("sorry, no mailbox here by that name. (#5.1.1)"),
            Some((5, 1, 1))
        );
        assert_eq!(code("a (#4.3.0) then (#5.7.1)"), Some((5, 7, 1)));
        for none in [
            "no code",
            "(#5.1)",
            "(#5.1.1",
            "(#9.1.1)",
            "(#5.1.1.1)",
            "(#",
            "#5.1.1)",
        ] {
            assert_eq!(code(none), None, "{none}");
        }
    }

    #[test]
    fn folding() {
        assert_eq!(
            normalise("Too  Many\r\nConnections\t"),
            b"too many connections ".to_vec()
        );
        assert_eq!(normalise("  Rate\nLimit "), b" rate limit ".to_vec());
        assert_eq!(normalise(""), b"".to_vec());
    }

    #[test]
    fn hints() {
        let h = |t: &str| retry_hint(t).map(|d| d.as_secs());
        assert_eq!(h("Please try again in 5 minutes"), Some(300));
        assert_eq!(h("retry after 60 seconds"), Some(60));
        assert_eq!(h("try again in 4 hours"), Some(14_400));
        assert_eq!(h("greylisted for 60 seconds by ZEROSPAM"), Some(60));
        assert_eq!(
            h("Greylisting in action, please come back in 00:05:00"),
            Some(300)
        );
        assert_eq!(h("try again in 51 seconds; see"), Some(51));
        assert_eq!(h("wait 2 mins"), Some(120));
        // Not waits: counts, timestamps, other numbers.
        assert_eq!(h("Maximum limit of 100 recipients reached"), None);
        assert_eq!(h("refused connection at 11/27/15 11:25:27 from IP"), None);
        assert_eq!(h("exceeded 50 hops"), None);
        assert_eq!(h("limit per 24 hours"), None);
        assert_eq!(h("try again in 9999999999 days"), None);
        assert_eq!(h("in 0 seconds"), None);
        assert_eq!(h(""), None);
    }
}
