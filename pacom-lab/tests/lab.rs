//! The emulated network against its configuration: delay, loss, integrity,
//! and cleanup. Needs root and `ip netns`; skips (with the reason) only when
//! namespace creation is not permitted.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use pacom_lab::{netns, Lab, LabError, Topology};

fn topology(delay_ms: f64, loss: f64, seed: u64) -> Topology {
    Topology::from_toml(&format!(
        r#"
        seed = {seed}
        [[hosts]]
        name = "a"
        address = "10.91.0.1/24"
        [[hosts]]
        name = "b"
        address = "10.91.0.2/24"
        [[links]]
        a = "a"
        b = "b"
        delay_ms = {delay_ms}
        loss = {loss}
        "#
    ))
    .unwrap()
}

/// `recv_from` that retries on EINTR: a socket with a receive timeout is not
/// restarted after the process is stopped and continued (signal(7)).
trait RecvRetry {
    fn recv_from_retry(&self, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)>;
}

impl RecvRetry for UdpSocket {
    fn recv_from_retry(&self, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
        loop {
            match self.recv_from(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => return r,
            }
        }
    }
}

/// Brings a lab up, or `None` when this environment may not create namespaces.
fn up(t: &Topology) -> Option<Lab> {
    match Lab::up(t) {
        Ok(lab) => Some(lab),
        Err(LabError::NotPermitted { command, stderr }) => {
            eprintln!("skipping: not permitted to run `{command}`: {stderr}");
            None
        }
        Err(e) => panic!("lab up: {e}"),
    }
}

/// A UDP socket bound inside `host` (used from the test's own threads).
fn udp_bound(lab: &Lab, host: &str, port: u16) -> UdpSocket {
    let addr = SocketAddr::from((lab.addr(host).unwrap(), port));
    lab.run_in(host, || UdpSocket::bind(addr).unwrap()).unwrap()
}

#[test]
fn rtt_reflects_configured_delay() {
    let Some(lab) = up(&topology(40.0, 0.0, 1)) else {
        return;
    };
    let server = udp_bound(&lab, "b", 7000);
    server
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let echo = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        for _ in 0..10 {
            let Ok((n, from)) = server.recv_from_retry(&mut buf) else {
                return;
            };
            server.send_to(&buf[..n], from).unwrap();
        }
    });
    let target = SocketAddr::from((lab.addr("b").unwrap(), 7000));
    let client = lab
        .run_in("a", || {
            UdpSocket::bind((lab.addr("a").unwrap(), 0)).unwrap()
        })
        .unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut rtts = Vec::new();
    for i in 0..10u8 {
        let start = Instant::now();
        client.send_to(&[i; 32], target).unwrap();
        let mut buf = [0u8; 64];
        let (n, _) = client.recv_from_retry(&mut buf).expect("echo reply");
        assert_eq!(&buf[..n], &[i; 32]);
        rtts.push(start.elapsed());
    }
    echo.join().unwrap();
    let min = rtts.iter().min().unwrap();
    let max = rtts.iter().max().unwrap();
    eprintln!("RTT min {min:?} max {max:?} all {rtts:?}");
    assert!(
        *min >= Duration::from_millis(80),
        "min RTT {min:?} < 2 x 40 ms"
    );
    assert!(*max < Duration::from_millis(200), "max RTT {max:?}");
}

#[test]
fn loss_matches_configuration() {
    let Some(lab) = up(&topology(2.0, 0.2, 2)) else {
        return;
    };
    let server = udp_bound(&lab, "b", 7001);
    server
        .set_read_timeout(Some(Duration::from_millis(800)))
        .unwrap();
    let sent = 500u32;
    let counter = std::thread::spawn(move || {
        let mut got = std::collections::BTreeSet::new();
        let mut buf = [0u8; 64];
        while let Ok((n, _)) = server.recv_from_retry(&mut buf) {
            assert_eq!(n, 4);
            got.insert(u32::from_be_bytes(buf[..4].try_into().unwrap()));
        }
        got.len() as u32
    });
    let target = SocketAddr::from((lab.addr("b").unwrap(), 7001));
    let client = lab
        .run_in("a", || {
            UdpSocket::bind((lab.addr("a").unwrap(), 0)).unwrap()
        })
        .unwrap();
    for i in 0..sent {
        client.send_to(&i.to_be_bytes(), target).unwrap();
        std::thread::sleep(Duration::from_micros(500));
    }
    let received = counter.join().unwrap();
    let loss = 1.0 - f64::from(received) / f64::from(sent);
    let stats = lab.switch_stats();
    eprintln!(
        "loss measured {loss:.3} ({received}/{sent}); switch lost {} forwarded {}",
        stats.lost.load(std::sync::atomic::Ordering::Relaxed),
        stats.forwarded.load(std::sync::atomic::Ordering::Relaxed)
    );
    // Binomial sd at p = 0.2, n = 500 is 0.018: +-0.08 is over 4 sd.
    assert!((0.12..=0.28).contains(&loss), "loss {loss}");
}

#[test]
fn tcp_transfer_is_byte_identical_and_cleanup_is_complete() {
    let lab = match up(&topology(10.0, 0.0, 3)) {
        Some(lab) => lab,
        None => return,
    };
    let names = lab.namespaces().to_vec();
    let data: Vec<u8> = (0..4u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let listen = SocketAddr::from((lab.addr("b").unwrap(), 7002));
    let listener = lab
        .run_in("b", || TcpListener::bind(listen).unwrap())
        .unwrap();
    let reader = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        got
    });
    let started = Instant::now();
    let mut stream = lab
        .run_in("a", || TcpStream::connect(listen).unwrap())
        .unwrap();
    stream.write_all(&data).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let got = reader.join().unwrap();
    eprintln!("4 MiB over a 20 ms RTT path in {:?}", started.elapsed());
    assert_eq!(got.len(), data.len());
    assert!(got == data, "payload differs");
    drop(lab);
    let left: Vec<String> = netns::list()
        .unwrap()
        .into_iter()
        .filter(|n| names.contains(n))
        .collect();
    assert!(left.is_empty(), "namespaces left after drop: {left:?}");
}

#[test]
fn stale_namespaces_of_dead_processes_are_removed() {
    // A pid above the kernel's maximum can never be alive.
    let stale = "pl-99999999-0-sw";
    match netns::add(stale) {
        Err(LabError::NotPermitted { stderr, .. }) => {
            eprintln!("skipping: {stderr}");
            return;
        }
        r => r.unwrap(),
    }
    let Some(lab) = up(&topology(1.0, 0.0, 4)) else {
        return;
    };
    assert!(
        !netns::list().unwrap().iter().any(|n| n == stale),
        "stale namespace survived"
    );
    drop(lab);
}

#[test]
fn panic_inside_a_lab_still_cleans_up() {
    let Some(lab) = up(&topology(1.0, 0.0, 5)) else {
        return;
    };
    let names = lab.namespaces().to_vec();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _lab = lab;
        panic!("test failure inside the lab");
    }));
    assert!(r.is_err());
    let left: Vec<String> = netns::list()
        .unwrap()
        .into_iter()
        .filter(|n| names.contains(n))
        .collect();
    assert!(left.is_empty(), "namespaces left after panic: {left:?}");
}

/// Round-trip time from `from` to `to` (UDP echo), minimum of `n` probes.
fn min_rtt(lab: &Lab, from: &str, to: &str, port: u16, n: usize) -> Duration {
    let server = udp_bound(lab, to, port);
    server
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let echo = std::thread::spawn(move || {
        let mut buf = [0u8; 16];
        for _ in 0..n {
            let Ok((len, peer)) = server.recv_from_retry(&mut buf) else {
                return;
            };
            server.send_to(&buf[..len], peer).unwrap();
        }
    });
    let client = lab
        .run_in(from, || {
            UdpSocket::bind((lab.addr(from).unwrap(), 0)).unwrap()
        })
        .unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let target = SocketAddr::from((lab.addr(to).unwrap(), port));
    let mut best = Duration::MAX;
    for i in 0..n as u8 {
        let start = Instant::now();
        client.send_to(&[i], target).unwrap();
        let mut buf = [0u8; 16];
        client.recv_from_retry(&mut buf).expect("echo reply");
        best = best.min(start.elapsed());
    }
    echo.join().unwrap();
    best
}

#[test]
fn paper_mesh_has_per_pair_delays() {
    let t = Topology::full_mesh(&["p1", "p2", "p3", "p4"], 92, 1.0, 100.0, 21);
    let Some(lab) = up(&t) else { return };
    for (k, link) in t.links.iter().enumerate().take(3) {
        let rtt = min_rtt(&lab, &link.a, &link.b, 7100 + k as u16, 3);
        let want = Duration::from_secs_f64(2.0 * link.params.delay_ms / 1000.0);
        eprintln!(
            "{}-{}: configured RTT {want:?}, measured {rtt:?}",
            link.a, link.b
        );
        assert!(
            rtt >= want && rtt < want + Duration::from_millis(30),
            "{rtt:?} vs {want:?}"
        );
    }
}

#[test]
fn jitter_spreads_delay_but_keeps_order() {
    let mut t = topology(30.0, 0.0, 6);
    t.links[0].params.jitter_ms = 10.0;
    let Some(lab) = up(&t) else { return };
    let server = udp_bound(&lab, "b", 7003);
    server
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let origin = Instant::now();
    let receiver = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 16];
        while let Ok((_, _)) = server.recv_from_retry(&mut buf) {
            let seq = u32::from_be_bytes(buf[..4].try_into().unwrap());
            let sent = Duration::from_nanos(u64::from_be_bytes(buf[4..12].try_into().unwrap()));
            got.push((seq, origin.elapsed() - sent));
        }
        got
    });
    let target = SocketAddr::from((lab.addr("b").unwrap(), 7003));
    let client = lab
        .run_in("a", || {
            UdpSocket::bind((lab.addr("a").unwrap(), 0)).unwrap()
        })
        .unwrap();
    for seq in 0..200u32 {
        let mut msg = [0u8; 12];
        msg[..4].copy_from_slice(&seq.to_be_bytes());
        msg[4..].copy_from_slice(&(origin.elapsed().as_nanos() as u64).to_be_bytes());
        client.send_to(&msg, target).unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    let got = receiver.join().unwrap();
    assert_eq!(got.len(), 200, "no loss configured");
    assert!(
        got.windows(2).all(|w| w[0].0 < w[1].0),
        "reordered without `reorder`"
    );
    let min = got.iter().map(|g| g.1).min().unwrap();
    let max = got.iter().map(|g| g.1).max().unwrap();
    eprintln!("one-way delay with 30 +- 10 ms: min {min:?} max {max:?}");
    assert!(min >= Duration::from_millis(20), "{min:?}");
    assert!(
        max - min >= Duration::from_millis(8),
        "jitter not applied: {min:?}..{max:?}"
    );
    assert!(max < Duration::from_millis(80), "{max:?}");
}

#[test]
fn exec_runs_inside_the_host_and_drop_kills_leftovers() {
    let Some(lab) = up(&topology(1.0, 0.0, 7)) else {
        return;
    };
    let out = lab
        .command("a", "ip")
        .unwrap()
        .args(["-4", "addr", "show", "eth0"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("10.91.0.1/24"), "{text}");
    assert!(!text.contains("10.91.0.2"), "{text}");
    let mut child = lab.exec("b", "sleep", &["60"]).unwrap();
    // Wait until the sleep has entered the namespace (ip netns exec execs it).
    let ns = lab.namespace("b").unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while netns::run("ip", &["netns", "pids", &ns])
        .unwrap()
        .stdout
        .is_empty()
    {
        assert!(Instant::now() < deadline, "sleep never showed up in {ns}");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(lab);
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "sleep should have been killed, got {status}"
    );
}

#[test]
fn capture_records_the_hosts_traffic() {
    let Some(lab) = up(&topology(1.0, 0.0, 8)) else {
        return;
    };
    let path =
        std::env::temp_dir().join(format!("pacom-lab-{}-capture.pcapng", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let capture = lab.capture("b", &path).unwrap();
    let server = udp_bound(&lab, "b", 7004);
    let client = lab
        .run_in("a", || {
            UdpSocket::bind((lab.addr("a").unwrap(), 0)).unwrap()
        })
        .unwrap();
    let target = SocketAddr::from((lab.addr("b").unwrap(), 7004));
    for i in 0..20u8 {
        client.send_to(&[i; 8], target).unwrap();
    }
    server
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut buf = [0u8; 16];
    for _ in 0..20 {
        server.recv_from_retry(&mut buf).unwrap();
    }
    let file = capture.stop().unwrap();
    let out = std::process::Command::new("tshark")
        .arg("-r")
        .arg(&file)
        .args([
            "-Y",
            "udp.dstport == 7004",
            "-T",
            "fields",
            "-e",
            "frame.number",
        ])
        .output()
        .unwrap();
    let frames = String::from_utf8_lossy(&out.stdout).lines().count();
    let _ = std::fs::remove_file(&file);
    assert_eq!(frames, 20, "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn bandwidth_cap_limits_tcp_throughput() {
    let mut t = topology(1.0, 0.0, 9);
    t.hosts[0].rate_mbit = Some(8.0);
    let Some(lab) = up(&t) else { return };
    let data = vec![0x5au8; 2 << 20];
    let listen = SocketAddr::from((lab.addr("b").unwrap(), 7005));
    let listener = lab
        .run_in("b", || TcpListener::bind(listen).unwrap())
        .unwrap();
    let reader = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        (got.len(), Instant::now())
    });
    let started = Instant::now();
    let mut stream = lab
        .run_in("a", || TcpStream::connect(listen).unwrap())
        .unwrap();
    stream.write_all(&data).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let (len, done) = reader.join().unwrap();
    assert_eq!(len, data.len());
    let mbit = (len * 8) as f64 / (done - started).as_secs_f64() / 1e6;
    eprintln!("2 MiB through an 8 Mbit/s cap: {mbit:.2} Mbit/s");
    assert!((5.0..=8.8).contains(&mbit), "{mbit} Mbit/s");
}
