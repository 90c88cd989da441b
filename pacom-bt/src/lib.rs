//! The BitTorrent engine and the PACOM node runtime: sockets, files, timers,
//! the DHT and trackers. Protocol decisions live in `pacom-core`.

/// The choking algorithm.
pub mod choke;
/// Peer sources (trackers, DHT) the torrent polls.
pub mod discovery;
/// The engine facade.
pub mod engine;
/// A per-torrent hook that may claim peers after the handshake.
pub mod hook;
/// The PACOM node runtime: swarms, links, neighbour pipes.
pub mod node;
/// Per-peer HAVE observation.
pub mod observe;
mod peer;
/// Piece picking behind a trait (rarest first by default).
pub mod picker;
/// Global token-bucket rate limits and rate estimates.
pub mod ratelimit;
mod state;
/// One torrent: handle, stats, storage choice.
pub mod torrent;
/// Peer-wire framing and messages (BEP 3, BEP 10).
pub mod wire;

pub use engine::{AddTorrent, Engine, EngineConfig, EngineError, TorrentSource};
pub use torrent::{StorageSpec, TorrentHandle, TorrentStats};

/// Which pieces a peer has, in wire bit order.
pub mod bitfield;
/// Mainline DHT peer discovery (BEP 5) over the `mainline` crate.
pub mod dht;
/// The DHT as a torrent's peer source.
pub mod dht_source;
/// Magnet links: joining a torrent from its hash alone.
pub mod magnet;
/// Torrent metainfo: parsing, creating, and the info hash.
pub mod metainfo;
/// SOCKS5 front and exit connector for public-mode streams.
pub mod proxy;
/// Torrent data on disk or in memory, piece verification and resume.
pub mod storage;
/// HTTP tracker announces (BEP 3, compact peers BEP 23).
pub mod tracker;
/// An HTTP tracker as a torrent's peer source.
pub mod tracker_source;
/// BEP 9 metadata exchange, so magnet links can become torrents.
pub mod ut_metadata;
