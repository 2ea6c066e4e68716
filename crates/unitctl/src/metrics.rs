//! The metrics `GET /metrics` serves, in the Prometheus (OpenMetrics) text format by
//! `prometheus-client`. DM's names and labels where DM has the metric, `unit_*`
//! where it does not; the README lists each.
//!
//! Gauges are read from the task's state at each scrape (never waiting on a unit or
//! a database); counters and histograms count events as they happen, through the
//! units' [`Observer`] and a watcher of the subtask's stages.

use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use unit_mysql::{Observer, TablePhase};
use unit_proto::pb::{self, Stage};

type Labels = Vec<(&'static str, String)>;
type IntGauge = Gauge<i64, AtomicI64>;
type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

fn lag_histogram() -> Histogram {
    // DM's buckets: 0.5 s to 1024 s.
    Histogram::new(exponential_buckets(0.5, 2.0, 12))
}

fn txn_histogram() -> Histogram {
    // DM's buckets: 5 µs doubling 25 times.
    Histogram::new(exponential_buckets(0.000_005, 2.0, 25))
}

/// Every metric of one task.
pub(crate) struct Metrics {
    registry: Mutex<Registry>,
    /// `task`, `source_id`, `worker`, the labels DM puts on its worker's metrics.
    task: String,
    source_id: String,
    worker: String,
    task_state: Family<Labels, IntGauge>,
    lag_gauge: Family<Labels, IntGauge>,
    lag: Family<Labels, Histogram, fn() -> Histogram>,
    binlog_file: Family<Labels, IntGauge>,
    binlog_pos: Family<Labels, IntGauge>,
    finished_transactions: Family<Labels, Counter>,
    txn_duration: Family<Labels, Histogram, fn() -> Histogram>,
    syncer_exits: Family<Labels, IntGauge>,
    loader_exits: Family<Labels, IntGauge>,
    copy_rows: Family<Labels, Counter>,
    copy_bytes: Family<Labels, Counter>,
    table_phase: Family<Labels, IntGauge>,
    resumes: Family<Labels, Counter>,
    backoff: Family<Labels, FloatGauge>,
    resume_wait: Family<Labels, FloatGauge>,
    checkpoints: Family<Labels, Counter>,
    throttled: Family<Labels, IntGauge>,
    safe_mode: Family<Labels, IntGauge>,
    verified_tables: Family<Labels, IntGauge>,
    sync_changes: Family<Labels, Counter>,
    needs_person: Family<Labels, IntGauge>,
}

impl std::fmt::Debug for Metrics {
    // The registry is left out: `TaskConfig`'s Debug shows its observer.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("task", &self.task)
            .field("source_id", &self.source_id)
            .finish_non_exhaustive()
    }
}

impl Metrics {
    /// The metrics of task `task` on source `source_id`, run by `worker`.
    pub(crate) fn new(task: &str, source_id: &str, worker: &str) -> Arc<Self> {
        let mut registry = Registry::default();
        let m = Self {
            registry: Mutex::new(Registry::default()),
            task: task.to_owned(),
            source_id: source_id.to_owned(),
            worker: worker.to_owned(),
            task_state: Family::default(),
            lag_gauge: Family::default(),
            lag: Family::new_with_constructor(lag_histogram),
            binlog_file: Family::default(),
            binlog_pos: Family::default(),
            finished_transactions: Family::default(),
            txn_duration: Family::new_with_constructor(txn_histogram),
            syncer_exits: Family::default(),
            loader_exits: Family::default(),
            copy_rows: Family::default(),
            copy_bytes: Family::default(),
            table_phase: Family::default(),
            resumes: Family::default(),
            backoff: Family::default(),
            resume_wait: Family::default(),
            checkpoints: Family::default(),
            throttled: Family::default(),
            safe_mode: Family::default(),
            verified_tables: Family::default(),
            sync_changes: Family::default(),
            needs_person: Family::default(),
        };
        registry.register(
            "dm_worker_task_state",
            "state of task, 0 - invalidStage, 1 - New, 2 - Running, 3 - Paused, 4 - Stopped, 5 - Finished (DM's)",
            m.task_state.clone(),
        );
        registry.register(
            "dm_syncer_replication_lag_gauge",
            "replication lag gauge in second between mysql and syncer (DM's)",
            m.lag_gauge.clone(),
        );
        registry.register(
            "dm_syncer_replication_lag",
            "replication lag histogram in second between mysql and syncer, observed every second while replicating (DM's)",
            m.lag.clone(),
        );
        registry.register(
            "dm_syncer_binlog_file",
            "current binlog file index, node=master (the source) or syncer (the checkpoint) (DM's)",
            m.binlog_file.clone(),
        );
        registry.register(
            "dm_syncer_binlog_pos",
            "current binlog pos, node=master (the source) or syncer (the checkpoint) (DM's)",
            m.binlog_pos.clone(),
        );
        registry.register(
            "dm_syncer_finished_transaction",
            "total number of finished source transactions (DM's)",
            m.finished_transactions.clone(),
        );
        registry.register(
            "dm_syncer_txn_duration_time",
            "seconds from the start of a target transaction of row changes to its commit (DM's)",
            m.txn_duration.clone(),
        );
        // DM's names do not end in _total, which OpenMetrics requires of a counter:
        // they are exposed as gauges that only grow. DM's dumpling has no counterpart:
        // the copy unit dumps and loads, and counts as loader.
        for (name, family, unit) in [
            (
                "dm_syncer_exit_with_error_count",
                &m.syncer_exits,
                "syncer (the Sync unit)",
            ),
            (
                "dm_loader_exit_with_error_count",
                &m.loader_exits,
                "loader (the copy unit)",
            ),
        ] {
            registry.register(
                name,
                format!("counter for {unit} exits with error; resumable_err by the policy labelled (DM's)"),
                family.clone(),
            );
        }
        registry.register(
            "unit_copy_rows",
            "rows the copy committed on the target, per table, in this process",
            m.copy_rows.clone(),
        );
        registry.register(
            "unit_copy_bytes",
            "value bytes the copy committed on the target, per table, in this process",
            m.copy_bytes.clone(),
        );
        registry.register(
            "unit_copy_table_phase",
            "each table's copy phase: 0 pending, 1 copying, 2 copied, 3 verifying, 4 verified",
            m.table_phase.clone(),
        );
        registry.register(
            "unit_auto_resumes",
            "automatic resumes, by the code of the error that paused the task",
            m.resumes.clone(),
        );
        registry.register(
            "unit_backoff_seconds",
            "the back-off auto-resume waits between resumes",
            m.backoff.clone(),
        );
        registry.register(
            "unit_resume_wait_seconds",
            "while paused on a resumable error: seconds until the next automatic resume (0 otherwise)",
            m.resume_wait.clone(),
        );
        registry.register(
            "unit_checkpoint_commits",
            "checkpoints committed on the target, unit=load (a chunk with its checkpoint) or sync",
            m.checkpoints.clone(),
        );
        registry.register(
            "unit_throttled",
            "1 while the copy's writes are held back by the limit named in reason",
            m.throttled.clone(),
        );
        registry.register(
            "unit_sync_safe_mode",
            "1 while replication replays changes idempotently (safe mode)",
            m.safe_mode.clone(),
        );
        registry.register(
            "unit_verified_tables",
            "tables verified (row count and checksum equal) by the copy or the cutover",
            m.verified_tables.clone(),
        );
        registry.register(
            "unit_sync_changes",
            "row changes the Sync unit committed on the target",
            m.sync_changes.clone(),
        );
        registry.register(
            "unit_needs_person",
            "1 while the task is paused on an error the policy labelled will not resume",
            m.needs_person.clone(),
        );
        *m.registry.lock().unwrap_or_else(|e| e.into_inner()) = registry;
        Arc::new(m)
    }

    fn labels(&self, extra: &[(&'static str, &str)]) -> Labels {
        let mut labels = vec![
            ("task", self.task.clone()),
            ("source_id", self.source_id.clone()),
        ];
        labels.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
        labels
    }

    fn worker_labels(&self) -> Labels {
        self.labels(&[("worker", &self.worker)])
    }

    /// Reads the gauges from `state`, then encodes every metric.
    pub(crate) fn render(&self, state: &Snapshot) -> String {
        self.task_state
            .get_or_create(&self.worker_labels())
            .set(state.status.stage as i64);
        if let Some(sync) = &state.sync {
            self.lag_gauge
                .get_or_create(&self.worker_labels())
                .set(sync.seconds_behind_master);
            for (node, position) in [("master", &state.master), ("syncer", &state.syncer)] {
                if let Some((file, pos)) = position {
                    let labels = self.labels(&[("node", node)]);
                    self.binlog_file.get_or_create(&labels).set(*file);
                    self.binlog_pos.get_or_create(&labels).set(*pos);
                }
            }
            self.safe_mode
                .get_or_create(&self.labels(&[]))
                .set(i64::from(state.safe_mode));
        }
        for reason in ["max_rows_per_second", "max_bytes_per_second", "load_guard"] {
            self.throttled
                .get_or_create(&self.labels(&[("reason", reason)]))
                .set(i64::from(state.throttled.contains(&reason)));
        }
        for (table, phase) in &state.phases {
            self.table_phase
                .get_or_create(&self.labels(&[("table", table)]))
                .set(phase_number(*phase));
        }
        self.verified_tables
            .get_or_create(&self.labels(&[]))
            .set(state.verified as i64);
        let policy = self.labels(&[("policy", state.policy)]);
        self.needs_person
            .get_or_create(&policy)
            .set(i64::from(state.needs_person));
        self.backoff
            .get_or_create(&self.labels(&[]))
            .set(state.resume.backoff.as_secs_f64());
        self.resume_wait
            .get_or_create(&self.labels(&[]))
            .set(state.resume.waiting.unwrap_or_default().as_secs_f64());
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out
    }

    /// Observes the replication lag (every second while replicating).
    pub(crate) fn observe_lag(&self, seconds: i64) {
        self.lag
            .get_or_create(&self.worker_labels())
            .observe(seconds as f64);
    }

    /// Counts a unit that ended with an error (paused by it), under DM's metric of
    /// its unit, with `resumable_err` by `policy`'s verdict.
    pub(crate) fn unit_exited(&self, unit: pb::UnitType, resumable: bool, policy: &str) {
        let family = match unit {
            pb::UnitType::Sync => &self.syncer_exits,
            pb::UnitType::Load => &self.loader_exits,
            _ => return,
        };
        family
            .get_or_create(&self.labels(&[
                ("resumable_err", if resumable { "true" } else { "false" }),
                ("policy", policy),
            ]))
            .inc();
    }

    /// Counts an automatic resume of a task paused by an error of `code`.
    pub(crate) fn resumed(&self, code: i32) {
        self.resumes
            .get_or_create(&self.labels(&[("code", &code.to_string())]))
            .inc();
    }
}

impl Observer for Metrics {
    fn chunk_committed(&self, database: &str, table: &str, rows: i64, bytes: i64) {
        let name = format!("{database}.{table}");
        let labels = self.labels(&[("table", &name)]);
        self.copy_rows
            .get_or_create(&labels)
            .inc_by(u64::try_from(rows).unwrap_or(0));
        self.copy_bytes
            .get_or_create(&labels)
            .inc_by(u64::try_from(bytes).unwrap_or(0));
        self.checkpoints
            .get_or_create(&self.labels(&[("unit", "load")]))
            .inc();
    }

    fn transaction_finished(&self) {
        self.finished_transactions
            .get_or_create(&self.worker_labels())
            .inc();
    }

    fn batch_committed(&self, elapsed: Duration, changes: i64) {
        self.txn_duration
            .get_or_create(&self.worker_labels())
            .observe(elapsed.as_secs_f64());
        self.sync_changes
            .get_or_create(&self.labels(&[]))
            .inc_by(u64::try_from(changes).unwrap_or(0));
    }

    fn checkpoint_committed(&self) {
        self.checkpoints
            .get_or_create(&self.labels(&[("unit", "sync")]))
            .inc();
    }
}

/// What the gauges are read from at a scrape.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    pub(crate) status: pb::SubTaskStatus,
    pub(crate) sync: Option<pb::SyncStatus>,
    /// The binlog file index and offset of the source and of the checkpoint.
    pub(crate) master: Option<(i64, i64)>,
    pub(crate) syncer: Option<(i64, i64)>,
    pub(crate) safe_mode: bool,
    pub(crate) throttled: Vec<&'static str>,
    pub(crate) phases: Vec<(String, TablePhase)>,
    pub(crate) verified: usize,
    pub(crate) policy: &'static str,
    pub(crate) needs_person: bool,
    pub(crate) resume: unit_core::ResumeState,
}

/// A table's phase as `unit_copy_table_phase` gives it.
fn phase_number(phase: TablePhase) -> i64 {
    match phase {
        TablePhase::Pending => 0,
        TablePhase::Copying => 1,
        TablePhase::Copied => 2,
        TablePhase::Verifying => 3,
        _ => 4,
    }
}

/// A binlog file's index, as DM's metric gives it: the number after the last dot.
pub(crate) fn file_index(file: &str) -> i64 {
    file.rsplit('.')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Whether `stage` counts as running for `/readyz`.
pub(crate) fn running(stage: Stage) -> bool {
    matches!(stage, Stage::New | Stage::Running | Stage::Resuming)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Metrics with every kind of event seen once, rendered.
    fn rendered() -> String {
        let m = Metrics::new("shop", "mysql-01", "unitctl");
        m.chunk_committed("shop", "orders", 500, 20_000);
        m.chunk_committed("shop", "orders", 250, 10_000);
        m.transaction_finished();
        m.batch_committed(Duration::from_millis(3), 7);
        m.checkpoint_committed();
        m.unit_exited(pb::UnitType::Sync, true, "recommended");
        m.unit_exited(pb::UnitType::Load, false, "recommended");
        m.resumed(10006);
        m.observe_lag(2);
        let snapshot = Snapshot {
            status: pb::SubTaskStatus {
                stage: Stage::Running as i32,
                ..Default::default()
            },
            sync: Some(pb::SyncStatus {
                seconds_behind_master: 2,
                ..Default::default()
            }),
            master: Some((3, 1200)),
            syncer: Some((3, 1100)),
            throttled: vec!["load_guard"],
            phases: vec![("shop.orders".to_owned(), TablePhase::Verified)],
            verified: 1,
            policy: "recommended",
            ..Default::default()
        };
        m.render(&snapshot)
    }

    #[test]
    fn the_exposition_parses_with_dm_names_labels_and_values() {
        let text = rendered();
        let lines = text.lines().map(|l| Ok(l.to_owned()));
        let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
        let value = |name: &str, labels: &[(&str, &str)]| {
            scrape
                .samples
                .iter()
                .find(|s| {
                    s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v))
                })
                .map(|s| match s.value {
                    prometheus_parse::Value::Counter(v)
                    | prometheus_parse::Value::Gauge(v)
                    | prometheus_parse::Value::Untyped(v) => v,
                    _ => f64::NAN,
                })
                .unwrap_or_else(|| panic!("no {name} {labels:?} in\n{text}"))
        };
        let at = [("task", "shop"), ("source_id", "mysql-01")];
        assert_eq!(value("dm_worker_task_state", &at), 2.0);
        assert_eq!(
            value("dm_syncer_replication_lag_gauge", &[("worker", "unitctl")]),
            2.0
        );
        assert_eq!(value("dm_syncer_binlog_pos", &[("node", "master")]), 1200.0);
        assert_eq!(value("dm_syncer_binlog_pos", &[("node", "syncer")]), 1100.0);
        assert_eq!(value("dm_syncer_binlog_file", &[("node", "syncer")]), 3.0);
        assert_eq!(value("dm_syncer_finished_transaction_total", &at), 1.0);
        assert_eq!(
            value(
                "dm_syncer_exit_with_error_count",
                &[("resumable_err", "true"), ("policy", "recommended")]
            ),
            1.0
        );
        assert_eq!(
            value(
                "dm_loader_exit_with_error_count",
                &[("resumable_err", "false")]
            ),
            1.0
        );
        assert_eq!(
            value("unit_copy_rows_total", &[("table", "shop.orders")]),
            750.0
        );
        assert_eq!(
            value("unit_copy_bytes_total", &[("table", "shop.orders")]),
            30_000.0
        );
        assert_eq!(
            value("unit_checkpoint_commits_total", &[("unit", "load")]),
            2.0
        );
        assert_eq!(
            value("unit_checkpoint_commits_total", &[("unit", "sync")]),
            1.0
        );
        assert_eq!(value("unit_auto_resumes_total", &[("code", "10006")]), 1.0);
        assert_eq!(value("unit_throttled", &[("reason", "load_guard")]), 1.0);
        assert_eq!(
            value("unit_throttled", &[("reason", "max_rows_per_second")]),
            0.0
        );
        assert_eq!(
            value("unit_copy_table_phase", &[("table", "shop.orders")]),
            4.0
        );
        assert_eq!(value("unit_sync_changes_total", &at), 7.0);
        assert!(
            text.contains("dm_syncer_txn_duration_time_bucket{"),
            "{text}"
        );
        assert!(text.contains("dm_syncer_replication_lag_bucket{"), "{text}");
        assert_eq!(file_index("mysql-bin.000042"), 42);
    }

    /// Names of the metrics served: every family and every sample name.
    fn served(text: &str) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                names.extend(rest.split_whitespace().next().map(str::to_owned));
            } else if !line.starts_with('#') {
                names.extend(line.split(['{', ' ']).next().map(str::to_owned));
            }
        }
        names
    }

    #[test]
    fn every_query_of_the_grafana_dashboard_names_a_metric_the_exporter_serves() {
        let dashboard: serde_json::Value =
            serde_json::from_str(include_str!("../grafana/unit-migration.json")).unwrap();
        let served = served(&rendered());
        let mut queried = BTreeSet::new();
        for panel in dashboard["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().unwrap() {
                let expr = target["expr"].as_str().unwrap();
                let names: Vec<&str> = expr
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                    .filter(|w| w.starts_with("dm_") || w.starts_with("unit_"))
                    .collect();
                assert!(!names.is_empty(), "{expr} names no metric");
                for name in names {
                    assert!(
                        served.contains(name),
                        "{name} (in {expr}) is not served: {served:?}"
                    );
                    queried.insert(name.to_owned());
                }
            }
        }
        assert!(queried.len() >= 15, "{queried:?}");
    }
}
