//! Benchmark (run with `PACOM_BENCH=1 cargo test -p pacom-cli --test socks_bench`;
//! the default test run skips it, as speed is no test's business): a
//! 20 MiB (`PACOM_BENCH_MIB`) HTTP download with curl through a SOCKS5 proxy whose circuit
//! crosses three PACOM links (alice — bob — carol — dave, dave the exit),
//! beside a direct curl of the same file in the same run. Prints time to
//! first byte, throughput and the ratio, for each link pacing: the config's
//! default, the test suite's, and unlimited (only h outstanding requests
//! limit a link). Numbers are from whatever profile the test binary was
//! built in; the table says which.
//!
//! Every block a link downloads, data or cover, uses up one block of the
//! PACOM file; a used-up configured swarm starts afresh (its links drop
//! and come back, and circuits over them are rebuilt), so larger files
//! (`PACOM_BENCH_FILE_MIB`, default 1024) mean fewer such breaks during a
//! download at fast pacing. A failed download shows as a failed row with
//! curl's error.
//!
//! The nodes inherit the environment, so `PACOM_STREAM_WINDOW` and
//! `PACOM_MAX_IN_FLIGHT` (or any other `pacom run` setting) apply to all
//! four; the table's heading names the two.

mod common;

use std::net::TcpListener;
use std::process::Command;
use std::time::Instant;

use common::{test_data, HttpServer, Node};

/// (time to first byte s, total s) as curl measures them.
fn timed_curl(proxy: Option<&str>, url: &str, len: u64) -> Result<(f64, f64), String> {
    let mut c = Command::new("curl");
    c.args(["-sS", "--max-time", "180", "-o", "/dev/null"]);
    c.args(["-w", "%{time_starttransfer} %{time_total} %{size_download}"]);
    if let Some(p) = proxy {
        c.args(["--socks5-hostname", p]);
    }
    let out = c.arg(url).output().expect("run curl");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    let s = String::from_utf8_lossy(&out.stdout).into_owned();
    let v: Vec<f64> = s
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    match (v.first(), v.get(1), v.get(2)) {
        (Some(t), Some(total), Some(n)) if *n == len as f64 => Ok((*t, *total)),
        _ => Err(format!("short download: {s}")),
    }
}

fn free_addr() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// Four nodes in a line, each link paced at `rate` blocks/s (0: unlimited).
/// Returns them and alice's SOCKS address. A node dials its configured
/// peers once, after generating its PACOM files: bob and dave start first
/// and only listen, then carol dials both, then alice dials bob. Links use
/// up their files from the moment they run, so only the links to carol run
/// while another node (alice) is still generating.
fn chain(rate: &str, file_size: u64) -> (Vec<Node>, String) {
    let addrs: Vec<String> = (0..4).map(|_| free_addr()).collect();
    let mut nodes: Vec<Node> = addrs
        .iter()
        .map(|a| Node::init_listen(rate, file_size, a))
        .collect();
    let seeds = ["d1", "d2", "d3"].map(|p| p.repeat(32));
    let dave = nodes[3].contact();
    nodes[0].add_contact("dave", &dave);
    nodes[3].set_config("exit", "enabled", "true");
    nodes[3].set_config("exit", "allow_loopback", "true");
    let socks = free_addr();
    nodes[0].set_config("socks", "listen", &format!("\"{socks}\""));
    nodes[0].set_config("socks", "exits", r#"["dave"]"#);
    // Node i meets node i+1 in swarm i.
    let (b, d) = (addrs[1].as_str(), addrs[3].as_str());
    nodes[1].add_swarm(&seeds[0], &[]);
    nodes[1].add_swarm(&seeds[1], &[]);
    nodes[3].add_swarm(&seeds[2], &[]);
    nodes[0].add_swarm(&seeds[0], &[b]);
    nodes[2].add_swarm(&seeds[1], &[b]);
    nodes[2].add_swarm(&seeds[2], &[d]);
    for stage in [&[1, 3][..], &[2], &[0]] {
        for &i in stage {
            nodes[i].spawn();
        }
        for &i in stage {
            nodes[i].wait_started();
        }
    }
    for (n, want) in nodes.iter().zip([1, 2, 2, 1]) {
        n.wait_neighbours(want);
    }
    (nodes, socks)
}

struct Row {
    label: String,
    direct: (f64, f64),
    circuit: Result<(f64, f64), String>,
    /// Circuit build plus a 4 KiB download.
    first: f64,
}

fn main() {
    if std::env::var_os("PACOM_BENCH").is_none() {
        println!("socks_bench: skipped (set PACOM_BENCH=1 to run the benchmark)");
        return;
    }
    let file_mib: u64 = std::env::var("PACOM_BENCH_FILE_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    // `PACOM_BENCH_MIB` sets the download size (default 20 MiB).
    let len: u64 = std::env::var("PACOM_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
        << 20;
    let data = test_data(len as usize);
    let http = HttpServer::start(data);
    let big = format!("http://127.0.0.1:{}/big.bin", http.port);
    let small = format!("http://127.0.0.1:{}/small.bin", http.port);
    let mut pacings = vec![
        ("default pacing, 64 blocks/s".to_string(), "64".to_string()),
        (
            format!("test pacing, {} blocks/s", common::LINK_RATE),
            common::LINK_RATE.to_string(),
        ),
        ("unlimited pacing".to_string(), "0".to_string()),
    ];
    // `PACOM_BENCH_RATES=5000,10000,0` measures those link rates instead
    // (0: unlimited).
    if let Ok(rates) = std::env::var("PACOM_BENCH_RATES") {
        pacings = rates
            .split(',')
            .map(|r| match r.trim() {
                "0" => ("unlimited pacing".to_string(), "0".to_string()),
                r => (format!("{r} blocks/s"), r.to_string()),
            })
            .collect();
    }
    let mut rows = Vec::new();
    for (label, rate) in pacings {
        let (label, rate) = (label.as_str(), rate.as_str());
        let t = Instant::now();
        let (mut nodes, socks) = chain(rate, file_mib << 20);
        eprintln!("{label}: chain up in {:.1} s", t.elapsed().as_secs_f64());
        // A first small download builds the circuit, so the rows measure streams.
        let warm = Instant::now();
        let first = timed_curl(Some(&socks), &small, 4096).map(|_| warm.elapsed().as_secs_f64());
        let direct = timed_curl(None, &big, len).expect("direct curl");
        let circuit = first
            .clone()
            .and_then(|_| timed_curl(Some(&socks), &big, len));
        eprintln!("{label}: {circuit:?}");
        rows.push(Row {
            label: label.to_string(),
            direct,
            circuit,
            first: first.unwrap_or(f64::NAN),
        });
        for n in nodes.iter_mut() {
            n.stop();
        }
    }

    let mb = len as f64 / 1e6;
    let profile = if cfg!(debug_assertions) {
        "dev"
    } else {
        "release"
    };
    let setting = |var: &str, default: String| std::env::var(var).unwrap_or(default);
    let window = setting(
        "PACOM_STREAM_WINDOW",
        pacom_core::session::DEFAULT_STREAM_WINDOW.to_string(),
    );
    let in_flight = setting(
        "PACOM_MAX_IN_FLIGHT",
        pacom_core::session::DEFAULT_MAX_IN_FLIGHT.to_string(),
    );
    println!(
        "SOCKS benchmark ({profile} profile, {} MiB over HTTP, loopback, PACOM files {file_mib} MiB, \
         stream window {window} bytes, {in_flight} frames in flight)",
        len >> 20
    );
    println!(
        "{:<48} {:>10} {:>10} {:>10} {:>12}",
        "path", "TTFB ms", "total s", "MB/s", "time ratio"
    );
    for r in &rows {
        println!(
            "{:<48} {:>10.1} {:>10.2} {:>10.2} {:>12}",
            format!("direct curl ({})", r.label),
            r.direct.0 * 1e3,
            r.direct.1,
            mb / r.direct.1,
            "1.0"
        );
        match &r.circuit {
            Ok((ttfb, total)) => println!(
                "{:<48} {:>10.1} {:>10.2} {:>10.2} {:>12.1}",
                format!("SOCKS, 3 PACOM hops ({})", r.label),
                ttfb * 1e3,
                total,
                mb / total,
                total / r.direct.1
            ),
            Err(e) => println!(
                "{:<48} failed: {e}",
                format!("SOCKS, 3 PACOM hops ({})", r.label)
            ),
        }
        println!(
            "{:<48} {:>10} {:>10.2}",
            "  first 4 KiB incl. circuit build", "", r.first
        );
    }
}
