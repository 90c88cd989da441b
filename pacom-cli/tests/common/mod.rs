//! Shared by the multi-process tests and the benchmarks: `pacom run` nodes
//! in temporary directories, a tiny HTTP server, an echo server and a
//! SOCKS5 client, and the two-swarm world of [`two_swarms`].

#![allow(dead_code)]

pub mod two_swarms;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Every block a link downloads, data or cover, uses one up: the PACOM
/// files must outlast a test at the links' rates.
pub const PACOM_FILE_SIZE: u64 = 1 << 30;
/// 16 KiB blocks per second per link.
pub const LINK_RATE: &str = "200";

pub fn pacom(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pacom"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("PACOM_DATA_DIR")
        .output()
        .expect("run pacom")
}

/// A command that must fail with a one-line error naming `needle`.
pub fn fails_with(out: Output, needle: &str) {
    let err = text(&out.stderr);
    assert!(!out.status.success(), "succeeded unexpectedly: {err}");
    assert!(
        err.contains(needle),
        "error {err:?} does not mention {needle:?}"
    );
    assert!(!err.contains("panicked"), "panic: {err}");
    assert_eq!(err.trim().lines().count(), 1, "not one line: {err:?}");
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn sha256_hex(b: &[u8]) -> String {
    hex_string(&Sha256::digest(b))
}

fn hex_string(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Incompressible, reproducible bytes.
pub fn test_data(len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    let mut x = 0x9e3779b97f4a7c15u64;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    data
}

/// Serves `/big.bin` (all of the data) and `/small.bin` (its first 4 KiB)
/// over HTTP/1.0 on 127.0.0.1, one thread per request.
pub struct HttpServer {
    pub port: u16,
}

impl HttpServer {
    pub fn start(data: Vec<u8>) -> HttpServer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let data = Arc::new(data);
        std::thread::spawn(move || {
            for conn in l.incoming().flatten() {
                let data = data.clone();
                std::thread::spawn(move || serve(conn, &data));
            }
        });
        HttpServer { port }
    }
}

fn serve(mut conn: TcpStream, data: &[u8]) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let line = String::from_utf8_lossy(&head).into_owned();
    let body: &[u8] = if line.starts_with("GET /big.bin ") {
        data
    } else if line.starts_with("GET /small.bin ") {
        &data[..4096]
    } else {
        let _ = conn.write_all(b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    let _ = write!(
        conn,
        "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(body);
}

/// One `pacom` data directory and, while running, its `pacom run` process.
pub struct Node {
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
    pub addr: Option<String>,
    /// The SOCKS listener's address, when the node prints one.
    pub socks: Option<String>,
    /// Size of the PACOM files of the swarms this node joins.
    pub file_size: u64,
    /// Lines of a spawned `pacom run` not yet waited for.
    lines: Option<std::sync::mpsc::Receiver<String>>,
}

impl Node {
    pub fn init() -> Node {
        Node::init_with(LINK_RATE, PACOM_FILE_SIZE)
    }

    /// A node whose links download `link_rate` blocks/s and whose swarms'
    /// files are `file_size` bytes.
    pub fn init_with(link_rate: &str, file_size: u64) -> Node {
        Node::init_listen(link_rate, file_size, "127.0.0.1:0")
    }

    /// [`Node::init_with`] listening on `listen`, so others can name it
    /// before it runs.
    pub fn init_listen(link_rate: &str, file_size: u64, listen: &str) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let out = pacom(
            dir.path(),
            &[
                "init",
                "--listen",
                listen,
                "--link-rate",
                link_rate,
                "--handshake-timeout",
                "5",
            ],
        );
        assert!(out.status.success(), "init: {}", text(&out.stderr));
        Node {
            dir,
            child: None,
            addr: None,
            socks: None,
            file_size,
            lines: None,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn contact(&self) -> String {
        let out = pacom(self.path(), &["id"]);
        assert!(out.status.success());
        text(&out.stdout).lines().next().unwrap().to_string()
    }

    pub fn add_contact(&self, name: &str, contact: &str) {
        let out = pacom(self.path(), &["contacts", "add", name, contact]);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }

    /// Sets `section.key = value` (a TOML value) in the config file.
    pub fn set_config(&self, section: &str, key: &str, value: &str) {
        let cfg = self.path().join("config.toml");
        let mut doc: toml::Table = std::fs::read_to_string(&cfg).unwrap().parse().unwrap();
        let v: toml::Table = format!("v = {value}").parse().unwrap();
        let table = doc
            .entry(section)
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        table
            .as_table_mut()
            .unwrap()
            .insert(key.to_string(), v["v"].clone());
        std::fs::write(cfg, toml::to_string(&doc).unwrap()).unwrap();
    }

    /// Sets a top-level `key = value` (a TOML value) in the config file.
    pub fn set_top_config(&self, key: &str, value: &str) {
        let cfg = self.path().join("config.toml");
        let mut doc: toml::Table = std::fs::read_to_string(&cfg).unwrap().parse().unwrap();
        let v: toml::Table = format!("v = {value}").parse().unwrap();
        doc.insert(key.to_string(), v["v"].clone());
        std::fs::write(cfg, toml::to_string(&doc).unwrap()).unwrap();
    }

    pub fn append_config(&self, extra: &str) {
        let cfg = self.path().join("config.toml");
        let mut t = std::fs::read_to_string(&cfg).unwrap();
        t.push_str(extra);
        std::fs::write(cfg, t).unwrap();
    }

    pub fn add_swarm(&self, seed: &str, peers: &[&str]) {
        let peers: Vec<String> = peers.iter().map(|p| format!("\"{p}\"")).collect();
        self.append_config(&format!(
            "\n[[swarm]]\nseed = \"{seed}\"\nsize = {}\npeers = [{}]\ninitial_fraction = 0.5\n",
            self.file_size,
            peers.join(", ")
        ));
    }

    /// Starts `pacom run` and reads the addresses it prints.
    pub fn start(&mut self) {
        self.spawn();
        self.wait_started();
    }

    /// Starts `pacom run` without waiting for it (see [`Node::wait_started`]),
    /// so several nodes generate their PACOM files at the same time.
    pub fn spawn(&mut self) {
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
            let mut r = BufReader::new(stdout);
            loop {
                let mut line = String::new();
                match r.read_line(&mut line) {
                    Ok(n) if n > 0 => {
                        if tx.send(line).is_err() {
                            return;
                        }
                    }
                    _ => return,
                }
            }
        });
        self.child = Some(child);
        self.lines = Some(rx);
    }

    /// Waits for a spawned node's addresses.
    pub fn wait_started(&mut self) {
        let rx = self.lines.take().expect("spawned");
        let last_word = |line: &str| {
            line.trim()
                .rsplit(' ')
                .next()
                .filter(|a| a.contains(':'))
                .map(str::to_string)
        };
        let line = rx
            .recv_timeout(Duration::from_secs(180))
            .unwrap_or_else(|_| panic!("node did not start: {}", self.log()));
        self.addr = Some(last_word(&line).unwrap_or_else(|| panic!("no address in {line:?}")));
        // The SOCKS line, if configured, follows at once.
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
            if line.starts_with("socks5 proxy listening on") {
                self.socks = last_word(&line);
            }
        }
    }

    pub fn addr(&self) -> &str {
        self.addr.as_deref().unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path().join("run.log")).unwrap_or_default()
    }

    /// SIGTERM, and the node must exit cleanly.
    pub fn stop(&mut self) {
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

    pub fn status(&self) -> Value {
        let out = pacom(self.path(), &["status", "--json"]);
        assert!(out.status.success(), "status: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("status is JSON")
    }

    /// Every inbox record, as `inbox --json` prints them.
    pub fn inbox(&self) -> Vec<Value> {
        let out = pacom(self.path(), &["inbox", "--json"]);
        assert!(out.status.success(), "inbox: {}", text(&out.stderr));
        text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("inbox line is JSON"))
            .collect()
    }

    /// The first inbox record matching `pred`, waiting up to 90 s.
    pub fn wait_inbox(&self, what: &str, mut pred: impl FnMut(&Value) -> bool) -> Value {
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

    pub fn wait_neighbours(&self, n: usize) {
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

/// Echoes every connection's bytes back on 127.0.0.1, one thread each.
pub struct EchoServer {
    pub port: u16,
}

impl EchoServer {
    pub fn start() -> EchoServer {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for conn in l.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut back = conn.try_clone().unwrap();
                    let mut rd = conn;
                    let _ = std::io::copy(&mut rd, &mut back);
                    let _ = back.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        EchoServer { port }
    }
}

/// A TCP connection to `127.0.0.1:port` through the SOCKS5 proxy at
/// `proxy` (no authentication, CONNECT by IPv4 address).
pub fn socks5_connect(proxy: &str, port: u16) -> TcpStream {
    let mut s = TcpStream::connect(proxy).expect("connect to the SOCKS port");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(&[5, 1, 0]).unwrap();
    let mut hello = [0u8; 2];
    s.read_exact(&mut hello).unwrap();
    assert_eq!(hello, [5, 0], "SOCKS method not accepted");
    let mut req = vec![5, 1, 0, 1, 127, 0, 0, 1];
    req.extend_from_slice(&port.to_be_bytes());
    s.write_all(&req).unwrap();
    let mut head = [0u8; 4];
    s.read_exact(&mut head).unwrap();
    assert_eq!(head[..2], [5, 0], "SOCKS CONNECT refused: {head:?}");
    let addr_len = match head[3] {
        1 => 4,
        4 => 16,
        3 => {
            let mut n = [0u8; 1];
            s.read_exact(&mut n).unwrap();
            usize::from(n[0])
        }
        t => panic!("bad SOCKS address type {t}"),
    };
    let mut rest = vec![0u8; addr_len + 2];
    s.read_exact(&mut rest).unwrap();
    s
}

/// Writes `data` on `s` from a second thread while reading as many bytes
/// back; returns what came back.
pub fn echo_through(s: TcpStream, data: Arc<Vec<u8>>) -> Vec<u8> {
    let mut w = s.try_clone().unwrap();
    let out = data.clone();
    let writer = std::thread::spawn(move || w.write_all(&out).expect("write to the stream"));
    let mut back = vec![0u8; data.len()];
    let mut r = s;
    r.read_exact(&mut back).expect("read the echo");
    writer.join().unwrap();
    back
}

/// A port nobody listens on yet (a daemon binds it next).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}
