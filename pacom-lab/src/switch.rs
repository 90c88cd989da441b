//! The userspace switch that stands in for netem.
//!
//! One thread inside the switch namespace owns one `AF_PACKET` socket per
//! port. A frame received on port i is learned (source MAC → i), sent to the
//! port owning its destination MAC or flooded (broadcast, multicast,
//! unknown), and for every output port j it is dropped with the (i, j)
//! link's loss probability or queued until `now + delay ± jitter`. Without
//! `reorder`, a release time is never earlier than the previous one of the
//! same (i, j) direction, so each direction stays FIFO like a real link.
//! A single `ppoll` loop waits for frames or the next release time.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::error::LabError;
use crate::netns;

/// What happens to a frame going from one host to another.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkParams {
    /// One-way delay.
    pub delay: Duration,
    /// Uniform perturbation in [-jitter, +jitter] (floored at zero delay).
    pub jitter: Duration,
    /// Probability that a frame is dropped.
    pub loss: f64,
    /// Allow jitter to reorder frames of one direction.
    pub reorder: bool,
}

/// Counters the switch keeps while running.
#[derive(Debug, Default)]
pub struct SwitchStats {
    pub received: AtomicU64,
    pub forwarded: AtomicU64,
    /// Dropped by the loss draw.
    pub lost: AtomicU64,
    /// Dropped because the pair has no link (or same-port destination).
    pub unrouted: AtomicU64,
    /// `send` failed (e.g. interface down during teardown).
    pub send_errors: AtomicU64,
}

/// One frame as a passive observer of the link sees it: when it entered
/// the switch (the sender's transmit time), when the switch released it
/// (the receiver's arrival time), between which ports, and its size.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FrameRecord {
    /// Since the log started.
    pub received: Duration,
    pub released: Duration,
    /// Switch ports, which are host indices in topology order.
    pub from: usize,
    pub to: usize,
    /// Ethernet frame length in bytes.
    pub len: u32,
    /// TCP source and destination ports of an IPv4 TCP frame: what tells
    /// two connections between the same hosts apart on the wire.
    pub tcp_ports: Option<(u16, u16)>,
}

/// Source and destination port of an IPv4 TCP frame (first fragment).
pub fn tcp_ports(frame: &[u8]) -> Option<(u16, u16)> {
    if frame.len() < 14 + 20 || frame[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = &frame[14..];
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let fragment_offset = u16::from_be_bytes([ip[6], ip[7]]) & 0x1fff;
    if ip[0] >> 4 != 4 || ip[9] != 6 || ihl < 20 || fragment_offset != 0 {
        return None;
    }
    let tcp = ip.get(ihl..ihl + 4)?;
    Some((
        u16::from_be_bytes([tcp[0], tcp[1]]),
        u16::from_be_bytes([tcp[2], tcp[3]]),
    ))
}

/// The switch's per-link frame log: off until started, so long labs that
/// do not need it keep no memory.
#[derive(Debug, Default)]
pub struct FrameLog {
    origin: Mutex<Option<Instant>>,
    records: Mutex<Vec<FrameRecord>>,
}

impl FrameLog {
    /// Starts (or restarts, clearing) the log; times count from now.
    pub fn start(&self) {
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        *self.origin.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    }

    /// Stops the log and returns what it recorded.
    pub fn take(&self) -> Vec<FrameRecord> {
        *self.origin.lock().unwrap_or_else(|e| e.into_inner()) = None;
        std::mem::take(&mut *self.records.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn record(&self, arrived: Instant, release: Instant, from: usize, to: usize, frame: &[u8]) {
        let Some(origin) = *self.origin.lock().unwrap_or_else(|e| e.into_inner()) else {
            return;
        };
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(FrameRecord {
                received: arrived.saturating_duration_since(origin),
                released: release.saturating_duration_since(origin),
                from,
                to,
                len: frame.len() as u32,
                tcp_ports: tcp_ports(frame),
            });
    }
}

/// Largest frame we accept: offloads are off, so 1514 bytes suffice.
const MAX_FRAME: usize = 2048;

/// How the switch was configured.
pub(crate) struct SwitchConfig {
    pub namespace: String,
    /// Interface names of the ports inside the switch namespace.
    pub ports: Vec<String>,
    pub links: BTreeMap<(usize, usize), LinkParams>,
    pub default_link: Option<LinkParams>,
    pub seed: u64,
}

/// A running switch; dropping it stops the thread.
pub(crate) struct Switch {
    stop: OwnedFd,
    thread: Option<JoinHandle<()>>,
    pub stats: Arc<SwitchStats>,
    pub log: Arc<FrameLog>,
}

impl Switch {
    /// Starts the switch thread and waits until every port socket is bound.
    pub fn start(config: SwitchConfig) -> Result<Self, LabError> {
        // SAFETY: eventfd returns a new descriptor or -1.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if efd < 0 {
            return Err(LabError::last_os("eventfd"));
        }
        // SAFETY: efd is a fresh descriptor we own.
        let stop = unsafe { OwnedFd::from_raw_fd(efd) };
        // SAFETY: dup of a valid descriptor.
        let stop_thread = unsafe { libc::dup(efd) };
        if stop_thread < 0 {
            return Err(LabError::last_os("dup eventfd"));
        }
        // SAFETY: fresh descriptor from dup.
        let stop_thread = unsafe { OwnedFd::from_raw_fd(stop_thread) };
        let stats = Arc::new(SwitchStats::default());
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread_stats = stats.clone();
        let log = Arc::new(FrameLog::default());
        let thread_log = log.clone();
        let thread = std::thread::Builder::new()
            .name("pacom-lab-switch".into())
            .spawn(move || match open_ports(&config) {
                Ok(ports) => {
                    let _ = ready_tx.send(Ok(()));
                    run(&config, &ports, &stop_thread, &thread_stats, &thread_log);
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            })
            .map_err(|e| LabError::io("spawning switch thread", e))?;
        let switch = Switch {
            stop,
            thread: Some(thread),
            stats,
            log,
        };
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(switch),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(LabError::Switch("switch thread died during start".into())),
        }
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        let one: u64 = 1;
        // SAFETY: writing 8 bytes from a valid u64 to our eventfd.
        unsafe { libc::write(self.stop.as_raw_fd(), (&one as *const u64).cast(), 8) };
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Enters the switch namespace and binds one raw socket per port.
fn open_ports(config: &SwitchConfig) -> Result<Vec<OwnedFd>, LabError> {
    let path = format!("/run/netns/{}", config.namespace);
    let file = File::open(&path).map_err(|e| LabError::io(format!("opening {path}"), e))?;
    netns::enter(&file, &config.namespace)?;
    config.ports.iter().map(|p| open_port(p)).collect()
}

fn open_port(name: &str) -> Result<OwnedFd, LabError> {
    let proto = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: plain socket(2) call.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            i32::from(proto),
        )
    };
    if fd < 0 {
        return Err(LabError::last_os(format!("AF_PACKET socket for {name}")));
    }
    // SAFETY: fd is fresh and ours.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let cname = std::ffi::CString::new(name)
        .map_err(|_| LabError::Switch(format!("bad port name {name}")))?;
    // SAFETY: valid NUL-terminated string.
    let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
    if ifindex == 0 {
        return Err(LabError::last_os(format!("if_nametoindex({name})")));
    }
    // SAFETY: zeroed sockaddr_ll is a valid value; we fill the fields bind needs.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = proto;
    addr.sll_ifindex = ifindex as i32;
    // SAFETY: addr is a properly sized sockaddr_ll.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if r != 0 {
        return Err(LabError::last_os(format!("binding AF_PACKET to {name}")));
    }
    // Our own transmissions would otherwise come back as input. Older kernels
    // lack the option; the PACKET_OUTGOING check in `recv` covers them.
    let one: libc::c_int = 1;
    // SAFETY: setsockopt with a c_int option value.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_IGNORE_OUTGOING,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as u32,
        )
    };
    let buf: libc::c_int = 4 << 20;
    for opt in [libc::SO_RCVBUF, libc::SO_SNDBUF] {
        // SAFETY: as above.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&buf as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as u32,
            )
        };
    }
    Ok(fd)
}

/// A frame waiting for its release time.
struct Queued {
    release: Instant,
    seq: u64,
    port: usize,
    frame: Vec<u8>,
}

impl PartialEq for Queued {
    fn eq(&self, o: &Self) -> bool {
        (self.release, self.seq) == (o.release, o.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Queued {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.release, self.seq).cmp(&(o.release, o.seq))
    }
}

/// Receives one frame; `None` when the socket is drained.
fn recv(fd: RawFd, buf: &mut [u8]) -> Option<Option<usize>> {
    // SAFETY: zeroed sockaddr_ll is valid; recvfrom writes at most its size.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_ll>() as u32;
    // SAFETY: buf is valid for buf.len() bytes.
    let n = unsafe {
        libc::recvfrom(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            0,
            (&mut addr as *mut libc::sockaddr_ll).cast(),
            &mut len,
        )
    };
    if n < 0 {
        return None;
    }
    if addr.sll_pkttype == libc::PACKET_OUTGOING {
        return Some(None);
    }
    Some(Some(n as usize))
}

/// The forwarding loop; returns when the stop eventfd becomes readable.
fn run(
    config: &SwitchConfig,
    ports: &[OwnedFd],
    stop: &OwnedFd,
    stats: &SwitchStats,
    log: &FrameLog,
) {
    let mut rng = ChaCha20Rng::seed_from_u64(config.seed);
    let mut macs: HashMap<[u8; 6], usize> = HashMap::new();
    let mut queue: BinaryHeap<Reverse<Queued>> = BinaryHeap::new();
    let mut last_release: HashMap<(usize, usize), Instant> = HashMap::new();
    let mut seq = 0u64;
    let mut buf = vec![0u8; MAX_FRAME];
    let mut pfds: Vec<libc::pollfd> = std::iter::once(stop.as_raw_fd())
        .chain(ports.iter().map(|p| p.as_raw_fd()))
        .map(|fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    loop {
        let now = Instant::now();
        let wait = queue
            .peek()
            .map(|q| q.0.release.saturating_duration_since(now))
            .unwrap_or(Duration::from_millis(200));
        let ts = libc::timespec {
            tv_sec: wait.as_secs() as libc::time_t,
            tv_nsec: wait.subsec_nanos() as libc::c_long,
        };
        // SAFETY: pfds is a valid array of pollfd of the given length.
        let r = unsafe {
            libc::ppoll(
                pfds.as_mut_ptr(),
                pfds.len() as libc::nfds_t,
                &ts,
                std::ptr::null(),
            )
        };
        if r > 0 {
            if pfds[0].revents != 0 {
                return;
            }
            for (in_port, pfd) in pfds[1..].iter().enumerate() {
                if pfd.revents == 0 {
                    continue;
                }
                while let Some(got) = recv(pfd.fd, &mut buf) {
                    let Some(n) = got else { continue };
                    if n < 14 {
                        continue;
                    }
                    stats.received.fetch_add(1, Ordering::Relaxed);
                    let arrived = Instant::now();
                    let dst: [u8; 6] = buf[0..6].try_into().expect("6 bytes");
                    let src: [u8; 6] = buf[6..12].try_into().expect("6 bytes");
                    if src[0] & 1 == 0 {
                        macs.insert(src, in_port);
                    }
                    let targets: Vec<usize> = match macs.get(&dst) {
                        Some(&p) if dst[0] & 1 == 0 => vec![p],
                        _ => (0..ports.len()).filter(|&p| p != in_port).collect(),
                    };
                    for out in targets {
                        let params = config
                            .links
                            .get(&(in_port, out))
                            .or(config.default_link.as_ref());
                        let Some(params) = params.filter(|_| out != in_port) else {
                            stats.unrouted.fetch_add(1, Ordering::Relaxed);
                            continue;
                        };
                        if params.loss > 0.0 && rng.gen::<f64>() < params.loss {
                            stats.lost.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        let mut delay = params.delay.as_secs_f64();
                        if !params.jitter.is_zero() {
                            let j = params.jitter.as_secs_f64();
                            delay = (delay + rng.gen_range(-j..=j)).max(0.0);
                        }
                        let mut release = arrived + Duration::from_secs_f64(delay);
                        if !params.reorder {
                            let last = last_release.entry((in_port, out)).or_insert(release);
                            release = release.max(*last);
                            *last = release;
                        }
                        log.record(arrived, release, in_port, out, &buf[..n]);
                        seq += 1;
                        queue.push(Reverse(Queued {
                            release,
                            seq,
                            port: out,
                            frame: buf[..n].to_vec(),
                        }));
                    }
                }
            }
        }
        let now = Instant::now();
        while queue.peek().is_some_and(|q| q.0.release <= now) {
            let Reverse(q) = queue.pop().expect("peeked");
            // SAFETY: sending from a valid buffer on our bound socket.
            let sent = unsafe {
                libc::send(
                    ports[q.port].as_raw_fd(),
                    q.frame.as_ptr().cast(),
                    q.frame.len(),
                    0,
                )
            };
            if sent < 0 {
                stats.send_errors.fetch_add(1, Ordering::Relaxed);
            } else {
                stats.forwarded.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tcp_ports;

    fn frame(ethertype: [u8; 2], protocol: u8, ports: [u8; 4]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend(ethertype);
        let mut ip = vec![0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, protocol, 0, 0];
        ip.extend([10, 0, 0, 1, 10, 0, 0, 2]);
        f.extend(ip);
        f.extend(ports);
        f.extend([0u8; 16]);
        f
    }

    #[test]
    fn tcp_ports_are_read_from_ipv4_tcp_frames_only() {
        let ports = [0x1a, 0xe1, 0xc3, 0x50];
        assert_eq!(tcp_ports(&frame([8, 0], 6, ports)), Some((6881, 50000)));
        assert_eq!(tcp_ports(&frame([8, 0], 17, ports)), None);
        assert_eq!(tcp_ports(&frame([0x86, 0xdd], 6, ports)), None);
        assert_eq!(tcp_ports(&frame([8, 0], 6, ports)[..30]), None);
    }
}
