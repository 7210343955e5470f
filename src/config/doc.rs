//! Reading a parsed TOML document: every value keeps its span, so that each error
//! names the file, the line and the key path.

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::value::{self, RateProblem, DURATION_FORMS, RATE_FORMS};
use crate::error::{ConfigError, FileError, FileErrorKind};
use crate::limit::Rate;

/// A table of the document.
pub(super) type Table<'i> = DeTable<'i>;
/// A value with its span.
pub(super) type Value<'i> = Spanned<DeValue<'i>>;

/// The document being read: its text (for line numbers) and file name.
pub(super) struct Doc<'a> {
    text: &'a str,
    file: Option<&'a Path>,
}

impl<'a> Doc<'a> {
    pub(super) fn new(text: &'a str, file: Option<&'a Path>) -> Self {
        Self { text, file }
    }

    /// Parses the text into its top table.
    pub(super) fn parse(&self) -> Result<Spanned<Table<'a>>, FileError> {
        DeTable::parse(self.text).map_err(|e| {
            let line = e.span().map(|s| self.line(&s));
            FileError::new(
                self.file.map(Path::to_path_buf),
                line,
                String::new(),
                FileErrorKind::Syntax(e.message().trim().to_owned()),
            )
        })
    }

    /// The 1-based line where `span` starts.
    pub(super) fn line(&self, span: &Range<usize>) -> usize {
        let end = span.start.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    /// An error at `span`, for the key `key`.
    pub(super) fn error(&self, span: &Range<usize>, key: &str, kind: FileErrorKind) -> FileError {
        FileError::new(
            self.file.map(Path::to_path_buf),
            Some(self.line(span)),
            key.to_owned(),
            kind,
        )
    }

    /// An error of a value at `value`'s place.
    pub(super) fn bad(&self, value: &Value<'_>, key: &str, expected: &'static str) -> FileError {
        self.error(
            &value.span(),
            key,
            FileErrorKind::BadValue {
                found: shown(value.get_ref()),
                expected,
            },
        )
    }

    /// An error without a line, for the key `key`.
    pub(super) fn unplaced(&self, key: &str, kind: FileErrorKind) -> FileError {
        FileError::new(self.file.map(Path::to_path_buf), None, key.to_owned(), kind)
    }

    /// A value the limits' checks refuse.
    pub(super) fn invalid(&self, span: &Range<usize>, key: &str, error: ConfigError) -> FileError {
        self.error(span, key, FileErrorKind::Invalid(error))
    }

    /// A value of the wrong type.
    pub(super) fn wrong_type(
        &self,
        value: &Value<'_>,
        key: &str,
        expected: &'static str,
    ) -> FileError {
        self.error(
            &value.span(),
            key,
            FileErrorKind::WrongType {
                expected,
                found: value.get_ref().type_str(),
            },
        )
    }

    /// Refuses the first key of `table` that is not in `allowed`.
    pub(super) fn known_keys(
        &self,
        table: &Table<'_>,
        path: &str,
        allowed: &'static [&'static str],
    ) -> Result<(), FileError> {
        for (key, _) in table.iter() {
            if !allowed.contains(&key.get_ref().as_ref()) {
                return Err(self.error(
                    &key.span(),
                    &join(path, key.get_ref()),
                    FileErrorKind::UnknownKey { allowed },
                ));
            }
        }
        Ok(())
    }

    /// `value` as a table of `allowed` keys only (another key is an error that lists
    /// them), each handed to `each` with its value and its path.
    pub(super) fn fields<'v, 'i>(
        &self,
        value: &'v Value<'i>,
        path: &str,
        allowed: &'static [&'static str],
        mut each: impl FnMut(&str, &'v Value<'i>, &str) -> Result<(), FileError>,
    ) -> Result<(), FileError> {
        let table = self.table(value, path)?;
        self.known_keys(table, path, allowed)?;
        for (key, v) in table.iter() {
            each(key.get_ref().as_ref(), v, &join(path, key.get_ref()))?;
        }
        Ok(())
    }

    /// `value` as a table.
    pub(super) fn table<'v, 'i>(
        &self,
        value: &'v Value<'i>,
        key: &str,
    ) -> Result<&'v Table<'i>, FileError> {
        value
            .get_ref()
            .as_table()
            .ok_or_else(|| self.wrong_type(value, key, "a table"))
    }

    /// `value` as a string.
    pub(super) fn str<'v>(&self, value: &'v Value<'_>, key: &str) -> Result<&'v str, FileError> {
        value
            .get_ref()
            .as_str()
            .ok_or_else(|| self.wrong_type(value, key, "a string"))
    }

    /// `value` as a boolean.
    pub(super) fn bool(&self, value: &Value<'_>, key: &str) -> Result<bool, FileError> {
        value
            .get_ref()
            .as_bool()
            .ok_or_else(|| self.wrong_type(value, key, "true or false"))
    }

    /// `value` as a whole number from 0 to `u32::MAX`; a string with digit groups
    /// (`"1,000"`) is taken too.
    pub(super) fn count(&self, value: &Value<'_>, key: &str) -> Result<u32, FileError> {
        const EXPECTED: &str = "a whole number from 0 to 4294967295";
        let number = match value.get_ref() {
            DeValue::Integer(i) => u64::from_str_radix(i.as_str(), i.radix())
                .map_err(|_| self.bad(value, key, EXPECTED))?,
            DeValue::String(s) => value::number(s).ok_or_else(|| self.bad(value, key, EXPECTED))?,
            _ => return Err(self.wrong_type(value, key, EXPECTED)),
        };
        u32::try_from(number).map_err(|_| self.bad(value, key, EXPECTED))
    }

    /// `value` as a count, or `"unlimited"` (`None`).
    pub(super) fn limit(&self, value: &Value<'_>, key: &str) -> Result<Option<u32>, FileError> {
        if value.get_ref().as_str() == Some("unlimited") {
            return Ok(None);
        }
        self.count(value, key).map(Some)
    }

    /// `value` as a number (integer or float).
    pub(super) fn float(&self, value: &Value<'_>, key: &str) -> Result<f64, FileError> {
        const EXPECTED: &str = "a number such as 0.5";
        let text = match value.get_ref() {
            DeValue::Float(f) => f.as_str(),
            DeValue::Integer(i) if i.radix() == 10 => i.as_str(),
            _ => return Err(self.wrong_type(value, key, EXPECTED)),
        };
        text.replace('_', "")
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .ok_or_else(|| self.bad(value, key, EXPECTED))
    }

    /// `value` as a duration (`"90s"`, `"5m"`, `"4h"` …).
    pub(super) fn duration(&self, value: &Value<'_>, key: &str) -> Result<Duration, FileError> {
        let text = value
            .get_ref()
            .as_str()
            .ok_or_else(|| self.wrong_type(value, key, DURATION_FORMS))?;
        value::duration(text).ok_or_else(|| self.bad(value, key, DURATION_FORMS))
    }

    /// `value` as a rate, or `"unlimited"` (`None`); `count_is_burst` as in
    /// [`value::rate`].
    pub(super) fn rate(
        &self,
        value: &Value<'_>,
        key: &str,
        count_is_burst: bool,
    ) -> Result<Option<Rate>, FileError> {
        let text = value
            .get_ref()
            .as_str()
            .ok_or_else(|| self.wrong_type(value, key, RATE_FORMS))?;
        if text.trim() == "unlimited" {
            return Ok(None);
        }
        match value::rate(text, count_is_burst) {
            Ok(rate) => Ok(Some(rate)),
            Err(RateProblem::Form) => Err(self.bad(value, key, RATE_FORMS)),
            Err(RateProblem::Invalid(e)) => Err(self.invalid(&value.span(), key, e)),
        }
    }

    /// `value` as a list of `T` read by `item` (a single value is a list of one when
    /// `single` allows it).
    pub(super) fn list<'v, 'i, T>(
        &self,
        value: &'v Value<'i>,
        key: &str,
        single: bool,
        mut item: impl FnMut(&'v Value<'i>, &str) -> Result<T, FileError>,
    ) -> Result<Vec<T>, FileError> {
        match value.get_ref() {
            DeValue::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| item(v, &format!("{key}[{i}]")))
                .collect(),
            _ if single => Ok(vec![item(value, key)?]),
            _ => Err(self.wrong_type(value, key, "an array")),
        }
    }
}

/// `path.key`, with the key quoted when it holds a dot or other non-bare characters.
pub(super) fn join(path: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let key = if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    };
    if path.is_empty() {
        key
    } else {
        format!("{path}.{key}")
    }
}

/// A value as it would be written, shortened for messages.
fn shown(value: &DeValue<'_>) -> String {
    let text = match value {
        DeValue::String(s) => format!("{:?}", s.as_ref()),
        DeValue::Integer(i) => i.as_str().to_owned(),
        DeValue::Float(f) => f.as_str().to_owned(),
        DeValue::Boolean(b) => b.to_string(),
        other => format!("a {}", other.type_str()),
    };
    if text.chars().count() > 80 {
        let mut short: String = text.chars().take(77).collect();
        short.push_str("...");
        short
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_keys() {
        assert_eq!(join("", "sites"), "sites");
        assert_eq!(join("sites", "acme"), "sites.acme");
        assert_eq!(join("sites", "example.org"), "sites.\"example.org\"");
    }

    #[test]
    fn lines_of_spans() {
        let doc = Doc::new("a = 1\nb = 2\n\nc = 3\n", None);
        assert_eq!(doc.line(&(0..1)), 1);
        assert_eq!(doc.line(&(6..7)), 2);
        assert_eq!(doc.line(&(13..14)), 4);
    }
}
