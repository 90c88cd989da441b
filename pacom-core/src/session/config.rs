//! Tunables of a node's circuit and session layers.

use std::time::Duration;

/// Default of [`Config::handshake_window`]: above the spread of arrival
/// times of a handshake's fewest-hop copies over a few WAN hops (one-way
/// delays up to ~100 ms each), small against the handshake time-out.
pub const DEFAULT_HANDSHAKE_WINDOW: Duration = Duration::from_millis(500);

/// Default of [`Config::stream_window`]. A window is refilled once half
/// of it is consumed, so about 1.5 MiB is in flight: at the ~10 ms round
/// trip of a loaded three-hop loopback circuit, 256 KiB held one stream
/// near 19 MB/s whatever the links' pacing; 2 MiB lets it fill 5000
/// blocks/s links. A stream buffers at most this much on the receiving side.
pub const DEFAULT_STREAM_WINDOW: u64 = 2 * 1024 * 1024;

/// Default of [`Config::max_in_flight`]: 256 frames of up to 16 KiB, so a
/// session's sender keeps up to 4 MiB for resending: room for the default
/// window of two busy streams.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;

/// Configuration of a [`super::Node`].
#[derive(Clone, Debug)]
pub struct Config {
    /// TTL put in our handshake requests; larger incoming TTLs are clamped.
    pub ttl: u8,
    /// Probability of forwarding a handshake to one random neighbour instead
    /// of all (controlled random walk, paper extension 2). With `p0 > 0` the
    /// source itself also sends to one random neighbour.
    pub walk_p0: f64,
    /// How long a node gathers the copies of a new handshake before it
    /// picks the circuit's previous hop, uniformly among the copies with
    /// the fewest hops, so that the path does not depend on link delays
    /// (which an observer can see). Must exceed the spread of those
    /// copies' arrival times; zero takes the first copy (the fastest path
    /// wins). Costs about this much per hop of set-up time, and must stay
    /// below `handshake_timeout`.
    pub handshake_window: Duration,
    /// Circuits kept per session (extension 1): the target answers `k`
    /// copies from distinct neighbours, fewest hops first (at random among
    /// equals), then later copies as they come.
    pub circuits_per_peer: usize,
    /// How long the source waits for a first response before retrying.
    pub handshake_timeout: Duration,
    /// Fresh handshakes after a time-out before the session fails.
    pub handshake_retries: u32,
    /// Accepted distance between a handshake's `time` and ours.
    pub time_window: Duration,
    /// UNIX seconds at `now == 0`: the handshake `time` is this plus `now`.
    pub unix_time_at_origin: u64,
    /// `t` of the paper: unsuccessful relay records older than this go.
    pub record_timeout: Duration,
    /// Established relay records unused this long are forgotten.
    pub record_idle: Duration,
    /// Handshakes a neighbour may make us process per second, and burst.
    pub flood_rate: f64,
    pub flood_burst: f64,
    /// A circuit that owes us a reply this long is declared dead.
    pub silence_timeout: Duration,
    /// Quiet circuits of an active session are probed this often.
    pub keepalive: Duration,
    /// A session with no traffic this long stops probing its circuits.
    pub idle_timeout: Duration,
    /// Largest data bytes in one frame (the payload of one data cell).
    pub max_fragment: usize,
    /// Most unacknowledged frames in flight per session. Each is kept for
    /// retransmission, so a session's sender holds up to this many times
    /// `max_fragment` bytes; with one busy stream, throughput is at most
    /// that over the round trip.
    pub max_in_flight: usize,
    /// Largest incoming message we reassemble.
    pub max_message_len: u64,
    /// Per-stream receive window, in bytes: the most stream data we let the
    /// peer send beyond what the application consumed, so the most a
    /// stream buffers on the receiving side. One stream's throughput is at
    /// most this over the circuit's round trip. Below
    /// [`super::INITIAL_STREAM_WINDOW`] it is safe only in a network whose
    /// nodes all use the same window; above it, it is advertised as each
    /// stream opens.
    pub stream_window: u64,
    /// Whether the application reports stream bytes it consumed
    /// ([`super::Node::stream_consumed`]) instead of every byte counting as
    /// consumed once [`super::Node::poll_event`] hands it out. A host that
    /// buffers events before its readers take them sets this, so a slow
    /// reader holds the peer back instead of growing that buffer.
    pub app_credits_streams: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ttl: 12,
            walk_p0: 0.0,
            handshake_window: DEFAULT_HANDSHAKE_WINDOW,
            circuits_per_peer: 2,
            handshake_timeout: Duration::from_secs(10),
            handshake_retries: 3,
            time_window: Duration::from_secs(120),
            unix_time_at_origin: 1_700_000_000,
            record_timeout: Duration::from_secs(30),
            record_idle: Duration::from_secs(600),
            flood_rate: 20.0,
            flood_burst: 40.0,
            silence_timeout: Duration::from_secs(20),
            keepalive: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(60),
            max_fragment: 16 * 1024,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_message_len: 256 * 1024 * 1024,
            stream_window: DEFAULT_STREAM_WINDOW,
            app_credits_streams: false,
        }
    }
}
