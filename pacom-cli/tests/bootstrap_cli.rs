//! Joining through HAVE orders with real processes (paper §3.3).
//!
//! A `mainline` DHT testnet runs in the test process. A popular torrent F is
//! seeded by `pacom torrent seed`, our engine as a plain BitTorrent client
//! in its own process, which announces F on the DHT. One `pacom run` takes
//! the bootstrap role (two swarms of cap 2) and downloads F slowly, hiding
//! x in its HAVE order. Two `pacom run` newcomers are given nothing but F,
//! its peers and the DHT: each decodes x from the bootstrap node's HAVE
//! order, derives the PACOM swarm from (x, its IP, today), finds it on the
//! DHT and joins. Then a message crosses a circuit from one newcomer to the
//! other. Each process has its own 127.0.0.x, as IP(Pb) names the swarms.
//! Bad bootstrap settings fail `pacom run` with one-line errors.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use pacom_bt::dht::{Dht, DhtConfig};
use serde_json::Value;

mod common;

use common::{fails_with, pacom, test_data, text, Node};

/// 640 pieces of 16 KiB: at the popular rate below F takes ~65 s.
const F_LEN: usize = 640 * 16 * 1024 - 777;
const POPULAR_RATE: &str = "163840";
const LINK_RATE: &str = "50";
/// At 50 blocks/s a link uses up half of this in ~160 s.
const FILE_SIZE: u64 = 256 << 20;

/// A process killed when the test ends.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn dht_testnet(rt: &tokio::runtime::Runtime, n: usize) -> Vec<Dht> {
    let mut nodes: Vec<Dht> = Vec::new();
    for _ in 0..n {
        let boot = nodes.iter().map(Dht::local_addr).collect();
        let node = Dht::start(DhtConfig {
            bootstrap: boot,
            bind: Some("127.0.0.1:0".parse().unwrap()),
            server_mode: true,
            request_timeout: Some(Duration::from_millis(300)),
        })
        .expect("DHT node");
        nodes.push(node);
    }
    for node in nodes.iter().skip(1) {
        assert!(rt.block_on(node.bootstrapped()), "DHT node alone");
    }
    nodes
}

/// Creates F and seeds it from 127.0.0.2; returns the seeder and its address.
fn seed_popular(dir: &std::path::Path, dht: &str) -> (Proc, String) {
    let data_dir = dir.join("f");
    std::fs::create_dir_all(&data_dir).unwrap();
    std::fs::write(data_dir.join("popular.bin"), test_data(F_LEN)).unwrap();
    let torrent = dir.join("popular.torrent");
    let out = pacom(
        dir,
        &[
            "torrent",
            "create",
            data_dir.join("popular.bin").to_str().unwrap(),
            "-o",
            torrent.to_str().unwrap(),
            "--piece-size",
            "16384",
        ],
    );
    assert!(out.status.success(), "create: {}", text(&out.stderr));
    let mut child = Command::new(env!("CARGO_BIN_EXE_pacom"))
        .args(["torrent", "seed", torrent.to_str().unwrap(), "--dir"])
        .arg(&data_dir)
        .args(["--listen", "127.0.0.2:0", "--dht-bootstrap", dht])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn seeder");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("seeding"), "seeder: {line:?}");
    // "seeding HASH on ADDR (Ctrl-C to stop)"
    let addr = line
        .split(" on ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap()
        .to_string();
    (Proc(child), addr)
}

/// A node on 127.0.0.`last` that joins through F and the DHT.
fn joining_node(last: u8, torrent: &str, dht: &str, popular_peers: &[&str]) -> Node {
    let node = Node::init_with(LINK_RATE, FILE_SIZE);
    node.set_top_config("listen", &format!("\"127.0.0.{last}:0\""));
    node.set_top_config("popular_torrents", &format!("[\"{torrent}\"]"));
    node.set_top_config("dht_bootstrap", &format!("[\"{dht}\"]"));
    node.set_config("bootstrap", "file_size", &FILE_SIZE.to_string());
    node.set_config("bootstrap", "popular_download_rate", POPULAR_RATE);
    let peers: Vec<String> = popular_peers.iter().map(|p| format!("\"{p}\"")).collect();
    node.set_config(
        "bootstrap",
        "popular_peers",
        &format!("[{}]", peers.join(", ")),
    );
    node
}

fn wait_status(node: &Node, what: &str, mut pred: impl FnMut(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let s = node.status();
        if pred(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {:#}\n{}",
            s["bootstrap"],
            node.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn running_joined(s: &Value) -> Vec<Value> {
    s["bootstrap"]["swarms"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|e| e["running"] == true && e["own"] == false)
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn newcomers_join_through_have_orders_and_send_through_a_circuit() {
    let t0 = Instant::now();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dht = dht_testnet(&rt, 3);
    let dht_addr = dht[0].local_addr().to_string();
    let work = tempfile::tempdir().unwrap();
    let (_seeder, seeder_addr) = seed_popular(work.path(), &dht_addr);
    let torrent = work.path().join("popular.torrent");
    let torrent = torrent.to_str().unwrap();

    let mut pb = joining_node(10, torrent, &dht_addr, &[&seeder_addr]);
    pb.set_config("bootstrap", "role", "\"bootstrap\"");
    pb.set_config("bootstrap", "caps", "[2, 2]");
    pb.start();
    let st = wait_status(&pb, "bootstrap role", |s| {
        s["bootstrap"]["is_bootstrap"] == true
            && s["bootstrap"]["swarms"].as_array().map_or(0, Vec::len) == 2
    });
    let own: Vec<String> = st["bootstrap"]["swarms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["info_hash"].as_str().unwrap().to_string())
        .collect();
    eprintln!(
        "bootstrap node up after {:?}: {}",
        t0.elapsed(),
        st["bootstrap"]
    );

    let pb_addr = pb.addr().to_string();
    let mut a = joining_node(11, torrent, &dht_addr, &[&seeder_addr, &pb_addr]);
    let mut b = joining_node(12, torrent, &dht_addr, &[&seeder_addr, &pb_addr]);
    a.add_contact("b", &b.contact());
    b.add_contact("a", &a.contact());
    a.start();
    b.start();
    for (name, n) in [("a", &a), ("b", &b)] {
        let s = wait_status(n, "newcomer did not join", |s| {
            !running_joined(s).is_empty()
        });
        let joined = running_joined(&s);
        let e = &joined[0];
        assert_eq!(e["bootstrap_ip"], "127.0.0.10", "{e}");
        assert!(
            own.iter().any(|h| e["info_hash"] == h.as_str()),
            "joined {e}, not one of the bootstrap node's swarms {own:?}"
        );
        let b = &s["bootstrap"];
        assert!(
            b["decoded"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["ip"] == "127.0.0.10" && d["x"] == e["x"]),
            "{b}"
        );
        assert_eq!(b["is_bootstrap"], false);
        assert!(b["popular"]["pieces_have"].as_u64().is_some(), "{b}");
        assert_eq!(
            s["swarms"].as_array().unwrap().len(),
            1,
            "the joined swarm is listed: {s}"
        );
        eprintln!(
            "newcomer {name} joined x = {} after {:?}",
            e["x"],
            t0.elapsed()
        );
    }
    a.wait_neighbours(1);
    b.wait_neighbours(1);

    let out: Output = pacom(a.path(), &["send", "b", "--message", "found you via HAVEs"]);
    assert!(
        out.status.success(),
        "send: {}\n{}",
        text(&out.stderr),
        a.log()
    );
    let got = b.wait_inbox("a's message", |v| v["text"] == "found you via HAVEs");
    assert_eq!(got["from_name"], "a");
    assert_eq!(got["verified"], true);
    eprintln!("message delivered after {:?}", t0.elapsed());

    let human = pacom(pb.path(), &["status"]);
    let human = text(&human.stdout);
    assert!(human.contains("bootstrap: bootstrap node"), "{human}");
    assert!(human.contains("own swarm x="), "{human}");
    a.stop();
    b.stop();
    pb.stop();
    drop(dht);
}

#[test]
fn bad_bootstrap_settings_give_one_line_errors() {
    let node = Node::init_with(LINK_RATE, FILE_SIZE);
    let dir = node.path();
    let missing = dir.join("missing.torrent");
    let missing = missing.to_str().unwrap();
    fails_with(
        pacom(
            dir,
            &[
                "run",
                "--listen",
                "127.0.0.1:0",
                "--popular-torrent",
                missing,
            ],
        ),
        "cannot read",
    );
    let junk = dir.join("junk.torrent");
    std::fs::write(&junk, b"not bencode").unwrap();
    fails_with(
        pacom(dir, &["run", "--popular-torrent", junk.to_str().unwrap()]),
        "not a torrent file",
    );
    fails_with(
        pacom(dir, &["run", "--dht-bootstrap", "no-port-here"]),
        "not host:port",
    );
    fails_with(
        pacom(
            dir,
            &["run", "--popular-torrent", "magnet:?xt=urn:btih:abc"],
        ),
        "magnet",
    );
    fails_with(
        pacom(
            dir,
            &[
                "run",
                "--popular-torrent",
                junk.to_str().unwrap(),
                "--listen",
                "0.0.0.0:0",
            ],
        ),
        "public_ip",
    );
}
