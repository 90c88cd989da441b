//! Drives the real `pacom` binary: three `pacom run` processes on loopback,
//! alice — bob — carol in two PACOM swarms (bob is in both), exchange
//! messages and a 20 MiB file through `send`/`inbox`, show their circuit in
//! `status --json`, and a message queued at a node that is then stopped is
//! delivered after restart. Plus bad user input: one-line errors, no panics.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const SWARM_AB: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const SWARM_BC: &str = "2222222222222222222222222222222222222222222222222222222222222222";
/// Every block a link downloads, data or cover, uses one up: the PACOM
/// files must outlast the test at the links' rates.
const PACOM_FILE_SIZE: u64 = 512 << 20;
const LINK_RATE: &str = "80";

fn pacom(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pacom"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("PACOM_DATA_DIR")
        .output()
        .expect("run pacom")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A command that must fail with a one-line error naming `needle`.
fn fails_with(out: Output, needle: &str) {
    let err = text(&out.stderr);
    assert!(!out.status.success(), "succeeded unexpectedly: {err}");
    assert!(
        err.contains(needle),
        "error {err:?} does not mention {needle:?}"
    );
    assert!(!err.contains("panicked"), "panic: {err}");
    assert_eq!(err.trim().lines().count(), 1, "not one line: {err:?}");
}

struct Node {
    dir: tempfile::TempDir,
    child: Option<Child>,
    addr: Option<String>,
}

impl Node {
    fn init() -> Node {
        let dir = tempfile::tempdir().unwrap();
        let out = pacom(
            dir.path(),
            &[
                "init",
                "--listen",
                "127.0.0.1:0",
                "--link-rate",
                LINK_RATE,
                "--handshake-timeout",
                "5",
            ],
        );
        assert!(out.status.success(), "init: {}", text(&out.stderr));
        Node {
            dir,
            child: None,
            addr: None,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn contact(&self) -> String {
        let out = pacom(self.path(), &["id"]);
        assert!(out.status.success());
        text(&out.stdout).lines().next().unwrap().to_string()
    }

    fn add_contact(&self, name: &str, contact: &str) {
        let out = pacom(self.path(), &["contacts", "add", name, contact]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }

    fn add_swarm(&self, seed: &str, peers: &[&str], fraction: f64) {
        let peers: Vec<String> = peers.iter().map(|p| format!("\"{p}\"")).collect();
        let cfg = self.path().join("config.toml");
        let mut t = std::fs::read_to_string(&cfg).unwrap();
        t.push_str(&format!(
            "\n[[swarm]]\nseed = \"{seed}\"\nsize = {PACOM_FILE_SIZE}\npeers = [{}]\ninitial_fraction = {fraction}\n",
            peers.join(", ")
        ));
        std::fs::write(cfg, t).unwrap();
    }

    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path().join("run.log"))
            .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_pacom"))
            .arg("--data-dir")
            .arg(self.path())
            .arg("run")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn pacom run");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("node did not start: {}", self.log()));
        let addr = line
            .trim()
            .rsplit(' ')
            .next()
            .filter(|a| a.contains(':'))
            .unwrap_or_else(|| panic!("no address in {line:?}: {}", self.log()))
            .to_string();
        self.addr = Some(addr);
        self.child = Some(child);
    }

    fn addr(&self) -> &str {
        self.addr.as_deref().unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path().join("run.log")).unwrap_or_default()
    }

    /// SIGTERM, and the node must exit cleanly.
    fn stop(&mut self) {
        let mut child = self.child.take().expect("running");
        let pid = child.id().to_string();
        let ok = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                assert!(st.success(), "node exited with {st}: {}", self.log());
                break;
            }
            assert!(Instant::now() < deadline, "node did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn status(&self) -> Value {
        let out = pacom(self.path(), &["status", "--json"]);
        assert!(out.status.success(), "status: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("status is JSON")
    }

    fn inbox(&self) -> Vec<Value> {
        let out = pacom(self.path(), &["inbox", "--json"]);
        assert!(out.status.success(), "inbox: {}", text(&out.stderr));
        text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("inbox line is JSON"))
            .collect()
    }

    fn wait_inbox(&self, what: &str, mut pred: impl FnMut(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(v) = self.inbox().into_iter().find(|v| pred(v)) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "{what} never arrived: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn wait_neighbours(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s = self.status();
            if s["neighbours"].as_array().map_or(0, Vec::len) >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "links not up: {s}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn three_processes_exchange_messages_and_a_file_and_survive_restart() {
    let t0 = Instant::now();
    let mut alice = Node::init();
    let mut bob = Node::init();
    let mut carol = Node::init();
    alice.add_contact("carol", &carol.contact());
    carol.add_contact("alice", &alice.contact());

    // Bob is in both swarms and knows nobody; the others meet him there.
    bob.add_swarm(SWARM_AB, &[], 0.5);
    bob.add_swarm(SWARM_BC, &[], 0.5);
    bob.start();
    alice.add_swarm(SWARM_AB, &[bob.addr()], 0.5);
    carol.add_swarm(SWARM_BC, &[bob.addr()], 0.5);
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

    let node = Node::init();
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
