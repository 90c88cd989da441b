//! Three `PacomNode`s on loopback, a line a — b — c in one PACOM swarm over
//! real TCP: the `NodeHandle` builds a circuit from a to c through b,
//! delivers a message (and reports the delivery), carries a stream both
//! ways with half-close, and fails cleanly towards an unreachable key.

use std::sync::Arc;
use std::time::Duration;

use pacom_bt::node::{NodeConfig, NodeHandle, PacomNode, SwarmConfig};
use pacom_bt::EngineConfig;
use pacom_core::identity::Identity;
use pacom_core::link::{Mode, DEFAULT_PUBLIC_GROUP_KEY};
use pacom_core::pacom_file::{CoverKind, PacomFile, PacomFileOptions};
use pacom_core::schedule::{PacerConfig, Rate};
use pacom_core::session::{Config, Event};
use rand::{RngCore, SeedableRng};
use tokio::sync::mpsc::UnboundedReceiver;

fn swarm(file: &Arc<PacomFile>, peers: Vec<std::net::SocketAddr>) -> SwarmConfig {
    SwarmConfig {
        file: file.clone(),
        group_key: DEFAULT_PUBLIC_GROUP_KEY,
        mode: Mode::Public,
        carrier: Arc::new(stego::CiphertextCarrier),
        pacer: PacerConfig {
            rate: Rate::BlocksPerSec(100.0),
            max_outstanding: 10,
            burst: 10,
        },
        upload_rate: None,
        initial_fraction: 0.5,
        initial_peers: peers,
        peer_sources: Vec::new(),
        observer: None,
        timing: pacom_bt::node::LinkTiming::default(),
        leaky_control: None,
        renew: false,
    }
}

async fn start(
    id: &Identity,
    file: &Arc<PacomFile>,
    peers: Vec<std::net::SocketAddr>,
) -> PacomNode {
    let circuits = Config {
        handshake_timeout: Duration::from_secs(3),
        handshake_retries: 1,
        ..Config::default()
    };
    PacomNode::start(NodeConfig {
        identity: id.clone(),
        circuits,
        engine: EngineConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..EngineConfig::default()
        },
        swarms: vec![swarm(file, peers)],
        join: None,
    })
    .await
    .expect("node starts")
}

async fn next_matching(
    rx: &mut UnboundedReceiver<Event>,
    mut pred: impl FnMut(&Event) -> bool,
) -> Event {
    let fut = async {
        loop {
            let ev = rx.recv().await.expect("node running");
            if pred(&ev) {
                return ev;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), fut)
        .await
        .expect("event in time")
}

async fn links_up(handles: &[NodeHandle], want: &[usize]) {
    for _ in 0..600 {
        if handles
            .iter()
            .zip(want)
            .all(|(h, w)| h.neighbours().len() >= *w)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("links did not come up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handle_sends_messages_and_streams_over_a_two_hop_circuit() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let ids: Vec<Identity> = (0..4)
        .map(|_| Identity::generate(&mut rng, 1024).unwrap())
        .collect();
    let file = Arc::new(
        PacomFile::generate(
            [7; 32],
            &CoverKind::Archive,
            &PacomFileOptions::with_size(128 << 20),
        )
        .unwrap(),
    );
    let a = start(&ids[0], &file, vec![]).await;
    let b = start(&ids[1], &file, vec![a.local_addr()]).await;
    let c = start(&ids[2], &file, vec![b.local_addr()]).await;
    let (ha, hb, hc) = (a.handle().clone(), b.handle().clone(), c.handle().clone());
    links_up(&[ha.clone(), hb.clone(), hc.clone()], &[1, 2, 1]).await;
    let mut ev_a = ha.subscribe();
    let mut ev_c = hc.subscribe();

    // A message, acknowledged end to end.
    let mut msg = vec![0u8; 300_000];
    rng.fill_bytes(&mut msg);
    let session = ha.connect(ids[2].contact()).await.unwrap();
    ha.send(session, msg.clone())
        .await
        .unwrap()
        .outcome()
        .await
        .expect("delivered");
    let got = next_matching(&mut ev_c, |e| matches!(e, Event::MessageReceived { .. })).await;
    let Event::MessageReceived { data, from, .. } = got else {
        unreachable!()
    };
    assert!(data == msg, "message bytes differ");
    assert_eq!(from, None, "the target does not learn the source");

    // The circuit goes through b: a's status shows it, b relayed cells.
    let st = ha.status().await.unwrap();
    let s = st.sessions.iter().find(|s| s.id == session).unwrap();
    assert!(!s.circuits.is_empty());
    assert_eq!(s.peer, Some(ids[2].fingerprint()));
    assert!(hb.status().await.unwrap().stats.cells_relayed > 0);

    // A stream, with data back from the target and half-close both ways.
    let stream = ha.open_stream(session).await.unwrap();
    ha.stream_write(session, stream, b"ping over a stream".to_vec())
        .await
        .unwrap();
    ha.stream_close(session, stream).await.unwrap();
    let opened = next_matching(&mut ev_c, |e| matches!(e, Event::StreamOpened { .. })).await;
    let Event::StreamOpened {
        session: cs,
        stream: cst,
    } = opened
    else {
        unreachable!()
    };
    let mut got = Vec::new();
    while let Event::StreamData { data, .. } = next_matching(&mut ev_c, |e| {
        matches!(e, Event::StreamData { .. } | Event::StreamFinished { .. })
    })
    .await
    {
        got.extend(data);
    }
    assert_eq!(got, b"ping over a stream");
    hc.stream_write(cs, cst, b"pong".to_vec()).await.unwrap();
    hc.stream_close(cs, cst).await.unwrap();
    let mut back = Vec::new();
    while let Event::StreamData { data, .. } = next_matching(&mut ev_a, |e| {
        matches!(e, Event::StreamData { .. } | Event::StreamFinished { .. })
    })
    .await
    {
        back.extend(data);
    }
    assert_eq!(back, b"pong");

    // Nobody holds this key: the send fails with a reason, not a hang.
    let lost = ha.connect(ids[3].contact()).await.unwrap();
    let err = ha
        .send(lost, b"into the void".to_vec())
        .await
        .unwrap()
        .outcome()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no circuit"), "{err}");

    for n in [a, b, c] {
        n.shutdown().await;
    }
    assert!(
        ha.status().await.is_err(),
        "a stopped driver answers nothing"
    );
}
