//! `pacom_bt::tracker::announce` against a real opentracker.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Result;
use interop_tests::opentracker::Opentracker;
use pacom_bt::tracker::{announce, AnnounceEvent, AnnounceRequest, TrackerError};

fn request(info_hash: [u8; 20], peer: u8, port: u16, event: AnnounceEvent) -> AnnounceRequest {
    let mut peer_id = *b"-PC0001-000000000000";
    peer_id[19] = peer;
    AnnounceRequest {
        info_hash,
        peer_id,
        port,
        uploaded: 0,
        downloaded: 0,
        left: 1000,
        event,
        numwant: Some(50),
        ip: None,
    }
}

#[tokio::test]
async fn two_peers_see_each_other_and_stopped_leaves() -> Result<()> {
    let ih = [0xab; 20];
    let tracker = Opentracker::start(&[ih])?;
    let url = tracker.announce_url();
    let a: SocketAddr = "127.0.0.1:40001".parse()?;
    let b: SocketAddr = "127.0.0.1:40002".parse()?;

    let ra = announce(&url, &request(ih, b'a', a.port(), AnnounceEvent::Started)).await?;
    assert!(ra.interval > Duration::ZERO);
    assert!(!ra.peers.contains(&b));

    let rb = announce(&url, &request(ih, b'b', b.port(), AnnounceEvent::Started)).await?;
    assert!(rb.peers.contains(&a), "{rb:?}");
    assert_eq!(rb.incomplete, Some(2));

    let ra = announce(&url, &request(ih, b'a', a.port(), AnnounceEvent::Regular)).await?;
    assert!(ra.peers.contains(&b), "{ra:?}");

    announce(&url, &request(ih, b'b', b.port(), AnnounceEvent::Stopped)).await?;
    let ra = announce(&url, &request(ih, b'a', a.port(), AnnounceEvent::Regular)).await?;
    assert!(!ra.peers.contains(&b), "stopped peer still listed: {ra:?}");
    Ok(())
}

#[tokio::test]
async fn refusals_and_unsupported_schemes_are_typed_errors() -> Result<()> {
    let tracker = Opentracker::start(&[[1; 20]])?;
    let err = announce(
        &tracker.announce_url(),
        &request([2; 20], b'x', 1, AnnounceEvent::Started),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, TrackerError::Failure(ref m) if m.contains("not authorized")),
        "{err}"
    );

    for url in ["udp://127.0.0.1:1/announce", "https://127.0.0.1:1/announce"] {
        let err = announce(url, &request([1; 20], b'x', 1, AnnounceEvent::Started))
            .await
            .unwrap_err();
        assert!(matches!(err, TrackerError::Unsupported(_)), "{err}");
    }
    // Nobody listens on the tracker's port once it is gone.
    let url = tracker.announce_url();
    drop(tracker);
    let err = announce(&url, &request([1; 20], b'x', 1, AnnounceEvent::Started))
        .await
        .unwrap_err();
    assert!(matches!(err, TrackerError::Io(_)), "{err}");
    Ok(())
}
