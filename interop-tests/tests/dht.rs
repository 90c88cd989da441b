//! `pacom_bt::dht::Dht` on a loopback `mainline` testnet, and reading peers
//! that libtorrent announced (see `interop_tests::dht_testnet` for why the
//! DHT they meet on is made of libtorrent nodes).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use interop_tests::dht_testnet::{test_node_config, DhtTestnet, LtDhtNet};
use interop_tests::files::write_random_file;
use interop_tests::libtorrent::{LibtorrentPeer, LtAdd, LtOptions};
use pacom_bt::dht::Dht;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn announce_on_one_node_get_peers_on_another() -> Result<()> {
    let net = DhtTestnet::start(5).await?;
    let a = net.join().await?;
    let b = net.join().await?;

    let ih = [0x5a; 20];
    a.announce(ih, Some(4242)).await?;
    // Re-announcing must not duplicate the peer in lookups.
    a.announce(ih, Some(4242)).await?;
    let peers = b.get_peers(ih).await?;
    let want: SocketAddr = "127.0.0.1:4242".parse()?;
    assert_eq!(peers.iter().filter(|p| **p == want).count(), 1, "{peers:?}");

    // Implied port: the address our DHT packets came from.
    let ih2 = [0x6b; 20];
    a.announce(ih2, None).await?;
    let peers = b.get_peers(ih2).await?;
    assert!(
        peers.contains(&a.local_addr()),
        "{peers:?} lacks {}",
        a.local_addr()
    );

    assert!(b.get_peers([0x7c; 20]).await?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libtorrent_announced_peer_is_found_by_our_dht() -> Result<()> {
    let dir = tempfile::tempdir()?;
    write_random_file(&dir.path().join("f.bin"), 1 << 20, 3)?;

    let mut net = LtDhtNet::start(3).await?;
    net.wait_connected(2, Duration::from_secs(20)).await?;
    let mut seeder = LibtorrentPeer::start(LtOptions {
        port: 0,
        dht: true,
        dht_bootstrap: net.bootstrap(),
    })
    .await?;
    let torrent = seeder
        .create_torrent(&dir.path().join("f.bin"), 0, &[])
        .await?;
    let ih = seeder
        .add_torrent(
            &torrent.bytes,
            &LtAdd {
                save_path: dir.path().to_path_buf(),
                seed: true,
                ..Default::default()
            },
        )
        .await?;

    let ours = Dht::start(test_node_config(net.bootstrap()))?;
    let start = Instant::now();
    loop {
        let peers = ours.get_peers(ih).await?;
        if peers.contains(&seeder.addr()) {
            break;
        }
        if start.elapsed() > Duration::from_secs(45) {
            bail!(
                "libtorrent seeder {} not found on the DHT; got {peers:?}",
                seeder.addr()
            );
        }
        seeder.force_dht_announce(ih).await?;
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    seeder.shutdown().await
}
