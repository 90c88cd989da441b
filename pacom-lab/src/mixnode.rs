//! The processes of an emulated mix network: a continuous-time mix relay,
//! a traffic source that sends cells on a given schedule, and a sink.
//!
//! A mix relays each TCP flow to its next hop cell by cell (a cell is
//! [`CELL`] bytes, about one packet), holding every cell for its own
//! exponential delay: Danezis' continuous-time mix, the baseline the flow
//! correlation attacks are known to break. TCP cannot reorder bytes of one
//! flow, so a cell never leaves before the previous cell of its flow
//! (departure = max(arrival + Exp, previous departure)). Routing is static,
//! one listening port per flow, so the processes need no circuit protocol.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::error::LabError;

/// Bytes per relayed unit.
pub const CELL: usize = 512;

/// What one process of the mix network does.
#[derive(Clone, Debug, PartialEq)]
pub enum Role {
    /// Relay every flow accepted on `listen` to `next`, delaying each cell
    /// by an exponential delay of mean `mean_delay`.
    Mix {
        routes: Vec<(SocketAddr, SocketAddr)>,
        mean_delay: Duration,
        seed: u64,
    },
    /// Connect to `connect` and send one cell at each time of `schedule`
    /// (seconds after the connection is up), then close.
    Source {
        connect: SocketAddr,
        schedule: Vec<f64>,
    },
    /// Accept flows on every address and discard what arrives.
    Sink { listen: Vec<SocketAddr> },
}

/// Runs `role` until it finishes (sources) or the process is killed.
pub fn run(role: Role) -> Result<(), LabError> {
    match role {
        Role::Mix {
            routes,
            mean_delay,
            seed,
        } => mix(&routes, mean_delay, seed),
        Role::Source { connect, schedule } => source(connect, &schedule),
        Role::Sink { listen } => sink(&listen),
    }
}

fn bind(addr: SocketAddr) -> Result<TcpListener, LabError> {
    TcpListener::bind(addr).map_err(|e| LabError::io(format!("binding {addr}"), e))
}

/// Connects, retrying for a while: the next hop may still be starting.
fn connect(addr: SocketAddr) -> Result<TcpStream, LabError> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(s) => {
                s.set_nodelay(true)
                    .map_err(|e| LabError::io("TCP_NODELAY", e))?;
                return Ok(s);
            }
            Err(e) if Instant::now() >= deadline => {
                return Err(LabError::io(format!("connecting to {addr}"), e))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn mix(
    routes: &[(SocketAddr, SocketAddr)],
    mean_delay: Duration,
    seed: u64,
) -> Result<(), LabError> {
    let listeners: Vec<(TcpListener, SocketAddr)> = routes
        .iter()
        .map(|&(l, n)| bind(l).map(|t| (t, n)))
        .collect::<Result<_, _>>()?;
    let mean = mean_delay.as_secs_f64();
    std::thread::scope(|s| {
        for (i, (listener, next)) in listeners.iter().enumerate() {
            s.spawn(move || {
                for (k, incoming) in listener.incoming().enumerate() {
                    let Ok(input) = incoming else { continue };
                    let flow_seed = seed ^ ((i as u64) << 32) ^ k as u64;
                    if let Err(e) = relay(input, *next, mean, flow_seed) {
                        eprintln!("mix: flow to {next}: {e}");
                    }
                }
            });
        }
    });
    Ok(())
}

/// Relays one flow: a reader stamps each cell with its departure time, a
/// writer sends it then.
fn relay(mut input: TcpStream, next: SocketAddr, mean: f64, seed: u64) -> Result<(), LabError> {
    let _ = input.set_nodelay(true);
    let mut output = connect(next)?;
    let (tx, rx) = mpsc::channel::<(Instant, [u8; CELL])>();
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        for (at, cell) in rx {
            let now = Instant::now();
            if at > now {
                std::thread::sleep(at - now);
            }
            output.write_all(&cell)?;
        }
        output.shutdown(std::net::Shutdown::Write)
    });
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut last = Instant::now();
    loop {
        let mut cell = [0u8; CELL];
        match input.read_exact(&mut cell) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(LabError::io("reading a flow", e)),
        }
        // Inverse transform: -mean ln(1 - U) is Exp(1/mean).
        let delay = -mean * (1.0 - rng.gen::<f64>()).ln();
        let at = (Instant::now() + Duration::from_secs_f64(delay)).max(last);
        last = at;
        if tx.send((at, cell)).is_err() {
            break;
        }
    }
    drop(tx);
    writer
        .join()
        .map_err(|_| LabError::Switch("mix writer panicked".into()))?
        .map_err(|e| LabError::io(format!("writing to {next}"), e))
}

fn source(addr: SocketAddr, schedule: &[f64]) -> Result<(), LabError> {
    let mut s = connect(addr)?;
    let start = Instant::now();
    let mut cell = [0u8; CELL];
    for (i, &t) in schedule.iter().enumerate() {
        if !(t.is_finite() && t >= 0.0) {
            continue;
        }
        let at = start + Duration::from_secs_f64(t);
        let now = Instant::now();
        if at > now {
            std::thread::sleep(at - now);
        }
        cell[..8].copy_from_slice(&(i as u64).to_be_bytes());
        s.write_all(&cell)
            .map_err(|e| LabError::io(format!("sending to {addr}"), e))?;
    }
    let _ = s.shutdown(std::net::Shutdown::Write);
    Ok(())
}

fn sink(listen: &[SocketAddr]) -> Result<(), LabError> {
    let listeners: Vec<TcpListener> = listen.iter().map(|&a| bind(a)).collect::<Result<_, _>>()?;
    std::thread::scope(|s| {
        for l in &listeners {
            s.spawn(move || {
                for mut c in l.incoming().map_while(Result::ok) {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 8192];
                        while matches!(c.read(&mut buf), Ok(n) if n > 0) {}
                    });
                }
            });
        }
    });
    Ok(())
}
