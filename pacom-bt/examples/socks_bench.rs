//! Throughput and time-to-first-byte through the SOCKS front and an
//! in-process exit (`DirectOpener`), beside a direct fetch, both with curl.
//!
//! `cargo run --release -p pacom-bt --example socks_bench [MiB] [runs]`

use pacom_bt::proxy::{DirectOpener, ExitConnector, Resolver, SocksListener};
use pacom_core::exit::{ExitPolicy, StreamLimits};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

async fn http_server(body: Arc<Vec<u8>>) -> std::io::Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let addr = l.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let head = format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&body).await;
                let _ = s.shutdown().await;
            });
        }
    });
    Ok(addr)
}

/// (time to first byte in s, bytes per second) as curl measured them.
async fn fetch(proxy: Option<SocketAddr>, url: &str) -> Result<(f64, f64), String> {
    let mut cmd = tokio::process::Command::new("curl");
    cmd.args([
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{time_starttransfer} %{speed_download}",
    ]);
    if let Some(p) = proxy {
        cmd.args(["--socks5-hostname", &p.to_string()]);
    }
    let out = cmd.arg(url).output().await.map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut it = text
        .split_whitespace()
        .map(|v| v.replace(',', ".").parse::<f64>());
    match (it.next(), it.next()) {
        (Some(Ok(t)), Some(Ok(s))) => Ok((t, s)),
        _ => Err(format!("unexpected curl output {text:?}")),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mib: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(64);
    let runs: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(5);
    let body = Arc::new(vec![0x5a; mib * 1024 * 1024]);
    let server = http_server(body).await?;
    let exit = Arc::new(ExitConnector::new(
        ExitPolicy::new().allow_loopback(true),
        StreamLimits::new(64, 256),
        Resolver::new(),
    ));
    let listener =
        SocksListener::bind("127.0.0.1:0".parse()?, Arc::new(DirectOpener::new(exit))).await?;
    let proxy = listener.local_addr()?;
    tokio::spawn(listener.run());
    let url = format!("http://{server}/");

    println!("{mib} MiB body, {runs} runs each, loopback, curl as the client");
    println!("{:<28} {:>12} {:>14}", "path", "TTFB (ms)", "MiB/s");
    for (name, via) in [
        ("direct", None),
        ("SOCKS + DirectOpener + exit", Some(proxy)),
    ] {
        let mut ttfb = Vec::new();
        let mut speed = Vec::new();
        for _ in 0..runs {
            let (t, s) = fetch(via, &url).await?;
            ttfb.push(t * 1000.0);
            speed.push(s / (1024.0 * 1024.0));
        }
        ttfb.sort_by(f64::total_cmp);
        speed.sort_by(f64::total_cmp);
        let median = |v: &[f64]| v.get(v.len() / 2).copied().unwrap_or(f64::NAN);
        println!(
            "{:<28} {:>12.3} {:>14.1}   (median of {runs})",
            name,
            median(&ttfb),
            median(&speed)
        );
    }
    Ok(())
}
