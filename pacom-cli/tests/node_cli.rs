//! Drives the real `pacom` binary: three `pacom run` processes on loopback,
//! alice — bob — carol in two PACOM swarms (bob is in both), exchange
//! messages and a 20 MiB file through `send`/`inbox`, show their circuit in
//! `status --json`, and a message queued at a node that is then stopped is
//! delivered after restart. Plus bad user input: one-line errors, no panics.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;

use common::{fails_with, pacom, text, Node};

const SWARM_AB: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const SWARM_BC: &str = "2222222222222222222222222222222222222222222222222222222222222222";
/// Every block a link downloads, data or cover, uses one up: the PACOM
/// files must outlast the test at the links' rates.
const PACOM_FILE_SIZE: u64 = 512 << 20;
const LINK_RATE: &str = "80";

#[test]
fn three_processes_exchange_messages_and_a_file_and_survive_restart() {
    let t0 = Instant::now();
    let mut alice = Node::init_with(LINK_RATE, PACOM_FILE_SIZE);
    let mut bob = Node::init_with(LINK_RATE, PACOM_FILE_SIZE);
    let mut carol = Node::init_with(LINK_RATE, PACOM_FILE_SIZE);
    alice.add_contact("carol", &carol.contact());
    carol.add_contact("alice", &alice.contact());

    // Bob is in both swarms and knows nobody; the others meet him there.
    bob.add_swarm(SWARM_AB, &[]);
    bob.add_swarm(SWARM_BC, &[]);
    bob.start();
    alice.add_swarm(SWARM_AB, &[bob.addr()]);
    carol.add_swarm(SWARM_BC, &[bob.addr()]);
    alice.start();
    carol.start();
    alice.wait_neighbours(1);
    carol.wait_neighbours(1);
    bob.wait_neighbours(2);
    eprintln!("links up after {:?}", t0.elapsed());

    // A message each way; the recipient names the sender from its contacts.
    let out = pacom(alice.path(), &["send", "carol", "--message", "hello carol"]);
    assert!(
        out.status.success(),
        "send: {}\n{}",
        text(&out.stderr),
        alice.log()
    );
    let got = carol.wait_inbox("alice's message", |v| v["text"] == "hello carol");
    assert_eq!(got["from_name"], "alice");
    assert_eq!(got["verified"], true);
    let out = pacom(carol.path(), &["send", "alice", "--message", "hi alice"]);
    assert!(out.status.success(), "send back: {}", text(&out.stderr));
    let got = alice.wait_inbox("carol's reply", |v| v["text"] == "hi alice");
    assert_eq!(got["from_name"], "carol");
    eprintln!("messages after {:?}", t0.elapsed());

    // Alice's status shows her session to carol and its circuit through bob.
    let st = alice.status();
    let session = st["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["peer_name"] == "carol")
        .cloned()
        .unwrap_or_else(|| panic!("no session to carol: {st}"));
    assert!(!session["circuits"].as_array().unwrap().is_empty(), "{st}");
    assert!(bob.status()["stats"]["cells_relayed"].as_u64().unwrap() > 0);

    // A 20 MiB file, byte-identical, MD5 checked by the recipient.
    let file = alice.path().join("big.bin");
    let mut data = vec![0u8; 20 << 20];
    let mut x = 0x9e3779b97f4a7c15u64;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    std::fs::write(&file, &data).unwrap();
    let t = Instant::now();
    let out = pacom(
        alice.path(),
        &["send", "carol", "--file", file.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "file: {}\n{}",
        text(&out.stderr),
        alice.log()
    );
    eprintln!("20 MiB delivered in {:?}", t.elapsed());
    let rec = carol.wait_inbox("the file", |v| v["kind"] == "file");
    assert_eq!(rec["intact"], true);
    assert_eq!(rec["size"], 20 << 20);
    let saved = PathBuf::from(rec["file"].as_str().unwrap());
    assert!(std::fs::read(saved).unwrap() == data, "file bytes differ");

    // Carol goes away; alice queues a message and is stopped before it can
    // be delivered. After both restart, it arrives.
    carol.stop();
    let out = pacom(
        alice.path(),
        &["send", "carol", "--message", "after restart", "--no-wait"],
    );
    assert!(out.status.success(), "queue: {}", text(&out.stderr));
    std::thread::sleep(Duration::from_millis(500));
    alice.stop();
    let queued = std::fs::read_dir(alice.path().join("outbox"))
        .unwrap()
        .count();
    assert_eq!(queued, 1, "the undelivered message is kept in the outbox");
    carol.start();
    alice.start();
    let got = carol.wait_inbox("the queued message", |v| v["text"] == "after restart");
    assert_eq!(got["from_name"], "alice");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read_dir(alice.path().join("outbox"))
        .unwrap()
        .count()
        > 0
    {
        assert!(Instant::now() < deadline, "outbox not emptied");
        std::thread::sleep(Duration::from_millis(200));
    }
    alice.stop();
    bob.stop();
    carol.stop();
    eprintln!("whole test {:?}", t0.elapsed());
}

#[test]
fn bad_input_gives_one_line_errors() {
    let empty = tempfile::tempdir().unwrap();
    fails_with(pacom(empty.path(), &["id"]), "pacom init");
    fails_with(pacom(empty.path(), &["status"]), "pacom init");

    let node = Node::init_with(LINK_RATE, PACOM_FILE_SIZE);
    let dir = node.path();
    let mode = |p: &str| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(dir.join(p)).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode("identity.pem"), 0o600);
    fails_with(pacom(dir, &["init"]), "already initialised");
    fails_with(
        pacom(dir, &["contacts", "add", "bob", "pacom1:not-a-key"]),
        "malformed contact",
    );
    fails_with(
        pacom(dir, &["contacts", "add", "bob", "hello"]),
        "malformed contact",
    );
    fails_with(
        pacom(dir, &["send", "nobody", "--message", "x"]),
        "unknown contact",
    );
    node.add_contact("me", &node.contact());
    fails_with(
        pacom(dir, &["send", "me", "--file", "/nonexistent/file"]),
        "cannot read",
    );
    fails_with(pacom(dir, &["send", "me", "--message", "x"]), "not running");
    fails_with(pacom(dir, &["status"]), "not running");
    fails_with(
        pacom(dir, &["contacts", "remove", "nobody"]),
        "unknown contact",
    );

    std::fs::write(dir.join("config.toml"), "listen = [\n").unwrap();
    fails_with(pacom(dir, &["run"]), "corrupt config");
    std::fs::write(dir.join("contacts.toml"), "= nonsense").unwrap();
    fails_with(pacom(dir, &["contacts", "list"]), "corrupt contacts");
}

/// The stream window and frames in flight come from `pacom init` flags or
/// the environment, land in `[circuit]`, and are checked.
#[test]
fn stream_window_and_in_flight_are_configurable_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pacom"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["init", "--max-in-flight", "512"])
        .env("PACOM_STREAM_WINDOW", "4194304")
        .env_remove("PACOM_DATA_DIR")
        .output()
        .expect("run pacom");
    assert!(out.status.success(), "init: {}", text(&out.stderr));
    let cfg = std::fs::read_to_string(dir.path().join("config.toml")).unwrap();
    assert!(cfg.contains("stream_window_bytes = 4194304"), "{cfg}");
    assert!(cfg.contains("max_in_flight = 512"), "{cfg}");

    let other = tempfile::tempdir().unwrap();
    fails_with(
        pacom(other.path(), &["init", "--stream-window", "65536"]),
        "stream_window_bytes",
    );
    fails_with(
        pacom(other.path(), &["init", "--max-in-flight", "0"]),
        "max_in_flight",
    );
    // A config written before these keys existed still loads (defaults).
    let old = cfg
        .lines()
        .filter(|l| !l.starts_with("stream_window_bytes") && !l.starts_with("max_in_flight"))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.path().join("config.toml"), old).unwrap();
    fails_with(
        pacom(
            dir.path(),
            &["socks", "--listen", "127.0.0.1:0", "--exit", "nobody"],
        ),
        "unknown contact",
    );
}
