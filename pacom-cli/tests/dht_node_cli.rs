//! `pacom dht-node`: two seed processes form a DHT, a peer announced through
//! one is found through the other, and both stop cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use pacom_bt::dht::{Dht, DhtConfig};

/// Starts `pacom dht-node` and reads the UDP address it prints.
fn dht_node(args: &[&str]) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pacom"))
        .arg("dht-node")
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start pacom dht-node");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("dht node listening on udp ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
    (child, addr.parse().unwrap())
}

fn stop(mut child: Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -TERM failed");
    let status = child.wait().unwrap();
    assert!(status.success(), "dht-node exited with {status} on SIGTERM");
}

fn client(seed: SocketAddr) -> Dht {
    Dht::start(DhtConfig {
        bootstrap: vec![seed],
        bind: Some("127.0.0.1:0".parse().unwrap()),
        server_mode: true,
        request_timeout: Some(Duration::from_millis(300)),
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_seeds_form_a_dht_that_finds_announced_peers() {
    let (seed1, a1) = dht_node(&["--listen", "127.0.0.1:0"]);
    let a1s = a1.to_string();
    let (seed2, a2) = dht_node(&["--listen", "127.0.0.1:0", "--bootstrap", &a1s]);
    assert_ne!(a1, a2);

    // One client knows only the first seed, the other only the second.
    let announcer = client(a1);
    assert!(announcer.bootstrapped().await, "no answer from seed 1");
    let info_hash = [0x5a; 20];
    announcer.announce(info_hash, Some(4242)).await.unwrap();
    let finder = client(a2);
    assert!(finder.bootstrapped().await, "no answer from seed 2");
    let want: SocketAddr = "127.0.0.1:4242".parse().unwrap();
    let mut found = Vec::new();
    for _ in 0..20 {
        found = finder.get_peers(info_hash).await.unwrap();
        if found.contains(&want) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        found.contains(&want),
        "peer announced via seed 1 not found via seed 2: {found:?}"
    );
    // Seed 2 told the finder about seed 1: the seeds know each other.
    let table = finder.routing_table().await;
    assert!(
        table.contains(&a1),
        "seed 1 not in the routing table of a client of seed 2: {table:?}"
    );
    stop(seed1);
    stop(seed2);
}

#[test]
fn bad_bootstrap_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_pacom"))
        .args([
            "dht-node",
            "--listen",
            "127.0.0.1:0",
            "--bootstrap",
            "no-port",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot resolve DHT node \"no-port\""),
        "unexpected error: {err}"
    );
}
