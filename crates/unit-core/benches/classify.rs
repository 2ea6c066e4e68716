//! `is_resumable_error` against a baseline doing what DM does: for every pattern,
//! lower-case the whole RawCause and the pattern, then search.
//!
//! Run with `cargo bench -p unit-core`; the closing line of each group gives the times,
//! `baseline / is_resumable_error` is the speed-up, and `recommended_policy` is this
//! workspace's policy on the same corpus (to compare with `aho_corasick`, DM's rules).
#![allow(missing_docs)] // criterion's macros generate undocumented items

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use unit_core::{PatternList, Policy, Recommended, is_resumable_error};
use unit_proto::pb;

/// DM's `IsResumableError`, written the way DM writes it.
fn dm_baseline(err: &pb::ProcessError) -> bool {
    let lists = [
        PatternList::UnsupportedDdl,
        PatternList::UnsupportedDml,
        PatternList::Replication,
    ];
    for list in lists {
        for p in list.patterns() {
            if err.raw_cause.to_lowercase().contains(&p.to_lowercase()) {
                return false;
            }
        }
    }
    if err.err_code == 11038 {
        for p in PatternList::RelayLogParse.patterns() {
            if err.message.to_lowercase().contains(&p.to_lowercase()) {
                return false;
            }
        }
    }
    if [36008, 32004, 32001, 36027, 11129, 34020, 34021].contains(&err.err_code) {
        return false;
    }
    if err.err_code == 34019 {
        return err.raw_cause.contains("doesn't exist")
            || err.raw_cause.contains("is in mode import");
    }
    true
}

/// Realistic errors: driver messages with the failing statement and context appended,
/// RawCause from 200 to 4000 bytes, about a third of them hitting a pattern.
fn corpus() -> Vec<pb::ProcessError> {
    let filler = "INSERT INTO `shop`.`orders` (`id`,`customer_id`,`total`,`note`) VALUES \
                  (10045,77,'129.90','gift wrap, leave at the door'),(10046,78,'5.00',NULL); \
                  [stack] github.com/example/syncer.(*Syncer).handleRowsEvent at syncer.go:2211; ";
    let heads = [
        (
            10006,
            "Error 1062 (23000): Duplicate entry '10045' for key 'PRIMARY'",
        ),
        (
            10006,
            "Error 1213 (40001): Deadlock found when trying to get lock; try restarting transaction",
        ),
        (10001, "dial tcp 10.0.3.7:3306: connect: connection refused"),
        (
            10006,
            "Error 1406 (22001): Data too long for column 'note' at row 1",
        ),
        (
            10005,
            "Error 1205 (HY000): Lock wait timeout exceeded; try restarting transaction",
        ),
        (36027, "row has 5 columns but table has 4"),
        (
            10006,
            "Error 8025 (HY000): entry too large, the max entry size is 6291456",
        ),
        (34019, "table `shop`.`orders` is in mode import"),
        (
            10006,
            "ERROR 1105 (HY000): unsupported modify column length 10 is less than origin 20",
        ),
        (10001, "invalid connection"),
        (11038, "parse relay log file failed"),
        (10002, "i/o timeout"),
    ];
    let sizes = [200, 600, 1200, 2500, 4000];
    let mut out = Vec::new();
    for (i, (code, head)) in heads.iter().enumerate() {
        for (j, &size) in sizes.iter().enumerate() {
            let mut raw = String::with_capacity(size);
            // Put the head first, in the middle or last, as a real cause chain would.
            let at = (i + j) % 3;
            while raw.len() < size {
                if at == 0 && raw.is_empty() {
                    raw.push_str(head);
                }
                raw.push_str(filler);
                if at == 1 && raw.len() >= size / 2 && !raw.contains(head) {
                    raw.push_str(head);
                }
            }
            raw.truncate(size - head.len().min(size));
            if at == 2 || !raw.contains(head) {
                raw.push_str(head);
            }
            out.push(pb::ProcessError {
                err_code: *code,
                err_class: "database".into(),
                err_scope: "downstream".into(),
                err_level: "high".into(),
                message: "statement failed".into(),
                raw_cause: raw,
                workaround: String::new(),
            });
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let corpus = corpus();
    // Both answer the same for every error of the corpus.
    for err in &corpus {
        assert_eq!(
            is_resumable_error(err),
            dm_baseline(err),
            "{}",
            err.raw_cause
        );
    }
    let hits = corpus.iter().filter(|e| !is_resumable_error(e)).count();
    let bytes: usize = corpus.iter().map(|e| e.raw_cause.len()).sum();
    eprintln!(
        "corpus: {} errors, {} bytes of RawCause, {} unresumable",
        corpus.len(),
        bytes,
        hits
    );

    let mut group = c.benchmark_group("is_resumable_error");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("aho_corasick", |b| {
        b.iter(|| {
            corpus
                .iter()
                .filter(|e| is_resumable_error(black_box(e)))
                .count()
        })
    });
    group.bench_function("dm_baseline", |b| {
        b.iter(|| corpus.iter().filter(|e| dm_baseline(black_box(e))).count())
    });
    // The recommended policy scans once for DM's lists and its own: no slower.
    group.bench_function("recommended_policy", |b| {
        b.iter(|| {
            corpus
                .iter()
                .filter(|e| Recommended.explain(black_box(e)).is_resumable())
                .count()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
