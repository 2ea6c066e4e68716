//! The signals that stop a migration as Ctrl-C does (SIGINT, SIGTERM): the task is
//! paused with its checkpoints kept, and the exit status is 128 + the signal's number.

/// The signals that stop a migration as Ctrl-C does: paused, checkpoints kept.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Signal {
    /// SIGINT (Ctrl-C): exit status 130.
    Interrupt,
    /// SIGTERM (a service manager or container runtime stopping it): exit status 143.
    Terminate,
}

impl Signal {
    /// `SIGINT` or `SIGTERM`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Interrupt => "SIGINT",
            Self::Terminate => "SIGTERM",
        }
    }

    /// 128 + the signal's number, as a shell reports a process the signal ended.
    pub(crate) fn exit_status(self) -> u8 {
        match self {
            Self::Interrupt => 130,
            Self::Terminate => 143,
        }
    }
}

/// A listener for SIGTERM (`None` where there is none, or it cannot be installed).
#[cfg(unix)]
pub(crate) fn terminate_signal() -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok()
}

#[cfg(not(unix))]
pub(crate) fn terminate_signal() -> Option<()> {
    None
}

/// Resolves when SIGTERM arrives; never without a listener.
#[cfg(unix)]
pub(crate) async fn terminated(listener: &mut Option<tokio::signal::unix::Signal>) {
    match listener {
        Some(l) => {
            l.recv().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
pub(crate) async fn terminated(_: &mut Option<()>) {
    std::future::pending().await
}
