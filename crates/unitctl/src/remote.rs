//! `unitctl status|stop|start --addr ADDR [--task NAME] [--json]`: talk to a migration
//! that serves its API (`unitctl migrate --listen ADDR`).

use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;

/// What `status`, `stop` and `start` take.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The address the migration listens on (`--listen` of `unitctl migrate`), e.g.
    /// `127.0.0.1:8261`.
    #[arg(long)]
    addr: String,
    /// The task; default: the one task the migration runs.
    #[arg(long)]
    task: Option<String>,
    /// Print the API's JSON answer.
    #[arg(long)]
    json: bool,
    /// Seconds to wait for the answer: 10 by default, 60 for `stop` (which waits for
    /// the task to pause).
    #[arg(long)]
    timeout: Option<u64>,
}

/// The three verbs.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Verb {
    Status,
    Stop,
    Start,
}

/// An answer that is not the one asked for: the exit status and what to print.
struct Failure(u8, String);

pub(crate) fn run(verb: Verb, args: Args) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("unitctl: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(call(verb, &args)) {
        Ok((answer, code)) => {
            if args.json {
                println!("{answer}");
            } else {
                print_text(verb, &answer);
            }
            ExitCode::from(code)
        }
        Err(Failure(code, message)) => {
            if args.json && code == 1 {
                println!("{message}");
            } else {
                eprintln!("unitctl: {message}");
            }
            ExitCode::from(code)
        }
    }
}

async fn call(verb: Verb, args: &Args) -> Result<(Value, u8), Failure> {
    let base = if args.addr.contains("://") {
        args.addr.trim_end_matches('/').to_owned()
    } else {
        format!("http://{}", args.addr.trim_end_matches('/'))
    };
    let seconds = args
        .timeout
        .unwrap_or(if matches!(verb, Verb::Stop) { 60 } else { 10 })
        .max(1);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(seconds))
        .connect_timeout(Duration::from_secs(seconds.min(5)))
        .build()
        .map_err(|e| Failure(2, format!("cannot make an HTTP client: {e}")))?;
    let task = match &args.task {
        Some(t) => t.clone(),
        None => {
            let list = request(client.get(format!("{base}/api/v1/tasks"))).await?;
            list["data"][0]["name"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| Failure(1, format!("{base} runs no task")))?
        }
    };
    let task_path =
        percent_encoding::utf8_percent_encode(&task, percent_encoding::NON_ALPHANUMERIC);
    let url = |what: &str| format!("{base}/api/v1/tasks/{task_path}/{what}");
    let answer = match verb {
        Verb::Status => request(client.get(url("status"))).await?,
        Verb::Stop => request(client.post(url("stop"))).await?,
        Verb::Start => request(client.post(url("start"))).await?,
    };
    let code = match verb {
        Verb::Status => {
            let task = &answer["data"][0];
            let stage = task["stage"].as_str().unwrap_or_default();
            let blocked = !task["migration"]["needs_person"].is_null()
                || (stage == "Stopped"
                    && !task["error_msg"].as_str().unwrap_or_default().is_empty());
            u8::from(blocked)
        }
        Verb::Stop => u8::from(answer["stage"] != "Paused"),
        Verb::Start => u8::from(!matches!(
            answer["stage"].as_str(),
            Some("Running" | "Resuming" | "Finished")
        )),
    };
    Ok((answer, code))
}

/// Sends `request`; its JSON answer, or the API's error.
async fn request(request: reqwest::RequestBuilder) -> Result<Value, Failure> {
    let response = request.send().await.map_err(|e| {
        let why = if e.is_timeout() {
            "timed out (the address accepts connections and does not answer, or the task \
                 is slow: see --timeout)"
                .to_owned()
        } else if e.is_connect() {
            format!("cannot connect ({e}): is the migration running with --listen there?")
        } else {
            e.to_string()
        };
        let to = e.url().map(|u| format!(" from {u}")).unwrap_or_default();
        Failure(2, format!("no answer{to}: {why}"))
    })?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|e| Failure(1, format!("the answer ({status}) is not JSON: {e}")))?;
    if !status.is_success() {
        let message = match (body["error_code"].as_i64(), body["error_msg"].as_str()) {
            (Some(code), Some(msg)) => format!("{status}: [code={code}] {msg}"),
            _ => format!("{status}: {body}"),
        };
        return Err(Failure(1, message));
    }
    Ok(body)
}

fn print_text(verb: Verb, answer: &Value) {
    match verb {
        Verb::Stop | Verb::Start => println!(
            "task {}: {}",
            answer["name"].as_str().unwrap_or_default(),
            answer["stage"].as_str().unwrap_or_default()
        ),
        Verb::Status => {
            let t = &answer["data"][0];
            let m = &t["migration"];
            println!(
                "task {} (source {}): {} {}",
                t["name"].as_str().unwrap_or_default(),
                t["source_name"].as_str().unwrap_or_default(),
                t["unit"].as_str().unwrap_or_default(),
                t["stage"].as_str().unwrap_or_default()
            );
            if let Some(l) = t["load_status"].as_object() {
                println!(
                    "  copy: {} of {} bytes ({}), {} rows copied, ETA {} s{}",
                    l["finished_bytes"],
                    l["total_bytes"],
                    l["progress"].as_str().unwrap_or_default(),
                    m["copy"]["rows_copied"],
                    m["copy"]["eta_seconds"],
                    if m["copy"]["throttled"] == true {
                        format!(", throttled by {}", m["copy"]["throttled_by"])
                    } else {
                        String::new()
                    }
                );
            }
            if let Some(s) = t["sync_status"].as_object() {
                println!(
                    "  replication: {} changes, at {} of the source's {}, {} s behind{}",
                    s["total_events"],
                    s["syncer_binlog"].as_str().unwrap_or_default(),
                    s["master_binlog"].as_str().unwrap_or_default(),
                    s["seconds_behind_master"],
                    if m["safe_mode"] == true {
                        " (safe mode)"
                    } else {
                        ""
                    }
                );
            }
            for e in m["errors"].as_array().into_iter().flatten() {
                println!(
                    "  error {}: {}\n    {}",
                    e["ErrCode"],
                    e["RawCause"].as_str().unwrap_or_default(),
                    e["verdict"].as_str().unwrap_or_default()
                );
            }
            if let Some(v) = m["needs_person"].as_str() {
                println!("  needs a person: {v}");
            }
        }
    }
}
