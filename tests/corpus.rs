//! `classify` on the large corpus (`tests/data/corpus.tsv`), reported on both sides of its
//! frozen split and asserted on the test side, whose rows no rule was written from.
//!
//! `cargo test --test corpus -- --nocapture` prints, for each side: category and retry
//! accuracy, throttling recall and precision, accuracy per category and per source
//! group, the main confusions and every miss. `CORPUS_MISSES=dev` (or `test`, `none`)
//! prints the misses of one side only; `CORPUS_DUMP=FILE` writes each row's split, rule,
//! category and retry to FILE.

mod common;

use std::collections::BTreeMap;

use smtp_throttle::{classify, Category, Classification};

/// What the test split must hold: `(floor, target)` for category accuracy, retry
/// accuracy, throttling recall and precision, and the worst category with at least
/// `PER_CATEGORY_ROWS` test rows. The floors are the level reached so far, asserted so
/// that no change goes back on it; the targets are issue 14's, printed while unmet. (The
/// recall floor was lowered from 0.84 when the corpus14d group `provider-docs-c` joined
/// the test side by the split's rule: its 14 throttling rows, from providers the rules
/// had no text of, are recalled 8 times; the rows that were there before still give
/// 0.842. Likewise the category floor, from 0.835, when the second round's `qa-pages-c`
/// joined: 60 % of its 40 rows right with the rules of the day; and the category floor
/// to 0.82 and the per-category floor to 0.69 when the third round's `groupware-source`
/// (70 reply templates of groupware servers) joined at 71.4 %.)
const CATEGORY: (f64, f64) = (0.82, 0.92);
const RETRY: (f64, f64) = (0.98, 0.985);
const THROTTLING_RECALL: (f64, f64) = (0.82, 0.97);
const THROTTLING_PRECISION: (f64, f64) = (0.90, 0.95);
const PER_CATEGORY: (f64, f64) = (0.69, 0.80);
const PER_CATEGORY_ROWS: usize = 20;

/// The meanings the feedback loop slows down for.
fn throttling(category: Category) -> bool {
    matches!(
        category,
        Category::RateLimited
            | Category::TooManyConnections
            | Category::Greylisted
            | Category::Reputation
            | Category::ServerBusy
    )
}

struct Row {
    labelled: common::Labelled,
    got: Classification,
}

fn rows() -> Vec<Row> {
    common::load("corpus.tsv")
        .into_iter()
        .map(|labelled| Row {
            got: classify(&labelled.reply),
            labelled,
        })
        .collect()
}

#[derive(Default)]
struct Tally {
    rows: usize,
    category: usize,
    retry: usize,
    /// Throttling rows, and those classified into a throttling category.
    throttling: usize,
    throttling_found: usize,
    /// Rows classified into a throttling category, and those that are throttling.
    predicted_throttling: usize,
    predicted_throttling_right: usize,
}

impl Tally {
    fn add(&mut self, row: &Row) {
        let want = row.labelled.category;
        let got = row.got.category;
        self.rows += 1;
        self.category += usize::from(want == got);
        self.retry += usize::from(row.labelled.retry == row.got.retry);
        if throttling(want) {
            self.throttling += 1;
            self.throttling_found += usize::from(throttling(got));
        }
        if throttling(got) {
            self.predicted_throttling += 1;
            self.predicted_throttling_right += usize::from(throttling(want));
        }
    }

    fn category(&self) -> f64 {
        ratio(self.category, self.rows)
    }
    fn retry(&self) -> f64 {
        ratio(self.retry, self.rows)
    }
    fn recall(&self) -> f64 {
        ratio(self.throttling_found, self.throttling)
    }
    fn precision(&self) -> f64 {
        ratio(self.predicted_throttling_right, self.predicted_throttling)
    }
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        1.0
    } else {
        part as f64 / whole as f64
    }
}

fn report(side: &str, rows: &[&Row], misses: bool) -> (Tally, BTreeMap<Category, Tally>) {
    let mut all = Tally::default();
    let mut by_category: BTreeMap<Category, Tally> = BTreeMap::new();
    let mut by_group: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut confusions: BTreeMap<(Category, Category), usize> = BTreeMap::new();
    for row in rows {
        all.add(row);
        by_category
            .entry(row.labelled.category)
            .or_default()
            .add(row);
        by_group
            .entry(row.labelled.group.as_str())
            .or_default()
            .add(row);
        if row.labelled.category != row.got.category {
            *confusions
                .entry((row.labelled.category, row.got.category))
                .or_default() += 1;
        }
    }
    println!(
        "== {side}: {} replies: category {:.1} %, retry {:.1} %, throttling recall {:.1} % precision {:.1} %",
        all.rows,
        all.category() * 100.0,
        all.retry() * 100.0,
        all.recall() * 100.0,
        all.precision() * 100.0
    );
    print_tallies(
        "category",
        22,
        by_category.iter().map(|(c, t)| (c.as_str(), t)),
    );
    print_tallies("source group", 34, by_group.iter().map(|(g, t)| (*g, t)));
    let mut confusions: Vec<_> = confusions.into_iter().collect();
    confusions.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    println!("   main confusions (labelled -> classified):");
    for ((want, got), n) in confusions.iter().take(12) {
        println!("   {n:>4}  {} -> {}", want.as_str(), got.as_str());
    }
    if misses {
        println!("   misses (label/retry, classified/retry, rule, group, reply):");
        for row in rows {
            let l = &row.labelled;
            if l.category != row.got.category || l.retry != row.got.retry {
                println!(
                    "   {}/{} -> {}/{} [{}] {} | {}",
                    l.category.as_str(),
                    yes(l.retry),
                    row.got.category.as_str(),
                    yes(row.got.retry),
                    row.got.rule,
                    row.labelled.group,
                    l.wire
                );
            }
        }
    }
    (all, by_category)
}

/// One line per key: rows, category right, retry right.
fn print_tallies<'a>(
    what: &str,
    width: usize,
    tallies: impl Iterator<Item = (&'a str, &'a Tally)>,
) {
    println!("   per {what} (rows, category right, retry right):");
    for (key, t) in tallies {
        println!(
            "   {key:<width$} {:>4}  {:>5.1} %  {:>5.1} %",
            t.rows,
            t.category() * 100.0,
            t.retry() * 100.0
        );
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

#[test]
fn classify_holds_its_floors_on_the_test_split() {
    let rows = rows();
    let show = std::env::var("CORPUS_MISSES").unwrap_or_else(|_| "all".into());
    if let Ok(path) = std::env::var("CORPUS_DUMP") {
        // One line per row of corpus.tsv: split, rule, category, retry (for scripts).
        let lines: Vec<String> = rows
            .iter()
            .map(|r| {
                format!(
                    "{}\t{}\t{}\t{}",
                    r.labelled.split,
                    r.got.rule,
                    r.got.category.as_str(),
                    yes(r.got.retry)
                )
            })
            .collect();
        std::fs::write(&path, lines.join("\n") + "\n").unwrap_or_else(|e| panic!("{path}: {e}"));
    }
    let dev: Vec<&Row> = rows.iter().filter(|r| r.labelled.split == "dev").collect();
    let test: Vec<&Row> = rows.iter().filter(|r| r.labelled.split == "test").collect();
    assert!(!dev.is_empty() && !test.is_empty(), "both sides have rows");
    report("dev", &dev, matches!(show.as_str(), "all" | "dev"));
    let (all, by_category) = report("test", &test, matches!(show.as_str(), "all" | "test"));

    let mut failures = Vec::new();
    let mut unmet = Vec::new();
    let mut check = |what: String, value: f64, (floor, target): (f64, f64)| {
        let pct = |x: f64| format!("{:.1} %", x * 100.0);
        if value < floor {
            failures.push(format!("{what} {} < floor {}", pct(value), pct(floor)));
        }
        if value < target {
            unmet.push(format!("{what} {} (target {})", pct(value), pct(target)));
        }
    };
    check("category".into(), all.category(), CATEGORY);
    check("retry".into(), all.retry(), RETRY);
    check("throttling recall".into(), all.recall(), THROTTLING_RECALL);
    check(
        "throttling precision".into(),
        all.precision(),
        THROTTLING_PRECISION,
    );
    for (category, t) in &by_category {
        if t.rows >= PER_CATEGORY_ROWS {
            check(
                format!("category {}", category.as_str()),
                t.category(),
                PER_CATEGORY,
            );
        }
    }
    if !unmet.is_empty() {
        println!(
            "test split short of issue 14's targets: {}",
            unmet.join("; ")
        );
    }
    assert!(
        failures.is_empty(),
        "test split below its floors: {}",
        failures.join("; ")
    );
}

/// The 280 hand-labelled rows the first rules were written from (all on the dev side of
/// the split): a floor that keeps the rules honest about the replies they started from.
#[test]
fn original_replies_keep_their_floors() {
    let rows = common::load("replies.tsv");
    assert!(rows.len() >= 280, "replies.tsv has {} rows", rows.len());
    let (mut retry_ok, mut category_ok) = (0usize, 0usize);
    for row in &rows {
        let c = classify(&row.reply);
        retry_ok += usize::from(c.retry == row.retry);
        category_ok += usize::from(c.category == row.category);
        if c.retry != row.retry || c.category != row.category {
            println!(
                "replies.tsv:{}: want {}/{} got {}/{} ({}): {}",
                row.line,
                row.category,
                yes(row.retry),
                c.category,
                yes(c.retry),
                c.rule,
                row.wire
            );
        }
    }
    let retry = ratio(retry_ok, rows.len());
    let category = ratio(category_ok, rows.len());
    println!(
        "replies.tsv: {} replies, retry {:.1} %, category {:.1} %",
        rows.len(),
        retry * 100.0,
        category * 100.0
    );
    assert!(
        retry >= 0.98,
        "retry accuracy {:.1} % < 98 %",
        retry * 100.0
    );
    assert!(
        category >= 0.92,
        "category accuracy {:.1} % < 92 %",
        category * 100.0
    );
}
