//! Benchmark (run with `PACOM_BENCH=1 cargo test -p pacom-cli --test circuit_bench`;
//! the default test run skips it, as speed is no test's business): the
//! two-swarm world of `circuit_cli` (five `pacom run` processes, circuit
//! n1 → n5 across n3) at the tests' link rate and a faster one. Prints the
//! circuit set-up time (first `pacom send` to a new contact until its
//! acknowledgement), the throughput of a 10 MiB message, and of a 4 MiB
//! stream echoed through n1's SOCKS5 proxy and exit n5.

mod common;

use std::sync::Arc;
use std::time::Instant;

use common::two_swarms::TwoSwarms;
use common::{echo_through, pacom, socks5_connect, test_data, text, EchoServer, LINK_RATE};

const MIB: usize = 1 << 20;
const FILE_LEN: usize = 10 * MIB;
const ECHO_LEN: usize = 4 * MIB;

struct Row {
    rate: String,
    setup: f64,
    file: f64,
    echo: f64,
}

fn send(w: &TwoSwarms, args: &[&str]) -> f64 {
    let n1 = &w.nodes[0];
    let mut all = vec!["send", "n5"];
    all.extend_from_slice(args);
    let t = Instant::now();
    let out = pacom(n1.path(), &all);
    assert!(
        out.status.success(),
        "send: {}\n{}",
        text(&out.stderr),
        n1.log()
    );
    t.elapsed().as_secs_f64()
}

fn measure(rate: &str, file_size: u64, seeds: [&str; 2]) -> Row {
    let echo = EchoServer::start();
    let mut w = TwoSwarms::start(rate, file_size, seeds);
    let setup = send(&w, &["--message", "first contact"]);
    let data = test_data(FILE_LEN);
    let path = w.nodes[0].path().join("ten.bin");
    std::fs::write(&path, &data).unwrap();
    let file = send(&w, &["--file", path.to_str().unwrap()]);
    let rec = w.nodes[4].wait_inbox("the file", |v| v["kind"] == "file");
    assert_eq!(rec["intact"], true);
    let payload = Arc::new(test_data(ECHO_LEN));
    let t = Instant::now();
    let back = echo_through(socks5_connect(&w.socks, echo.port), payload.clone());
    let echo_s = t.elapsed().as_secs_f64();
    assert!(back == *payload, "echo differs");
    w.stop();
    Row {
        rate: rate.to_string(),
        setup,
        file,
        echo: echo_s,
    }
}

fn main() {
    if std::env::var_os("PACOM_BENCH").is_none() {
        println!("circuit_bench: skipped (set PACOM_BENCH=1 to run the benchmark)");
        return;
    }
    let rows = [
        measure(
            LINK_RATE,
            1 << 30,
            ["b1".repeat(32).as_str(), &"b2".repeat(32)],
        ),
        // Faster links use up their PACOM files faster.
        measure("500", 2 << 30, ["b3".repeat(32).as_str(), &"b4".repeat(32)]),
    ];
    let profile = if cfg!(debug_assertions) {
        "dev"
    } else {
        "release"
    };
    println!(
        "circuit benchmark ({profile} profile, loopback, 5 processes, S1={{n1,n2,n3}} S2={{n3,n4,n5}}, circuit n1 -> n5)"
    );
    println!(
        "{:>14} {:>14} {:>12} {:>10} {:>16} {:>12} {:>14}",
        "link blocks/s",
        "link MB/s max",
        "set-up s",
        "10 MiB s",
        "message MB/s",
        "echo 4 MiB s",
        "echo MB/s/way"
    );
    for r in &rows {
        let link = r.rate.parse::<f64>().unwrap() * 16384.0 / 1e6;
        println!(
            "{:>14} {:>14.2} {:>12.2} {:>10.2} {:>16.2} {:>12.2} {:>14.2}",
            r.rate,
            link,
            r.setup,
            r.file,
            FILE_LEN as f64 / r.file / 1e6,
            r.echo,
            ECHO_LEN as f64 / r.echo / 1e6
        );
    }
}
