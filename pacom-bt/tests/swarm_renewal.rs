//! A configured swarm outlives its PACOM file: two `PacomNode`s on loopback
//! share a file small enough to be used up in well under a second at the
//! links' pacing. Each time the pair has exchanged every block it could,
//! the node that ran out starts afresh with a new random half of the
//! pieces and the dialling node re-dials, so links keep coming back; a
//! swarm that does not renew stays without a link.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pacom_bt::node::{NodeConfig, PacomNode, SwarmConfig};
use pacom_bt::EngineConfig;
use pacom_core::identity::Identity;
use pacom_core::pacom_file::{CoverKind, PacomFile, PacomFileOptions};
use pacom_core::schedule::{PacerConfig, Rate};
use pacom_core::session::Config;
use rand::SeedableRng;

async fn start(
    id: &Identity,
    file: &Arc<PacomFile>,
    peers: Vec<std::net::SocketAddr>,
    renew: bool,
) -> PacomNode {
    let swarm = SwarmConfig {
        pacer: PacerConfig {
            rate: Rate::BlocksPerSec(400.0),
            max_outstanding: 10,
            burst: 10,
        },
        initial_peers: peers,
        renew,
        ..SwarmConfig::public(file.clone())
    };
    PacomNode::start(NodeConfig {
        identity: id.clone(),
        circuits: Config::default(),
        engine: EngineConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..EngineConfig::default()
        },
        swarms: vec![swarm],
        join: None,
    })
    .await
    .expect("node starts")
}

/// (renewals, live links) of the node's only swarm.
fn swarm_state(n: &PacomNode) -> (u64, usize) {
    let s = n.swarms();
    (s[0].progress.renewals, s[0].progress.links)
}

/// Whether `pred` holds on both nodes' swarms within `limit`.
async fn within(
    limit: Duration,
    a: &PacomNode,
    b: &PacomNode,
    pred: impl Fn((u64, usize), (u64, usize)) -> bool,
) -> bool {
    let t = Instant::now();
    while t.elapsed() < limit {
        if pred(swarm_state(a), swarm_state(b)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_up_configured_swarm_starts_afresh_and_its_link_returns() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(8);
    let ids: Vec<Identity> = (0..4)
        .map(|_| Identity::generate(&mut rng, 1024).unwrap())
        .collect();
    // 256 blocks: a pair exchanges about 64 each way, a fraction of a second.
    let file = Arc::new(
        PacomFile::generate(
            [9; 32],
            &CoverKind::Archive,
            &PacomFileOptions::with_size(4 << 20),
        )
        .unwrap(),
    );

    let a = start(&ids[0], &file, vec![], true).await;
    let b = start(&ids[1], &file, vec![a.local_addr()], true).await;
    let renewed = within(Duration::from_secs(30), &a, &b, |x, y| x.0 + y.0 >= 6).await;
    assert!(
        renewed,
        "fresh starts: {:?} {:?}",
        swarm_state(&a),
        swarm_state(&b)
    );
    // Each renewal is followed by a new link.
    let before = swarm_state(&a).0 + swarm_state(&b).0;
    let back = within(Duration::from_secs(10), &a, &b, |x, y| {
        x.1 == 1 && y.1 == 1 && x.0 + y.0 > before
    })
    .await;
    assert!(
        back,
        "no link after renewal: {:?} {:?}",
        swarm_state(&a),
        swarm_state(&b)
    );
    b.shutdown().await;
    a.shutdown().await;

    // Without renewal the used-up pair is left without a link.
    let c = start(&ids[2], &file, vec![], false).await;
    let d = start(&ids[3], &file, vec![c.local_addr()], false).await;
    let linked = within(Duration::from_secs(10), &c, &d, |x, y| x.1 + y.1 > 0).await;
    assert!(linked, "the pair never linked");
    let down = within(Duration::from_secs(10), &c, &d, |x, y| x.1 + y.1 == 0).await;
    assert!(down, "the file was not used up");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(swarm_state(&c), (0, 0));
    assert_eq!(swarm_state(&d), (0, 0));
    d.shutdown().await;
    c.shutdown().await;
}
