//! A TCP proxy that injects network faults.

use std::time::Duration;

/// A TCP proxy in front of a server that can cut every connection through it and delay
/// traffic, to test what a network fault does to a client.
#[derive(Debug)]
pub struct FaultProxy {
    port: u16,
    state: std::sync::Arc<ProxyState>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug, Default)]
struct ProxyState {
    /// Bumped by `cut`: connections opened under an older generation are dropped.
    generation: std::sync::atomic::AtomicU64,
    delay_ms: std::sync::atomic::AtomicU64,
    cut_notify: tokio::sync::Notify,
    /// Set by `stall`: packets are held, connections stay open.
    stalled: std::sync::atomic::AtomicBool,
    stall_notify: tokio::sync::Notify,
}

impl FaultProxy {
    /// Starts a proxy on a free local port that forwards to `127.0.0.1:target_port`.
    ///
    /// # Panics
    /// When no local port can be bound.
    pub async fn start(target_port: u16) -> FaultProxy {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let state = std::sync::Arc::new(ProxyState::default());
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let Ok(server) =
                        tokio::net::TcpStream::connect(("127.0.0.1", target_port)).await
                    else {
                        return;
                    };
                    let born = state.generation.load(Ordering::SeqCst);
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    let pump = |state: std::sync::Arc<ProxyState>| {
                        move |mut from: tokio::net::tcp::OwnedReadHalf,
                              mut to: tokio::net::tcp::OwnedWriteHalf| async move {
                            use tokio::io::{AsyncReadExt, AsyncWriteExt};
                            let mut buf = vec![0u8; 64 * 1024];
                            loop {
                                let n = match from.read(&mut buf).await {
                                    Ok(0) | Err(_) => return,
                                    Ok(n) => n,
                                };
                                while state.stalled.load(Ordering::SeqCst) {
                                    let resumed = state.stall_notify.notified();
                                    if !state.stalled.load(Ordering::SeqCst) {
                                        break;
                                    }
                                    resumed.await;
                                }
                                let delay = state.delay_ms.load(Ordering::Relaxed);
                                if delay > 0 {
                                    tokio::time::sleep(Duration::from_millis(delay)).await;
                                }
                                if to.write_all(&buf[..n]).await.is_err() {
                                    return;
                                }
                            }
                        }
                    };
                    let up = pump(state.clone())(cr, sw);
                    let down = pump(state.clone())(sr, cw);
                    let cut = async {
                        while state.generation.load(Ordering::SeqCst) == born {
                            state.cut_notify.notified().await;
                        }
                    };
                    tokio::select! {
                        () = async { tokio::join!(up, down); } => {}
                        () = cut => {}
                    }
                    // Dropping both pumps closes both sockets.
                });
            }
        });
        FaultProxy { port, state, task }
    }

    /// A URL for `database` on the proxied server (root without a password).
    pub fn url(&self, database: &str) -> String {
        format!("mysql://root@127.0.0.1:{}/{database}", self.port)
    }

    /// Drops every connection currently open through the proxy, abruptly.
    pub fn cut(&self) {
        self.state
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.state.cut_notify.notify_waiters();
    }

    /// Stops forwarding (`true`) without closing any connection, as a source that
    /// hangs or a network that drops packets does, or forwards again (`false`).
    pub fn set_stalled(&self, stalled: bool) {
        self.state
            .stalled
            .store(stalled, std::sync::atomic::Ordering::SeqCst);
        self.state.stall_notify.notify_waiters();
    }

    /// Delays every packet by `delay` from now on.
    pub fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.state
            .delay_ms
            .store(ms, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
