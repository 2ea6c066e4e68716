use super::*;

const TASK: &str = r#"# A DM task file as DM's docs write them.
name: shop-migration
task-mode: all
meta-schema: dm_meta

target-database:
  host: 10.0.0.2
  port: 4000
  user: migrator
  password: "t0p-s3cret"
  security:
    ssl-ca: /etc/dm/ca.pem
    ssl-cert: /etc/dm/client.pem
    ssl-key: /etc/dm/client.key

mysql-instances:
  - source-id: mysql-replica-01
    block-allow-list: shop-rules
    mydumper-config-name: global
    loader-config-name: global
    syncer-config-name: global
    meta:
      binlog-name: mysql-bin.000003
      binlog-pos: 194
      binlog-gtid: "0-1-42"

block-allow-list:
  shop-rules:
    do-dbs: ["shop", "shop_*"]
    ignore-dbs: ["shop_tmp"]
    do-tables:
      - db-name: shop
        tbl-name: "*"
    ignore-tables:
      - db-name: shop
        tbl-name: audit_log

mydumpers:
  global:
    threads: 6
    rows: 50000

loaders:
  global:
    pool-size: 8

syncers:
  global:
    worker-count: 12
    batch: 250
"#;

const SOURCE: &str = "source-id: mysql-replica-01\nenable-gtid: true\nenable-relay: false\nflavor: mariadb\nserver-id: 4242\nfrom:\n  host: 10.0.0.1\n  port: 3306\n  user: dm\n  password: \"p@ss:w/rd\"\n";

fn args() -> Args {
    use clap::Parser;
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }
    Cli::parse_from(["unitctl"]).args
}

fn files(task: &str, source: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "unitctl-config-{}-{}",
        std::process::id(),
        fastrand_name()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (t, s) = (dir.join("task.yaml"), dir.join("source.yaml"));
    std::fs::write(&t, task).unwrap();
    std::fs::write(&s, source).unwrap();
    (t, s)
}

fn fastrand_name() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed).to_string()
}

#[test]
fn every_supported_key_of_dm_files_reaches_the_options() {
    let (task, source) = files(TASK, SOURCE);
    let mut a = args();
    a.config = Some(task);
    a.source_config = Some(source);
    apply(&mut a, |_| false).unwrap();
    assert_eq!(a.task, "shop-migration");
    assert_eq!(a.mode, Mode::All);
    assert_eq!(a.checkpoint_database, "dm_meta");
    let target: unit_mysql::MySqlUrl = a.target.as_deref().unwrap().parse().unwrap();
    assert_eq!(target.to_string(), "mysql://migrator:***@10.0.0.2:4000/");
    assert!(a.target.as_deref().unwrap().contains("t0p%2Ds3cret"));
    assert_eq!(a.target_ssl_mode.as_deref(), Some("VERIFY_CA"));
    assert_eq!(
        a.target_ssl_ca.as_deref(),
        Some(Path::new("/etc/dm/ca.pem"))
    );
    assert_eq!(
        a.target_ssl_cert.as_deref(),
        Some(Path::new("/etc/dm/client.pem"))
    );
    assert_eq!(
        a.target_ssl_key.as_deref(),
        Some(Path::new("/etc/dm/client.key"))
    );
    // The source's password, with characters a URL must escape, survives.
    let source = a.source.as_deref().unwrap();
    assert_eq!(source, "mysql://dm:p%40ss%3Aw%2Frd@10.0.0.1:3306/");
    assert!(source.parse::<unit_mysql::MySqlUrl>().is_ok());
    assert_eq!(a.source_id.as_deref(), Some("mysql-replica-01"));
    assert!(a.use_gtid);
    assert_eq!(a.server_id, Some(4242));
    assert_eq!(a.databases, ["shop", "shop_*"]);
    assert_eq!(a.tables, ["shop.*"]);
    assert_eq!(a.exclude, ["shop.audit_log", "shop_tmp.*"]);
    assert_eq!(a.concurrency, 8, "the loader's pool size");
    assert_eq!(a.split_rows, 50_000);
    assert_eq!(a.sync_workers, 12);
    assert_eq!(a.sync_batch, 250);
    assert_eq!(a.start_position.as_deref(), Some("mysql-bin.000003:194"));
    assert_eq!(a.start_gtid.as_deref(), Some("0-1-42"));
}

#[test]
fn the_command_line_overrides_the_files() {
    let (task, source) = files(TASK, SOURCE);
    let mut a = args();
    a.config = Some(task);
    a.source_config = Some(source);
    a.sync_workers = 3;
    a.task = "mine".to_owned();
    a.target = Some("mysql://root@127.0.0.1:3307/".to_owned());
    apply(&mut a, |id| {
        ["sync_workers", "task", "target"].contains(&id)
    })
    .unwrap();
    assert_eq!((a.sync_workers, a.task.as_str()), (3, "mine"));
    assert_eq!(a.target.as_deref(), Some("mysql://root@127.0.0.1:3307/"));
    assert_eq!(
        a.sync_batch, 250,
        "what the command line did not give comes from the file"
    );
}

/// The error of parsing task file `text` (which must fail).
fn refused(text: &str) -> String {
    parse_text::<TaskFile>(text).unwrap_err()
}

#[test]
fn every_unsupported_key_is_an_error_naming_it_and_its_line() {
    let base = "name: t\nmysql-instances:\n  - source-id: s\n";
    for (key, _) in UNSUPPORTED {
        // At the top level (line 4), and inside an instance (line 4, indented).
        let top = format!("{base}{key}: x\n");
        let e = refused(&top);
        assert!(
            e.starts_with("line 4 column 1: ")
                && e.contains(&format!("`{key}`"))
                && e.contains("not supported"),
            "{key}: {e}"
        );
        let nested = format!("{base}    {key}: x\n");
        let e = refused(&nested);
        assert!(
            e.starts_with("line 4 column 5: mysql-instances[0]: `") && e.contains("not supported"),
            "{key}: {e}"
        );
    }
    // Inside the named settings too.
    let e = refused("name: t\nsyncers:\n  g:\n    worker-count: 2\n    safe-mode: true\n");
    assert!(
        e.starts_with("line 5 column 5: syncers.g: `safe-mode`"),
        "{e}"
    );
    let e = refused("name: t\nloaders:\n  g:\n    import-mode: physical\n");
    assert!(
        e.contains("`import-mode` (load modes) is not supported"),
        "{e}"
    );
}

#[test]
fn unknown_keys_and_bad_values_are_errors_that_hide_passwords() {
    let e = refused("name: t\ntask-name: x\n");
    assert_eq!(e, "line 2 column 1: unknown key `task-name`");
    let e = refused(
        "name: t\ntarget-database:\n  host: h\n  port: hunter2\n  user: u\n  password: hunter2\n",
    );
    assert!(
        e.starts_with("line 4 column 9: target-database.port: invalid type"),
        "{e}"
    );
    assert!(!e.contains("hunter2"), "{e}");
    let e =
        refused("name: t\nmysql-instances:\n  - source-id: s\n    meta:\n      binlog-name: b\n");
    assert!(e.contains("binlog-pos"), "{e}");
}

#[test]
fn the_task_and_source_must_agree_and_rules_must_exist() {
    let other = SOURCE.replace("mysql-replica-01", "elsewhere");
    let (task, source) = files(TASK, &other);
    let mut a = args();
    a.config = Some(task);
    a.source_config = Some(source);
    let e = apply(&mut a, |_| false).unwrap_err();
    assert!(
        e.contains(
            "source-id is \"mysql-replica-01\" but the source file's source-id is \"elsewhere\""
        ),
        "{e}"
    );

    let two = TASK.replace(
        "mysql-instances:\n",
        "mysql-instances:\n  - source-id: second\n",
    );
    let (task, _) = files(&two, SOURCE);
    let mut a = args();
    a.config = Some(task);
    assert!(apply(&mut a, |_| false).unwrap_err().contains("2 sources"));

    let regex = TASK.replace("\"shop_*\"", "\"~^shop\"");
    let (task, _) = files(&regex, SOURCE);
    let mut a = args();
    a.config = Some(task);
    assert!(
        apply(&mut a, |_| false)
            .unwrap_err()
            .contains("regular expression")
    );

    let missing = TASK.replace("block-allow-list: shop-rules", "block-allow-list: nope");
    let (task, _) = files(&missing, SOURCE);
    let mut a = args();
    a.config = Some(task);
    assert!(
        apply(&mut a, |_| false)
            .unwrap_err()
            .contains("no rule named \"nope\"")
    );

    let relay = SOURCE.replace("enable-relay: false", "enable-relay: true");
    let (_, source) = files(TASK, &relay);
    let mut a = args();
    a.source_config = Some(source);
    assert!(
        apply(&mut a, |_| false)
            .unwrap_err()
            .contains("enable-relay: true is not supported")
    );

    let mode = TASK.replace("task-mode: all", "task-mode: dump");
    let (task, _) = files(&mode, SOURCE);
    let mut a = args();
    a.config = Some(task);
    assert!(
        apply(&mut a, |_| false)
            .unwrap_err()
            .contains("task-mode \"dump\" is not supported")
    );
}

/// A source file's password stays hidden in every error its file gives: a value of
/// another type, a flow mapping, a URL given where a mapping is expected.
#[test]
fn a_source_files_errors_hide_its_password_in_any_form() {
    for text in [
        "source-id: s\nfrom:\n  host: h\n  port: 3306\n  user: u\n  password: Sekret77\n  extra: 1\n",
        "source-id: s\nfrom:\n  host: h\n  port: Sekret77\n  user: u\n  password: Sekret77\n",
        "source-id: s\nfrom: {host: h, port: x, user: u, password: Sekret77}\n",
        "source-id: s\nfrom: {host: h, port: 3306, user: u, password: [Sekret77]}\n",
        "source-id: s\nfrom: \"mysql://u:Sekret77@h:3306/\"\n",
        "source-id: s\nfrom:\n  host: h\n  port: 3306\n  user: u\n  password: \"Sekret77\"\n  password: again\n",
    ] {
        let e = parse_text::<SourceFile>(text).unwrap_err();
        assert!(!e.contains("Sekret77"), "{text}: {e}");
    }
}
