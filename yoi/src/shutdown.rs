//! Waiting for SIGINT or SIGTERM: the first starts a graceful shutdown, a second one ends the
//! process at once.

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM.
pub(crate) async fn signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let terminate = async {
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                terminate.recv().await;
            }
            // Without a SIGTERM handler, Ctrl-C still works.
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

/// After the first signal: exits the process on the next one, for an operator who will not wait
/// for a graceful shutdown.
pub(crate) fn exit_on_second_signal() {
    tokio::spawn(async {
        signal().await;
        tracing::warn!("second signal: exiting without waiting");
        std::process::exit(130);
    });
}
