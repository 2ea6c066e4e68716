//! What a copy did, table by table and object by object: the summary a caller checks
//! against its selection.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::units::object_migration::ObjectReport;

/// One selected table and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    /// The database.
    pub database: String,
    /// The table.
    pub name: String,
    /// Rows in the source when it was verified (0 until then).
    pub rows: i64,
    /// Whether the table was compared with its source (row count and checksum) and
    /// found equal in this run of the unit.
    pub verified: bool,
    /// How the table was copied where that is worth knowing (no usable key: copied
    /// whole; an engine without transactions in an online migration), else empty.
    pub note: String,
    /// Where the table's copy is.
    pub phase: TablePhase,
    /// Rows written to the target so far, by every run of the task (from its
    /// checkpoints, then counted as chunks commit).
    pub rows_copied: i64,
    /// Value bytes written to the target so far, by every run of the task.
    pub bytes_copied: i64,
    /// The source's estimate of the table's rows when the copy planned it (InnoDB's
    /// estimate can be off by half either way).
    pub estimated_rows: i64,
}

/// Where a table's copy is, in order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum TablePhase {
    /// Not started in this run.
    #[default]
    Pending,
    /// Chunks are being copied.
    Copying,
    /// Every row is copied; verification comes next (at cutover in an online
    /// migration).
    Copied,
    /// Being compared with its source.
    Verifying,
    /// Compared with its source and found equal.
    Verified,
}

impl TablePhase {
    /// The phase's name in status documents: `pending`, `copying`, `copied`,
    /// `verifying`, `verified`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Copying => "copying",
            Self::Copied => "copied",
            Self::Verifying => "verifying",
            Self::Verified => "verified",
        }
    }
}

/// What a [`CopyUnit`](super::CopyUnit) did: every selected table and object, each
/// saying whether it was verified or migrated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Every selected table, ordered by database and name (byte order).
    pub tables: Vec<TableReport>,
    /// Every object other than a table the selection covers, ordered by database,
    /// kind and name.
    pub objects: Vec<ObjectReport>,
    /// The SQL mode the target's sessions wrote with.
    pub sql_mode: String,
    /// Why the copy's writes are held back right now (`max_rows_per_second`,
    /// `max_bytes_per_second`, `load_guard`), empty while they are not.
    pub throttled: Vec<&'static str>,
}

impl CopyReport {
    /// Whether every selected table was verified and every object not excluded
    /// migrated.
    pub fn complete(&self) -> bool {
        self.tables.iter().all(|t| t.verified)
            && self.objects.iter().all(|o| o.migrated || o.excluded)
    }

    /// The tables not verified and the objects not migrated, as `kind db.name`.
    pub fn missing(&self) -> Vec<String> {
        self.tables
            .iter()
            .filter(|t| !t.verified)
            .map(|t| format!("table {}.{}", t.database, t.name))
            .chain(
                self.objects
                    .iter()
                    .filter(|o| !o.migrated && !o.excluded)
                    .map(|o| format!("{} {}.{}", o.kind, o.database, o.name)),
            )
            .collect()
    }
}

/// The report being filled while the unit runs.
#[derive(Debug, Default)]
pub(super) struct Recorder {
    tables: Mutex<BTreeMap<(String, String), TableReport>>,
    objects: Mutex<Vec<ObjectReport>>,
    /// Whether the copy's writes are held back, and why.
    pub(super) throttle: super::throttle::ThrottleState,
}

impl Recorder {
    /// Starts a run over `tables` and `objects`: none verified or migrated yet, so that
    /// a run that ends before its object phase never reports them done.
    pub(super) fn select(
        &self,
        tables: impl IntoIterator<Item = (String, String, String)>,
        objects: impl IntoIterator<Item = ObjectReport>,
    ) {
        let mut map = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        map.clear();
        for (database, name, note) in tables {
            map.insert(
                (database.clone(), name.clone()),
                TableReport {
                    database,
                    name,
                    rows: 0,
                    verified: false,
                    note,
                    phase: TablePhase::Pending,
                    rows_copied: 0,
                    bytes_copied: 0,
                    estimated_rows: 0,
                },
            );
        }
        *self.objects.lock().unwrap_or_else(|e| e.into_inner()) = objects.into_iter().collect();
    }

    /// Changes the entry of `database.name`, if it is selected.
    fn table(&self, database: &str, name: &str, change: impl FnOnce(&mut TableReport)) {
        let mut map = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = map.get_mut(&(database.to_owned(), name.to_owned())) {
            change(t);
        }
    }

    /// Records what earlier runs copied of `database.name` (its checkpoints), the
    /// source's estimate of its rows, and whether every part of it is copied.
    pub(super) fn planned(
        &self,
        database: &str,
        name: &str,
        (rows, bytes): (i64, i64),
        estimated_rows: i64,
        copied: bool,
    ) {
        self.table(database, name, |t| {
            (t.rows_copied, t.bytes_copied, t.estimated_rows) = (rows, bytes, estimated_rows);
            if copied {
                t.phase = t.phase.max(TablePhase::Copied);
            }
        });
    }

    /// Records a committed chunk of `database.name`.
    pub(super) fn chunk(&self, database: &str, name: &str, rows: i64, bytes: i64) {
        self.table(database, name, |t| {
            t.rows_copied += rows;
            t.bytes_copied += bytes;
            t.phase = t.phase.max(TablePhase::Copying);
        });
    }

    /// Records that `database.name` moved on to `phase`.
    pub(super) fn phase(&self, database: &str, name: &str, phase: TablePhase) {
        self.table(database, name, |t| t.phase = t.phase.max(phase));
    }

    /// Records that `database.name` was verified with `rows` rows.
    pub(super) fn verified(&self, database: &str, name: &str, rows: i64) {
        self.table(database, name, |t| {
            t.rows = rows;
            t.verified = true;
            t.phase = TablePhase::Verified;
        });
    }

    /// Records what became of an object, in place of its entry.
    pub(super) fn object(&self, object: ObjectReport) {
        let mut objects = self.objects.lock().unwrap_or_else(|e| e.into_inner());
        let same = |o: &ObjectReport| {
            o.kind == object.kind && o.database == object.database && o.name == object.name
        };
        match objects.iter_mut().find(|o| same(o)) {
            Some(entry) => *entry = object,
            None => objects.push(object),
        }
    }

    pub(super) fn report(&self, sql_mode: &str) -> CopyReport {
        let tables = self
            .tables
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        let mut objects = self
            .objects
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        objects.sort_by(|a, b| (&a.database, a.kind, &a.name).cmp(&(&b.database, b.kind, &b.name)));
        CopyReport {
            tables,
            objects,
            sql_mode: sql_mode.to_owned(),
            throttled: self.throttle.reasons(),
        }
    }
}

/// Reads a [`CopyUnit`](super::CopyUnit)'s report at any time, also after the unit was
/// handed to a supervisor (see [`CopyUnit::report_handle`](super::CopyUnit::report_handle)).
#[derive(Debug, Clone)]
pub struct ReportHandle {
    pub(super) recorder: std::sync::Arc<Recorder>,
    pub(super) sql_mode: std::sync::Arc<Mutex<String>>,
}

impl ReportHandle {
    /// The report as it stands.
    pub fn report(&self) -> CopyReport {
        let mode = self
            .sql_mode
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        self.recorder.report(&mode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(migrated: bool) -> ObjectReport {
        ObjectReport {
            kind: "view",
            database: "shop".into(),
            name: "v".into(),
            migrated,
            excluded: false,
            note: String::new(),
        }
    }

    #[test]
    fn selected_objects_count_as_not_migrated_until_their_phase_says_so() {
        let recorder = Recorder::default();
        recorder.select(
            [("shop".to_owned(), "t".to_owned(), String::new())],
            [view(false)],
        );
        recorder.verified("shop", "t", 3);
        // Every table verified, the object phase not run (a cancelled run): incomplete.
        let report = recorder.report("");
        assert!(!report.complete());
        assert_eq!(report.missing(), ["view shop.v"]);
        recorder.object(view(true));
        let report = recorder.report("");
        assert!(report.complete());
        assert_eq!(report.objects.len(), 1, "replaced, not added");
    }
}
