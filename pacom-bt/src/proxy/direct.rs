//! A [`StreamOpener`] that reaches an exit in the same process over an
//! in-memory pipe, speaking exactly the bytes a circuit stream will carry.
//!
//! This is for tests, benchmarks and debugging. The real opener, which
//! keeps a session per isolation key and opens circuit streams to a remote
//! exit, is [`crate::node::CircuitOpener`].

use super::connector::{CircuitKey, ExitConnector};
use super::wire_io::read_message;
use super::{OpenError, OpenedStream, StreamOpener};
use futures::future::BoxFuture;
use pacom_core::exit::{Begin, Connected, ExitReply};
use pacom_core::socks::{IsolationKey, TargetAddr};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tracing::debug;

/// Bytes buffered in each direction of the pipe, standing in for a
/// circuit stream's flow-control window.
const PIPE_WINDOW: usize = 256 * 1024;

pub struct DirectOpener {
    exit: Arc<ExitConnector>,
}

impl DirectOpener {
    pub fn new(exit: Arc<ExitConnector>) -> Self {
        DirectOpener { exit }
    }
}

/// One "circuit" per isolation key, as the runtime will keep them apart.
fn circuit_for(key: &IsolationKey) -> CircuitKey {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

impl StreamOpener for DirectOpener {
    fn open(
        &self,
        isolation: IsolationKey,
        target: TargetAddr,
    ) -> BoxFuture<'_, Result<OpenedStream, OpenError>> {
        Box::pin(async move {
            let begin = Begin { target }.encode()?;
            let (client, exit_end) = tokio::io::duplex(PIPE_WINDOW);
            let exit = self.exit.clone();
            let circuit = circuit_for(&isolation);
            tokio::spawn(async move {
                let (r, w) = tokio::io::split(exit_end);
                if let Err(e) = exit.serve_stream(circuit, r, w).await {
                    debug!(error = %e, "exit stream ended");
                }
            });
            let (mut r, mut w) = tokio::io::split(client);
            w.write_all(&begin).await?;
            let connected = read_message(&mut r, Connected::decode).await?;
            match connected.code {
                ExitReply::Ok(_) => Ok((
                    Box::new(r) as Box<dyn tokio::io::AsyncRead + Send + Unpin>,
                    Box::new(w) as Box<dyn tokio::io::AsyncWrite + Send + Unpin>,
                )),
                refused => Err(OpenError::Exit(refused)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn different_credentials_get_different_circuits() {
        let anon = circuit_for(&IsolationKey(None));
        let alice = circuit_for(&IsolationKey(Some((b"alice".to_vec(), b"x".to_vec()))));
        let bob = circuit_for(&IsolationKey(Some((b"bob".to_vec(), b"x".to_vec()))));
        // The boundary between user and password is part of the key.
        let shifted = circuit_for(&IsolationKey(Some((b"alicex".to_vec(), Vec::new()))));
        assert_eq!(
            alice,
            circuit_for(&IsolationKey(Some((b"alice".to_vec(), b"x".to_vec()))))
        );
        let all = [anon, alice, bob, shifted];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }
}
