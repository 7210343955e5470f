//! Accuracy of `classify` on the labelled corpus of real replies.
//!
//! Floors: the retry decision right for at least 98 % of replies, the category for at
//! least 92 %. Every reply it gets wrong is printed (`cargo test -- --nocapture`).

mod common;

use smtp_throttle::classify;

#[test]
fn corpus_accuracy_floors() {
    let rows = common::load("replies.tsv");
    assert!(rows.len() >= 280, "corpus has {} rows", rows.len());
    let (mut retry_ok, mut category_ok) = (0usize, 0usize);
    for row in &rows {
        let c = classify(&row.reply);
        let retry_right = c.retry == row.retry;
        let category_right = c.category == row.category;
        retry_ok += usize::from(retry_right);
        category_ok += usize::from(category_right);
        if !retry_right || !category_right {
            println!(
                "line {:>3}: want {}/{} got {}/{} ({}): {}",
                row.line,
                row.category,
                if row.retry { "retry" } else { "final" },
                c.category,
                if c.retry { "retry" } else { "final" },
                c.rule,
                row.wire.chars().take(140).collect::<String>()
            );
        }
    }
    let n = rows.len() as f64;
    let retry = retry_ok as f64 / n * 100.0;
    let category = category_ok as f64 / n * 100.0;
    println!(
        "{} replies: retry {retry_ok} right ({retry:.1} %), category {category_ok} right ({category:.1} %)",
        rows.len()
    );
    assert!(retry >= 98.0, "retry accuracy {retry:.1} % is under 98 %");
    assert!(
        category >= 92.0,
        "category accuracy {category:.1} % is under 92 %"
    );
}
