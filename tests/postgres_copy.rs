//! unit-postgres against a private PostgreSQL that the harness starts: SQLSTATE
//! verdicts of real errors, and PgCopyUnit under the supervisor through terminated
//! sessions and a killed server, compared with `pg_dump --data-only` of both sides.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use std::time::Duration;

use sqlx::{Connection, Executor, PgConnection};
use unit_core::BackoffConfig;
use unit_core::prelude::*;
use unit_integration_tests::Postgres;
use unit_postgres::{PgCopyConfig, PgCopyUnit, explain_pg_error};

/// The verdict the supervisor and auto-resume act on (the default policy).
fn is_resumable_error(e: &pb::ProcessError) -> bool {
    Recommended.explain(e).is_resumable()
}

/// Every kind of column a user's table holds, with values whose text is awkward.
const ZOO: &str = r#"
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE zoo (
  id int PRIMARY KEY, n numeric(30,10), nn numeric, f float8, r real, t text, v varchar(20),
  c char(5), b bytea, ai int[], at text[], j json, jb jsonb, ts timestamp(6), tz timestamptz,
  d date, iv interval, u uuid, m mood, ma mood[], bo boolean, big bigint, sm smallint
);
INSERT INTO zoo VALUES
 (1, 12345678901234567890.0123456789, 'NaN', 1e308, 3.4e38, E'tab\there new\nline back\\slash', 'quote''s',
  'ab', '\x00015c0a09ff', '{1,NULL,3}', '{"a,b",NULL,"q\"x","","NULL"}', '{"b": 1,  "a": [1, 2]}',
  '{"b": 1, "a": "\u00e9"}', '2024-02-29 23:59:59.999999', '2024-01-01 12:00:00+05:30', '2024-12-31',
  '1 year 2 mons -3 days 04:05:06.789', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'happy', '{sad,ok}',
  true, -9223372036854775808, -32768),
 (2, -0.0000000001, '1e-100', 'Infinity', '-Infinity', 'Привет 你好 🦀 \N', '', '', '', '{}', '{}', 'null',
  '[]', 'infinity', '-infinity', '0001-01-01', '-178000000 years', '00000000-0000-0000-0000-000000000000',
  'sad', '{}', false, 9223372036854775807, 32767),
 (3, NULL, NULL, 'NaN', '-0', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL),
 (4, 0, 0, 5e-324, 1.17549435e-38, 'NULL', '\N', ' ', '\x', '{{1,2},{3,4}}', '{" ",""}', '"\\"', '{"k": null}',
  '1999-12-31 00:00:00', '1999-12-31 23:59:59.5-12:00', '2000-02-29', '-00:00:00.000001',
  'ffffffff-ffff-ffff-ffff-ffffffffffff', 'ok', '{happy,NULL}', NULL, 0, 0);
CREATE TABLE pairs (a int, b text, v bytea, PRIMARY KEY (a, b));
INSERT INTO pairs SELECT g % 97, 'k' || g || E'\t' || repeat('é', g % 5), decode(md5(g::text), 'hex')
  FROM generate_series(1, 5000) g;
CREATE TABLE empty (k char(4), b bytea, f float8, PRIMARY KEY (k, b, f));
CREATE TABLE big (id bigint PRIMARY KEY, payload text, at timestamptz);
CREATE TABLE keys (k char(4), b bytea, f float8, t timestamptz, PRIMARY KEY (k, b, f, t));
INSERT INTO keys SELECT chr(65 + g % 3) || ' ', decode(lpad(to_hex(g % 5), 2, '0'), 'hex'), g / 7.0, '2024-01-01'::timestamptz + g * interval '1 ms'
  FROM generate_series(1, 1000) g;
INSERT INTO big SELECT g, repeat(md5(g::text), 1 + g % 4), now() - g * interval '1 minute'
  FROM generate_series(1, 20000) g;
"#;

const TABLES: [&str; 5] = [
    "public.zoo",
    "public.pairs",
    "public.big",
    "public.empty",
    "public.keys",
];

fn fast_auto_resume() -> AutoResume {
    let mut config = AutoResumeConfig::default();
    config.check_interval = Duration::from_millis(200);
    config.backoff = BackoffConfig {
        factor: 2.0,
        min: Duration::from_millis(100),
        max: Duration::from_secs(1),
        jitter: false,
    };
    AutoResume::new(config).unwrap()
}

/// A server with databases `src` (the zoo) and `dst` (empty: the copy makes the schema).
fn server_with_zoo() -> Postgres {
    let server = Postgres::start();
    server.psql("postgres", "CREATE DATABASE src");
    server.psql("postgres", "CREATE DATABASE dst");
    server.psql("src", ZOO);
    server
}

fn config(server: &Postgres, chunk_rows: usize) -> PgCopyConfig {
    PgCopyConfig::new("pgcopy", server.url("src"), server.url("dst")).chunk_rows(chunk_rows)
}

/// The rows of every table on both sides, by pg_dump, and the rows the checkpoints
/// say were copied.
fn assert_exact(server: &Postgres) {
    assert_eq!(
        server.dump_rows("src", &TABLES),
        server.dump_rows("dst", &TABLES)
    );
    let copied = server.psql(
        "dst",
        "SELECT sum(rows_copied), bool_and(done) FROM unit_checkpoint.copy_checkpoint",
    );
    // Each row written once: the checkpoints count no chunk twice.
    assert_eq!(copied.trim(), "26004|t");
}

async fn finish(
    h: &SubtaskHandle<PgCopyConfig>,
    checker: tokio::task::JoinHandle<unit_core::Exit>,
) {
    let done = tokio::time::timeout(
        Duration::from_secs(120),
        h.wait_for(|s| s == Stage::Finished),
    )
    .await;
    assert!(done.is_ok(), "did not finish: {:?}", h.status());
    checker.abort();
    h.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_errors_get_their_sqlstate_verdicts() {
    let server = Postgres::start();
    let mut conn = PgConnection::connect(&server.url("postgres"))
        .await
        .unwrap();
    conn.execute("CREATE TABLE t (id int PRIMARY KEY)")
        .await
        .unwrap();
    conn.execute("INSERT INTO t VALUES (1)").await.unwrap();
    for (sql, state, resumable) in [
        ("INSERT INTO t VALUES (1)", "23505", false),
        ("SELECT * FROM missing", "42P01", false),
        ("SELEC 1", "42601", false),
        ("SELECT 1 / 0", "22012", false),
        ("SELECT pg_sleep(5)", "57014", true), // cancelled by statement_timeout
    ] {
        conn.execute("SET statement_timeout = 200").await.unwrap();
        let err = conn.execute(sql).await.unwrap_err();
        let db = unit_postgres::server_error(&err).unwrap();
        assert_eq!(db.code(), state, "{sql}");
        let verdict = explain_pg_error(&err);
        assert_eq!(verdict.is_resumable(), resumable, "{sql}: {verdict}");
        let pe = unit_postgres::process_error(
            &err,
            ErrScope::Downstream,
            unit_sql::Operation::Execute(sql),
        );
        assert_eq!(is_resumable_error(&pe), resumable, "{pe:?}");
        assert!(
            pe.raw_cause.ends_with(&format!("(SQLSTATE {state})")),
            "{}",
            pe.raw_cause
        );
    }
    // A session terminated by an administrator: resumable, its outcome unknown.
    let mut victim = PgConnection::connect(&server.url("postgres"))
        .await
        .unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut victim)
        .await
        .unwrap();
    sqlx::query("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .execute(&mut conn)
        .await
        .unwrap();
    let err = victim.execute("SELECT 1").await.unwrap_err();
    assert!(explain_pg_error(&err).is_resumable(), "{err}");
    let pe = unit_postgres::process_error(&err, ErrScope::Downstream, unit_sql::Operation::Commit);
    assert_eq!(pe.err_code, 10003, "{pe:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_is_copied_exactly_through_terminated_sessions() {
    let server = server_with_zoo();
    let units: Vec<BoxUnit<PgCopyConfig>> = vec![Box::new(PgCopyUnit::new(config(&server, 700)))];
    let h = Subtask::spawn(SubtaskConfig::new("pgcopy"), units);
    let checker = tokio::spawn(fast_auto_resume().run(h.clone()));
    // Terminate the copy's sessions on both databases until that pauses it, twice.
    let mut admin = PgConnection::connect(&server.url("postgres"))
        .await
        .unwrap();
    let mut pauses = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while pauses < 2 && h.stage() != Stage::Finished {
        assert!(std::time::Instant::now() < deadline, "{:?}", h.status());
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname IN ('src', 'dst') AND pid <> pg_backend_pid()",
        )
        .execute(&mut admin)
        .await
        .unwrap();
        if let Some(e) = h.status().result.and_then(|r| r.errors.into_iter().next()) {
            assert!(is_resumable_error(&e), "{e:?}");
            pauses += 1;
            h.wait_for(|s| s == Stage::Running || s == Stage::Finished)
                .await;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert!(pauses >= 1, "no terminated session paused the copy");
    finish(&h, checker).await;
    assert_exact(&server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_is_resumed_from_the_checkpoints() {
    let server = server_with_zoo();
    let units: Vec<BoxUnit<PgCopyConfig>> = vec![Box::new(PgCopyUnit::new(config(&server, 300)))];
    let h = Subtask::spawn(SubtaskConfig::new("pgcopy"), units);
    let checker = tokio::spawn(fast_auto_resume().run(h.clone()));
    let progress = |h: &SubtaskHandle<PgCopyConfig>| match h.status().status {
        Some(pb::sub_task_status::Status::Load(l)) => l.finished_bytes,
        _ => 0,
    };
    while progress(&h) < 200_000 {
        assert_ne!(h.stage(), Stage::Finished, "finished before the kill");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.kill9();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.restart();
    finish(&h, checker).await;
    assert_exact(&server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflicting_target_row_stops_the_copy_for_a_person() {
    let server = server_with_zoo();
    server.psql(
        "dst",
        "CREATE TABLE big (id bigint PRIMARY KEY, payload text, at timestamptz)",
    );
    server.psql("dst", "INSERT INTO big VALUES (5, 'already here', now())");
    let config = config(&server, 1000).tables(["public.big"]);
    let units: Vec<BoxUnit<PgCopyConfig>> = vec![Box::new(PgCopyUnit::new(config))];
    let h = Subtask::spawn(SubtaskConfig::new("pgcopy"), units);
    let checker = tokio::spawn(fast_auto_resume().run(h.clone()));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let e = loop {
        let status = h.status();
        if status.stage() == Stage::Paused {
            if let Some(e) = status.result.and_then(|r| r.errors.into_iter().next()) {
                break e;
            }
        }
        assert!(std::time::Instant::now() < deadline, "{:?}", h.status());
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(e.err_code, 60011, "{e:?}");
    assert!(e.raw_cause.contains("(SQLSTATE 23505)"), "{e:?}");
    assert!(!is_resumable_error(&e));
    // Auto-resume leaves it for a person.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(h.stage(), Stage::Paused);
    checker.abort();
    h.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_copy_unit_passes_the_unit_test_kit() {
    let server = server_with_zoo();
    let kit = unit_core::testing::Kit::default();
    let result = kit
        .cancel_is_prompt(
            PgCopyUnit::new(config(&server, 300)),
            Duration::from_millis(100),
        )
        .await
        .unwrap();
    assert!(result.is_canceled, "{result:?}");
    let report = kit
        .resumes_after_kills(
            || PgCopyUnit::new(config(&server, 300)),
            || async {
                assert_exact(&server);
                Ok(())
            },
        )
        .await
        .unwrap();
    assert!(report.kills >= 2, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_of_a_latin1_database_is_copied_exactly() {
    let server = Postgres::start();
    for db in ["lsrc", "ldst"] {
        server.psql(
            "postgres",
            &format!("CREATE DATABASE {db} TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'"),
        );
    }
    // Every LATIN1 character from 0xA0 up, as text, in keys and values.
    server.psql(
        "lsrc",
        "CREATE TABLE words (w text PRIMARY KEY, c char(3), v varchar(10)); \
         INSERT INTO words SELECT chr(g) || 'x' || g, chr(g), repeat(chr(g), 3) FROM generate_series(160, 255) g;",
    );
    let config = PgCopyConfig::new("latin", server.url("lsrc"), server.url("ldst")).chunk_rows(7);
    let units: Vec<BoxUnit<PgCopyConfig>> = vec![Box::new(PgCopyUnit::new(config))];
    let h = Subtask::spawn(SubtaskConfig::new("latin"), units);
    let checker = tokio::spawn(fast_auto_resume().run(h.clone()));
    finish(&h, checker).await;
    assert_eq!(
        server.dump_rows("lsrc", &["public.words"]),
        server.dump_rows("ldst", &["public.words"])
    );
    assert_eq!(
        server.psql("ldst", "SELECT count(*) FROM words").trim(),
        "96"
    );
    // The target stores the same bytes: a LATIN1 value, not its UTF-8 spelling.
    let bytes =
        "SELECT string_agg(encode(convert_to(w, 'LATIN1'), 'hex'), ',' ORDER BY w) FROM words";
    assert_eq!(server.psql("lsrc", bytes), server.psql("ldst", bytes));
}

/// Every kind of object around a user's tables, in two schemas: an extension, enum,
/// composite and domain types, a sequence with a value, serial and identity columns,
/// generated columns, checks, unique and partial and expression indexes, foreign keys,
/// a view and a materialized view, functions, a trigger, comments, a partitioned table
/// and a table inheriting from another.
const SCHEMA_ZOO: &str = r#"
CREATE EXTENSION citext;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE pair AS (a int, b text);
CREATE DOMAIN positive AS int CHECK (VALUE > 0);
CREATE SEQUENCE tickets START 1000 INCREMENT 7;
CREATE SCHEMA billing;
CREATE FUNCTION billing.net_share(net numeric, gross numeric) RETURNS numeric
  LANGUAGE sql IMMUTABLE AS $$ SELECT CASE WHEN gross = 0 THEN 0 ELSE net / gross END $$;
CREATE TABLE customers (
  id serial PRIMARY KEY, email citext NOT NULL UNIQUE, m mood NOT NULL DEFAULT 'ok', p pair,
  n positive, ticket bigint NOT NULL DEFAULT nextval('tickets'), CHECK (n < 1000000));
CREATE UNIQUE INDEX customers_ticket ON customers (ticket DESC);
CREATE TABLE billing.invoices (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  customer int NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
  net numeric(12,2) NOT NULL, tax numeric(12,2) NOT NULL DEFAULT 0,
  gross numeric GENERATED ALWAYS AS (net + tax) STORED,
  issued date NOT NULL, UNIQUE (customer, issued));
CREATE INDEX invoices_large ON billing.invoices (gross) WHERE gross > 100;
CREATE INDEX invoices_share ON billing.invoices (billing.net_share(net, gross));
CREATE TABLE billing.lines (
  invoice bigint REFERENCES billing.invoices (id), n int, what text, PRIMARY KEY (invoice, n));
CREATE VIEW billing.totals AS SELECT customer, sum(gross) AS gross FROM billing.invoices GROUP BY customer;
CREATE FUNCTION billing.no_negative() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN IF NEW.net < 0 THEN RAISE EXCEPTION 'negative'; END IF; RETURN NEW; END $$;
CREATE TRIGGER invoices_no_negative BEFORE INSERT OR UPDATE ON billing.invoices
  FOR EACH ROW EXECUTE FUNCTION billing.no_negative();
CREATE TABLE billing.events (id int NOT NULL, at date NOT NULL, what text, PRIMARY KEY (id, at))
  PARTITION BY RANGE (at);
CREATE TABLE billing.events_2024 PARTITION OF billing.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE billing.events_2025 PARTITION OF billing.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
INSERT INTO billing.events SELECT g, date '2024-06-01' + g % 400, 'e' || g FROM generate_series(1, 2000) g;
CREATE TABLE notes (id int PRIMARY KEY, body text);
CREATE TABLE urgent_notes (level int, PRIMARY KEY (id)) INHERITS (notes);
INSERT INTO notes SELECT g, 'n' || g FROM generate_series(1, 50) g;
INSERT INTO urgent_notes SELECT g, 'u' || g, g % 3 FROM generate_series(51, 80) g;
CREATE MATERIALIZED VIEW billing.busy AS SELECT customer, count(*) AS n FROM billing.invoices GROUP BY customer;
COMMENT ON TABLE customers IS 'who buys';
COMMENT ON COLUMN billing.invoices.gross IS 'net and tax';
INSERT INTO customers (email, m, p, n)
  SELECT 'User' || g || '@Example.com', (ARRAY['sad', 'ok', 'happy'])[1 + g % 3]::mood,
         ROW(g, 'p' || g)::pair, g FROM generate_series(1, 3000) g;
INSERT INTO billing.invoices (customer, net, tax, issued)
  SELECT 1 + g % 3000, g % 500, g % 50, date '2024-01-01' + g / 3000 FROM generate_series(1, 9000) g;
INSERT INTO billing.lines SELECT i.id, n, 'item ' || n FROM billing.invoices i, generate_series(1, 2) n;
SELECT nextval('tickets') FROM generate_series(1, 5);
"#;

/// The copy makes the source's schema on an empty target: the objects the rows need
/// before them, keys, indexes, constraints and triggers after them, and sequences at
/// the source's values; equal by `pg_dump` of both sides, schema and data, through
/// kills (issue 28 item 4: a table of a type of its own could not be copied, and the
/// copy made bare tables without indexes, constraints or sequence values).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schema_is_made_before_and_after_the_rows_as_the_source_has_it() {
    let server = Postgres::start();
    for db in ["zsrc", "zdst", "zpart"] {
        server.psql("postgres", &format!("CREATE DATABASE {db}"));
    }
    server.psql("zsrc", SCHEMA_ZOO);
    let schemas = ["public", "billing"];
    let config = || {
        PgCopyConfig::new("schemas", server.url("zsrc"), server.url("zdst"))
            .with_schemas(schemas.iter().map(|s| (*s).to_owned()).collect())
            .chunk_rows(400)
    };
    let kit = unit_core::testing::Kit::default();
    let report = kit
        .resumes_after_kills(
            || PgCopyUnit::new(config()),
            || async {
                let schema = |db| server.dump_schemas(db, &schemas, &["--schema-only"]);
                let data = |db| {
                    let dump =
                        server.dump_schemas(db, &schemas, &["--data-only", "--column-inserts"]);
                    let mut lines: Vec<String> = dump.lines().map(str::to_owned).collect();
                    lines.sort_unstable();
                    lines.join("\n")
                };
                let (a, b) = (schema("zsrc"), schema("zdst"));
                if a != b {
                    return Err(format!("the schemas differ:\n{a}\n---\n{b}"));
                }
                let (a, b) = (data("zsrc"), data("zdst"));
                if a != b {
                    return Err(format!("the data differs:\n{a}\n---\n{b}"));
                }
                Ok(())
            },
        )
        .await
        .unwrap();
    assert!(report.kills >= 2, "{report:?}");
    // The target's constraints work: the trigger, the foreign key, the domain.
    let refused = server
        .client("psql", "zdst")
        .args(["-X", "-v", "ON_ERROR_STOP=1", "-c"])
        .arg("INSERT INTO billing.invoices (customer, net, issued) VALUES (1, -1, '2030-01-01')")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&refused.stderr).contains("negative"));
    // Rows of partitions and of inheriting tables are copied once.
    assert_eq!(
        server.psql("zdst", "SELECT (SELECT count(*) FROM billing.events), (SELECT count(*) FROM notes), (SELECT count(*) FROM billing.busy)").trim(),
        "2000|80|3000"
    );
    // The sequences go on from the source's values: 3,000 customers and 5 more tickets.
    assert_eq!(
        server
            .psql(
                "zdst",
                "SELECT nextval('tickets'), nextval('customers_id_seq')"
            )
            .trim(),
        format!("{}|3001", 1000 + 7 * (3000 + 5))
    );

    // A target that holds some of the selected tables but not all: refused, nothing made.
    server.psql("zpart", "CREATE TABLE customers (id int PRIMARY KEY)");
    let partial = PgCopyConfig::new("partial", server.url("zsrc"), server.url("zpart"))
        .with_schemas(schemas.iter().map(|s| (*s).to_owned()).collect());
    let mut unit = PgCopyUnit::new(partial.clone());
    let err = unit.init(CancellationToken::new()).await.unwrap_err();
    let pe = unit_core::new_process_error(err.as_ref());
    assert_eq!(pe.err_code, 60001, "{pe:?}");
    assert!(
        pe.message.contains("public.customers") && pe.message.contains("billing.invoices"),
        "{pe:?}"
    );
    assert!(!is_resumable_error(&pe));
    // A pg_dump that cannot start: said so, never resumed.
    server.psql("zpart", "DROP TABLE customers");
    let mut unit = PgCopyUnit::new(partial.with_pg_dump("/nonexistent/pg_dump".into()));
    let err = unit.init(CancellationToken::new()).await.unwrap_err();
    let pe = unit_core::new_process_error(err.as_ref());
    assert_eq!(pe.err_code, 60012, "{pe:?}");
    assert!(pe.message.contains("/nonexistent/pg_dump"), "{pe:?}");
    assert!(!is_resumable_error(&pe));
    assert_eq!(
        server
            .psql(
                "zpart",
                "SELECT count(*) FROM pg_class WHERE relname = 'invoices'"
            )
            .trim(),
        "0"
    );
}
