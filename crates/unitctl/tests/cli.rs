//! The `unitctl` binary end to end: arguments, standard input, exit status.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn unitctl(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_unitctl"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn unitctl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    child.wait_with_output().expect("wait for unitctl")
}

fn sample() -> String {
    format!(
        "{}/../../examples/query-status.json",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn sample_has_an_unresumable_error_so_exit_status_is_1() {
    let out = unitctl(&["explain", &sample()], b"");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(r#"rule:      RawCause contains "Error 1062" (unsupported DML)"#),
        "{text}"
    );
    assert!(
        text.ends_with("3 errors: 2 resumable, 1 not resumable\n"),
        "{text}"
    );
}

#[test]
fn json_output_and_stdin() {
    let input = br#"{"ErrCode": 10002, "Message": "bad database connection"}"#;
    for args in [&["explain", "--json"][..], &["explain", "--json", "-"][..]] {
        let out = unitctl(args, input);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["allResumable"], true);
        assert_eq!(doc["errors"][0]["name"], "ErrDBBadConn");
        assert_eq!(doc["errors"][0]["rule"]["kind"], "no-rule-matched");
    }
}

#[test]
fn bad_input_exits_2_with_a_message_on_stderr() {
    let out = unitctl(&["explain"], b"{\"ErrCode\": 1,");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        err,
        "unitctl: standard input: invalid JSON: EOF while parsing a value at line 1 column 14\n"
    );

    let out = unitctl(&["explain", "/nonexistent/status.json"], b"");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("unitctl: cannot read /nonexistent/status.json: "),
        "{err}"
    );

    let out = unitctl(&["explain", "--no-such-flag"], b"");
    assert_eq!(out.status.code(), Some(2));
}

/// A URL that is not explicitly MySQL's or PostgreSQL's is refused as a bad argument
/// (exit 2) before anything connects, naming the side, and no output shows its
/// password (the tool once connected to a default server and printed the password
/// back as a database name).
#[test]
fn malformed_urls_are_bad_arguments_that_never_show_a_password() {
    let good = "mysql://root@127.0.0.1:1/";
    for (bad, says) in [
        (
            "mig:Sekret77@127.0.0.1:44001",
            "does not start with mysql://",
        ),
        ("ftp://mig:Sekret77@127.0.0.1/", "ftp://"),
        (
            "mysql://mig:Sek#ret77@127.0.0.1:44001/",
            "invalid port number",
        ),
        ("mysql://mig:Sekret77@/db", "host"),
    ] {
        for (source, target, side) in [(bad, good, "--source"), (good, bad, "--target")] {
            let out = unitctl(
                &["migrate", "--source", source, "--target", target, "--json"],
                b"",
            );
            let (stdout, stderr) = (
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
            );
            assert_eq!(out.status.code(), Some(2), "{bad}: {stdout} {stderr}");
            assert!(stderr.contains(says), "{bad}: {stderr}");
            assert!(stderr.contains(side), "{bad}: {stderr}");
            for secret in ["Sekret77", "ret77"] {
                assert!(
                    !stdout.contains(secret) && !stderr.contains(secret),
                    "{bad}: {stdout} {stderr}"
                );
            }
        }
    }
}

/// `unitctl status` against an address that accepts connections and never answers
/// says it timed out, after 10 s by default (it waited 60 s, then said "error sending
/// request"); a refused address says it cannot connect, at once.
#[test]
fn status_of_a_silent_or_closed_address_says_timed_out_or_cannot_connect() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let started = std::time::Instant::now();
    let out = unitctl(&["status", "--addr", &addr], b"");
    let took = started.elapsed().as_secs_f64();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("timed out"), "{stderr}");
    assert!((9.0..20.0).contains(&took), "took {took} s");
    drop(silent);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let started = std::time::Instant::now();
    let out = unitctl(&["status", "--addr", &closed], b"");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot connect"), "{stderr}");
    assert!(started.elapsed().as_secs_f64() < 5.0);
}

/// A TLS file given on the command line that is missing or not PEM is a bad argument
/// naming the option and the file (it failed every connection without naming it).
#[test]
fn a_missing_or_non_pem_tls_file_is_a_bad_argument_naming_it() {
    let dir = std::env::temp_dir().join(format!("unitctl-pem-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let not_pem = dir.join("ca.txt");
    std::fs::write(&not_pem, "hello, not a certificate\n").unwrap();
    let key_as_ca = dir.join("key.pem");
    std::fs::write(
        &key_as_ca,
        "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let missing = dir.join("missing.pem");
    let good = "mysql://root@127.0.0.1:1/";
    for (option, file, says) in [
        ("--source-ssl-ca", &missing, "cannot read it"),
        ("--target-ssl-ca", &not_pem, "not a PEM file"),
        (
            "--source-ssl-ca",
            &key_as_ca,
            "not a PEM file holding a certificate",
        ),
        ("--target-ssl-key", &not_pem, "private key"),
    ] {
        let file = file.to_str().unwrap();
        let out = unitctl(
            &["migrate", "--source", good, "--target", good, option, file],
            b"",
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{option} {file}: {stderr}");
        assert!(
            stderr.contains(option) && stderr.contains(file) && stderr.contains(says),
            "{option} {file}: {stderr}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
