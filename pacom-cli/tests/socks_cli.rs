//! Public mode's SOCKS5 proxy through real `pacom run` processes.
//!
//! Four nodes in a chain, each swarm joining only neighbours:
//! alice — bob — carol — dave. Alice offers SOCKS5 with dave as exit, so
//! every stream crosses three PACOM links. `curl --socks5-hostname` fetches
//! a 20 MiB file from an HTTP server started here, by a name only dave can
//! resolve. Bob offers SOCKS5 with carol as exit, whose default policy
//! refuses loopback: curl must see the SOCKS "not allowed" reply. Garbage
//! sent to alice's SOCKS port closes only that connection.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
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

    for n in [&mut alice, &mut bob, &mut carol, &mut dave] {
        n.stop();
    }
    eprintln!("whole test {:?}", t0.elapsed());
}
