//! TLS to a private MariaDB that requires it, with certificates this test makes itself
//! (`openssl`): a CA, a server certificate for 127.0.0.1 and localhost, a client
//! certificate, an expired server certificate, one for another name, and a second CA.
#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sqlx::{Connection, Executor};
use tokio_util::sync::CancellationToken;
use unit_core::{Policy, Recommended, Unit};
use unit_integration_tests::MariaDb;
use unit_mysql::Filter;
use unit_mysql::{CheckUnit, CopyUnit, MySqlUrl, TaskConfig, Verification};

/// Certificates in a directory of their own.
struct Certs {
    dir: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl (apt-get install -y openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Certs {
    fn make() -> Certs {
        let dir = std::env::temp_dir().join(format!(
            "unit-tls-{}-{}",
            std::process::id(),
            fastrand_suffix()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.as_path();
        for ca in ["ca", "other-ca"] {
            openssl(
                d,
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-keyout",
                    &format!("{ca}.key"),
                    "-out",
                    &format!("{ca}.pem"),
                    "-days",
                    "30",
                    "-subj",
                    &format!("/CN=unit test {ca}"),
                ],
            );
        }
        std::fs::write(
            d.join("san.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .unwrap();
        std::fs::write(
            d.join("other.ext"),
            "subjectAltName=DNS:db.example.invalid\n",
        )
        .unwrap();
        std::fs::write(d.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
        for (name, ext) in [
            ("server", "san.ext"),
            ("wrong-name", "other.ext"),
            ("client", "client.ext"),
        ] {
            openssl(
                d,
                &[
                    "req",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-keyout",
                    &format!("{name}.key"),
                    "-out",
                    &format!("{name}.csr"),
                    "-subj",
                    &format!("/CN={name}"),
                ],
            );
            openssl(
                d,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &format!("{name}.csr"),
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-out",
                    &format!("{name}.pem"),
                    "-days",
                    "30",
                    "-extfile",
                    ext,
                ],
            );
        }
        // An expired certificate needs `openssl ca`, which takes any validity period.
        std::fs::write(d.join("index.txt"), "").unwrap();
        std::fs::write(d.join("serial"), "1000\n").unwrap();
        std::fs::write(
            d.join("ca.cnf"),
            "[ca]\ndefault_ca = d\n[d]\ndir = .\ndatabase = index.txt\nserial = serial\n\
             new_certs_dir = .\ndefault_md = sha256\npolicy = p\n[p]\ncommonName = supplied\n",
        )
        .unwrap();
        openssl(
            d,
            &[
                "ca",
                "-batch",
                "-config",
                "ca.cnf",
                "-cert",
                "ca.pem",
                "-keyfile",
                "ca.key",
                "-in",
                "server.csr",
                "-out",
                "expired.pem",
                "-startdate",
                "20200101000000Z",
                "-enddate",
                "20200201000000Z",
                "-extfile",
                "san.ext",
                "-notext",
            ],
        );
        Certs { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// A private server requiring TLS, presenting `cert` with its key `key`.
    fn server(&self, cert: &str, key: &str) -> MariaDb {
        MariaDb::start_with(vec![
            format!("--ssl-ca={}", self.path("ca.pem")),
            format!("--ssl-cert={}", self.path(cert)),
            format!("--ssl-key={}", self.path(key)),
            "--require-secure-transport=ON".to_owned(),
        ])
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn fastrand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// `url` with TLS parameters appended.
fn with(url: &str, params: &str) -> MySqlUrl {
    format!("{url}?{params}").parse().unwrap()
}

/// What connecting to `url` gives: Ok, or the error and whether it would be retried.
async fn connect(url: &MySqlUrl) -> Result<String, (String, bool)> {
    match sqlx::MySqlConnection::connect_with(&url.connect_options()).await {
        Ok(mut conn) => {
            let (_, version): (String, String) =
                sqlx::query_as("SHOW SESSION STATUS LIKE 'Ssl_version'")
                    .fetch_one(&mut conn)
                    .await
                    .unwrap();
            Ok(version)
        }
        Err(e) => {
            let pe = unit_mysql::process_error(
                &e,
                unit_core::ErrScope::Downstream,
                unit_mysql::Operation::Connect,
            );
            let resumable = unit_mysql::is_resumable_mysql_error(&e);
            // The invariant with the recommended policy holds for TLS errors too.
            assert_eq!(Recommended.explain(&pe).is_resumable(), resumable, "{pe:?}");
            Err((format!("{e}"), resumable))
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verified_tls_connects_and_every_bad_certificate_is_refused_for_good() {
    let certs = Certs::make();
    let server = certs.server("server.pem", "server.key");
    let url = server.url("mysql");
    let ca = certs.path("ca.pem");

    for mode in ["REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY"] {
        let version = connect(&with(&url, &format!("ssl-mode={mode}&ssl-ca={ca}")))
            .await
            .unwrap_or_else(|e| panic!("{mode}: {e:?}"));
        assert!(version.starts_with("TLSv1."), "{mode}: {version}");
    }
    // The default (PREFERRED) encrypts whenever the server offers TLS.
    assert!(
        connect(&url.parse().unwrap())
            .await
            .unwrap()
            .starts_with("TLSv1.")
    );

    // A plain connection is refused by the server; never retried, and the check unit
    // says to enable TLS.
    let (text, resumable) = connect(&with(&url, "ssl-mode=DISABLED")).await.unwrap_err();
    assert!(!resumable, "{text}");
    let plain = TaskConfig::new(
        "tls-plain",
        MariaDb::shared().url("mysql").parse().unwrap(),
        with(&url, "ssl-mode=DISABLED"),
        Filter::default(),
    );
    let items = CheckUnit::new(plain).run_checks().await;
    let refused = items
        .iter()
        .find(|i| i.name == "target connection")
        .expect("a target connection item");
    assert_eq!(refused.state, unit_mysql::ItemState::Failure);
    assert!(
        refused.message.starts_with("mysql://root@127.0.0.1:"),
        "{refused:?}"
    );
    assert!(
        refused.message.contains("refuses unencrypted connections")
            && refused.message.contains("enable TLS"),
        "{refused:?}"
    );

    // Another CA: unknown issuer, never retried.
    let other = certs.path("other-ca.pem");
    let (text, resumable) = connect(&with(&url, &format!("ssl-mode=VERIFY_CA&ssl-ca={other}")))
        .await
        .unwrap_err();
    assert!(!resumable, "{text}");
    assert!(
        text.contains("invalid peer certificate: UnknownIssuer"),
        "{text}"
    );

    // A user created REQUIRE X509 connects only with the client certificate.
    let admin = with(&url, &format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}"));
    let mut conn = sqlx::MySqlConnection::connect_with(&admin.connect_options())
        .await
        .unwrap();
    conn.execute("CREATE USER 'x509'@'%' REQUIRE X509")
        .await
        .unwrap();
    conn.execute("GRANT SELECT ON *.* TO 'x509'@'%'")
        .await
        .unwrap();
    let as_x509 = |params: String| {
        format!("mysql://x509@127.0.0.1:{}/mysql?{params}", server.port())
            .parse::<MySqlUrl>()
            .unwrap()
    };
    let without = connect(&as_x509(format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}"))).await;
    assert!(matches!(without, Err((_, false))), "{without:?}");
    let client = format!(
        "ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}&ssl-cert={}&ssl-key={}",
        certs.path("client.pem"),
        certs.path("client.key")
    );
    assert!(
        connect(&as_x509(client))
            .await
            .unwrap()
            .starts_with("TLSv1.")
    );

    // The check unit reports the TLS version of each connection, and fails when TLS
    // was asked for and not obtained.
    let source = MariaDb::shared();
    let mut config = TaskConfig::new(
        "tls-check",
        source.url("mysql").parse().unwrap(),
        admin.clone(),
        Filter {
            databases: vec!["tls_none".into()],
            ..Filter::default()
        },
    );
    config.acquire_timeout = Duration::from_secs(5);
    let items = CheckUnit::new(config).run_checks().await;
    let target = items
        .iter()
        .find(|i| i.name == "target encryption")
        .expect("a target encryption item");
    assert!(target.message.starts_with("TLSv1."), "{target:?}");
    assert_eq!(target.state, unit_mysql::ItemState::Success);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_misnamed_certificates_are_refused_and_never_retried() {
    let certs = Certs::make();
    let ca = certs.path("ca.pem");
    let expired = certs.server("expired.pem", "server.key");
    let (text, resumable) = connect(&with(
        &expired.url("mysql"),
        &format!("ssl-mode=VERIFY_CA&ssl-ca={ca}"),
    ))
    .await
    .unwrap_err();
    assert!(!resumable && text.contains("certificate expired"), "{text}");

    let misnamed = certs.server("wrong-name.pem", "wrong-name.key");
    let url = misnamed.url("mysql");
    let (text, resumable) = connect(&with(
        &url,
        &format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={ca}"),
    ))
    .await
    .unwrap_err();
    assert!(!resumable && text.contains("not valid for name"), "{text}");
    // VERIFY_CA should check the chain only, but sqlx's rustls verifier also refuses a
    // certificate issued for another name: stricter than MySQL's VERIFY_CA, never
    // weaker. Pinned here so that a change is noticed.
    let (text, resumable) = connect(&with(&url, &format!("ssl-mode=VERIFY_CA&ssl-ca={ca}")))
        .await
        .unwrap_err();
    assert!(!resumable && text.contains("not valid for name"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_to_a_server_requiring_tls_end_exact_with_required_and_verify_identity() {
    let certs = Certs::make();
    let target = certs.server("server.pem", "server.key");
    let source = MariaDb::shared();
    let admin: MySqlUrl = source.url("mysql").parse().unwrap();
    let mut conn = sqlx::MySqlConnection::connect_with(&admin.connect_options())
        .await
        .unwrap();
    conn.execute(
        "DROP DATABASE IF EXISTS tls_copy; CREATE DATABASE tls_copy; \
         CREATE TABLE tls_copy.t (id INT PRIMARY KEY, v VARCHAR(20)) DEFAULT CHARSET=utf8mb4; \
         INSERT INTO tls_copy.t SELECT seq, CONCAT('é', seq) FROM seq_1_to_2000",
    )
    .await
    .unwrap();
    for (mode, task) in [
        ("REQUIRED", "tls-required"),
        ("VERIFY_IDENTITY", "tls-verified"),
    ] {
        let target_url = with(
            &target.url("mysql"),
            &format!("ssl-mode={mode}&ssl-ca={}", certs.path("ca.pem")),
        );
        let mut config = TaskConfig::new(
            task,
            admin.clone(),
            target_url.clone(),
            Filter {
                databases: vec!["tls_copy".into()],
                ..Filter::default()
            },
        );
        config.copy.chunk_rows = 300;
        config.verification = Some(Verification::RowText);
        let mut unit = CopyUnit::new(config);
        unit.init(CancellationToken::new()).await.unwrap();
        let result = unit.process(CancellationToken::new()).await;
        assert!(result.errors.is_empty(), "{result:?}");
        assert!(unit.report().complete());
        unit.close().await;
        // Compared independently of the copy.
        let checksum = |url: MySqlUrl| async move {
            let mut c = sqlx::MySqlConnection::connect_with(&url.connect_options())
                .await
                .unwrap();
            let (_, sum): (String, Option<i64>) = sqlx::query_as("CHECKSUM TABLE tls_copy.t")
                .fetch_one(&mut c)
                .await
                .unwrap();
            sum
        };
        assert_eq!(
            checksum(admin.clone()).await,
            checksum(target_url.clone()).await
        );
        // The second mode copies into the same tables: start it from an empty target.
        let mut c = sqlx::MySqlConnection::connect_with(&target_url.connect_options())
            .await
            .unwrap();
        c.execute("DROP DATABASE tls_copy; DROP DATABASE unit_checkpoint")
            .await
            .unwrap();
    }
}

/// An online migration from a source that requires TLS: the copy, the Sync unit's
/// binlog stream (mysql_async with rustls) and its applier all connect verified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicates_from_a_source_requiring_tls_with_verify_identity() {
    let certs = Certs::make();
    let source = MariaDb::start_with(vec![
        format!("--ssl-ca={}", certs.path("ca.pem")),
        format!("--ssl-cert={}", certs.path("server.pem")),
        format!("--ssl-key={}", certs.path("server.key")),
        "--require-secure-transport=ON".to_owned(),
        "--server-id=1".to_owned(),
        "--log-bin=binlog".to_owned(),
        "--binlog-format=ROW".to_owned(),
        "--binlog-row-image=FULL".to_owned(),
    ]);
    let target = MariaDb::start();
    let source_url = with(
        &source.url(""),
        &format!("ssl-mode=VERIFY_IDENTITY&ssl-ca={}", certs.path("ca.pem")),
    );
    let run = |sql: &'static str| {
        let url = source_url.clone();
        async move {
            let mut c = sqlx::MySqlConnection::connect_with(&url.connect_options())
                .await
                .unwrap();
            c.execute(sql).await.unwrap();
        }
    };
    run("CREATE DATABASE tls_sync; USE tls_sync; CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20));
         INSERT INTO t SELECT seq, CONCAT('é', seq) FROM seq_1_to_500")
        .await;
    let mut config = TaskConfig::new(
        "tls-sync",
        source_url.clone(),
        target.url("").parse().unwrap(),
        Filter {
            databases: vec!["tls_sync".into()],
            ..Filter::default()
        },
    );
    config.consistency = Some(unit_mysql::Consistency::Auto);
    let mut copy = CopyUnit::new(config.clone());
    copy.init(CancellationToken::new()).await.unwrap();
    let result = copy.process(CancellationToken::new()).await;
    assert!(result.errors.is_empty(), "{result:?}");
    copy.close().await;
    run("UPDATE tls_sync.t SET v = 'changed' WHERE id <= 100; DELETE FROM tls_sync.t WHERE id > 450;
         INSERT INTO tls_sync.t VALUES (1000, 'new')")
        .await;
    config.sync.cutover = true;
    let mut sync = unit_mysql::SyncUnit::new(config);
    sync.init(CancellationToken::new()).await.unwrap();
    let result = sync.process(CancellationToken::new()).await;
    assert!(result.errors.is_empty(), "{result:?}");
    sync.close().await;
    let dbs = ["tls_sync".to_owned()];
    assert_eq!(source.dump(&dbs), target.dump(&dbs));
}
