//! [`Classifier`]: rules compiled into one phrase automaton, evaluated without allocating.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::automaton::Automaton;
use super::classification::RuleId;
use super::rule::{reply_enhanced_fits, EnhancedPattern};
use super::{builtin, registry, text, Category, Classification, Rule, Scope, Severity};
use crate::error::RuleError;
use crate::provider::{Provider, MARKERS};
use crate::reply::Reply;

/// The longest phrase a rule may hold, in bytes after normalisation.
pub const MAX_PHRASE_BYTES: usize = text::LONGEST_PHRASE;
/// The most rules one classifier holds.
pub const MAX_RULES: usize = 1024;
/// The most distinct phrases one classifier holds (rules and provider markers together).
pub const MAX_PHRASES: usize = 4096;
/// The most phrase groups (calls of [`Rule::phrase`] and [`Rule::any_phrase`]) all the
/// rules of one classifier hold together.
pub const MAX_GROUPS: usize = 2048;

const RULE_WORDS: usize = MAX_RULES / 64;
const GROUP_WORDS: usize = MAX_GROUPS / 64;

/// Classifies replies with an ordered list of rules: the user's first, then the built-in
/// ones (provider tags and texts, generic texts, enhanced codes, basic codes).
///
/// Cloning is cheap: clones share the compiled rules. Classifying never allocates for
/// built-in rules (a user rule's id is shared by reference count).
///
/// ```
/// use smtp_throttle::classify::{Category, Classifier, Rule};
/// use smtp_throttle::Reply;
///
/// let classifier = Classifier::builder()
///     .rule(Rule::new("acme.quota", Category::RateLimited).phrase("daily quota reached").retry(true))
///     .build()?;
/// let c = classifier.classify(&Reply::parse("550 5.7.1 Daily quota reached for your IP")?);
/// assert_eq!(c.category, Category::RateLimited);
/// assert!(c.retry);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Classifier {
    inner: Arc<Inner>,
}

struct Inner {
    rules: Vec<Rule>,
    compiled: Vec<Compiled>,
    /// The phrases that fold to ASCII, in one automaton: its alphabet stays small, so
    /// its table stays small.
    ascii: Automaton,
    /// The other phrases (Chinese, Japanese, Cyrillic …), walked only over a text that
    /// holds a byte outside ASCII.
    wide: Option<Automaton>,
    /// What each state of `ascii` where phrases end adds to the matches.
    ascii_effects: Effects,
    /// The same for `wide`.
    wide_effects: Effects,
    /// Normalised phrases, by index.
    phrases: Vec<Vec<u8>>,
    /// Rules without phrases: candidates whatever the text holds.
    textless: [u64; RULE_WORDS],
    /// With the built-in rules, where the enhanced-code registry comes in: its specific
    /// codes decide ahead of the rules from the first index on (the general text rules),
    /// its vague codes ahead of those from the second (the basic-code rules).
    registry_from: Option<(usize, usize)>,
}

/// What decided a reply: a rule, or the enhanced-code registry.
struct Decision {
    id: RuleId,
    category: Category,
    retry: Option<bool>,
    scope: Option<Scope>,
    provider: Option<Provider>,
    retry_after: Option<std::time::Duration>,
}

struct Compiled {
    id: RuleId,
    category: Category,
    codes: (u16, u16),
    enhanced: Option<EnhancedPattern>,
    groups: Vec<Vec<u16>>,
    /// The index of the rule's first group among all rules' groups; its groups are
    /// numbered on from there.
    first_group: usize,
    unless: Vec<u16>,
    provider: Option<Provider>,
    retry: Option<bool>,
    scope: Option<super::Scope>,
    retry_after: Option<std::time::Duration>,
    /// The rule's regex (its pattern, `as_str`, serves the shadowing test).
    #[cfg(feature = "regex")]
    regex: Option<regex::Regex>,
}

impl Compiled {
    /// Whether the rule's regex, if any, matches the reply's text.
    #[cfg(feature = "regex")]
    fn regex_fits(&self, reply: &Reply) -> bool {
        self.regex
            .as_ref()
            .is_none_or(|regex| regex.is_match(reply.text()))
    }

    #[cfg(not(feature = "regex"))]
    fn regex_fits(&self, _reply: &Reply) -> bool {
        true
    }

    /// Whether every reply the `later` rule's regex lets through, this rule's lets
    /// through too: it has none, or the same pattern.
    #[cfg(feature = "regex")]
    fn regex_covers(&self, later: &Compiled) -> bool {
        match (&self.regex, &later.regex) {
            (None, _) => true,
            (Some(mine), Some(theirs)) => mine.as_str() == theirs.as_str(),
            (Some(_), None) => false,
        }
    }

    #[cfg(not(feature = "regex"))]
    fn regex_covers(&self, _later: &Compiled) -> bool {
        true
    }

    fn decision(&self) -> Decision {
        Decision {
            id: self.id.clone(),
            category: self.category,
            retry: self.retry,
            scope: self.scope,
            provider: self.provider,
            retry_after: self.retry_after,
        }
    }
}

impl registry::Meaning {
    fn decision(&self) -> Decision {
        Decision {
            id: RuleId::builtin(self.id),
            category: self.category,
            retry: self.retry,
            scope: self.scope,
            provider: None,
            retry_after: None,
        }
    }
}

/// Builds a [`Classifier`]; see [`Classifier::builder`].
#[derive(Debug, Clone)]
pub struct ClassifierBuilder {
    rules: Vec<Rule>,
    builtins: bool,
}

impl ClassifierBuilder {
    /// Adds a rule. Rules are tried in the order added, all before the built-in rules.
    #[must_use]
    pub fn rule(mut self, rule: Rule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Leaves the built-in rules out: only your rules decide, and replies they do not
    /// match get the default classification.
    #[must_use]
    pub fn without_builtin_rules(mut self) -> Self {
        self.builtins = false;
        self
    }

    /// Checks the rules and compiles them.
    ///
    /// Errors: an empty or repeated id, a rule with no condition, an empty or too long
    /// phrase, a bad code range or enhanced-code pattern, too many rules or phrases,
    /// and a rule of yours that can never decide because an earlier rule matches
    /// every reply it matches ([`RuleError::Shadowed`]).
    pub fn build(self) -> Result<Classifier, RuleError> {
        let user = self.rules.len();
        let mut rules = self.rules;
        let mut registry_from = None;
        if self.builtins {
            rules.extend(builtin::rules());
            let general = rules.len();
            rules.extend(builtin::general_rules());
            registry_from = Some((general, rules.len()));
            rules.extend(builtin::code_rules());
        }
        let inner = Inner::compile(rules, registry_from)?;
        if let Some((rule, by)) = inner.shadowed().into_iter().find(|&(rule, _)| rule < user) {
            return Err(RuleError::Shadowed {
                rule: inner.rules[rule].id.to_string(),
                by: inner.rules[by].id.to_string(),
            });
        }
        Ok(Classifier {
            inner: Arc::new(inner),
        })
    }
}

impl Classifier {
    /// Starts a classifier with the built-in rules; add your own ahead of them.
    pub fn builder() -> ClassifierBuilder {
        ClassifierBuilder {
            rules: Vec::new(),
            builtins: true,
        }
    }

    /// Classifies one reply.
    pub fn classify(&self, reply: &Reply) -> Classification {
        self.inner.classify(reply)
    }

    /// The rules in the order they are tried.
    pub fn rules(&self) -> &[Rule] {
        &self.inner.rules
    }

    /// Pairs `(rule, earlier)` of rule ids where the earlier rule matches every reply the
    /// later one matches, so the later one can never decide. A user rule that overrides a
    /// built-in on purpose shows up here; the built-in rules themselves have none.
    pub fn shadowed(&self) -> Vec<(&str, &str)> {
        self.inner
            .shadowed()
            .into_iter()
            .map(|(rule, by)| (self.inner.rules[rule].id(), self.inner.rules[by].id()))
            .collect()
    }
}

impl Default for Classifier {
    /// The built-in rules only, as [`classify`](crate::classify()) uses them.
    fn default() -> Self {
        super::default_classifier().clone()
    }
}

impl fmt::Debug for Classifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Classifier")
            .field("rules", &self.inner.rules.len())
            .field("phrases", &self.inner.phrases.len())
            .finish()
    }
}

/// Interns normalised phrases, giving each distinct one an index.
#[derive(Default)]
struct Phrases {
    index: HashMap<Vec<u8>, u16>,
    list: Vec<Vec<u8>>,
}

impl Phrases {
    fn intern(&mut self, rule: &str, phrase: &str) -> Result<u16, RuleError> {
        let norm = text::normalise(phrase);
        if norm.iter().all(|&b| b == b' ') {
            return Err(RuleError::EmptyPhrase {
                id: rule.to_owned(),
            });
        }
        if norm.len() > MAX_PHRASE_BYTES {
            return Err(RuleError::PhraseTooLong {
                id: rule.to_owned(),
                len: norm.len(),
                max: MAX_PHRASE_BYTES,
            });
        }
        if let Some(&i) = self.index.get(&norm) {
            return Ok(i);
        }
        if self.list.len() >= MAX_PHRASES {
            return Err(RuleError::TooMany {
                what: "phrases",
                count: self.list.len() + 1,
                max: MAX_PHRASES,
            });
        }
        // Bounded by MAX_PHRASES just above, which fits u16.
        let i = self.list.len() as u16;
        self.index.insert(norm.clone(), i);
        self.list.push(norm);
        Ok(i)
    }
}

impl Inner {
    fn compile(rules: Vec<Rule>, registry_from: Option<(usize, usize)>) -> Result<Self, RuleError> {
        if rules.len() > MAX_RULES {
            return Err(RuleError::TooMany {
                what: "rules",
                count: rules.len(),
                max: MAX_RULES,
            });
        }
        let mut phrases = Phrases::default();
        let mut ids = std::collections::HashSet::new();
        let mut compiled = Vec::with_capacity(rules.len());
        let mut all_groups = 0usize;
        for rule in &rules {
            let id = rule.id();
            if id.trim().is_empty() {
                return Err(RuleError::EmptyId);
            }
            if !ids.insert(id) {
                return Err(RuleError::DuplicateId { id: id.to_owned() });
            }
            if !rule.has_condition() {
                return Err(RuleError::NoCondition { id: id.to_owned() });
            }
            let (low, high) = rule.codes;
            if low > high || low < 200 || high > 599 {
                return Err(RuleError::BadCodeRange {
                    id: id.to_owned(),
                    low,
                    high,
                });
            }
            let enhanced = rule
                .enhanced
                .as_deref()
                .map(|p| EnhancedPattern::parse(id, p))
                .transpose()?;
            let mut groups = Vec::with_capacity(rule.groups.len());
            for group in &rule.groups {
                if group.is_empty() {
                    return Err(RuleError::EmptyPhrase { id: id.to_owned() });
                }
                let ids = group
                    .iter()
                    .map(|p| phrases.intern(id, p))
                    .collect::<Result<Vec<_>, _>>()?;
                groups.push(ids);
            }
            let first_group = all_groups;
            all_groups += groups.len();
            if all_groups > MAX_GROUPS {
                return Err(RuleError::TooMany {
                    what: "phrase groups",
                    count: all_groups,
                    max: MAX_GROUPS,
                });
            }
            let unless = rule
                .unless
                .iter()
                .map(|p| phrases.intern(id, p))
                .collect::<Result<Vec<_>, _>>()?;
            compiled.push(Compiled {
                id: RuleId::new(rule.id.clone()),
                category: rule.category,
                codes: rule.codes,
                enhanced,
                groups,
                first_group,
                unless,
                provider: rule.provider,
                retry: rule.retry,
                scope: rule.scope,
                retry_after: rule.retry_after,
                #[cfg(feature = "regex")]
                regex: match &rule.regex {
                    None => None,
                    Some(pattern) => {
                        let regex =
                            regex::Regex::new(pattern).map_err(|e| RuleError::BadRegex {
                                id: id.to_owned(),
                                pattern: pattern.to_string(),
                                reason: e.to_string(),
                            })?;
                        Some(regex)
                    }
                },
            });
        }
        let mut marker_of = Vec::new();
        for (index, (_, markers)) in MARKERS.iter().enumerate() {
            for marker in *markers {
                marker_of.push((phrases.intern("provider marker", marker)?, index));
            }
        }

        // What finding each phrase tells: the rules it makes candidates, the groups it
        // meets, the rules it excludes. Rule and group indexes are below MAX_RULES and
        // MAX_GROUPS, which fit u16.
        let mut phrase_effects = vec![PhraseEffects::default(); phrases.list.len()];
        let mut textless = [0u64; RULE_WORDS];
        for (r, rule) in compiled.iter().enumerate() {
            if rule.groups.is_empty() {
                textless[r / 64] |= 1 << (r % 64);
            }
            for (g, group) in rule.groups.iter().enumerate() {
                for &p in group {
                    let effects = &mut phrase_effects[usize::from(p)];
                    effects.rules.push(r as u16);
                    effects.groups.push((rule.first_group + g) as u16);
                }
            }
            for &p in &rule.unless {
                phrase_effects[usize::from(p)].excludes.push(r as u16);
            }
        }
        for (p, index) in marker_of {
            phrase_effects[usize::from(p)].providers |= 1 << index;
        }
        let (ascii, wide): (Vec<u16>, Vec<u16>) = (0..phrases.list.len())
            // The phrase count is bounded by MAX_PHRASES, which fits u16.
            .map(|p| p as u16)
            .partition(|&p| phrases.list[usize::from(p)].is_ascii());
        let set = |indexes: Vec<u16>| -> Vec<(u16, &[u8])> {
            indexes
                .into_iter()
                .map(|p| (p, phrases.list[usize::from(p)].as_slice()))
                .collect()
        };
        let ascii = Automaton::new(&set(ascii))?;
        let wide = if wide.is_empty() {
            None
        } else {
            Some(Automaton::new(&set(wide))?)
        };
        let effects = |a: &Automaton| Effects::new(a, &phrase_effects, &phrases.list);
        Ok(Self {
            rules,
            compiled,
            ascii_effects: effects(&ascii),
            wide_effects: wide.as_ref().map_or_else(Effects::default, effects),
            ascii,
            wide,
            phrases: phrases.list,
            textless,
            registry_from,
        })
    }

    fn classify(&self, reply: &Reply) -> Classification {
        let severity = Severity::of_class(reply.code().class());
        let mut matches = Matches::new(&self.textless);
        let confirm = |p: u16| text::folded_contains(reply.text(), &self.phrases[usize::from(p)]);
        let beyond_ascii = self.ascii.walk(reply.text(), |s| {
            self.ascii_effects.apply(s, &mut matches, confirm)
        });
        if let (true, Some(wide)) = (beyond_ascii, &self.wide) {
            wide.walk(reply.text(), |s| {
                self.wide_effects.apply(s, &mut matches, confirm)
            });
        }
        // Borrowed, not moved: the arrays stay where the walk filled them.
        let Matches {
            candidates,
            groups,
            excluded,
            providers,
        } = &matches;
        let providers = *providers;
        let bit = |words: &[u64], i: usize| words[i / 64] & (1 << (i % 64)) != 0;
        let provider_seen = |provider: Provider| {
            (0..MARKERS.len()).any(|i| providers & (1 << i) != 0 && MARKERS[i].0 == provider)
        };
        let code = reply.code().get();
        let rule = candidates
            .iter()
            .enumerate()
            .flat_map(|(word, &bits)| set_bits(bits).map(move |bit| word * 64 + bit))
            .find(|&r| {
                let rule = &self.compiled[r];
                rule.codes.0 <= code
                    && code <= rule.codes.1
                    && reply_enhanced_fits(rule.enhanced.as_ref(), reply)
                    // A rule is a candidate only once a phrase of one of its groups was
                    // found: a rule of one group holds it already.
                    && (rule.groups.len() <= 1
                        || (rule.first_group..rule.first_group + rule.groups.len())
                            .all(|g| bit(groups, g)))
                    && !bit(excluded, r)
                    && rule.provider.is_none_or(provider_seen)
                    && rule.regex_fits(reply)
            });
        let registry = match (self.registry_from, rule) {
            // Like the rules' default code range, the registry judges failures only.
            (Some((general, basic)), r) if code >= 400 && r.is_none_or(|r| r >= general) => reply
                .enhanced()
                .or_else(|| text::trailing_code(reply.text()))
                .and_then(registry::lookup)
                .filter(|&(_, says)| {
                    says == registry::Says::Specific || r.is_none_or(|r| r >= basic)
                })
                .map(|(meaning, _)| meaning),
            _ => None,
        };
        let decided = match registry {
            Some(meaning) => Some(meaning.decision()),
            None => rule.map(|r| self.compiled[r].decision()),
        };
        let category = decided.as_ref().map_or(Category::Other, |d| d.category);
        let retry = matches!(severity, Severity::Transient | Severity::Permanent)
            && decided
                .as_ref()
                .and_then(|d| d.retry)
                .unwrap_or_else(|| category.retry_regardless_of_code() || reply.is_transient());
        Classification {
            category,
            severity,
            retry,
            scope: decided
                .as_ref()
                .and_then(|d| d.scope)
                .unwrap_or(category.default_scope()),
            provider: decided
                .as_ref()
                .and_then(|d| d.provider)
                .or_else(|| first_provider(providers)),
            retry_hint: if retry {
                text::retry_hint(reply.text()).or(decided.as_ref().and_then(|d| d.retry_after))
            } else {
                None
            },
            // The decision's id moves into the answer: one clone per reply, made above.
            rule: decided.map_or(RuleId::DEFAULT, |d| d.id),
            command: reply.command(),
            code: Some(reply.code()),
        }
    }

    /// `(later, earlier)` index pairs where the earlier rule matches every reply the
    /// later one matches. The test is sufficient, not necessary: it proves shadowing
    /// from the rules' conditions alone.
    fn shadowed(&self) -> Vec<(usize, usize)> {
        let phrase = |p: u16| self.phrases[usize::from(p)].as_slice();
        let contains = |hay: &[u8], needle: &[u8]| {
            needle.len() <= hay.len() && hay.windows(needle.len()).any(|w| w == needle)
        };
        let mut out = Vec::new();
        for (i, later) in self.compiled.iter().enumerate() {
            for (j, earlier) in self.compiled[..i].iter().enumerate() {
                let codes = earlier.codes.0 <= later.codes.0 && later.codes.1 <= earlier.codes.1;
                let enhanced = match (&earlier.enhanced, &later.enhanced) {
                    (None, _) => true,
                    (Some(e), Some(l)) => l.within(e),
                    (Some(_), None) => false,
                };
                let provider = earlier.provider.is_none() || earlier.provider == later.provider;
                // Every group of the earlier rule is met whenever some group of the later
                // one is: each phrase of that later group contains an earlier phrase.
                let groups = earlier.groups.iter().all(|eg| {
                    later.groups.iter().any(|lg| {
                        lg.iter()
                            .all(|&lp| eg.iter().any(|&ep| contains(phrase(lp), phrase(ep))))
                    })
                });
                // An earlier `unless` phrase u cannot be in a text the later rule matches
                // if the later rule excludes some part of u.
                let unless = earlier.unless.iter().all(|&eu| {
                    later
                        .unless
                        .iter()
                        .any(|&lu| contains(phrase(eu), phrase(lu)))
                });
                let regex = earlier.regex_covers(later);
                if codes && enhanced && provider && groups && unless && regex {
                    out.push((i, j));
                    break;
                }
            }
        }
        out
    }
}

/// What finding one phrase tells, gathered while compiling.
#[derive(Clone, Default)]
struct PhraseEffects {
    /// Rules with the phrase in a group: they become candidates.
    rules: Vec<u16>,
    /// Groups the phrase is in: they are met.
    groups: Vec<u16>,
    /// Rules with the phrase among their `unless` phrases: they are excluded.
    excludes: Vec<u16>,
    /// Providers the phrase marks, by index into `MARKERS`.
    providers: u32,
}

/// What reaching each state where phrases end adds to the matches, worked out once from
/// its phrases: the rules they make candidates, the groups they meet, the rules they
/// exclude, their providers. The walk then ORs a few words per state reached instead of
/// following each phrase to its rules, and a rule is judged by a few bit tests instead
/// of a look at each of its phrases. A phrase the automaton reports inexactly (one with
/// digits) adds its words only once the text is seen to hold it.
#[derive(Default)]
struct Effects {
    /// The sure effects of state `s`: `list[first[s]..first[s + 1]]`.
    first: Vec<u32>,
    /// `(target, bits)`: the kind of target in the top two bits (`CANDIDATES`, `GROUPS`,
    /// `EXCLUDED`, `PROVIDERS`), the word of that array of [`Matches`] in the others.
    list: Vec<(u16, u64)>,
    /// The phrases of state `s` to confirm: `checks[check_first[s]..check_first[s + 1]]`.
    check_first: Vec<u32>,
    /// `(phrase, from, to)`: a phrase to confirm, and its effects, `list[from..to]`.
    checks: Vec<(u16, u32, u32)>,
}

const CANDIDATES: u16 = 0;
const GROUPS: u16 = 1 << 14;
const EXCLUDED: u16 = 2 << 14;
const PROVIDERS: u16 = 3 << 14;
const KIND: u16 = 3 << 14;

impl Effects {
    fn new(automaton: &Automaton, phrases: &[PhraseEffects], texts: &[Vec<u8>]) -> Self {
        let mut effects = Self::default();
        // Each inexact phrase's effects, once, ahead of the states' own.
        let mut own: HashMap<u16, (u32, u32)> = HashMap::new();
        // The lists stay far below 2^32 entries: a few per phrase of each state.
        for state in 0..automaton.states() {
            for &p in automaton.ends(state) {
                if Automaton::inexact(&texts[usize::from(p)]) && !own.contains_key(&p) {
                    let from = effects.list.len() as u32;
                    effects.list.extend(Self::words([&phrases[usize::from(p)]]));
                    own.insert(p, (from, effects.list.len() as u32));
                }
            }
        }
        for state in 0..automaton.states() {
            effects.first.push(effects.list.len() as u32);
            effects.check_first.push(effects.checks.len() as u32);
            let (checked, sure): (Vec<u16>, Vec<u16>) = automaton
                .ends(state)
                .iter()
                .partition(|&&p| Automaton::inexact(&texts[usize::from(p)]));
            effects
                .list
                .extend(Self::words(sure.iter().map(|&p| &phrases[usize::from(p)])));
            effects
                .checks
                .extend(checked.iter().map(|p| (*p, own[p].0, own[p].1)));
        }
        effects.first.push(effects.list.len() as u32);
        effects.check_first.push(effects.checks.len() as u32);
        effects
    }

    /// The words that finding all of `phrases` ORs into the matches.
    fn words<'a>(phrases: impl IntoIterator<Item = &'a PhraseEffects>) -> Vec<(u16, u64)> {
        let mut bits: std::collections::BTreeMap<u16, u64> = Default::default();
        let mut providers = 0u64;
        let mut set =
            |kind: u16, i: u16| *bits.entry(kind | (i / 64)).or_default() |= 1 << (i % 64);
        for effects in phrases {
            effects.rules.iter().for_each(|&r| set(CANDIDATES, r));
            effects.groups.iter().for_each(|&g| set(GROUPS, g));
            effects.excludes.iter().for_each(|&r| set(EXCLUDED, r));
            providers |= u64::from(effects.providers);
        }
        if providers != 0 {
            bits.insert(PROVIDERS, providers);
        }
        bits.into_iter().collect()
    }

    /// Adds what reaching `state` says to `matches`; `confirm` tells whether the text
    /// holds a phrase the automaton reported inexactly.
    #[inline(always)]
    fn apply(&self, state: usize, matches: &mut Matches, confirm: impl Fn(u16) -> bool) {
        let (from, to) = (self.first[state] as usize, self.first[state + 1] as usize);
        matches.add(&self.list[from..to]);
        let (from, to) = (
            self.check_first[state] as usize,
            self.check_first[state + 1] as usize,
        );
        if from < to {
            self.confirm_and_apply(from, to, matches, confirm);
        }
    }

    #[inline(never)]
    fn confirm_and_apply(
        &self,
        from: usize,
        to: usize,
        matches: &mut Matches,
        confirm: impl Fn(u16) -> bool,
    ) {
        for &(phrase, first, last) in &self.checks[from..to] {
            if confirm(phrase) {
                matches.add(&self.list[first as usize..last as usize]);
            }
        }
    }
}

/// What one pass over a reply's text found.
struct Matches {
    /// Rules worth evaluating: those without phrases, and those with a phrase found.
    candidates: [u64; RULE_WORDS],
    /// Groups with a phrase found, by index among all rules' groups.
    groups: [u64; GROUP_WORDS],
    /// Rules one of whose `unless` phrases was found.
    excluded: [u64; RULE_WORDS],
    /// Providers whose markers were found, by index into `MARKERS`.
    providers: u32,
}

impl Matches {
    /// ORs effect words into the arrays they name.
    #[inline(always)]
    fn add(&mut self, words: &[(u16, u64)]) {
        for &(target, bits) in words {
            let word = usize::from(target & !KIND);
            match target & KIND {
                CANDIDATES => self.candidates[word] |= bits,
                GROUPS => self.groups[word] |= bits,
                EXCLUDED => self.excluded[word] |= bits,
                // Provider bits come from a u32.
                _ => self.providers |= bits as u32,
            }
        }
    }

    fn new(textless: &[u64; RULE_WORDS]) -> Self {
        Self {
            candidates: *textless,
            groups: [0; GROUP_WORDS],
            excluded: [0; RULE_WORDS],
            providers: 0,
        }
    }
}

/// The indexes of the set bits of `bits`, lowest first.
fn set_bits(mut bits: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (bits != 0).then(|| {
            let bit = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            bit
        })
    })
}

fn first_provider(providers: u32) -> Option<Provider> {
    (providers != 0).then(|| MARKERS[providers.trailing_zeros() as usize].0)
}

#[cfg(test)]
mod tests {
    /// The built-in phrases fold to a small alphabet; the table they make stays small
    /// enough for the walk to run out of the nearer caches (phrases outside ASCII have
    /// their own automaton, so they do not widen this one's alphabet).
    #[test]
    fn the_built_in_phrase_table_stays_small() {
        let inner = &super::super::default_classifier().inner;
        let ascii = inner.ascii.memory();
        let wide = inner.wide.as_ref().map_or(0, |w| w.memory());
        println!("phrase tables: {ascii} + {wide} bytes");
        // Rows of 32 two-byte entries, one cache line each; under 1 MiB, the whole
        // table fits the second-level cache of this machine's cores.
        assert!(ascii < 1 << 20, "{ascii} bytes");
        assert!(wide < 1 << 18, "{wide} bytes");
    }
}

#[cfg(all(test, feature = "regex"))]
mod regex_tests {
    use super::*;

    fn reply(text: &str) -> Reply {
        Reply::parse(text).unwrap()
    }

    #[test]
    fn a_regex_rule_matches_the_text_after_its_other_conditions() {
        let classifier = Classifier::builder()
            .rule(
                Rule::new("t.ticket", Category::Reputation)
                    .class(5)
                    .regex(r"(?i)ticket #[0-9]{6}\b"),
            )
            .build()
            .unwrap();
        let c = classifier.classify(&reply("554 Refused, see Ticket #123456"));
        assert_eq!(
            (c.rule.as_str(), c.category),
            ("t.ticket", Category::Reputation)
        );
        // The code range still applies, and the regex sees the text without codes.
        assert_ne!(
            classifier
                .classify(&reply("454 ticket #123456"))
                .rule
                .as_str(),
            "t.ticket"
        );
        assert_ne!(
            classifier
                .classify(&reply("554 ticket #12345"))
                .rule
                .as_str(),
            "t.ticket"
        );
        let anchored = Classifier::builder()
            .rule(Rule::new("t.anchored", Category::Policy).regex("^554"))
            .build()
            .unwrap();
        assert_ne!(
            anchored.classify(&reply("554 no")).rule.as_str(),
            "t.anchored"
        );
    }

    #[test]
    fn a_bad_regex_is_a_rule_error() {
        let error = Classifier::builder()
            .rule(Rule::new("t.bad", Category::Policy).regex("(unclosed"))
            .build()
            .unwrap_err();
        assert!(
            matches!(error, RuleError::BadRegex { ref id, .. } if id == "t.bad"),
            "{error}"
        );
    }

    #[test]
    fn shadowing_counts_the_regex() {
        let same = Classifier::builder()
            .rule(Rule::new("t.a", Category::Policy).regex("x+"))
            .rule(Rule::new("t.b", Category::Content).regex("x+").class(5))
            .build();
        assert!(matches!(same, Err(RuleError::Shadowed { .. })));
        // A later rule with a regex of its own is narrower than an earlier one
        // without: shadowed. The other way round it is not.
        let narrower = Classifier::builder()
            .rule(Rule::new("t.a", Category::Policy).phrase("denied"))
            .rule(
                Rule::new("t.b", Category::Content)
                    .phrase("denied")
                    .regex("d+"),
            )
            .build();
        assert!(matches!(narrower, Err(RuleError::Shadowed { .. })));
        Classifier::builder()
            .rule(
                Rule::new("t.a", Category::Policy)
                    .phrase("denied")
                    .regex("d+"),
            )
            .rule(Rule::new("t.b", Category::Content).phrase("denied"))
            .build()
            .unwrap();
    }
}
impl Classifier {
    #[doc(hidden)]
    pub fn walk_only(&self, reply: &Reply) -> u32 {
        let mut n = 0u32;
        self.inner.ascii.walk(reply.text(), |s| n += s as u32);
        n
    }
}
