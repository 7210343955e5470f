//! Parse and classify over the whole large corpus (`tests/data/corpus.tsv`: every real
//! reply of both sides of its split).
//!
//! Peer in the same group: `naive_rule_scan`, the way rule files are usually applied —
//! lowercase the text, then test each rule's phrases in order with `str::contains` —
//! over the same built-in rules, so the ratio shows what the one-pass automaton buys.
//!
//! Run: `cargo bench --bench classify`. Divide the time per iteration by the number of
//! replies for the time per reply (criterion also prints it as throughput, in elements
//! per second).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use smtp_throttle::classify::{Category, Classifier};
use smtp_throttle::Reply;

fn corpus() -> Vec<String> {
    let text = include_str!("../tests/data/corpus.tsv");
    text.lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .map(|wire| wire.replace("\\n", "\r\n"))
        .collect()
}

/// The same rules, applied as a list of lowercase substrings tried in order.
struct NaiveRules {
    rules: Vec<(Vec<Vec<String>>, Category)>,
}

impl NaiveRules {
    fn new(classifier: &Classifier) -> Self {
        let rules = classifier
            .rules()
            .iter()
            .map(|rule| {
                let groups = rule
                    .phrase_groups()
                    .map(|g| g.iter().map(|p| p.to_lowercase()).collect())
                    .collect();
                (groups, rule.category())
            })
            .collect();
        Self { rules }
    }

    fn classify(&self, reply: &Reply) -> Category {
        let text = reply.text().replace('\n', " ").to_lowercase();
        self.rules
            .iter()
            .find(|(groups, _)| {
                !groups.is_empty()
                    && groups
                        .iter()
                        .all(|g| g.iter().any(|p| text.contains(p.as_str())))
            })
            .map_or(Category::Other, |(_, c)| *c)
    }
}

fn bench(c: &mut Criterion) {
    let wires = corpus();
    let replies: Vec<Reply> = wires.iter().map(|w| Reply::parse(w).unwrap()).collect();
    let classifier = Classifier::default();
    let naive = NaiveRules::new(&classifier);

    let mut group = c.benchmark_group("corpus");
    group.throughput(Throughput::Elements(replies.len() as u64));
    group.bench_function("parse", |b| {
        b.iter(|| {
            for w in &wires {
                black_box(Reply::parse(black_box(w.as_bytes())).ok());
            }
        })
    });
    group.bench_function("classify", |b| {
        b.iter(|| {
            for r in &replies {
                black_box(classifier.classify(black_box(r)));
            }
        })
    });
    group.bench_function("parse_and_classify", |b| {
        b.iter(|| {
            for w in &wires {
                if let Ok(r) = Reply::parse(black_box(w.as_bytes())) {
                    black_box(classifier.classify(&r));
                }
            }
        })
    });
    group.bench_function("naive_rule_scan", |b| {
        b.iter(|| {
            for r in &replies {
                black_box(naive.classify(black_box(r)));
            }
        })
    });
    group.finish();

    // The reply of median length stands for the median reply.
    let mut by_len: Vec<&Reply> = replies.iter().collect();
    by_len.sort_by_key(|r| r.text().len());
    let median = by_len[by_len.len() / 2];
    let mut group = c.benchmark_group("median_reply");
    group.throughput(Throughput::Elements(1));
    group.bench_function("classify", |b| {
        b.iter(|| classifier.classify(black_box(median)))
    });
    group.bench_function("naive_rule_scan", |b| {
        b.iter(|| naive.classify(black_box(median)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
