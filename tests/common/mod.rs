//! Reading the labelled reply files in `tests/data/`.
#![allow(dead_code)]

use smtp_throttle::{Category, Reply};

/// One labelled real reply.
pub struct Labelled {
    pub line: usize,
    pub file: &'static str,
    pub wire: String,
    pub reply: Reply,
    pub category: Category,
    pub retry: bool,
    pub provider: String,
}

/// Reads a TSV file of `tests/data/` (header first; `\n` written as two characters).
pub fn load(file: &'static str) -> Vec<Labelled> {
    let path = format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .enumerate()
        .skip(1)
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let cols: Vec<&str> = l.split('\t').collect();
            assert!(
                cols.len() >= 4,
                "{file}:{}: expected at least 4 columns",
                i + 1
            );
            let wire = cols[0].replace("\\n", "\n");
            let reply = Reply::parse(&wire)
                .unwrap_or_else(|e| panic!("{file}:{}: {e}: {}", i + 1, cols[0]));
            Labelled {
                line: i + 1,
                file,
                wire: cols[0].to_owned(),
                reply,
                category: cols[1]
                    .parse()
                    .unwrap_or_else(|e| panic!("{file}:{}: {e}", i + 1)),
                retry: match cols[2] {
                    "yes" => true,
                    "no" => false,
                    other => panic!("{file}:{}: retry {other:?}", i + 1),
                },
                provider: cols[3].to_owned(),
            }
        })
        .collect()
}
