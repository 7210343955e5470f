//! The phrase automaton: every phrase found in one pass over a reply's folded text.
//!
//! An Aho-Corasick automaton made into a full table (one next state per state and byte
//! class), built here rather than taken from a general-purpose crate for three reasons
//! that each cost time on every byte of every reply:
//!
//! - **States in breadth-first order.** The shallow states (the first letters of
//!   phrases), which nearly every byte of a text visits, sit together at the start of
//!   the table and stay in the nearest cache.
//! - **A short chain from one byte to the next.** The walk is bound by the latency of
//!   each step, which needs the state the step before gave. So rows are padded to a
//!   power of two (the next index is a shift and an OR, not a multiplication), and the
//!   states where phrases end are numbered after all the others (the walk tells them by
//!   one comparison off that chain, and the entry is the next state as it is, with no
//!   flag to mask off). Together these take about a third off the time per byte.
//! - **16-bit entries** while there are at most 65 536 states (the built-in rules need
//!   about a fifth of that), so the table stays small.
//! - **One class for all ten digits.** Few phrases hold digits, but ten classes of
//!   their own would widen every row: with one, the built-in alphabet (letters, the
//!   space, the digit) pads to rows of 32 entries, one cache line each. A phrase with
//!   digits is then reported wherever the text holds it with any digits in their
//!   places, and the caller confirms it ([`Automaton::inexact`],
//!   [`super::text::folded_contains`]).
//! - **Folding in the table.** The walk reads ASCII bytes through one class table that
//!   already lowercases letters and turns punctuation into white space, and a run of
//!   white space stays in the state its first space reached (a state entered on a space
//!   loops on a space), so that "rate-limit", "rate  limit" and "rate limit" walk alike
//!   without a branch per byte. Other bytes go through [`super::text::Fold`].

use super::text::Fold;
use crate::error::RuleError;

/// No child in the trie while it is built.
const NONE: u32 = u32::MAX;

/// The phrase automaton over one set of phrases (each already normalised by
/// [`super::text::normalise`]).
pub(super) struct Automaton {
    /// The class of each folded byte; class 0 is every byte no phrase holds.
    class: [u8; 256],
    /// The class of each ASCII byte of the raw text, folding included.
    ascii: [u8; 128],
    /// The table's row length is `1 << shift`: the number of classes, padded.
    shift: u32,
    /// States from this one on are those where phrases end.
    accept_from: usize,
    table: Table,
    /// The state after the space that frames the text.
    start: usize,
    /// The phrases ending at each state: `ends[first[s]..first[s + 1]]`.
    first: Vec<u32>,
    ends: Vec<u16>,
}

/// Next states, by `state << shift | class`.
enum Table {
    Narrow(Vec<u16>),
    Wide(Vec<u32>),
}

/// One width of table entry.
trait Entry: Copy {
    fn get(self) -> usize;
}

impl Entry for u16 {
    #[inline(always)]
    fn get(self) -> usize {
        usize::from(self)
    }
}

impl Entry for u32 {
    #[inline(always)]
    fn get(self) -> usize {
        self as usize
    }
}

impl Automaton {
    /// Builds the automaton of `phrases`, given as `(phrase index, normalised bytes)`;
    /// [`Self::ends`] lists a state's phrases by those indexes.
    pub(super) fn new(phrases: &[(u16, &[u8])]) -> Result<Self, RuleError> {
        // Byte classes: one per byte some phrase holds, the space always among them.
        let mut used = [false; 256];
        used[usize::from(b' ')] = true;
        for &(_, bytes) in phrases {
            for &b in bytes {
                // Every digit reads as `0`.
                used[usize::from(if b.is_ascii_digit() { b'0' } else { b })] = true;
            }
        }
        let mut class = [0u8; 256];
        let mut classes = 1usize;
        for (b, &u) in used.iter().enumerate() {
            if u {
                // At most 256 used bytes; class 0 is kept for the unused ones, and a
                // table of every byte would still fit the u8 below but for one: the
                // space is always used, so 255 other bytes at most share classes 1..=255.
                class[b] = u8::try_from(classes).map_err(|_| {
                    RuleError::Matcher("a phrase set uses every one of the 256 bytes".into())
                })?;
                classes += 1;
            }
        }
        for digit in b'1'..=b'9' {
            class[usize::from(digit)] = class[usize::from(b'0')];
        }
        let space = usize::from(class[usize::from(b' ')]);
        let mut ascii = [0u8; 128];
        for (b, slot) in ascii.iter_mut().enumerate() {
            let mut fold = Fold::new(false);
            // ASCII bytes fold one for one: a letter, a digit or a space.
            let folded = fold.push(b as u8).unwrap_or(b' ');
            *slot = class[usize::from(folded)];
        }

        // The trie, in order of creation.
        let mut goto: Vec<u32> = vec![NONE; classes];
        let mut own: Vec<Vec<u16>> = vec![Vec::new()];
        let mut into: Vec<usize> = vec![0];
        for &(index, bytes) in phrases {
            let mut s = 0usize;
            for &b in bytes {
                let c = usize::from(class[usize::from(b)]);
                let child = goto[s * classes + c];
                s = if child == NONE {
                    let new = own.len();
                    goto[s * classes + c] = u32::try_from(new).map_err(too_many)?;
                    goto.extend(std::iter::repeat_n(NONE, classes));
                    own.push(Vec::new());
                    into.push(c);
                    new
                } else {
                    child as usize
                };
            }
            own[s].push(index);
        }
        let states = own.len();

        // Breadth-first order, failure links, the full table and each state's phrases.
        let mut order = Vec::with_capacity(states);
        order.push(0usize);
        let mut head = 0;
        while head < order.len() {
            let s = order[head];
            head += 1;
            for c in 0..classes {
                let child = goto[s * classes + c];
                if child != NONE {
                    order.push(child as usize);
                }
            }
        }
        let mut next = vec![0u32; states * classes];
        let mut fail = vec![0usize; states];
        let mut ends: Vec<Vec<u16>> = vec![Vec::new(); states];
        for &s in &order {
            let mut found = own[s].clone();
            if s != 0 {
                found.extend_from_slice(&ends[fail[s]]);
            }
            found.sort_unstable();
            found.dedup();
            ends[s] = found;
            for c in 0..classes {
                let child = goto[s * classes + c];
                let via_fail = if s == 0 {
                    0
                } else {
                    next[fail[s] * classes + c]
                };
                if child == NONE {
                    next[s * classes + c] = via_fail;
                } else {
                    fail[child as usize] = via_fail as usize;
                    next[s * classes + c] = child;
                }
            }
        }
        // A state entered on a space stays on a space: the run folds to one.
        for s in 1..states {
            if into[s] == space {
                next[s * classes + space] = s as u32;
            }
        }
        let start = next[space] as usize;

        // Renumber: the states where no phrase ends, then those where one does, each
        // part in breadth-first order.
        let (plain, accepting): (Vec<usize>, Vec<usize>) =
            order.iter().partition(|&&s| ends[s].is_empty());
        let accept_from = plain.len();
        let order: Vec<usize> = plain.into_iter().chain(accepting).collect();
        let mut rank = vec![0u32; states];
        for (new, &s) in order.iter().enumerate() {
            rank[s] = u32::try_from(new).map_err(too_many)?;
        }
        let narrow = states <= 1 << 16;
        // At most 256 classes: a row of 256 at most.
        let padded = classes.next_power_of_two();
        let mut entries = vec![0u32; states * padded];
        let mut first = Vec::with_capacity(states + 1);
        let mut flat = Vec::new();
        for (new, &s) in order.iter().enumerate() {
            for c in 0..classes {
                let target = next[s * classes + c] as usize;
                entries[new * padded + c] = rank[target];
            }
            first.push(u32::try_from(flat.len()).map_err(too_many)?);
            flat.extend_from_slice(&ends[s]);
        }
        first.push(u32::try_from(flat.len()).map_err(too_many)?);
        let table = if narrow {
            // Every entry is a rank below 2^16.
            Table::Narrow(entries.iter().map(|&e| e as u16).collect())
        } else {
            Table::Wide(entries)
        };
        Ok(Self {
            class,
            ascii,
            shift: padded.trailing_zeros(),
            accept_from,
            table,
            start: rank[start] as usize,
            first,
            ends: flat,
        })
    }

    /// Walks the text, folded and framed by one space on each side, calling `found`
    /// with every state reached where phrases end ([`Self::ends`] lists them; a state
    /// may be reported more than once). Says whether the folded text holds a byte
    /// outside ASCII.
    #[inline(always)]
    pub(super) fn walk(&self, text: &str, found: impl FnMut(usize)) -> bool {
        match &self.table {
            Table::Narrow(table) => self.walk_in(table, text, found),
            Table::Wide(table) => self.walk_in(table, text, found),
        }
    }

    #[inline(always)]
    fn walk_in<E: Entry>(&self, table: &[E], text: &str, mut found: impl FnMut(usize)) -> bool {
        let shift = self.shift;
        let space = usize::from(self.class[usize::from(b' ')]);
        let mut state = self.start;
        let mut fold = Fold::new(false);
        let mut high = 0u8;
        for &byte in text.as_bytes() {
            let class = if byte < 0x80 {
                self.ascii[usize::from(byte)]
            } else {
                match fold.push_sequence(byte) {
                    Some(folded) => {
                        high |= folded;
                        self.class[usize::from(folded)]
                    }
                    None => continue,
                }
            };
            state = table[(state << shift) | usize::from(class)].get();
            if state >= self.accept_from {
                found(state);
            }
        }
        let state = table[(state << shift) | space].get();
        if state >= self.accept_from {
            found(state);
        }
        high >= 0x80
    }

    /// Whether the walk reports `phrase` (normalised) also where the text holds other
    /// bytes in some of its places: where it has digits, any digits.
    pub(super) fn inexact(phrase: &[u8]) -> bool {
        phrase.iter().any(u8::is_ascii_digit)
    }

    /// The number of states.
    pub(super) fn states(&self) -> usize {
        self.first.len() - 1
    }

    /// The phrases that end at `state`.
    pub(super) fn ends(&self, state: usize) -> &[u16] {
        &self.ends[self.first[state] as usize..self.first[state + 1] as usize]
    }

    /// Bytes held by the table and the phrase lists.
    #[cfg(test)]
    pub(super) fn memory(&self) -> usize {
        let table = match &self.table {
            Table::Narrow(t) => t.len() * 2,
            Table::Wide(t) => t.len() * 4,
        };
        table + self.first.len() * 4 + self.ends.len() * 2 + 256 + 128
    }
}

fn too_many(_: std::num::TryFromIntError) -> RuleError {
    RuleError::Matcher("the phrases make more automaton states than fit 32 bits".into())
}

#[cfg(test)]
mod tests {
    use super::super::text::{normalise, Fold};
    use super::*;
    use proptest::prelude::*;

    /// What the automaton must find: every phrase that occurs in the folded text framed
    /// by spaces, by plain search, any digit standing for any digit.
    fn expected(phrases: &[Vec<u8>], text: &str) -> Vec<u16> {
        let digit = |b: u8| if b.is_ascii_digit() { b'0' } else { b };
        let mut folded = vec![b' '];
        let mut fold = Fold::new(true);
        folded.extend(text.bytes().filter_map(|b| fold.push(b)).map(digit));
        if !fold.at_space() {
            folded.push(b' ');
        }
        let mut out: Vec<u16> = (0..phrases.len())
            .filter(|&i| {
                let p: Vec<u8> = phrases[i].iter().copied().map(digit).collect();
                p.len() <= folded.len() && folded.windows(p.len()).any(|w| w == p.as_slice())
            })
            .map(|i| i as u16)
            .collect();
        out.sort_unstable();
        out
    }

    fn found(a: &Automaton, text: &str) -> Vec<u16> {
        let mut out = Vec::new();
        a.walk(text, |s| out.extend_from_slice(a.ends(s)));
        out.sort_unstable();
        out.dedup();
        out
    }

    fn build(phrases: &[Vec<u8>]) -> Automaton {
        let list: Vec<(u16, &[u8])> = phrases
            .iter()
            .enumerate()
            .map(|(i, p)| (i as u16, p.as_slice()))
            .collect();
        Automaton::new(&list).expect("builds")
    }

    #[test]
    fn finds_overlapping_and_nested_phrases_across_folding() {
        let phrases: Vec<Vec<u8>> = [
            "rate limit",
            "limit",
            "limited",
            " rbl",
            "spam",
            "too many connection",
            "refuse",
            "频率",
        ]
        .iter()
        .map(|p| normalise(p))
        .collect();
        let a = build(&phrases);
        for text in [
            "421 Rate-Limited: too  many CONNECTIONS",
            "Antispam: listed in RBL",
            "rate_limit;limit",
            "Service refusé — 发送频率过高",
            "",
            "   ",
        ] {
            assert_eq!(found(&a, text), expected(&phrases, text), "{text:?}");
        }
    }

    #[test]
    fn a_large_phrase_set_takes_the_wide_table() {
        // 1 200 phrases that part after their third byte make more than 2^16 states.
        let prefix = |i: usize| -> String {
            [i / 676, i / 26 % 26, i % 26]
                .iter()
                .map(|&d| char::from(b'a' + d as u8))
                .collect()
        };
        let phrases: Vec<Vec<u8>> = (0..1200)
            .map(|i| normalise(&format!("{}{:a<60}", prefix(i), "x")))
            .collect();
        let a = build(&phrases);
        assert!(matches!(a.table, Table::Wide(_)));
        let text = format!(
            "550 {}{:a<60} and {}{:a<60}",
            prefix(1199),
            "x",
            prefix(7),
            "x"
        );
        assert_eq!(found(&a, &text), expected(&phrases, &text));
    }

    fn text_strategy() -> impl Strategy<Value = String> {
        // Letters that phrases share, white space, punctuation, accents, quotes and CJK.
        let pieces = prop::sample::select(vec![
            "a", "b", "ab", "ba", "c", " ", "  ", "-", "_", ".", "é", "É", "’", "频", "率", "\n",
            "A", "B", "1", "2",
        ]);
        prop::collection::vec(pieces, 0..40).prop_map(|v| v.concat())
    }

    proptest! {
        /// The promise of `walk`: exactly the phrases that occur in the folded text.
        #[test]
        fn walk_finds_exactly_the_phrases_in_the_folded_text(
            raw in prop::collection::vec(text_strategy(), 1..12),
            text in text_strategy(),
        ) {
            let phrases: Vec<Vec<u8>> = raw
                .iter()
                .map(|p| normalise(p))
                .filter(|p| !p.iter().all(|&b| b == b' '))
                .collect();
            prop_assume!(!phrases.is_empty());
            let a = build(&phrases);
            prop_assert_eq!(found(&a, &text), expected(&phrases, &text));
        }
    }
}
