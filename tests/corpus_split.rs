//! The large corpus (`tests/data/corpus.tsv`) and its frozen split by source group
//! (`tests/data/corpus-split.tsv`): every row a parseable, labelled real reply in a group
//! the split names, whole groups on one side, about 30 % of the rows held out for
//! testing. How `classify` does on each side is `tests/corpus.rs`.

mod common;

use std::collections::{BTreeMap, HashMap};

fn split_table() -> HashMap<String, String> {
    let path = format!("{}/tests/data/corpus-split.tsv", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut table = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (group, split) = line
            .split_once('\t')
            .unwrap_or_else(|| panic!("corpus-split.tsv:{}: group<TAB>split", i + 1));
        assert!(
            matches!(split, "dev" | "test"),
            "corpus-split.tsv:{}: {split:?}",
            i + 1
        );
        let old = table.insert(group.to_string(), split.to_string());
        assert!(old.is_none(), "corpus-split.tsv:{}: {group} twice", i + 1);
    }
    table
}

/// (group, split) of each row of corpus.tsv, in order.
fn row_groups() -> Vec<(String, String)> {
    let path = format!("{}/tests/data/corpus.tsv", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 7, "corpus.tsv:{}: 7 columns", i + 2);
            (cols[5].to_string(), cols[6].to_string())
        })
        .collect()
}

#[test]
fn the_corpus_is_split_by_whole_source_groups() {
    let rows = common::load("corpus.tsv");
    let groups = row_groups();
    assert_eq!(rows.len(), groups.len());
    assert!(rows.len() >= 2_500, "{} rows", rows.len());
    let table = split_table();
    let mut per_group: BTreeMap<&str, usize> = BTreeMap::new();
    for (row, (group, split)) in rows.iter().zip(&groups) {
        let frozen = table.get(group).unwrap_or_else(|| {
            panic!("corpus.tsv:{}: group {group} is not in the split", row.line)
        });
        assert_eq!(
            frozen, split,
            "corpus.tsv:{}: {group} is on the {frozen} side",
            row.line
        );
        *per_group.entry(group).or_default() += 1;
    }
    assert!(per_group.len() >= 20, "{} source groups", per_group.len());
    let test = groups.iter().filter(|(_, s)| s == "test").count();
    let share = test as f64 / rows.len() as f64;
    assert!((0.25..=0.35).contains(&share), "test share {share:.2}");
    // The rows the rules were first written from stay on the development side.
    let original: std::collections::HashSet<String> = common::load("replies.tsv")
        .into_iter()
        .map(|r| r.wire)
        .collect();
    for (row, (_, split)) in rows.iter().zip(&groups) {
        if original.contains(&row.wire) {
            assert_eq!(
                split, "dev",
                "corpus.tsv:{}: an original row in test",
                row.line
            );
        }
    }
}
