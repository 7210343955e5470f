//! The crate's error types.
//!
//! Each error says what was wrong and carries the offending value, so that a caller can
//! log it or act on it without parsing a message.

use std::sync::Arc;

use thiserror::Error;

/// Why a reply could not be parsed or built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The input held nothing but white space.
    #[error("empty reply: the input holds no reply line")]
    Empty,
    /// The input is longer than [`MAX_REPLY_BYTES`](crate::reply::MAX_REPLY_BYTES).
    #[error("reply of {len} bytes is longer than the {max} bytes accepted")]
    TooLong {
        /// Length of the input in bytes.
        len: usize,
        /// The bound it exceeded.
        max: usize,
    },
    /// The first line does not start with a three-digit reply code.
    #[error("line {line}: expected a three-digit reply code, found {found:?}")]
    MissingCode {
        /// 1-based line number.
        line: usize,
        /// The start of the offending line (at most 16 characters).
        found: String,
    },
    /// Three digits were found, but they are not an SMTP reply code (2xx to 5xx).
    #[error("{code} is not an SMTP reply code (expected 200 to 599)")]
    InvalidCode {
        /// The number that was read.
        code: u16,
    },
    /// The reply code is followed by something other than a space, `-` or the line end.
    #[error(
        "line {line}: reply code followed by {found:?}; expected ' ', '-' or the end of the line"
    )]
    BadSeparator {
        /// 1-based line number.
        line: usize,
        /// The character after the code.
        found: char,
    },
    /// A line of a multi-line reply carries another reply code than the first line.
    #[error("line {line}: reply code {found} differs from the first line's {expected}")]
    CodeMismatch {
        /// 1-based line number.
        line: usize,
        /// The code of the first line.
        expected: u16,
        /// The code found on this line.
        found: u16,
    },
    /// More lines follow the reply's last line (the one written `NNN text`).
    #[error("line {line}: text after the reply's last line (is this a second reply?)")]
    LinesAfterLast {
        /// 1-based number of the first extra line.
        line: usize,
    },
    /// An enhanced status code (RFC 3463) is malformed or out of range.
    #[error("{text:?} is not an enhanced status code (class.subject.detail, class 2, 4 or 5, subject and detail 0 to 999)")]
    InvalidEnhancedCode {
        /// What was given.
        text: String,
    },
}

/// Why a [`Classifier`](crate::classify::Classifier) could not be built from its rules.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RuleError {
    /// A rule has an empty id.
    #[error("a rule has an empty id")]
    EmptyId,
    /// Two rules share one id, so a classification could not say which decided.
    #[error("rule id {id:?} is used twice")]
    DuplicateId {
        /// The repeated id.
        id: String,
    },
    /// A rule has no condition at all and would match every reply.
    #[error("rule {id:?} has no condition and would match every reply")]
    NoCondition {
        /// The rule's id.
        id: String,
    },
    /// A phrase is empty, or white space and punctuation only (matching reads ASCII
    /// punctuation as white space).
    #[error("rule {id:?} has an empty phrase")]
    EmptyPhrase {
        /// The rule's id.
        id: String,
    },
    /// A phrase is longer than [`MAX_PHRASE_BYTES`](crate::classify::MAX_PHRASE_BYTES).
    #[error("rule {id:?}: phrase of {len} bytes is longer than the {max} accepted")]
    PhraseTooLong {
        /// The rule's id.
        id: String,
        /// The phrase's length in bytes.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// A reply-code range is empty or outside 200..=599.
    #[error("rule {id:?}: code range {low}..={high} is empty or outside 200..=599")]
    BadCodeRange {
        /// The rule's id.
        id: String,
        /// Lower bound given.
        low: u16,
        /// Upper bound given.
        high: u16,
    },
    /// An enhanced-code pattern could not be read.
    #[error("rule {id:?}: {pattern:?} is not an enhanced-code pattern such as \"5.7.1\", \"4.7.*\" or \"*.1.1\" or \"4.7.500-699\"")]
    BadEnhancedPattern {
        /// The rule's id.
        id: String,
        /// The pattern given.
        pattern: String,
    },
    /// The classifier holds more rules or phrases than it can evaluate without allocating.
    #[error("{what}: {count} given, at most {max} supported")]
    TooMany {
        /// `"rules"`, `"phrases"` or `"phrase groups"`.
        what: &'static str,
        /// How many were given.
        count: usize,
        /// The bound.
        max: usize,
    },
    /// A rule's regular expression (feature `regex`) does not compile.
    #[error("rule {id:?}: regex {pattern:?} does not compile: {reason}")]
    BadRegex {
        /// The rule's id.
        id: String,
        /// The pattern given.
        pattern: String,
        /// The regex crate's explanation.
        reason: String,
    },
    /// The phrase automaton could not be built.
    #[error("the phrase matcher could not be built: {0}")]
    Matcher(String),
    /// A rule can never decide: an earlier rule matches every reply it matches.
    #[error(
        "rule {rule:?} can never decide: rule {by:?} before it matches every reply it matches"
    )]
    Shadowed {
        /// The rule that can never decide.
        rule: String,
        /// The earlier rule that takes its replies.
        by: String,
    },
}

/// A configuration value that cannot work, found by a builder's `build()`.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A duration or count that must be positive is zero.
    #[error("{setting} must be greater than zero")]
    Zero {
        /// The setting, as its builder method is named.
        setting: &'static str,
    },
    /// A count is larger than makes sense for the setting.
    #[error("{setting} of {value} is more than the {max} allowed")]
    TooMany {
        /// The setting.
        setting: &'static str,
        /// The value given.
        value: u64,
        /// The largest value accepted.
        max: u64,
    },
    /// A factor is outside its range.
    #[error("{setting} of {value} is outside {range}")]
    OutOfRange {
        /// The setting.
        setting: &'static str,
        /// The value given.
        value: f64,
        /// The range accepted.
        range: &'static str,
    },
    /// A duration is longer than makes sense for the setting.
    #[error("{setting} of {value:?} is longer than the {max:?} allowed")]
    TooLong {
        /// The setting, as its builder method is named.
        setting: &'static str,
        /// The value given.
        value: std::time::Duration,
        /// The largest value accepted.
        max: std::time::Duration,
    },
}

/// A configuration file (feature `config`) could not be used: where, and what is wrong.
///
/// Its text is `file:line: key: what is wrong`, as in
/// `limits.toml:7: sites.acme.rate: "100/mn" is not a rate; expected a rate such as …`.
#[cfg(feature = "config")]
#[cfg_attr(docsrs, doc(cfg(feature = "config")))]
#[derive(Debug, Clone, Error)]
#[error("{}{}: {}", self.place(), if self.0.key.is_empty() { String::new() } else { format!(" {}", self.0.key) }, self.0.kind)]
pub struct FileError(Box<FileErrorParts>);

#[cfg(feature = "config")]
#[derive(Debug, Clone)]
struct FileErrorParts {
    file: Option<std::path::PathBuf>,
    line: Option<usize>,
    key: String,
    kind: FileErrorKind,
}

#[cfg(feature = "config")]
impl FileError {
    pub(crate) fn new(
        file: Option<std::path::PathBuf>,
        line: Option<usize>,
        key: String,
        kind: FileErrorKind,
    ) -> Self {
        Self(Box::new(FileErrorParts {
            file,
            line,
            key,
            kind,
        }))
    }

    /// The file, when the text was read from one.
    pub fn file(&self) -> Option<&std::path::Path> {
        self.0.file.as_deref()
    }

    /// The 1-based line of the key or value at fault, when the error has one.
    pub fn line(&self) -> Option<usize> {
        self.0.line
    }

    /// The key's path in the file, as `sites.acme.rate` or `rules[2].category`
    /// (empty for errors of the whole file).
    pub fn key(&self) -> &str {
        &self.0.key
    }

    /// What is wrong.
    pub fn kind(&self) -> &FileErrorKind {
        &self.0.kind
    }

    fn place(&self) -> String {
        let file = self
            .0
            .file
            .as_ref()
            .map_or_else(|| "(text)".to_owned(), |f| f.display().to_string());
        match self.0.line {
            Some(line) => format!("{file}:{line}:"),
            None => format!("{file}:"),
        }
    }
}

/// What is wrong in a configuration file; see [`FileError`].
#[cfg(feature = "config")]
#[cfg_attr(docsrs, doc(cfg(feature = "config")))]
#[derive(Debug, Clone, Error)]
#[non_exhaustive]
pub enum FileErrorKind {
    /// The file could not be read.
    #[error("cannot be read: {0}")]
    Io(Cause),
    /// The text is not TOML.
    #[error("not valid TOML: {0}")]
    Syntax(String),
    /// A key this place does not have (a typo is not silently ignored).
    #[error("unknown key; allowed here: {}", allowed.join(", "))]
    UnknownKey {
        /// The keys this table may hold.
        allowed: &'static [&'static str],
    },
    /// A value of the wrong TOML type.
    #[error("expected {expected}, found a {found}")]
    WrongType {
        /// What the key takes.
        expected: &'static str,
        /// The TOML type found.
        found: &'static str,
    },
    /// A value of the right type that is not one of the accepted forms (a bad rate,
    /// a bad duration, a negative count, an unknown category).
    #[error("{found} is not accepted; expected {expected}")]
    BadValue {
        /// The value as written.
        found: String,
        /// What is accepted.
        expected: &'static str,
    },
    /// A value the limits' own checks refuse (a zero, too long a pause).
    #[error("{0}")]
    Invalid(ConfigError),
    /// A classification rule the classifier refuses.
    #[error("{0}")]
    Rule(RuleError),
    /// A domain, MX host or site name that is not a DNS name.
    #[error("{0}")]
    Route(RouteError),
}

/// A route could not be built.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RouteError {
    /// A domain, MX host or site name is not a valid DNS name.
    #[error("invalid {kind} {name:?}: {reason}")]
    InvalidName {
        /// `"domain"`, `"MX host"`, `"MX suffix"` or `"site name"`.
        kind: &'static str,
        /// The name given (at most 64 characters of it).
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// The error below a [`TransportError`](crate::throttle::TransportError) or a
/// [`SharedError`]: the transport's or the store's own error (an `io::Error`, lettre's or
/// redis' error …) or a text, kept as the [`source`](std::error::Error::source).
///
/// Cloning shares it. Made from any error with [`Cause::new`], or from a `&str` or
/// `String` with `into()`.
#[derive(Clone)]
pub struct Cause(Arc<dyn std::error::Error + Send + Sync>);

impl Cause {
    /// Keeps `error` as the cause.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Cause(Arc::new(error))
    }

    /// The transport's error, to downcast to its type.
    pub fn get(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl From<&str> for Cause {
    fn from(text: &str) -> Self {
        Cause(Arc::from(Box::<dyn std::error::Error + Send + Sync>::from(
            text,
        )))
    }
}

impl From<String> for Cause {
    fn from(text: String) -> Self {
        Cause(Arc::from(Box::<dyn std::error::Error + Send + Sync>::from(
            text,
        )))
    }
}

impl From<Box<dyn std::error::Error + Send + Sync>> for Cause {
    fn from(error: Box<dyn std::error::Error + Send + Sync>) -> Self {
        Cause(Arc::from(error))
    }
}

impl std::fmt::Debug for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// A shared-limits store failed (`RedisLimits` of feature `redis`).
///
/// The store's own error, when there is one, is the [`source`](std::error::Error::source).
#[derive(Debug, Clone, Error)]
#[non_exhaustive]
pub enum SharedError {
    /// The configuration cannot work (bad URL, zero timeout, zero cap).
    #[error("shared limits misconfigured: {0}")]
    Config(#[source] Cause),
    /// The server did not answer within the timeout.
    #[error("shared limits: Redis timed out: {0}")]
    Timeout(#[source] Cause),
    /// The server is unreachable or the connection broke.
    #[error("shared limits: Redis unavailable: {0}")]
    Unavailable(#[source] Cause),
    /// The server answered with an error (a script error, a wrong type at a key).
    #[error("shared limits: Redis refused: {0}")]
    Refused(#[source] Cause),
}

#[cfg(feature = "redis")]
impl SharedError {
    pub(crate) fn from_redis(error: redis::RedisError) -> Self {
        if error.is_timeout() {
            Self::Timeout(Cause::new(error))
        } else if error.is_io_error()
            || error.is_connection_dropped()
            || error.is_connection_refusal()
        {
            Self::Unavailable(Cause::new(error))
        } else {
            Self::Refused(Cause::new(error))
        }
    }
}

/// Learned state given to [`Limits::import_learned`](crate::limit::Limits::import_learned)
/// that no limits could have learned: it was not taken from `export_learned`, or was
/// changed since. Nothing was imported.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum LearnedError {
    /// An entry holds a value out of range.
    #[error("learned {list}[{entry}].{field}: {reason}")]
    Invalid {
        /// The list (`pairs`, `sites`, `sources`).
        list: &'static str,
        /// The entry's index in it.
        entry: usize,
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Parts given to [`History::from_parts`](crate::retry::History::from_parts) that no
/// history can hold: the parts were not taken from a history, or were changed since.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HistoryError {
    /// A count that grows by at most one per failed attempt is above the attempts.
    #[error("{field} is {value}, more than the {attempts} failed attempts recorded")]
    MoreThanAttempts {
        /// The count (`greylisted` or `backoff_steps`).
        field: &'static str,
        /// Its value.
        value: u32,
        /// The attempts recorded.
        attempts: u32,
    },
    /// Every failed attempt records its category: a category without attempts, or
    /// attempts without one.
    #[error("{attempts} failed attempts recorded, but {}", if *attempts == 0 { "a last category" } else { "no last category" })]
    CategoryMismatch {
        /// The attempts recorded.
        attempts: u32,
    },
    /// A last wait longer than any a policy chooses.
    #[error("a last wait of {wait:?} is longer than the {max:?} a policy can choose")]
    WaitTooLong {
        /// The wait given.
        wait: std::time::Duration,
        /// The longest a policy chooses.
        max: std::time::Duration,
    },
}
