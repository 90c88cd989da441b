//! Starts and drives software nobody here wrote (libtorrent, librqbit,
//! opentracker, a `mainline` DHT testnet) for the integration tests and
//! benchmarks. Every child process and temp dir is cleaned up on drop.

pub mod byte_stream;
pub mod dht_testnet;
pub mod docker;
pub mod files;
pub mod libtorrent;
pub mod opentracker;
pub mod popular;
pub mod ports;
pub mod rqbit;
pub mod swarm_node;

/// Logs to the test output when `RUST_LOG` is set; safe to call repeatedly.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
