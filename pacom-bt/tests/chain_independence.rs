//! The independence contract (the paper's Theorem 1) over real TCP, on a
//! three-node chain: `PacomNode`s A, B and C on loopback, A and B in PACOM
//! swarm AB, B and C in swarm BC. Every REQUEST and PIECE on link B – C is
//! recorded at B (time, size, direction) for a fixed span, once with no
//! hidden data and once while a stream A → C through B keeps B – C
//! saturated. Two-sample KS on the gaps between the PIECEs B sends to C
//! (the messages that carry the hidden bytes), on the gaps between all
//! messages of the link, and on the message counts per 100 ms window must
//! not tell the two records apart (p > 0.01).
//!
//! Positive control: the same pair of runs with B's links made deliberately
//! data-driven ([`pacom_core::analysis::LeakyAnswerer`]: while nothing is
//! queued it answers at most 50 requests/s, with data queued at once) must
//! be told apart by the piece gaps and the counts (p < 0.01).
//!
//! The quiet and the busy world run at the same time in one process and are
//! recorded over the same span, so load from elsewhere on the host hits
//! both alike. (Recorded one after the other, a compile job starting on a
//! shared machine is enough to tell them apart.)
//!
//! Resolution: times are compared as recorded, to the nanosecond, and the
//! merged gaps of all four message kinds are tested too, since they hold
//! how long B took to answer each REQUEST. An attacker on the same host or
//! LAN sees microseconds: building a data frame on the request path (pop,
//! copy and wipe queued cells) once made a PIECE leave ~5 µs later than a
//! cover one, and the merged gaps told the worlds apart (p down to 1e-9).
//! B's links now build their next frames ahead (`Link::stage`), so an
//! answer only seals a staged plaintext, the same work either way.
//!
//! Under "no dependence" a p-value is uniform, so each statistic falls
//! under 0.01 by chance one run in a hundred. So that CI does not fail on
//! that chance alone, a blind pair that fails is recorded once more with
//! fresh runs, and the test fails only if the new pair fails too; a real
//! dependence fails both (the control's p-values are far below 1e-6).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pacom_bt::metainfo::InfoHash;
use pacom_bt::node::{NodeConfig, NodeHandle, PacomNode, SwarmConfig, REQUEST_WIRE_SIZE};
use pacom_bt::EngineConfig;
use pacom_core::identity::Identity;
use pacom_core::link::LinkStats;
use pacom_core::pacom_file::{CoverKind, PacomFile, PacomFileOptions};
use pacom_core::schedule::{PacerConfig, Rate};
use pacom_core::session::{Config, Event};
use pacom_core::stats::{
    at_resolution, counts_per_window, inter_message_times, ks_two_sample, window, Direction,
    WireEvent,
};
use rand::SeedableRng;
use tokio::sync::Barrier;

const MIB: u64 = 1 << 20;
/// Recording starts this long after the stream's first bytes reach C.
const WARMUP: Duration = Duration::from_secs(1);
const SPAN: Duration = Duration::from_secs(8);
const WINDOW: Duration = Duration::from_millis(100);
/// The resolution of the runtime's timer, which the pacers work at (the
/// piece gaps at it are printed beside the asserted full-resolution ones).
const TIMER_RESOLUTION: Duration = Duration::from_millis(1);
/// Blocks per second C downloads from B (the observed, saturated direction).
const RATE_BC: f64 = 100.0;
/// Blocks per second B downloads from A: faster than B – C, so B's queue to
/// C never runs dry while the stream flows.
const RATE_AB: f64 = 200.0;
/// The control's answers per second while nothing is queued.
const LEAKY_IDLE_RATE: f64 = 50.0;
const ALPHA: f64 = 0.01;

/// What every run shares: identities and the two PACOM files.
struct Shared {
    ids: Vec<Identity>,
    ab: Arc<PacomFile>,
    bc: Arc<PacomFile>,
}

/// One recorded run.
struct Run {
    /// Events on B – C in the span, times relative to its start.
    events: Vec<WireEvent>,
    /// Hidden bytes C received in the span.
    delivered: u64,
    /// B's frames to C in the span.
    data_frames: u64,
    cover_frames: u64,
    /// B's frames to C built on the request path (none staged ahead).
    unstaged_frames: u64,
}

fn file(seed: u8) -> Arc<PacomFile> {
    // 8192 blocks; each run pulls fewer than 2000 of them on any link.
    let opts = PacomFileOptions::with_size(128 * MIB);
    Arc::new(PacomFile::generate([seed; 32], &CoverKind::Archive, &opts).expect("PACOM file"))
}

fn swarm(file: &Arc<PacomFile>, rate: f64, peers: Vec<std::net::SocketAddr>) -> SwarmConfig {
    let mut s = SwarmConfig::public(file.clone());
    s.pacer = PacerConfig {
        rate: Rate::BlocksPerSec(rate),
        max_outstanding: 10,
        burst: 10,
    };
    s.initial_peers = peers;
    s
}

async fn node(id: &Identity, swarms: Vec<SwarmConfig>) -> PacomNode {
    PacomNode::start(NodeConfig {
        identity: id.clone(),
        // Windows far above the bandwidth-delay product of the circuit, so
        // flow control never lets B's queue to C run dry.
        circuits: Config {
            stream_window: 4 * MIB,
            max_in_flight: 512,
            ..Config::default()
        },
        engine: EngineConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            ..EngineConfig::default()
        },
        swarms,
        join: None,
    })
    .await
    .expect("node starts")
}

async fn links_up(handles: &[&NodeHandle], want: &[usize]) {
    for _ in 0..400 {
        if handles
            .iter()
            .zip(want)
            .all(|(h, w)| h.neighbours().len() >= *w)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("links did not come up");
}

/// B's link statistics towards C.
fn b_to_c(hb: &NodeHandle, bc: InfoHash) -> LinkStats {
    hb.neighbours()
        .into_iter()
        .find(|n| n.swarm == bc)
        .expect("link B – C")
        .stats
}

/// The byte at position `i` of the hidden stream (C checks every one).
fn stream_byte(i: u64) -> u8 {
    (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8
}

/// One world A – B – C, recorded on B – C for [`SPAN`] once every world
/// sharing `start` is ready; with `hidden`, a stream A → C writes as fast
/// as the circuit takes it.
async fn run(shared: &Shared, leaky: Option<f64>, hidden: bool, start: &Barrier) -> Run {
    let origin = Instant::now();
    let seen: Arc<Mutex<Vec<WireEvent>>> = Arc::default();
    let record = seen.clone();
    let a = node(&shared.ids[0], vec![swarm(&shared.ab, 100.0, vec![])]).await;
    let mut b_bc = swarm(&shared.bc, 100.0, vec![]);
    b_bc.observer = Some(Arc::new(move |_, e: WireEvent| {
        record.lock().unwrap().push(WireEvent {
            at: origin.elapsed(),
            ..e
        })
    }));
    b_bc.leaky_control = leaky;
    let b = node(
        &shared.ids[1],
        vec![swarm(&shared.ab, RATE_AB, vec![a.local_addr()]), b_bc],
    )
    .await;
    let c = node(
        &shared.ids[2],
        vec![swarm(&shared.bc, RATE_BC, vec![b.local_addr()])],
    )
    .await;
    let (ha, hb, hc) = (a.handle().clone(), b.handle().clone(), c.handle().clone());
    links_up(&[&ha, &hb, &hc], &[1, 2, 1]).await;
    let bc = InfoHash(shared.bc.info_hash);

    // C counts (and checks) what reaches it.
    let received = Arc::new(AtomicU64::new(0));
    let mut events = hc.subscribe();
    let counter = received.clone();
    let reader_handle = hc.clone();
    let reader = tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            if let Event::StreamData {
                session,
                stream,
                data,
            } = ev
            {
                let at = counter.load(Ordering::Relaxed);
                for (i, x) in data.iter().enumerate() {
                    assert_eq!(*x, stream_byte(at + i as u64), "hidden stream corrupt");
                }
                counter.fetch_add(data.len() as u64, Ordering::Relaxed);
                // The node's stream window reopens only for bytes the
                // application says it consumed.
                reader_handle.stream_consumed(session, stream, data.len());
            }
        }
    });
    let writer = if hidden {
        let session = ha.connect(hc.contact()).await.expect("session");
        let stream = ha.open_stream(session).await.expect("stream");
        let ha = ha.clone();
        let task = tokio::spawn(async move {
            let mut at = 0u64;
            loop {
                let chunk: Vec<u8> = (0..16384).map(|i| stream_byte(at + i)).collect();
                at += chunk.len() as u64;
                if ha.stream_write(session, stream, chunk).await.is_err() {
                    return;
                }
            }
        });
        // The circuit is up and B's queue to C has filled.
        let deadline = Instant::now() + Duration::from_secs(30);
        while received.load(Ordering::Relaxed) < MIB {
            assert!(Instant::now() < deadline, "the stream never reached C");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Some(task)
    } else {
        None
    };
    tokio::time::sleep(WARMUP).await;
    start.wait().await;
    let from = origin.elapsed();
    let (got0, s0) = (received.load(Ordering::Relaxed), b_to_c(&hb, bc));
    tokio::time::sleep(SPAN).await;
    let (got1, s1) = (received.load(Ordering::Relaxed), b_to_c(&hb, bc));
    if let Some(w) = writer {
        w.abort();
    }
    for n in [a, b, c] {
        n.shutdown().await;
    }
    reader.abort();
    let events = window(&seen.lock().unwrap(), from, SPAN);
    Run {
        events,
        delivered: got1 - got0,
        data_frames: s1.data_frames_sent - s0.data_frames_sent,
        cover_frames: s1.cover_frames_sent - s0.cover_frames_sent,
        unstaged_frames: s1.unstaged_frames_sent - s0.unstaged_frames_sent,
    }
}

/// p-values of the two records' features.
struct Verdict {
    /// Gaps between the PIECEs B sent to C, full (nanosecond) resolution
    /// (asserted).
    piece_gaps: f64,
    /// Messages per [`WINDOW`] (asserted).
    counts: f64,
    /// Gaps between all messages on B – C, REQUESTs and PIECEs both ways
    /// merged, full resolution: they hold how long B took to answer
    /// (asserted).
    merged_gaps: f64,
    /// The piece gaps at the pacers' timer resolution (printed).
    piece_gaps_timer: f64,
}

impl Verdict {
    fn of(x: &Run, y: &Run) -> Verdict {
        let piece_gaps = |r: &Run| -> Vec<f64> {
            let pieces: Vec<WireEvent> = r
                .events
                .iter()
                .filter(|e| e.dir == Direction::Out && e.size > REQUEST_WIRE_SIZE)
                .copied()
                .collect();
            inter_message_times(&pieces)
        };
        let timer = TIMER_RESOLUTION.as_secs_f64();
        let p = |a: Vec<f64>, b: Vec<f64>| ks_two_sample(&a, &b).expect("samples").p_value;
        Verdict {
            piece_gaps: p(piece_gaps(x), piece_gaps(y)),
            counts: p(
                counts_per_window(&x.events, Duration::ZERO, SPAN, WINDOW),
                counts_per_window(&y.events, Duration::ZERO, SPAN, WINDOW),
            ),
            merged_gaps: p(
                inter_message_times(&x.events),
                inter_message_times(&y.events),
            ),
            piece_gaps_timer: p(
                at_resolution(&piece_gaps(x), timer),
                at_resolution(&piece_gaps(y), timer),
            ),
        }
    }

    fn passes(&self) -> bool {
        self.piece_gaps > ALPHA && self.counts > ALPHA && self.merged_gaps > ALPHA
    }

    fn show(&self, what: &str, quiet: &Run, busy: &Run) {
        println!(
            "{what}: p(piece gaps B→C) {:.3e}  p(counts/100 ms) {:.3e}  p(all gaps merged) {:.3e}  \
             [printed only: p(piece gaps at 1 ms) {:.3e}]; \
             events {} vs {}, hidden bytes to C {} ({} data / {} cover frames B→C, \
             {} and {} not staged ahead)",
            self.piece_gaps,
            self.counts,
            self.merged_gaps,
            self.piece_gaps_timer,
            quiet.events.len(),
            busy.events.len(),
            busy.delivered,
            busy.data_frames,
            busy.cover_frames,
            quiet.unstaged_frames,
            busy.unstaged_frames
        );
    }
}

/// The busy run really carried a saturating stream, the quiet one nothing.
fn check_runs(quiet: &Run, busy: &Run) {
    assert_eq!(quiet.delivered, 0);
    assert_eq!(quiet.data_frames, 0);
    // REQUESTs and PIECEs both ways at ~100/s each (fewer on a loaded host).
    assert!(quiet.events.len() > 1000, "{} events", quiet.events.len());
    // ~100 frames/s of ~16 KiB for the whole span, nearly all of them data
    // (a host starved of CPU leaves gaps: two thirds at least).
    assert!(
        busy.delivered > 4 * MIB,
        "only {} hidden bytes reached C",
        busy.delivered
    );
    assert!(
        busy.data_frames > 2 * busy.cover_frames,
        "B – C not saturated: {} data, {} cover frames",
        busy.data_frames,
        busy.cover_frames
    );
}

/// A quiet and a busy world recorded over the same span of time, so that
/// whatever else loads the host (and the busy world's own work, which runs
/// in the same process) weighs on both records alike.
async fn pair(shared: &Shared, leaky: Option<f64>) -> (Run, Run) {
    let start = Barrier::new(2);
    tokio::join!(
        run(shared, leaky, false, &start),
        run(shared, leaky, true, &start)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_stream_through_b_does_not_show_on_b_to_c() {
    let t0 = Instant::now();
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let shared = Shared {
        ids: (0..3)
            .map(|_| Identity::generate(&mut rng, 1024).expect("identity"))
            .collect(),
        ab: file(0x31),
        bc: file(0x32),
    };

    // Positive control first: a data-driven answerer must be caught.
    let (quiet, busy) = pair(&shared, Some(LEAKY_IDLE_RATE)).await;
    let control = Verdict::of(&quiet, &busy);
    control.show("data-driven control", &quiet, &busy);
    check_runs(&quiet, &busy);
    assert!(
        control.piece_gaps < ALPHA && control.counts < ALPHA,
        "the data-driven control went unnoticed: p {} and {}",
        control.piece_gaps,
        control.counts
    );

    // Algorithm 1: the two records must look alike.
    for attempt in 1..=2 {
        let (quiet, busy) = pair(&shared, None).await;
        let blind = Verdict::of(&quiet, &busy);
        blind.show(&format!("blind, attempt {attempt}"), &quiet, &busy);
        check_runs(&quiet, &busy);
        if blind.passes() {
            break;
        }
        assert!(
            attempt < 2,
            "hidden data shows on B – C: p(piece gaps) {}, p(counts) {}, p(merged gaps) {}",
            blind.piece_gaps,
            blind.counts,
            blind.merged_gaps
        );
    }
    println!("whole test {:?}", t0.elapsed());
}
