//! DM's task and source files: `unitctl migrate --config task.yaml [--source-config
//! source.yaml]` reads the keys listed in [`TaskFile`] and [`SourceFile`]; options
//! given on the command line override them. A key DM knows but this tool does not
//! implement (route rules, filters, sharding, relay, ...) is an error naming it and
//! its line, as is a key DM does not know: nothing in a file is ignored in silence.
//! Passwords read from the files go into connection URLs, which never show them.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::args::{Args, Mode};

/// What a DM task file sets that this tool implements.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct TaskFile {
    /// The task's name (`--task`).
    pub(crate) name: String,
    /// `full`, `incremental` or `all` (`--mode`).
    #[serde(default)]
    pub(crate) task_mode: Option<String>,
    /// The database of the task's checkpoints on the target (`--checkpoint-database`).
    #[serde(default)]
    pub(crate) meta_schema: Option<String>,
    /// The target server (`--target` and its TLS options).
    #[serde(default)]
    pub(crate) target_database: Option<Server>,
    /// The source of the task: exactly one.
    #[serde(default)]
    pub(crate) mysql_instances: Vec<Instance>,
    /// Named table selections.
    #[serde(default)]
    pub(crate) block_allow_list: BTreeMap<String, BlockAllowList>,
    /// Named dump settings.
    #[serde(default)]
    pub(crate) mydumpers: BTreeMap<String, Mydumper>,
    /// Named load settings.
    #[serde(default)]
    pub(crate) loaders: BTreeMap<String, Loader>,
    /// Named replication settings.
    #[serde(default)]
    pub(crate) syncers: BTreeMap<String, Syncer>,
}

/// A server: DM's `target-database`, or a source file's `from`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct Server {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) user: String,
    #[serde(default)]
    pub(crate) password: String,
    #[serde(default)]
    pub(crate) security: Option<Security>,
}

/// DM's `security`: TLS files.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct Security {
    #[serde(default)]
    pub(crate) ssl_ca: Option<std::path::PathBuf>,
    #[serde(default)]
    pub(crate) ssl_cert: Option<std::path::PathBuf>,
    #[serde(default)]
    pub(crate) ssl_key: Option<std::path::PathBuf>,
}

/// One entry of `mysql-instances`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct Instance {
    pub(crate) source_id: String,
    #[serde(default)]
    pub(crate) meta: Option<Meta>,
    #[serde(default)]
    pub(crate) block_allow_list: Option<String>,
    #[serde(default)]
    pub(crate) mydumper_config_name: Option<String>,
    #[serde(default)]
    pub(crate) loader_config_name: Option<String>,
    #[serde(default)]
    pub(crate) syncer_config_name: Option<String>,
    #[serde(default)]
    pub(crate) mydumper_thread: Option<usize>,
    #[serde(default)]
    pub(crate) loader_thread: Option<usize>,
    #[serde(default)]
    pub(crate) syncer_thread: Option<usize>,
}

/// Where mode `incremental` starts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct Meta {
    pub(crate) binlog_name: String,
    pub(crate) binlog_pos: u64,
    #[serde(default)]
    pub(crate) binlog_gtid: Option<String>,
}

/// DM's block and allow list rules (exact names or `*`/`?` wildcards).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct BlockAllowList {
    #[serde(default)]
    pub(crate) do_dbs: Vec<String>,
    #[serde(default)]
    pub(crate) ignore_dbs: Vec<String>,
    #[serde(default)]
    pub(crate) do_tables: Vec<TableRef>,
    #[serde(default)]
    pub(crate) ignore_tables: Vec<TableRef>,
}

/// A table of a block and allow list.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct TableRef {
    pub(crate) db_name: String,
    pub(crate) tbl_name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct Mydumper {
    #[serde(default)]
    pub(crate) threads: Option<usize>,
    #[serde(default)]
    pub(crate) rows: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct Loader {
    #[serde(default)]
    pub(crate) pool_size: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct Syncer {
    #[serde(default)]
    pub(crate) worker_count: Option<usize>,
    #[serde(default)]
    pub(crate) batch: Option<usize>,
}

/// What a DM source file sets that this tool implements.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct SourceFile {
    pub(crate) source_id: String,
    /// Start the binlog stream from the GTID set (`--use-gtid`).
    #[serde(default)]
    pub(crate) enable_gtid: bool,
    /// Only `false`: this tool reads the source's binlog itself, with no relay log.
    #[serde(default)]
    pub(crate) enable_relay: bool,
    /// `mysql` or `mariadb`; checked for one of these (the flavor is read from the
    /// server itself).
    #[serde(default)]
    pub(crate) flavor: Option<String>,
    /// The replica id (`--server-id`).
    #[serde(default)]
    pub(crate) server_id: Option<u32>,
    pub(crate) from: Server,
}

/// `--databases`, `--tables` and `--exclude`.
type Selection = (Vec<String>, Vec<String>, Vec<String>);

/// The dump, load and replication settings of an instance.
type Settings<'a> = (Option<&'a Mydumper>, Option<&'a Loader>, Option<&'a Syncer>);

/// DM keys this tool does not implement, and what they are.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("routes", "route rules"),
    ("route-rules", "route rules"),
    ("filters", "binlog event filters"),
    ("filter-rules", "binlog event filters"),
    ("column-mappings", "column mappings"),
    ("column-mapping-rules", "column mappings"),
    ("expression-filter", "expression filters"),
    ("expression-filters", "expression filters"),
    ("is-sharding", "sharding"),
    ("shard-mode", "sharding"),
    ("strict-optimistic-shard-mode", "sharding"),
    ("ignore-checking-items", "skipping checks"),
    ("online-ddl", "online DDL tools"),
    ("online-ddl-scheme", "online DDL tools"),
    ("shadow-table-rules", "online DDL tools"),
    ("trash-table-rules", "online DDL tools"),
    ("black-white-list", "the old name of block-allow-list"),
    ("validators", "the continuous validator"),
    (
        "continuous-validator-config-name",
        "the continuous validator",
    ),
    ("collation_compatible", "collation rewriting"),
    ("case-sensitive", "case-sensitive rules"),
    ("timezone", "a session time zone"),
    ("clean-dump-file", "dump files"),
    ("enable-heartbeat", "DM's heartbeat table"),
    ("heartbeat-update-interval", "DM's heartbeat table"),
    ("heartbeat-report-interval", "DM's heartbeat table"),
    (
        "mydumper",
        "inline dump settings (use mydumpers and mydumper-config-name)",
    ),
    (
        "loader",
        "inline load settings (use loaders and loader-config-name)",
    ),
    (
        "syncer",
        "inline replication settings (use syncers and syncer-config-name)",
    ),
    ("plugins", "plugins"),
    ("target-meta", "target metadata"),
    ("session", "target session variables"),
    ("max-allowed-packet", "a packet size override"),
    ("cert-allowed-cn", "certificate name checks"),
    ("ssl-ca-content", "inline certificates"),
    ("ssl-cert-content", "inline certificates"),
    ("ssl-key-content", "inline certificates"),
    ("chunk-filesize", "dump files"),
    ("skip-tz-utc", "dump options"),
    ("extra-args", "dump options"),
    ("dir", "dump files"),
    ("import-mode", "load modes"),
    ("on-duplicate", "load conflict modes"),
    ("on-duplicate-logical", "load conflict modes"),
    ("on-duplicate-physical", "load conflict modes"),
    ("checksum-physical", "physical import"),
    ("analyze", "physical import"),
    ("sorting-dir-physical", "physical import"),
    ("disk-quota-physical", "physical import"),
    ("range-concurrency", "physical import"),
    ("compress-kv-pairs", "physical import"),
    ("pd-addr", "physical import"),
    ("safe-mode", "forcing safe mode"),
    ("safe-mode-duration", "forcing safe mode"),
    (
        "multiple-rows",
        "statement merging options (use --sync-merge-rows)",
    ),
    ("compact", "compaction"),
    ("enable-ansi-quotes", "ANSI quotes"),
    ("checkpoint-flush-interval", "checkpoint intervals"),
    ("relay-binlog-name", "the relay log"),
    ("relay-binlog-gtid", "the relay log"),
    ("relay-dir", "the relay log"),
    ("purge", "the relay log"),
    ("checker", "DM's task checker settings"),
    ("tracer", "DM's tracer"),
    ("rebuild-charset", "charset rebuilding"),
    ("redact-info-log", "log redaction options"),
];

/// Reads a DM task file.
///
/// # Errors
/// The file cannot be read, is not YAML, or has a key this tool does not implement
/// or DM does not know (named with its line).
pub(crate) fn read_task(path: &Path) -> Result<TaskFile, String> {
    parse(path)
}

/// Reads a DM source file (as [`read_task`]).
///
/// # Errors
/// As [`read_task`]; also `enable-relay: true` and an unknown flavor.
pub(crate) fn read_source(path: &Path) -> Result<SourceFile, String> {
    let file: SourceFile = parse(path)?;
    let name = path.display();
    if file.enable_relay {
        return Err(format!(
            "{name}: enable-relay: true is not supported: this tool reads the source's binlog itself, without a relay log"
        ));
    }
    if let Some(flavor) = &file.flavor {
        if !matches!(flavor.to_ascii_lowercase().as_str(), "mysql" | "mariadb") {
            return Err(format!(
                "{name}: flavor {flavor:?} is neither mysql nor mariadb"
            ));
        }
    }
    Ok(file)
}

fn parse<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let name = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {name}: {e}"))?;
    parse_text(&text).map_err(|e| format!("{name}: {e}"))
}

/// Parses a file's text; an error names the line and never shows a password.
pub(crate) fn parse_text<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_yaml_ng::from_str(text).map_err(|e| {
        let message = e.to_string();
        // The location goes first, in the error's own words after.
        let message = message
            .rsplit_once(" at line ")
            .map_or(message.as_str(), |(m, _)| m)
            .to_owned();
        let message = explain_unknown(&message);
        let message = hide_passwords(text, &message);
        match e.location() {
            Some(at) => format!("line {} column {}: {message}", at.line(), at.column()),
            None => message,
        }
    })
}

/// Rewrites serde's "unknown field `k`, expected ..." as "`k` is not supported ..."
/// for a DM key this tool does not implement, or "unknown key `k`" otherwise.
fn explain_unknown(message: &str) -> String {
    let Some((path, rest)) = message
        .split_once("unknown field `")
        .map(|(p, r)| (p.trim_end_matches(": ").trim_end(), r))
    else {
        return message.to_owned();
    };
    let Some((key, _)) = rest.split_once('`') else {
        return message.to_owned();
    };
    let place = if path.is_empty() {
        String::new()
    } else {
        format!("{path}: ")
    };
    match UNSUPPORTED.iter().find(|(k, _)| *k == key) {
        Some((_, what)) => format!(
            "{place}`{key}` ({what}) is not supported by unitctl; remove it, or run the task with DM"
        ),
        None => format!("{place}unknown key `{key}`"),
    }
}

/// `message` with every password value of the file masked (block or flow mappings,
/// quoted or not), and the password of every URL in it.
fn hide_passwords(text: &str, message: &str) -> String {
    let mut shown = unit_mysql::redact(message);
    for line in text.lines() {
        let mut rest = line;
        while let Some(at) = rest.find("password") {
            let after = rest[at + "password".len()..].trim_start_matches(['"', '\'']);
            rest = &rest[at + "password".len()..];
            let Some(value) = after.trim_start().strip_prefix(':') else {
                continue;
            };
            let value = value
                .split([',', '}'])
                .next()
                .unwrap_or_default()
                .trim()
                .trim_matches(['"', '\'', '[', ']']);
            if !value.is_empty() {
                shown = shown.replace(value, "***");
            }
        }
    }
    shown
}

impl Server {
    /// The server as a `mysql://` URL, user and password percent-encoded.
    pub(crate) fn url(&self) -> String {
        use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
        let user = utf8_percent_encode(&self.user, NON_ALPHANUMERIC);
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.password.is_empty() {
            format!("mysql://{user}@{host}:{}/", self.port)
        } else {
            let password = utf8_percent_encode(&self.password, NON_ALPHANUMERIC);
            format!("mysql://{user}:{password}@{host}:{}/", self.port)
        }
    }
}

impl TaskFile {
    /// The task's one source.
    ///
    /// # Errors
    /// None or several `mysql-instances`.
    pub(crate) fn instance(&self) -> Result<&Instance, String> {
        match self.mysql_instances.as_slice() {
            [one] => Ok(one),
            [] => Err("mysql-instances: the task names no source".to_owned()),
            more => Err(format!(
                "mysql-instances: {} sources; unitctl migrates one source per task (merging sources is DM's sharding, not supported)",
                more.len()
            )),
        }
    }

    /// The selection of `instance`: databases, tables and exclusions as
    /// `--databases`, `--tables`, `--exclude` take them.
    ///
    /// # Errors
    /// An unknown rule name, or a regular expression (`~...`), which this tool's
    /// patterns do not take.
    pub(crate) fn selection(&self, instance: &Instance) -> Result<Selection, String> {
        let Some(name) = &instance.block_allow_list else {
            return Ok(Default::default());
        };
        let rules = self.block_allow_list.get(name).ok_or_else(|| {
            format!(
                "mysql-instances[0].block-allow-list: no rule named {name:?} in block-allow-list"
            )
        })?;
        let pattern = |p: &str| {
            if p.starts_with('~') {
                Err(format!(
                    "block-allow-list {name:?}: {p:?} is a regular expression; unitctl takes names with * and ? only"
                ))
            } else {
                Ok(p.to_owned())
            }
        };
        let table = |t: &TableRef| {
            Ok::<_, String>(format!(
                "{}.{}",
                pattern(&t.db_name)?,
                pattern(&t.tbl_name)?
            ))
        };
        let databases = rules
            .do_dbs
            .iter()
            .map(|d| pattern(d))
            .collect::<Result<_, _>>()?;
        let tables = rules
            .do_tables
            .iter()
            .map(table)
            .collect::<Result<_, _>>()?;
        let mut exclude: Vec<String> = rules
            .ignore_tables
            .iter()
            .map(table)
            .collect::<Result<_, _>>()?;
        for db in &rules.ignore_dbs {
            exclude.push(format!("{}.*", pattern(db)?));
        }
        Ok((databases, tables, exclude))
    }

    /// A named setting of `instance`, or the only one when it names none.
    fn named<'a, T>(
        map: &'a BTreeMap<String, T>,
        name: Option<&String>,
        key: &str,
    ) -> Result<Option<&'a T>, String> {
        match name {
            Some(n) => map
                .get(n)
                .map(Some)
                .ok_or_else(|| format!("mysql-instances[0].{key}: no setting named {n:?}")),
            None if map.len() == 1 => Ok(map.values().next()),
            None => Ok(None),
        }
    }

    /// The dump, load and replication settings of `instance`.
    ///
    /// # Errors
    /// A config name that names nothing.
    pub(crate) fn settings(&self, instance: &Instance) -> Result<Settings<'_>, String> {
        Ok((
            Self::named(
                &self.mydumpers,
                instance.mydumper_config_name.as_ref(),
                "mydumper-config-name",
            )?,
            Self::named(
                &self.loaders,
                instance.loader_config_name.as_ref(),
                "loader-config-name",
            )?,
            Self::named(
                &self.syncers,
                instance.syncer_config_name.as_ref(),
                "syncer-config-name",
            )?,
        ))
    }
}

/// Fills `args` from `--config` and `--source-config`, except what `given` says the
/// command line set.
///
/// # Errors
/// A file that cannot be read or that holds what this tool does not implement; a
/// source file whose `source-id` is not the task's.
pub(crate) fn apply(args: &mut Args, given: impl Fn(&str) -> bool) -> Result<(), String> {
    let source = args.source_config.as_deref().map(read_source).transpose()?;
    if let Some(source) = &source {
        let tls = source.from.security.as_ref();
        set(args, &given, "source", |a| {
            a.source = Some(source.from.url())
        });
        set_tls(args, &given, "source", tls);
        if !given("source_id") {
            args.source_id = Some(source.source_id.clone());
        }
        if source.enable_gtid && !given("use_gtid") {
            args.use_gtid = true;
        }
        if let Some(id) = source.server_id {
            set(args, &given, "server_id", |a| a.server_id = Some(id));
        }
    }
    let Some(path) = args.config.clone() else {
        return Ok(());
    };
    let name = path.display().to_string();
    let task = read_task(&path)?;
    let at = |e: String| format!("{name}: {e}");
    let instance = task.instance().map_err(at)?;
    if let Some(source) = &source {
        if source.source_id != instance.source_id {
            return Err(format!(
                "{name}: mysql-instances[0].source-id is {:?} but the source file's source-id is {:?}",
                instance.source_id, source.source_id
            ));
        }
    } else if !given("source_id") {
        args.source_id = Some(instance.source_id.clone());
    }
    set(args, &given, "task", |a| a.task = task.name.clone());
    if let Some(mode) = &task.task_mode {
        let mode = match mode.as_str() {
            "full" => Mode::Full,
            "all" => Mode::All,
            "incremental" => Mode::Incremental,
            other => {
                return Err(at(format!(
                    "task-mode {other:?} is not supported (full, all or incremental)"
                )));
            }
        };
        set(args, &given, "mode", |a| a.mode = mode);
    }
    if let Some(meta) = &task.meta_schema {
        set(args, &given, "checkpoint_database", |a| {
            a.checkpoint_database = meta.clone();
        });
    }
    if let Some(target) = &task.target_database {
        set(args, &given, "target", |a| a.target = Some(target.url()));
        set_tls(args, &given, "target", target.security.as_ref());
    }
    let (databases, tables, exclude) = task.selection(instance).map_err(at)?;
    set(args, &given, "databases", |a| a.databases = databases);
    set(args, &given, "tables", |a| a.tables = tables);
    set(args, &given, "exclude", |a| a.exclude = exclude);
    let (dumper, loader, syncer) = task.settings(instance).map_err(at)?;
    // One setting moves both the copy's reads and its writes: the loader's pool
    // size where given, else the dump threads.
    let concurrency = loader
        .and_then(|l| l.pool_size)
        .or(instance.loader_thread)
        .or(dumper.and_then(|d| d.threads))
        .or(instance.mydumper_thread);
    if let Some(n) = concurrency {
        set(args, &given, "concurrency", |a| a.concurrency = n);
    }
    if let Some(rows) = dumper.and_then(|d| d.rows) {
        set(args, &given, "split_rows", |a| a.split_rows = rows);
    }
    if let Some(n) = syncer
        .and_then(|s| s.worker_count)
        .or(instance.syncer_thread)
    {
        set(args, &given, "sync_workers", |a| a.sync_workers = n);
    }
    if let Some(n) = syncer.and_then(|s| s.batch) {
        set(args, &given, "sync_batch", |a| a.sync_batch = n);
    }
    if let Some(meta) = &instance.meta {
        set(args, &given, "start_position", |a| {
            a.start_position = Some(format!("{}:{}", meta.binlog_name, meta.binlog_pos));
        });
        if let Some(gtid) = &meta.binlog_gtid {
            set(args, &given, "start_gtid", |a| {
                a.start_gtid = Some(gtid.clone())
            });
        }
    }
    Ok(())
}

/// Applies `change` unless the command line gave option `id`.
fn set(args: &mut Args, given: &impl Fn(&str) -> bool, id: &str, change: impl FnOnce(&mut Args)) {
    if !given(id) {
        change(args);
    }
}

/// The TLS files of `security` for `side` (`source` or `target`), with `VERIFY_CA`
/// when a CA is given (DM verifies a server against `ssl-ca`) and `REQUIRED` with only
/// a client certificate.
fn set_tls(
    args: &mut Args,
    given: &impl Fn(&str) -> bool,
    side: &str,
    security: Option<&Security>,
) {
    let Some(sec) = security else {
        return;
    };
    let mode = if sec.ssl_ca.is_some() {
        "VERIFY_CA"
    } else {
        "REQUIRED"
    };
    let (m, ca, cert, key) = if side == "source" {
        (
            &mut args.source_ssl_mode,
            &mut args.source_ssl_ca,
            &mut args.source_ssl_cert,
            &mut args.source_ssl_key,
        )
    } else {
        (
            &mut args.target_ssl_mode,
            &mut args.target_ssl_ca,
            &mut args.target_ssl_cert,
            &mut args.target_ssl_key,
        )
    };
    if !given(&format!("{side}_ssl_mode")) {
        *m = Some(mode.to_owned());
    }
    for (slot, value, id) in [
        (ca, &sec.ssl_ca, "ssl_ca"),
        (cert, &sec.ssl_cert, "ssl_cert"),
        (key, &sec.ssl_key, "ssl_key"),
    ] {
        if value.is_some() && !given(&format!("{side}_{id}")) {
            slot.clone_from(value);
        }
    }
}

#[cfg(test)]
mod tests;
