//! The exit role of a node: every stream a peer opens on a session to us is
//! served by [`ExitConnector::serve_stream`], under its policy and limits.
//! The session id stands in for the circuit in per-circuit stream limits:
//! the target cannot tell a session's circuits apart anyway.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::handle::NodeHandle;
use super::streams::{Acceptor, CircuitStream, StreamHub};
use crate::proxy::ExitConnector;

/// Starts a stream hub whose peer-opened streams go to `exit`.
pub fn start_exit(handle: NodeHandle, exit: Arc<ExitConnector>) -> (StreamHub, JoinHandle<()>) {
    let (tx, rx): (Acceptor, _) = mpsc::unbounded_channel();
    let (hub, router) = StreamHub::start(handle, Some(tx));
    let task = tokio::spawn(async move {
        let serve = serve_all(rx, exit);
        tokio::select! {
            _ = serve => {}
            _ = router => {}
        }
    });
    (hub, task)
}

async fn serve_all(mut rx: mpsc::UnboundedReceiver<CircuitStream>, exit: Arc<ExitConnector>) {
    while let Some(st) = rx.recv().await {
        let exit = exit.clone();
        tokio::spawn(async move {
            let circuit = st.session.0;
            match exit.serve_stream(circuit, st.reader, st.writer).await {
                Ok((up, down)) => tracing::debug!(up, down, "exit stream finished"),
                Err(e) => tracing::debug!(error = %e, "exit stream ended"),
            }
        });
    }
}
