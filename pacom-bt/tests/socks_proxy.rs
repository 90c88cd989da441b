//! The SOCKS front, the in-process opener and the exit connector, driven by
//! real curl and by a raw TCP client, against HTTP servers on loopback.

use futures::future::BoxFuture;
use pacom_bt::proxy::{
    DirectOpener, ExitConnector, IsolationKey, OpenError, OpenedStream, Resolver, SocksListener,
    StreamOpener, TargetAddr,
};
use pacom_core::exit::{ExitPolicy, StreamLimits};
use sha1::{Digest, Sha1};
use std::net::SocketAddr;
use std::process::Output;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BODY_LEN: usize = 20 * 1024 * 1024;

/// Deterministic bytes (xorshift64), so a wrong byte anywhere changes the hash.
fn body(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn sha1(b: &[u8]) -> Vec<u8> {
    Sha1::digest(b).to_vec()
}

/// A minimal HTTP/1.0 server answering every request with `body`.
async fn http_server(bind: &str, body: Arc<Vec<u8>>) -> SocketAddr {
    let l = TcpListener::bind(bind).await.expect("bind http server");
    let addr = l.local_addr().expect("http addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 16 * 1024 {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&body).await;
                let _ = s.shutdown().await;
            });
        }
    });
    addr
}

/// Records what each stream asked for, then opens it through the exit.
struct Recorder {
    inner: DirectOpener,
    seen: Mutex<Vec<(IsolationKey, TargetAddr)>>,
}

impl StreamOpener for Recorder {
    fn open(
        &self,
        isolation: IsolationKey,
        target: TargetAddr,
    ) -> BoxFuture<'_, Result<OpenedStream, OpenError>> {
        self.seen
            .lock()
            .expect("recorder lock")
            .push((isolation.clone(), target.clone()));
        self.inner.open(isolation, target)
    }
}

struct Proxy {
    addr: SocketAddr,
    recorder: Arc<Recorder>,
    exit: Arc<ExitConnector>,
}

async fn proxy(policy: ExitPolicy, resolver: Resolver) -> Proxy {
    proxy_with(ExitConnector::new(
        policy,
        StreamLimits::new(64, 256),
        resolver,
    ))
    .await
}

async fn proxy_with(exit: ExitConnector) -> Proxy {
    let exit = Arc::new(exit);
    let recorder = Arc::new(Recorder {
        inner: DirectOpener::new(exit.clone()),
        seen: Mutex::new(Vec::new()),
    });
    let listener = SocksListener::bind("127.0.0.1:0".parse().expect("addr"), recorder.clone())
        .await
        .expect("bind socks");
    let addr = listener.local_addr().expect("socks addr");
    tokio::spawn(listener.run());
    Proxy {
        addr,
        recorder,
        exit,
    }
}

fn loopback_policy() -> ExitPolicy {
    ExitPolicy::new().allow_loopback(true)
}

async fn curl(args: &[&str]) -> Output {
    tokio::process::Command::new("curl")
        .args(["-sS", "--max-time", "120"])
        .args(args)
        .output()
        .await
        .expect("curl runs")
}

fn assert_body(out: &Output, want: &[u8], what: &str) {
    assert!(
        out.status.success(),
        "{what}: curl failed: {:?} {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len(), want.len(), "{what}: length");
    assert_eq!(sha1(&out.stdout), sha1(want), "{what}: SHA-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_fetches_byte_identical_for_every_address_form_and_auth() {
    let data = Arc::new(body(BODY_LEN));
    let v4 = http_server("127.0.0.1:0", data.clone()).await;
    let v6 = match TcpListener::bind("[::1]:0").await {
        Ok(probe) => {
            drop(probe);
            Some(http_server("[::1]:0", data.clone()).await)
        }
        Err(_) => None,
    };
    let p = proxy(loopback_policy(), Resolver::new()).await;
    let socks = p.addr.to_string();
    let url4 = format!("http://127.0.0.1:{}/", v4.port());
    let cases: Vec<(&str, Vec<String>, TargetAddr, IsolationKey)> = vec![
        (
            "socks5-hostname, IPv4 literal",
            vec!["--socks5-hostname".into(), socks.clone(), url4.clone()],
            TargetAddr::Ip(v4),
            IsolationKey(None),
        ),
        (
            "socks5 (locally resolved IPv4)",
            vec!["--socks5".into(), socks.clone(), url4.clone()],
            TargetAddr::Ip(v4),
            IsolationKey(None),
        ),
        (
            "socks5-hostname with a name resolved at the exit",
            vec![
                "--socks5-hostname".into(),
                socks.clone(),
                format!("http://localhost:{}/", v4.port()),
            ],
            TargetAddr::Domain("localhost".into(), v4.port()),
            IsolationKey(None),
        ),
        (
            "username/password",
            vec![
                "--proxy".into(),
                format!("socks5h://{socks}"),
                "--proxy-user".into(),
                "alice:s3cret".into(),
                url4.clone(),
            ],
            TargetAddr::Ip(v4),
            IsolationKey(Some((b"alice".to_vec(), b"s3cret".to_vec()))),
        ),
    ];
    let mut cases = cases;
    if let Some(v6) = v6 {
        cases.push((
            "socks5, IPv6 literal",
            vec![
                "--socks5".into(),
                socks.clone(),
                format!("http://[::1]:{}/", v6.port()),
            ],
            TargetAddr::Ip(v6),
            IsolationKey(None),
        ));
    }
    for (what, args, target, key) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = curl(&args).await;
        assert_body(&out, &data, what);
        let seen = p.recorder.seen.lock().expect("lock").pop();
        let (seen_key, seen_target) = seen.expect("opener was asked");
        // `localhost` may reach the server through either family; the name
        // itself must have travelled unresolved.
        assert_eq!(seen_target, target, "{what}: target");
        assert_eq!(seen_key, key, "{what}: isolation key");
    }
    // Every stream has closed and given back its slot at the exit.
    for _ in 0..100 {
        if p.exit.open_streams() == 0 {
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(p.exit.open_streams(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_only_the_exit_knows_is_resolved_remotely() {
    let data = Arc::new(body(1024 * 1024));
    let server = http_server("127.0.0.1:0", data.clone()).await;
    let name = "only-the-exit.test";
    let resolver = Resolver::new().with_override(name, vec![server.ip()]);
    let p = proxy(loopback_policy(), resolver).await;
    let url = format!("http://{name}:{}/", server.port());

    // This machine cannot resolve the name...
    assert!(tokio::net::lookup_host((name, server.port()))
        .await
        .is_err());
    let local = curl(&["--socks5", &p.addr.to_string(), &url]).await;
    assert!(!local.status.success(), "curl resolving locally fails");
    assert!(
        String::from_utf8_lossy(&local.stderr).contains("resolve"),
        "{}",
        String::from_utf8_lossy(&local.stderr)
    );
    assert!(
        p.recorder.seen.lock().expect("lock").is_empty(),
        "nothing reached the proxy's opener"
    );

    // ...but through the proxy the exit resolves it.
    let remote = curl(&["--socks5-hostname", &p.addr.to_string(), &url]).await;
    assert_body(&remote, &data, "remote resolution");
    let seen = p.recorder.seen.lock().expect("lock").clone();
    assert_eq!(
        seen,
        vec![(
            IsolationKey(None),
            TargetAddr::Domain(name.into(), server.port())
        )]
    );
}

/// Runs the no-auth greeting and a CONNECT, returning everything the
/// proxy sends until it closes.
async fn raw_exchange(proxy: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(proxy).await.expect("connect proxy");
    s.write_all(bytes).await.expect("write");
    let mut got = Vec::new();
    // The proxy closes after a failure; a reset also ends the read.
    let _ = s.read_to_end(&mut got).await;
    got
}

fn connect_v4(addr: SocketAddr) -> Vec<u8> {
    let mut b = vec![5, 1, 0, 5, 1, 0];
    let mut t = Vec::new();
    TargetAddr::Ip(addr).encode_into(&mut t).expect("encode");
    b.extend(t);
    b
}

fn failure(code: u8) -> Vec<u8> {
    vec![5, 0, 5, code, 0, 1, 0, 0, 0, 0, 0, 0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_policy_refuses_loopback_with_socks_code_2() {
    let data = Arc::new(body(4096));
    let server = http_server("127.0.0.1:0", data).await;
    let p = proxy(ExitPolicy::new(), Resolver::new()).await;
    let url = format!("http://127.0.0.1:{}/", server.port());
    let out = curl(&["--socks5-hostname", &p.addr.to_string(), &url]).await;
    assert_eq!(out.status.code(), Some(97), "CURLE_PROXY");
    assert!(out.stdout.is_empty());
    assert_eq!(raw_exchange(p.addr, &connect_v4(server)).await, failure(2));
    // A name resolving to loopback is refused the same way.
    let mut by_name = vec![5, 1, 0, 5, 1, 0, 3, 9];
    by_name.extend(b"localhost");
    by_name.extend(server.port().to_be_bytes());
    assert_eq!(raw_exchange(p.addr, &by_name).await, failure(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_port_is_connection_refused() {
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        l.local_addr().expect("addr")
    };
    let p = proxy(loopback_policy(), Resolver::new()).await;
    assert_eq!(raw_exchange(p.addr, &connect_v4(closed)).await, failure(5));
    let out = curl(&[
        "--socks5",
        &p.addr.to_string(),
        &format!("http://{closed}/"),
    ])
    .await;
    assert_eq!(out.status.code(), Some(97));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_clients_do_not_disturb_a_concurrent_transfer() {
    let data = Arc::new(body(BODY_LEN));
    let server = http_server("127.0.0.1:0", data.clone()).await;
    let p = proxy(loopback_policy(), Resolver::new()).await;
    let socks = p.addr.to_string();
    let url = format!("http://127.0.0.1:{}/", server.port());
    // Rate-limited so the transfer is still running while the bad clients
    // come and go.
    let transfer = tokio::spawn(async move {
        curl(&["--socks5-hostname", &socks, "--limit-rate", "10M", &url]).await
    });

    let mut zero_name = vec![5, 1, 0, 5, 1, 0, 3, 0];
    zero_name.extend(80u16.to_be_bytes());
    let mut nul_name = vec![5, 1, 0, 5, 1, 0, 3, 3, b'a', 0, b'b'];
    nul_name.extend(80u16.to_be_bytes());
    let cases: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
        ("SOCKS4 request", vec![4, 1, 0, 80, 127, 0, 0, 1, 0], vec![]),
        (
            "HTTP instead of SOCKS",
            b"GET / HTTP/1.0\r\n\r\n".to_vec(),
            vec![],
        ),
        ("no methods", vec![5, 0], vec![5, 0xFF]),
        ("only GSSAPI offered", vec![5, 1, 1], vec![5, 0xFF]),
        (
            "bad auth version",
            vec![5, 1, 2, 2, 1, b'u', 1, b'p'],
            vec![5, 2, 1, 1],
        ),
        ("empty username", vec![5, 1, 2, 1, 0, 0], vec![5, 2, 1, 1]),
        (
            "BIND",
            vec![5, 1, 0, 5, 2, 0, 1, 127, 0, 0, 1, 0, 80],
            failure(7),
        ),
        (
            "UDP ASSOCIATE",
            vec![5, 1, 0, 5, 3, 0, 1, 0, 0, 0, 0, 0, 0],
            failure(7),
        ),
        (
            "unknown command",
            vec![5, 1, 0, 5, 0x42, 0, 1, 1, 1, 1, 1, 0, 80],
            failure(7),
        ),
        (
            "address type 9",
            vec![5, 1, 0, 5, 1, 0, 9, 1, 2, 3, 4, 0, 80],
            failure(8),
        ),
        ("zero-length name", zero_name, failure(1)),
        ("NUL in name", nul_name, failure(1)),
        (
            "request version 4",
            vec![5, 1, 0, 4, 1, 0, 1, 1, 2, 3, 4, 0, 80],
            failure(1),
        ),
    ];
    for (what, send, want) in cases {
        assert_eq!(raw_exchange(p.addr, &send).await, want, "{what}");
    }
    // Truncated negotiations: the client half-closes mid-message and the
    // proxy closes without a reply to the unfinished part.
    for (what, send, want) in [
        ("truncated greeting", vec![5, 3, 0], vec![]),
        ("truncated auth", vec![5, 1, 2, 1, 5, b'a'], vec![5, 2]),
        (
            "truncated name",
            vec![5, 1, 0, 5, 1, 0, 3, 10, b'a'],
            vec![5, 0],
        ),
    ] {
        let mut s = TcpStream::connect(p.addr).await.expect("connect");
        s.write_all(&send).await.expect("write");
        s.shutdown().await.expect("half-close");
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got).await;
        assert_eq!(got, want, "{what}");
    }
    let out = transfer.await.expect("curl task");
    assert_body(&out, &data, "concurrent transfer");
}

/// A server that reads until the client half-closes, then answers with the
/// SHA-1 of what it read.
async fn digest_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut got = Vec::new();
                if s.read_to_end(&mut got).await.is_ok() {
                    let _ = s.write_all(&sha1(&got)).await;
                    let _ = s.shutdown().await;
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_close_travels_through_and_early_data_is_kept() {
    let server = digest_server().await;
    let p = proxy(loopback_policy(), Resolver::new()).await;
    let payload = body(3 * 1024 * 1024 + 17);
    let mut s = TcpStream::connect(p.addr).await.expect("connect");
    // Greeting, request and the first payload bytes in one write: the bytes
    // after the request must reach the server.
    let mut first = connect_v4(server);
    first.extend_from_slice(&payload[..1000]);
    s.write_all(&first).await.expect("write");
    let mut head = [0u8; 12];
    s.read_exact(&mut head).await.expect("replies");
    assert_eq!(head, [5, 0, 5, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    s.write_all(&payload[1000..]).await.expect("write");
    s.shutdown().await.expect("half-close");
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)
        .await
        .expect("answer after half-close");
    assert_eq!(answer, sha1(&payload));
}

/// The SOCKS reply code a no-auth CONNECT to `target` gets.
async fn reply_code(proxy: SocketAddr, target: TargetAddr) -> u8 {
    let mut req = vec![5, 1, 0, 5, 1, 0];
    target.encode_into(&mut req).expect("encode");
    let mut s = TcpStream::connect(proxy).await.expect("connect proxy");
    s.write_all(&req).await.expect("write");
    // The greeting's answer, then the reply's VER, REP, RSV, ATYP; a
    // stream that did connect is simply dropped.
    let mut got = [0u8; 6];
    s.read_exact(&mut got).await.expect("a reply");
    assert_eq!(got[..2], [5, 0], "greeting: {got:?}");
    got[3]
}

/// Private, link-local, unique-local and SMTP destinations, by address or
/// by a name only the exit resolves, get "not allowed" (0x02) under the
/// default policy, and are tried (some other code) once a rule allows them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_destinations_refused_with_code_2_unless_a_rule_allows() {
    let ip = |s: &str| TargetAddr::Ip(s.parse().expect("socket addr"));
    let name = |n: &str, port| TargetAddr::Domain(n.into(), port);
    let resolver = || {
        Resolver::new()
            .with_override("intranet.test", vec!["192.168.7.7".parse().expect("ip")])
            .with_override("ula.test", vec!["fd12::7".parse().expect("ip")])
    };
    let private = [
        ip("10.1.2.3:80"),
        ip("172.16.5.4:80"),
        ip("192.168.1.1:80"),
        ip("169.254.169.254:80"),
        ip("[fc00::1]:80"),
        ip("[fd12:3456::1]:80"),
        ip("[fe80::1]:80"),
        name("intranet.test", 80),
        name("ula.test", 80),
    ];
    let smtp = [ip("192.0.2.1:25"), ip("127.0.0.1:25")];
    let strict = proxy(ExitPolicy::new().allow_loopback(true), resolver()).await;
    for t in private.iter().chain(&smtp) {
        assert_eq!(reply_code(strict.addr, t.clone()).await, 2, "{t:?}");
    }
    // Operator rules come before the defaults. Whether anything answers at
    // these addresses depends on the machine (unreachable, refused, timed
    // out, a general failure for a link-local address without a scope, or
    // connected): what matters is that the exit tried instead of refusing.
    let rules = [
        "accept 10.0.0.0/8:80",
        "accept 172.16.0.0/12:80",
        "accept 192.168.0.0/16:80",
        "accept 169.254.0.0/16:80",
        "accept [fc00::]/7:80",
        "accept [fe80::]/10:80",
        "accept *:25",
    ];
    let open = ExitPolicy::new()
        .allow_loopback(true)
        .with_rules(rules)
        .expect("rules parse");
    let lenient = proxy_with(
        ExitConnector::new(open, StreamLimits::new(64, 256), resolver())
            .with_connect_timeout(std::time::Duration::from_millis(300)),
    )
    .await;
    for t in private.iter().chain(&smtp) {
        let code = reply_code(lenient.addr, t.clone()).await;
        assert_ne!(code, 2, "{t:?}");
    }
    assert_eq!(strict.exit.open_streams(), 0);
}
