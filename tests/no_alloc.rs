//! Classifying a parsed reply with the built-in rules does not touch the heap.
//!
//! dhat's heap-testing mode counts every allocation of this test binary.

mod common;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

#[test]
fn classify_does_not_allocate() {
    let rows = common::load("replies.tsv");
    // Build the default classifier before counting.
    let _ = smtp_throttle::classify(&rows[0].reply);
    let _profiler = dhat::Profiler::builder().testing().build();
    let before = dhat::HeapStats::get().total_blocks;
    let mut retried = 0;
    for row in &rows {
        let c = smtp_throttle::classify(&row.reply);
        retried += usize::from(c.retry);
        std::hint::black_box(&c);
    }
    let after = dhat::HeapStats::get().total_blocks;
    assert!(retried > 0);
    assert_eq!(
        after - before,
        0,
        "classify allocated {} blocks",
        after - before
    );
}
