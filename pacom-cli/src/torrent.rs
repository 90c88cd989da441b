//! `pacom torrent create|seed|get`: the engine as an ordinary BitTorrent client.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use pacom_bt::dht::{Dht, DhtConfig};
use pacom_bt::dht_source::DhtSource;
use pacom_bt::discovery::PeerSource;
use pacom_bt::magnet::Magnet;
use pacom_bt::metainfo::{create_from_path, CreateOptions, Metainfo};
use pacom_bt::tracker_source::TrackerSource;
use pacom_bt::{AddTorrent, Engine, EngineConfig, StorageSpec, TorrentSource};
use std::io::IsTerminal;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Subcommand)]
pub enum TorrentCmd {
    /// Create a .torrent file for FILE (a file or a directory).
    Create {
        file: PathBuf,
        /// Where to write the .torrent.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// Piece size in bytes (a power of two, at least 16384); automatic if absent.
        #[arg(long)]
        piece_size: Option<u32>,
        /// Announce URL (repeatable).
        #[arg(long = "tracker")]
        trackers: Vec<String>,
    },
    /// Seed a torrent whose data is in --dir, until interrupted.
    Seed {
        torrent: PathBuf,
        #[command(flatten)]
        net: NetArgs,
    },
    /// Download a .torrent or magnet link into --dir; exits 0 only when every
    /// piece is verified.
    Get {
        /// A .torrent file or a magnet: URI.
        source: String,
        #[command(flatten)]
        net: NetArgs,
        /// A peer to connect to (repeatable).
        #[arg(long = "peer")]
        peers: Vec<SocketAddr>,
    },
}

#[derive(Args)]
pub struct NetArgs {
    /// Directory holding the torrent's data.
    #[arg(long)]
    dir: PathBuf,
    /// Address to accept peers on.
    #[arg(long, default_value = "0.0.0.0:0")]
    listen: SocketAddr,
    /// Announce URL (repeatable), used besides the torrent's own trackers.
    #[arg(long = "tracker")]
    trackers: Vec<String>,
    /// DHT bootstrap node (repeatable); starts a DHT node on the listen IP.
    #[arg(long = "dht-bootstrap")]
    dht_bootstrap: Vec<SocketAddr>,
}

pub fn run(cmd: TorrentCmd) -> Result<()> {
    match cmd {
        TorrentCmd::Create {
            file,
            output,
            piece_size,
            trackers,
        } => create(file, output, piece_size, trackers),
        TorrentCmd::Seed { torrent, net } => runtime()?.block_on(seed(torrent, net)),
        TorrentCmd::Get { source, net, peers } => runtime()?.block_on(get(source, net, peers)),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn create(
    file: PathBuf,
    output: PathBuf,
    piece_size: Option<u32>,
    trackers: Vec<String>,
) -> Result<()> {
    let opts = CreateOptions {
        piece_length: piece_size,
        trackers,
        created_by: Some(concat!("pacom ", env!("CARGO_PKG_VERSION")).into()),
        ..Default::default()
    };
    let m = create_from_path(&file, &opts)
        .with_context(|| format!("creating a torrent from {}", file.display()))?;
    std::fs::write(&output, m.to_bytes())
        .with_context(|| format!("writing {}", output.display()))?;
    println!(
        "created {} ({} pieces of {} bytes), info hash {}",
        output.display(),
        m.info.num_pieces(),
        m.info.piece_length,
        m.info_hash
    );
    Ok(())
}

fn read_metainfo(path: &PathBuf) -> Result<Metainfo> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Metainfo::from_bytes(&bytes).with_context(|| format!("parsing {}", path.display()))
}

/// Peer sources from `--tracker` and `--dht-bootstrap`, announcing with
/// `peer_id` (the torrent's handshake id). Trackers named in the torrent or
/// magnet are added by the engine itself.
fn peer_sources(net: &NetArgs, peer_id: [u8; 20]) -> Result<Vec<Arc<dyn PeerSource>>> {
    let mut sources: Vec<Arc<dyn PeerSource>> = net
        .trackers
        .iter()
        .map(|url| Arc::new(TrackerSource::new(url.clone(), peer_id)) as Arc<dyn PeerSource>)
        .collect();
    if !net.dht_bootstrap.is_empty() {
        let ip = match net.listen.ip() {
            IpAddr::V4(ip) => ip,
            IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
        };
        let dht = Dht::start(DhtConfig {
            bootstrap: net.dht_bootstrap.clone(),
            bind: Some(SocketAddr::from((ip, 0))),
            ..Default::default()
        })
        .context("starting the DHT node")?;
        sources.push(Arc::new(DhtSource::new(dht)));
    }
    Ok(sources)
}

async fn start_engine(net: &NetArgs) -> Result<Engine> {
    let cfg = EngineConfig {
        listen: net.listen,
        ..Default::default()
    };
    Engine::start(cfg)
        .await
        .with_context(|| format!("listening on {}", net.listen))
}

async fn seed(torrent: PathBuf, net: NetArgs) -> Result<()> {
    let m = read_metainfo(&torrent)?;
    let engine = start_engine(&net).await?;
    let mut add = AddTorrent::new(
        TorrentSource::Metainfo(Box::new(m)),
        StorageSpec::Dir(net.dir.clone()),
    );
    let peer_id = engine.generate_peer_id();
    add.peer_id = Some(peer_id);
    add.peer_sources = peer_sources(&net, peer_id)?;
    add.seed_only = true;
    let h = engine
        .add_torrent(add)
        .await
        .context("adding the torrent")?;
    let s = h.stats();
    if !s.complete {
        bail!(
            "data in {} is incomplete: {} of {} pieces verify",
            net.dir.display(),
            s.pieces_have,
            s.pieces_total
        );
    }
    println!(
        "seeding {} on {} (Ctrl-C to stop)",
        h.info_hash(),
        engine.local_addr()
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    engine.shutdown().await;
    Ok(())
}

async fn get(source: String, net: NetArgs, peers: Vec<SocketAddr>) -> Result<()> {
    let src = if source.starts_with("magnet:") {
        TorrentSource::Magnet(Magnet::parse(&source).context("parsing the magnet link")?)
    } else {
        TorrentSource::Metainfo(Box::new(read_metainfo(&PathBuf::from(&source))?))
    };
    std::fs::create_dir_all(&net.dir).with_context(|| format!("creating {}", net.dir.display()))?;
    let engine = start_engine(&net).await?;
    let mut add = AddTorrent::new(src, StorageSpec::Dir(net.dir.clone()));
    add.initial_peers = peers;
    let peer_id = engine.generate_peer_id();
    add.peer_id = Some(peer_id);
    add.peer_sources = peer_sources(&net, peer_id)?;
    let start = Instant::now();
    let h = engine
        .add_torrent(add)
        .await
        .context("adding the torrent")?;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(0);
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} {msg}",
        ) {
            bar.set_style(style);
        }
        bar
    });
    let done = h.wait_complete();
    tokio::pin!(done);
    loop {
        tokio::select! {
            r = &mut done => { r.context("download stopped")?; break; }
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = tokio::signal::ctrl_c() => bail!("interrupted"),
        }
        if let (Some(bar), Some(m)) = (&bar, h.metainfo()) {
            let s = h.stats();
            bar.set_length(m.info.total_length());
            let per = u64::from(m.info.piece_length);
            bar.set_position((u64::from(s.pieces_have) * per).min(m.info.total_length()));
            bar.set_message(format!("{} peers", s.peers_connected));
        }
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let secs = start.elapsed().as_secs_f64();
    let m = h.metainfo().context("metadata missing after completion")?;
    let s = h.stats();
    if !s.complete || s.pieces_have != m.info.num_pieces() {
        bail!(
            "download ended with {} of {} pieces",
            s.pieces_have,
            s.pieces_total
        );
    }
    h.shutdown().await;
    engine.shutdown().await;
    println!(
        "downloaded {} bytes in {:.2} s, all {} pieces verified, info hash {}",
        m.info.total_length(),
        secs,
        m.info.num_pieces(),
        m.info_hash
    );
    Ok(())
}
