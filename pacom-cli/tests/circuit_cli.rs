//! Circuits across two PACOM swarms with the real `pacom` binary: five
//! `pacom run` processes on loopback in two overlapping swarms (the shape
//! of the paper's Fig. 11, see `common/two_swarms.rs`). n1 builds a circuit
//! to n5, with which it shares no swarm; a 10 MiB file arrives
//! byte-identical, and a stream through n1's SOCKS5 proxy to an echo server
//! behind exit n5 comes back byte-identical. The status of n1, n3 and n5
//! shows the circuit and that it crosses n3 (at least two links).

mod common;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use common::two_swarms::TwoSwarms;
use common::{
    echo_through, pacom, sha256_hex, socks5_connect, test_data, text, EchoServer, LINK_RATE,
    PACOM_FILE_SIZE,
};
use serde_json::Value;

const S1: &str = "5151515151515151515151515151515151515151515151515151515151515151";
const S2: &str = "5252525252525252525252525252525252525252525252525252525252525252";
const FILE_LEN: usize = 10 << 20;
const ECHO_LEN: usize = 4 << 20;

/// Info hashes of a node's swarms.
fn swarms(status: &Value) -> HashSet<String> {
    status["swarms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["info_hash"].as_str().unwrap().to_string())
        .collect()
}

/// The swarm of the neighbour each circuit of `session` leaves through.
fn circuit_swarms(status: &Value, session: &Value) -> Vec<String> {
    let neighbours = status["neighbours"].as_array().unwrap();
    session["circuits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let n = neighbours
                .iter()
                .find(|n| n["id"] == c["neighbour"])
                .unwrap_or_else(|| panic!("circuit via an unknown neighbour: {status}"));
            n["swarm"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn circuit_between_two_swarms_carries_a_file_and_an_echoed_stream() {
    let t0 = Instant::now();
    let echo = EchoServer::start();
    let mut w = TwoSwarms::start(LINK_RATE, PACOM_FILE_SIZE, [S1, S2]);
    let (n1, n3, n5) = (&w.nodes[0], &w.nodes[2], &w.nodes[4]);

    // First contact: the circuit is built, the message acknowledged.
    let t = Instant::now();
    let out = pacom(n1.path(), &["send", "n5", "--message", "across two swarms"]);
    assert!(
        out.status.success(),
        "send: {}\n{}",
        text(&out.stderr),
        n1.log()
    );
    eprintln!(
        "circuit set up and first message acknowledged in {:?}",
        t.elapsed()
    );
    let got = n5.wait_inbox("the message", |v| v["text"] == "across two swarms");
    assert_eq!(got["verified"], true);

    // The circuit leaves n1 into S1 and reaches n5 from S2; only n3 is in
    // both, so it has at least two links and n3 relays it.
    let (st1, st5) = (n1.status(), n5.status());
    let (sw1, sw5) = (swarms(&st1), swarms(&st5));
    assert_eq!(sw1.len(), 1);
    assert_eq!(sw5.len(), 1);
    assert!(sw1.is_disjoint(&sw5), "n1 and n5 share a swarm");
    assert_eq!(swarms(&n3.status()), &sw1 | &sw5);
    let session = st1["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["peer_name"] == "n5")
        .cloned()
        .unwrap_or_else(|| panic!("no session to n5: {st1}"));
    let out_via = circuit_swarms(&st1, &session);
    assert!(!out_via.is_empty(), "no circuit: {st1}");
    assert!(out_via.iter().all(|s| sw1.contains(s)), "{st1}");
    let in_via: Vec<String> = st5["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| circuit_swarms(&st5, s))
        .collect();
    assert!(!in_via.is_empty(), "n5 has no circuit: {st5}");
    assert!(in_via.iter().all(|s| sw5.contains(s)), "{st5}");
    let relayed = |n: &common::Node| n.status()["stats"]["cells_relayed"].as_u64().unwrap();
    assert!(relayed(n3) > 0, "n3 relayed nothing");
    assert_eq!(relayed(n1), 0);

    // 10 MiB, byte-identical in n5's received folder.
    let data = test_data(FILE_LEN);
    let file = n1.path().join("ten.bin");
    std::fs::write(&file, &data).unwrap();
    let before = relayed(n3);
    let t = Instant::now();
    let out = pacom(n1.path(), &["send", "n5", "--file", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "file: {}\n{}",
        text(&out.stderr),
        n1.log()
    );
    let took = t.elapsed();
    eprintln!(
        "10 MiB delivered in {took:?} ({:.2} MB/s)",
        FILE_LEN as f64 / took.as_secs_f64() / 1e6
    );
    let rec = n5.wait_inbox("the file", |v| v["kind"] == "file");
    assert_eq!(rec["intact"], true);
    assert_eq!(rec["size"], FILE_LEN);
    let saved = std::fs::read(PathBuf::from(rec["file"].as_str().unwrap())).unwrap();
    assert_eq!(sha256_hex(&saved), sha256_hex(&data), "file bytes differ");
    // Every 16 KiB fragment crossed n3 at least once.
    assert!(relayed(n3) - before >= (FILE_LEN / 16384) as u64);

    // A stream n1 → n5's exit → echo server and back, byte-identical.
    let echoed = Arc::new(test_data(ECHO_LEN + 7)[7..].to_vec());
    let t = Instant::now();
    let conn = socks5_connect(&w.socks, echo.port);
    let back = echo_through(conn, echoed.clone());
    let took = t.elapsed();
    assert_eq!(back.len(), ECHO_LEN);
    assert_eq!(sha256_hex(&back), sha256_hex(&echoed), "echo differs");
    eprintln!(
        "{} MiB echoed through the circuit in {took:?}",
        ECHO_LEN >> 20
    );

    w.stop();
    eprintln!("whole test {:?}", t0.elapsed());
}
