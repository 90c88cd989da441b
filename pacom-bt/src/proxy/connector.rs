//! The exit's TCP side: resolve names here (never at the client), check
//! every resolved address against the exit policy, count open streams, and
//! connect with a time-out.

use pacom_core::exit::{Begin, ExitPolicy, ExitReply, StreamLimits, Verdict};
use pacom_core::socks::TargetAddr;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tracing::debug;

/// Identifies the circuit a stream arrived on, for per-circuit limits.
pub type CircuitKey = u64;

/// At most this many resolved addresses are tried, each with the connect
/// time-out, so one request cannot hold a slot for long.
const MAX_ATTEMPTS: usize = 4;

/// Name resolution at the exit: the system resolver, behind an override
/// map (like an `/etc/hosts` of the exit; tests use it for names only the
/// exit knows).
#[derive(Clone, Debug)]
pub struct Resolver {
    overrides: HashMap<String, Vec<IpAddr>>,
    timeout: Duration,
}

impl Default for Resolver {
    fn default() -> Self {
        Resolver {
            overrides: HashMap::new(),
            timeout: Duration::from_secs(10),
        }
    }
}

impl Resolver {
    pub fn new() -> Self {
        Resolver::default()
    }

    /// Answers `name` with `addrs` without asking the system resolver.
    pub fn with_override(mut self, name: &str, addrs: Vec<IpAddr>) -> Self {
        self.overrides.insert(normalise(name), addrs);
        self
    }

    pub fn with_timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// All addresses of `name`; IP literals written as names are taken as is.
    pub async fn resolve(&self, name: &str, port: u16) -> Result<Vec<SocketAddr>, ExitReply> {
        let key = normalise(name);
        if let Ok(ip) = key.trim_start_matches('[').trim_end_matches(']').parse() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        if let Some(ips) = self.overrides.get(&key) {
            return Ok(ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect());
        }
        let looked_up = timeout(self.timeout, tokio::net::lookup_host((key.as_str(), port))).await;
        match looked_up {
            Ok(Ok(addrs)) => Ok(addrs.collect()),
            Ok(Err(e)) => {
                debug!(error = %e, "exit: name did not resolve");
                Err(ExitReply::ResolveFailed)
            }
            Err(_) => Err(ExitReply::ResolveFailed),
        }
    }
}

/// DNS names are case-insensitive and may end in the root's dot.
fn normalise(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Opens TCP connections on behalf of circuit streams.
#[derive(Debug)]
pub struct ExitConnector {
    policy: ExitPolicy,
    limits: Arc<Mutex<StreamLimits<CircuitKey>>>,
    resolver: Resolver,
    connect_timeout: Duration,
    pub(super) begin_timeout: Duration,
}

/// A connected destination; its stream slot is returned when it drops.
#[derive(Debug)]
pub struct ExitStream {
    pub tcp: TcpStream,
    /// The destination reached (reported to the client, never our own address).
    pub peer: SocketAddr,
    _permit: Permit,
}

#[derive(Debug)]
struct Permit {
    limits: Arc<Mutex<StreamLimits<CircuitKey>>>,
    circuit: CircuitKey,
}

impl Drop for Permit {
    fn drop(&mut self) {
        lock(&self.limits).release(&self.circuit);
    }
}

/// The counters stay consistent even if a holder panicked.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ExitConnector {
    pub fn new(policy: ExitPolicy, limits: StreamLimits<CircuitKey>, resolver: Resolver) -> Self {
        ExitConnector {
            policy,
            limits: Arc::new(Mutex::new(limits)),
            resolver,
            connect_timeout: Duration::from_secs(20),
            begin_timeout: Duration::from_secs(30),
        }
    }

    pub fn with_connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// How long a new stream may take to send its `Begin`.
    pub fn with_begin_timeout(mut self, t: Duration) -> Self {
        self.begin_timeout = t;
        self
    }

    /// Streams currently open through this exit.
    pub fn open_streams(&self) -> usize {
        lock(&self.limits).total()
    }

    /// Resolves, checks and connects. Errors are what the exit tells the
    /// client in its `Connected` reply.
    pub async fn connect(
        &self,
        circuit: CircuitKey,
        begin: &Begin,
    ) -> Result<ExitStream, ExitReply> {
        if let Err(e) = lock(&self.limits).acquire(&circuit) {
            debug!(error = %e, "exit: stream limit reached");
            return Err(ExitReply::GeneralFailure);
        }
        let permit = Permit {
            limits: self.limits.clone(),
            circuit,
        };
        let addrs = match &begin.target {
            TargetAddr::Ip(a) => vec![*a],
            TargetAddr::Domain(name, port) => self.resolver.resolve(name, *port).await?,
        };
        if let Verdict::Reject(why) = self.policy.check_all(&addrs) {
            debug!(?why, "exit: destination refused by policy");
            return Err(ExitReply::NotAllowed);
        }
        let mut last = ExitReply::HostUnreachable;
        for addr in addrs.into_iter().take(MAX_ATTEMPTS) {
            match timeout(self.connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(tcp)) => {
                    let _ = tcp.set_nodelay(true);
                    return Ok(ExitStream {
                        tcp,
                        peer: addr,
                        _permit: permit,
                    });
                }
                Ok(Err(e)) => last = map_io(&e),
                Err(_) => last = ExitReply::TtlExpired,
            }
        }
        Err(last)
    }
}

/// A time-out is reported as "TTL expired", as Tor and most proxies do;
/// errors without a SOCKS equivalent are general failures.
fn map_io(e: &io::Error) -> ExitReply {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => ExitReply::Refused,
        io::ErrorKind::HostUnreachable => ExitReply::HostUnreachable,
        io::ErrorKind::NetworkUnreachable => ExitReply::NetUnreachable,
        io::ErrorKind::TimedOut => ExitReply::TtlExpired,
        _ => ExitReply::GeneralFailure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_map_to_exit_replies() {
        let k = |kind| map_io(&io::Error::from(kind));
        assert_eq!(k(io::ErrorKind::ConnectionRefused), ExitReply::Refused);
        assert_eq!(
            k(io::ErrorKind::HostUnreachable),
            ExitReply::HostUnreachable
        );
        assert_eq!(
            k(io::ErrorKind::NetworkUnreachable),
            ExitReply::NetUnreachable
        );
        assert_eq!(k(io::ErrorKind::TimedOut), ExitReply::TtlExpired);
        assert_eq!(k(io::ErrorKind::Other), ExitReply::GeneralFailure);
    }

    #[tokio::test]
    async fn overrides_and_literals_resolve_without_the_system() {
        let r =
            Resolver::new().with_override("Only-The-Exit.test.", vec!["10.9.8.7".parse().unwrap()]);
        assert_eq!(
            r.resolve("only-the-exit.TEST", 80).await,
            Ok(vec!["10.9.8.7:80".parse().unwrap()])
        );
        assert_eq!(
            r.resolve("::1", 5).await,
            Ok(vec!["[::1]:5".parse().unwrap()])
        );
        assert_eq!(
            r.resolve("[::1]", 5).await,
            Ok(vec!["[::1]:5".parse().unwrap()])
        );
    }

    #[tokio::test]
    async fn private_name_refused_and_limits_released() {
        let c = ExitConnector::new(
            ExitPolicy::new(),
            StreamLimits::new(1, 1),
            Resolver::new().with_override("intranet.test", vec!["192.168.1.1".parse().unwrap()]),
        );
        let begin = Begin {
            target: TargetAddr::Domain("intranet.test".into(), 80),
        };
        assert_eq!(
            c.connect(1, &begin).await.err(),
            Some(ExitReply::NotAllowed)
        );
        // The refused stream gave its slot back, so the limit of one still admits.
        assert_eq!(
            c.connect(1, &begin).await.err(),
            Some(ExitReply::NotAllowed)
        );
        assert_eq!(c.open_streams(), 0);
    }

    #[tokio::test]
    async fn limits_per_circuit_and_global_hold_until_streams_drop() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let begin = Begin {
            target: TargetAddr::Ip(l.local_addr().unwrap()),
        };
        let c = ExitConnector::new(
            ExitPolicy::new().allow_loopback(true),
            StreamLimits::new(1, 2),
            Resolver::new(),
        );
        let first = c.connect(1, &begin).await.expect("first stream");
        assert_eq!(
            c.connect(1, &begin).await.err(),
            Some(ExitReply::GeneralFailure)
        );
        let second = c.connect(2, &begin).await.expect("other circuit");
        assert_eq!(
            c.connect(3, &begin).await.err(),
            Some(ExitReply::GeneralFailure)
        );
        assert_eq!(c.open_streams(), 2);
        drop(first);
        assert_eq!(c.open_streams(), 1);
        let third = c.connect(1, &begin).await.expect("slot returned");
        drop((second, third));
        assert_eq!(c.open_streams(), 0);
    }
}
