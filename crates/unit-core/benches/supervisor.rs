//! Supervisor throughput with a no-op unit: pause→resume round trips per second, and
//! status queries per second while the unit is processing, each beside a baseline
//! measured in the same run (the bare minimum an actor-style supervisor needs: two
//! request/reply exchanges over tokio channels; a mutex-guarded snapshot clone).
//!
//! Run with `cargo bench -p unit-core --bench supervisor`.
#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use criterion::{Criterion, criterion_group, criterion_main};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use unit_core::{
    BoxError, BoxUnit, SourceStatus, StatusHandle, Subtask, SubtaskConfig, Unit, UnitStatus,
};
use unit_proto::pb;

/// Works until cancelled; reports a constant load status.
struct Noop;

#[async_trait]
impl Unit for Noop {
    type Config = ();
    async fn init(&mut self, _: CancellationToken) -> Result<(), BoxError> {
        Ok(())
    }
    async fn process(&mut self, cancel: CancellationToken) -> pb::ProcessResult {
        cancel.cancelled().await;
        pb::ProcessResult {
            is_canceled: true,
            ..Default::default()
        }
    }
    async fn close(&mut self) {}
    async fn kill(&mut self) {}
    fn pause(&mut self) {}
    async fn resume(&mut self, cancel: CancellationToken) -> pb::ProcessResult {
        self.process(cancel).await
    }
    async fn update(&mut self, _: CancellationToken, _: &()) -> Result<(), BoxError> {
        Ok(())
    }
    fn status_handle(&self) -> StatusHandle {
        Arc::new(|_: Option<&SourceStatus>| {
            UnitStatus::Load(pb::LoadStatus {
                finished_bytes: 42,
                ..Default::default()
            })
        })
    }
    fn unit_type(&self) -> pb::UnitType {
        pb::UnitType::Load
    }
    async fn is_fresh_task(&mut self, _: CancellationToken) -> Result<bool, BoxError> {
        Ok(true)
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn bench(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("supervisor");
    group.measurement_time(Duration::from_secs(4));

    let handle = rt.block_on(async {
        let units: Vec<BoxUnit<()>> = vec![Box::new(Noop)];
        let h = Subtask::spawn(SubtaskConfig::new("bench"), units);
        h.wait_for(|s| s == pb::Stage::Running).await;
        h
    });
    group.bench_function("pause_resume_round_trip", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    handle.pause().await.expect("pause");
                    handle.resume().await.expect("resume");
                }
                start.elapsed()
            })
        })
    });

    // Baseline: an actor answering two requests per round trip, doing nothing else.
    let (tx, mut rx) = mpsc::unbounded_channel::<oneshot::Sender<()>>();
    rt.spawn(async move {
        while let Some(reply) = rx.recv().await {
            let _ = reply.send(());
        }
    });
    group.bench_function("baseline_two_channel_round_trips", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    for _ in 0..2 {
                        let (otx, orx) = oneshot::channel();
                        tx.send(otx).expect("send");
                        orx.await.expect("reply");
                    }
                }
                start.elapsed()
            })
        })
    });

    group.bench_function("status_while_processing", |b| b.iter(|| handle.status()));
    let snapshot = Mutex::new(handle.status());
    group.bench_function("baseline_mutex_snapshot_clone", |b| {
        b.iter(|| snapshot.lock().expect("lock").clone())
    });
    group.finish();
    rt.block_on(async { handle.stop().await.expect("stop") });
}

criterion_group!(benches, bench);
criterion_main!(benches);
