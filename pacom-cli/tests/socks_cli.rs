//! Public mode's SOCKS5 proxy through real `pacom run` processes.
//!
//! Four nodes in a chain, each swarm joining only neighbours:
//! alice — bob — carol — dave. Alice offers SOCKS5 with dave as exit, so
//! every stream crosses three PACOM links. `curl --socks5-hostname` fetches
//! a 20 MiB file from an HTTP server started here, by a name only dave can
//! resolve. Bob offers SOCKS5 with carol as exit, whose default policy
//! refuses loopback: curl must see the SOCKS "not allowed" reply. Garbage
//! sent to alice's SOCKS port closes only that connection.
//!
//! Then: `pacom socks` as a separate front-end process to alice's node does
//! the same; a SOCKS client that stops reading mid-download holds the exit
//! back instead of growing alice's buffers; and killing bob mid-download
//! resets curl's connection while alice stays up and serves a new curl once
//! bob is back.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{sha256_hex, test_data, HttpServer, Node};

const SWARM_AB: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SWARM_BC: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const SWARM_CD: &str = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";

/// A SOCKS port nobody listens on yet (the daemon binds it).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn curl(socks: &str, url: &str, out: &std::path::Path) -> std::process::Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "60", "--socks5-hostname", socks, "-o"])
        .arg(out)
        .arg(url)
        .output()
        .expect("run curl")
}

#[test]
fn curl_through_three_hops_remote_resolution_and_refusal() {
    let t0 = Instant::now();
    let data = test_data(20 << 20);
    let http = HttpServer::start(data.clone());

    let mut alice = Node::init();
    let mut bob = Node::init();
    let mut carol = Node::init();
    let mut dave = Node::init();
    alice.add_contact("dave", &dave.contact());
    bob.add_contact("carol", &carol.contact());
    // A session whose only path died fails within a few seconds.
    alice.set_config("circuit", "handshake_timeout_secs", "2.0");
    alice.set_config("circuit", "handshake_retries", "1");
    dave.set_config("exit", "enabled", "true");
    dave.set_config("exit", "allow_loopback", "true");
    dave.set_config("exit", "hosts", r#"{ "files.pacom.test" = "127.0.0.1" }"#);
    // Carol is an exit with the default policy: loopback refused.
    carol.set_config("exit", "enabled", "true");
    let alice_socks = format!("127.0.0.1:{}", free_port());
    let bob_socks = format!("127.0.0.1:{}", free_port());
    alice.set_config("socks", "listen", &format!("\"{alice_socks}\""));
    alice.set_config("socks", "exits", r#"["dave"]"#);
    bob.set_config("socks", "listen", &format!("\"{bob_socks}\""));
    bob.set_config("socks", "exits", r#"["carol"]"#);

    bob.add_swarm(SWARM_AB, &[]);
    bob.add_swarm(SWARM_BC, &[]);
    bob.start();
    carol.add_swarm(SWARM_BC, &[bob.addr()]);
    carol.add_swarm(SWARM_CD, &[]);
    carol.start();
    alice.add_swarm(SWARM_AB, &[bob.addr()]);
    dave.add_swarm(SWARM_CD, &[carol.addr()]);
    alice.start();
    dave.start();
    assert_eq!(alice.socks.as_deref(), Some(alice_socks.as_str()));
    alice.wait_neighbours(1);
    dave.wait_neighbours(1);
    bob.wait_neighbours(2);
    carol.wait_neighbours(2);
    eprintln!("chain up after {:?}", t0.elapsed());

    // 20 MiB by a name only the exit knows, through alice-bob-carol-dave.
    let url = format!("http://files.pacom.test:{}/big.bin", http.port);
    let got = alice.path().join("got.bin");
    let t = Instant::now();
    let out = curl(&alice_socks, &url, &got);
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "curl failed: {}\nalice: {}\ndave: {}",
        String::from_utf8_lossy(&out.stderr),
        alice.log(),
        dave.log()
    );
    let fetched = std::fs::read(&got).unwrap();
    assert_eq!(fetched.len(), data.len());
    assert_eq!(sha256_hex(&fetched), sha256_hex(&data), "bytes differ");
    eprintln!(
        "20 MiB through 3 hops in {took:?} ({:.2} MB/s)",
        data.len() as f64 / took.as_secs_f64() / 1e6
    );
    // The relays in the middle carried it.
    assert!(bob.status()["stats"]["cells_relayed"].as_u64().unwrap() > 1000);
    assert!(carol.status()["stats"]["cells_relayed"].as_u64().unwrap() > 1000);

    // Garbage on the SOCKS port closes that connection only.
    let mut bad = TcpStream::connect(&alice_socks).unwrap();
    bad.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    bad.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let mut rest = Vec::new();
    let _ = bad.read_to_end(&mut rest);
    assert!(rest.len() <= 2, "unexpected answer to garbage: {rest:?}");

    // A refused destination: carol's policy forbids loopback.
    let url = format!("http://127.0.0.1:{}/big.bin", http.port);
    let out = curl(&bob_socks, &url, &bob.path().join("refused.bin"));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(97), "curl: {err}\n{}", carol.log());
    assert!(err.contains("(2)"), "not 'connection not allowed': {err}");
    eprintln!("refused as expected: {}", err.trim());

    // Alice's proxy still works after all that (and a second isolated user).
    let small = alice.path().join("small.bin");
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "60", "--proxy"])
        .arg(format!("socks5h://u2:p2@{alice_socks}"))
        .arg("-o")
        .arg(&small)
        .arg(format!("http://files.pacom.test:{}/small.bin", http.port))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&small).unwrap(), &data[..4096]);
    let sessions = alice.status()["sessions"].as_array().unwrap().len();
    assert!(sessions >= 2, "isolated users share a session");

    // `pacom socks`: a front-end process over alice's control socket.
    let (mut front, front_addr) = socks_front(&alice, &["--exit", "dave"]);
    let got = alice.path().join("got-front.bin");
    let url = format!("http://files.pacom.test:{}/big.bin", http.port);
    let out = curl(&front_addr, &url, &got);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sha256_hex(&std::fs::read(&got).unwrap()), sha256_hex(&data));
    let (mut bob_front, bob_front_addr) = socks_front(&bob, &["--exit", "carol"]);
    let url = format!("http://127.0.0.1:{}/big.bin", http.port);
    let out = curl(&bob_front_addr, &url, &bob.path().join("refused2.bin"));
    assert_eq!(out.status.code(), Some(97));
    assert!(String::from_utf8_lossy(&out.stderr).contains("(2)"));
    stop_front(&mut bob_front);
    eprintln!("pacom socks front-end done after {:?}", t0.elapsed());

    slow_reader_holds_the_sender_back(&alice, &dave, &alice_socks, http.port, &data);
    eprintln!("slow reader done after {:?}", t0.elapsed());

    // Bob dies mid-download: curl sees a reset, not a short clean file.
    let got = alice.path().join("cut.bin");
    let url = format!("http://files.pacom.test:{}/big.bin", http.port);
    let mut cut = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "90",
            "--socks5-hostname",
            &alice_socks,
            "-o",
        ])
        .arg(&got)
        .arg(&url)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::metadata(&got).map_or(0, |m| m.len()) < 2 << 20 {
        assert!(Instant::now() < deadline, "download never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut b = bob.child.take().unwrap();
    b.kill().unwrap();
    b.wait().unwrap();
    let st = cut.wait().unwrap();
    let mut err = String::new();
    cut.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let len = std::fs::metadata(&got).map_or(0, |m| m.len());
    eprintln!("cut download: {st}, {len} bytes, {}", err.trim());
    assert!(!st.success(), "curl succeeded without bob");
    assert!(len < data.len() as u64);
    assert!(err.contains("reset"), "not a reset: {err}");
    // Alice and her front-end are fine; with bob back a new curl works.
    assert!(alice.child.as_mut().unwrap().try_wait().unwrap().is_none());
    assert!(alice.status()["stats"].is_object());
    rejoin(&mut bob, &alice, &carol);
    alice.wait_neighbours(1);
    let small = alice.path().join("after.bin");
    let url = format!("http://files.pacom.test:{}/small.bin", http.port);
    let out = curl(&front_addr, &url, &small);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        alice.log()
    );
    assert_eq!(std::fs::read(&small).unwrap(), &data[..4096]);
    stop_front(&mut front);

    for n in [&mut alice, &mut bob, &mut carol, &mut dave] {
        n.stop();
    }
    eprintln!("whole test {:?}", t0.elapsed());
}

/// A `pacom socks` process, killed if the test fails before it is stopped.
struct Front(Option<Child>);

impl Drop for Front {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts `pacom socks` on `node`'s data directory; returns it and its address.
fn socks_front(node: &Node, exits: &[&str]) -> (Front, String) {
    let addr = format!("127.0.0.1:{}", free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_pacom"))
        .arg("--data-dir")
        .arg(node.path())
        .args(["socks", "--listen", &addr])
        .args(exits)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn pacom socks");
    let mut front = Front(Some(child));
    let stdout = front.0.as_mut().and_then(|c| c.stdout.take()).unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), format!("socks5 proxy listening on {addr}"));
    (front, addr)
}

/// Stops the front-end with SIGTERM and checks it exits cleanly.
fn stop_front(front: &mut Front) {
    let mut child = front.0.take().expect("front-end already stopped");
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    assert!(
        child.wait().unwrap().success(),
        "pacom socks did not exit cleanly"
    );
}

/// Bob comes back and dials alice and carol himself (they only knew his
/// old port).
fn rejoin(bob: &mut Node, alice: &Node, carol: &Node) {
    let cfg = bob.path().join("config.toml");
    let mut doc: toml::Table = std::fs::read_to_string(&cfg).unwrap().parse().unwrap();
    let swarms = doc["swarm"].as_array_mut().unwrap();
    for (s, peer) in swarms.iter_mut().zip([alice.addr(), carol.addr()]) {
        let peers = toml::Value::Array(vec![toml::Value::String(peer.to_string())]);
        s.as_table_mut().unwrap().insert("peers".into(), peers);
    }
    std::fs::write(cfg, toml::to_string(&doc).unwrap()).unwrap();
    bob.start();
    bob.wait_neighbours(2);
}

/// A raw SOCKS client asks for the 20 MiB file and stops reading after
/// 1 MiB. What alice holds for the stream must stay within one receive
/// window (the hub's buffer and the unread bytes the circuit layer counts),
/// and dave's unsent backlog within its write limit, however long the
/// reader pauses; then every byte still arrives.
fn slow_reader_holds_the_sender_back(
    alice: &Node,
    dave: &Node,
    socks: &str,
    port: u16,
    data: &[u8],
) {
    const WINDOW: u64 = pacom_core::session::DEFAULT_STREAM_WINDOW;
    // The node's driver makes a stream writer wait above 256 KiB unsent.
    const WRITE_LIMIT: u64 = 256 * 1024;
    let mut s = TcpStream::connect(socks).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let host = b"files.pacom.test";
    let mut req = vec![5, 1, 0, 5, 1, 0, 3, host.len() as u8];
    req.extend_from_slice(host);
    req.extend_from_slice(&port.to_be_bytes());
    s.write_all(&req).unwrap();
    let mut reply = [0u8; 12];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(&reply[..4], &[5, 0, 5, 0], "SOCKS reply {reply:?}");
    s.write_all(b"GET /big.bin HTTP/1.0\r\nHost: files.pacom.test\r\n\r\n")
        .unwrap();
    let mut got = vec![0u8; 1 << 20];
    s.read_exact(&mut got).unwrap();
    // Long enough for the whole file to cross at the test's link rate,
    // were nothing holding it back.
    std::thread::sleep(Duration::from_secs(6));
    let mut max_hub = 0;
    let mut max_unread = 0;
    let mut max_unsent = 0;
    for _ in 0..4 {
        let a = &alice.status()["streams"];
        let d = &dave.status()["streams"];
        max_hub = max_hub.max(a["hub_buffered_bytes"].as_u64().unwrap());
        max_unread = max_unread.max(a["unread_bytes"].as_u64().unwrap());
        max_unsent = max_unsent.max(d["unsent_bytes"].as_u64().unwrap());
        std::thread::sleep(Duration::from_millis(300));
    }
    eprintln!(
        "paused reader: alice hub {max_hub} B, alice unread {max_unread} B, dave unsent {max_unsent} B"
    );
    assert!(
        max_hub <= WINDOW,
        "alice buffers {max_hub} B for a paused reader"
    );
    assert!(
        max_unread <= WINDOW,
        "alice holds {max_unread} unread bytes"
    );
    assert!(
        max_unsent <= 2 * WRITE_LIMIT,
        "dave holds {max_unsent} unsent bytes"
    );
    s.read_to_end(&mut got).unwrap();
    let body_at = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(got.len() - body_at, data.len());
    assert_eq!(
        sha256_hex(&got[body_at..]),
        sha256_hex(data),
        "bytes differ"
    );
}
