//! [`CircuitOpener`]: the SOCKS front's streams, carried by circuits to
//! exit nodes.
//!
//! Each `(exit, isolation key)` pair gets a session of its own (built with
//! [`NodeHandle::connect_new`]), so streams with different SOCKS
//! credentials never share a circuit. A stream starts with a
//! [`Begin`](pacom_core::exit::Begin); the exit's
//! [`Connected`](pacom_core::exit::Connected) decides whether the SOCKS
//! client is told success or the exit's refusal.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use futures::future::BoxFuture;
use pacom_core::exit::{Begin, Connected, ExitReply};
use pacom_core::identity::{Contact, Fingerprint};
use pacom_core::session::{SessionError, SessionId};
use pacom_core::socks::{IsolationKey, TargetAddr};
use rand::Rng;
use tokio::io::AsyncWriteExt;

use super::handle::HandleError;
use super::streams::{CircuitStream, StreamHub};
use crate::proxy::{read_message, OpenError, OpenedStream, StreamOpener, WireIoError};

type SessionKey = (Fingerprint, IsolationKey);

/// Opens SOCKS streams through circuits to one of `exits`.
pub struct CircuitOpener {
    hub: StreamHub,
    exits: Vec<Contact>,
    sessions: Arc<Mutex<HashMap<SessionKey, SessionId>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl CircuitOpener {
    pub fn new(hub: StreamHub, exits: Vec<Contact>) -> Self {
        CircuitOpener {
            hub,
            exits,
            sessions: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The exit for a new stream among `exits`: the one this isolation key
    /// already uses, so its streams stay on one path, or a random one.
    fn pick_exit(&self, exits: &[Contact], isolation: &IsolationKey) -> Option<Contact> {
        let sessions = lock(&self.sessions);
        let known = exits
            .iter()
            .find(|e| sessions.contains_key(&(e.fingerprint(), isolation.clone())));
        if let Some(e) = known {
            return Some(e.clone());
        }
        if exits.is_empty() {
            return None;
        }
        let i = rand::thread_rng().gen_range(0..exits.len());
        exits.get(i).cloned()
    }

    /// The live session for `key`, or a new one.
    async fn session(&self, exit: &Contact, key: &SessionKey) -> Result<SessionId, HandleError> {
        if let Some(s) = lock(&self.sessions).get(key) {
            return Ok(*s);
        }
        let s = self.hub.handle().connect_new(exit).await?;
        lock(&self.sessions).insert(key.clone(), s);
        Ok(s)
    }

    /// A stream on the key's session; a failed session is replaced once.
    async fn stream(&self, exit: &Contact, key: &SessionKey) -> Result<CircuitStream, OpenError> {
        let s = self.session(exit, key).await.map_err(no_circuit)?;
        match self.hub.open(s).await {
            Ok(st) => Ok(st),
            Err(HandleError::Session(SessionError::Failed(_) | SessionError::NoSession(_))) => {
                lock(&self.sessions).remove(key);
                let s = self.session(exit, key).await.map_err(no_circuit)?;
                self.hub.open(s).await.map_err(no_circuit)
            }
            Err(e) => Err(no_circuit(e)),
        }
    }

    /// Opens a stream through one of `exits` (instead of the opener's own
    /// list), sharing this opener's sessions: a local front-end in another
    /// process names its exits per request.
    pub async fn open_via(
        &self,
        exits: &[Contact],
        isolation: IsolationKey,
        target: TargetAddr,
    ) -> Result<OpenedStream, OpenError> {
        let begin = Begin { target }.encode()?;
        let exit = self
            .pick_exit(exits, &isolation)
            .ok_or(OpenError::NoCircuit)?;
        let key = (exit.fingerprint(), isolation);
        // A session that fails before the exit answered is replaced once:
        // the destination has seen at most a TCP connect, no application
        // byte, so a new stream cannot repeat anything the application did.
        let mut tries = 0;
        loop {
            tries += 1;
            let mut st = self.stream(&exit, &key).await?;
            st.writer.write_all(&begin).await?;
            match read_message(&mut st.reader, Connected::decode).await {
                Ok(connected) => {
                    return match connected.code {
                        ExitReply::Ok(_) => Ok((Box::new(st.reader), Box::new(st.writer))),
                        refused => Err(OpenError::Exit(refused)),
                    }
                }
                Err(WireIoError::Io(e)) if broken(&e) => {
                    lock(&self.sessions).remove(&key);
                    if tries >= 2 {
                        return Err(OpenError::NoCircuit);
                    }
                    tracing::debug!("session failed before the exit answered; retrying");
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// The stream broke under us (its session failed).
fn broken(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
    )
}

fn no_circuit(e: HandleError) -> OpenError {
    tracing::debug!(error = %e, "no stream to the exit");
    OpenError::NoCircuit
}

impl StreamOpener for CircuitOpener {
    fn open(
        &self,
        isolation: IsolationKey,
        target: TargetAddr,
    ) -> BoxFuture<'_, Result<OpenedStream, OpenError>> {
        Box::pin(self.open_via(&self.exits, isolation, target))
    }
}
