//! Reading the labelled reply files in `tests/data/`.
#![allow(dead_code)]

pub mod receiver;

use std::path::PathBuf;
use std::process::Command;

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
    /// The source group and the side of the split (`corpus.tsv` only; empty elsewhere).
    pub group: String,
    pub split: String,
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
                group: cols.get(5).map_or(String::new(), |c| (*c).to_owned()),
                split: cols.get(6).map_or(String::new(), |c| (*c).to_owned()),
            }
        })
        .collect()
}

/// The path of example `name`, built next to the test binaries by `cargo test`; when
/// only one test was asked for, it is built here (with `features`).
pub fn example_binary(name: &str, features: &[&str]) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("tests run from target/<profile>/deps")
        .join("examples");
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "--quiet", "--example", name]);
        for feature in features {
            build.args(["--features", feature]);
        }
        if dir.parent().and_then(|p| p.file_name()) == Some("release".as_ref()) {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "building examples/{name} failed");
    }
    path
}
