//! Link traffic is independent of hidden data (the paper's Theorem 1).
//!
//! Three nodes A – B – C in one PACOM swarm (public mode, ciphertext carrier,
//! 16 KiB blocks) run the real links and pacers over a simulated network with
//! per-link latency and a virtual clock. We record every REQUEST and PIECE on
//! link B–C as seen at B, once with no hidden data and once with a saturating
//! stream A → C that B forwards. A deliberately data-driven answerer is the
//! positive control: the same statistics must catch it.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Duration;

use pacom_core::link::{Link, LinkConfig};
use pacom_core::schedule::{
    BlockRequest, Geometry, PacerConfig, Progress, Rate, RequestPacer, UploadPacer,
};
use pacom_core::stats::{
    counts_per_window, inter_message_times, ks_two_sample, Direction, WireEvent,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use stego::{BlockId, Carrier, CiphertextCarrier};

const A: usize = 0;
const B: usize = 1;
const C: usize = 2;
/// B's endpoint index for its link to C (0 is A–B).
const B_TO_C: usize = 1;

const BLOCK: u32 = 16384;
const PIECE_LEN: u32 = 4 * BLOCK;
const PIECES: u32 = 8192;
/// Wire sizes: 4-byte length, 1-byte id, then the fields.
const REQUEST_SIZE: u32 = 4 + 1 + 12;
const PIECE_HEADER: u32 = 4 + 1 + 8;
const WINDOW: Duration = Duration::from_millis(100);
const DURATION: Duration = Duration::from_secs(10);
/// The data-driven control holds a cover answer up to this long (uniform).
const CONTROL_MAX_DELAY_US: u64 = 80_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pacing {
    /// Algorithm 1: answer every request at once.
    Blind,
    /// Positive control: B delays answers on B–C while it has nothing queued.
    DataDriven,
}

enum Msg {
    Request(BlockRequest),
    Piece(BlockRequest, Vec<u8>),
    Have(u32),
}

enum Event {
    Deliver {
        node: usize,
        ep: usize,
        msg: Msg,
    },
    Wake {
        node: usize,
        ep: usize,
    },
    Answer {
        node: usize,
        ep: usize,
        block: BlockRequest,
    },
}

struct Scheduled {
    at: Duration,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    // Reversed: BinaryHeap pops the earliest event, ties in insertion order.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// One side of a connection.
struct Endpoint {
    peer: usize,
    peer_ep: usize,
    latency: Duration,
    link: Link,
    pacer: RequestPacer,
    upload: UploadPacer<BlockRequest>,
    timer: Option<Duration>,
    /// Arrival time of our last message: TCP keeps each direction in order.
    last_arrival: Duration,
}

struct Node {
    progress: Progress,
    eps: Vec<Endpoint>,
}

/// What one run produced.
struct Run {
    record: Vec<WireEvent>,
    delivered_to_c: u64,
    b_to_c_data_frames: u64,
    b_to_c_cover_frames: u64,
}

/// The hidden stream's byte at position `i` (C checks every byte it gets).
fn stream_byte(i: u64) -> u8 {
    (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8
}

fn block_id(g: &Geometry, b: &BlockRequest) -> BlockId {
    BlockId {
        piece: b.piece,
        offset: b.offset,
        file_offset: u64::from(b.piece) * u64::from(g.piece_len()) + u64::from(b.offset),
    }
}

struct Sim {
    now: Duration,
    seq: u64,
    heap: BinaryHeap<Scheduled>,
    nodes: Vec<Node>,
    geometry: Geometry,
    net_rng: ChaCha20Rng,
    hidden: bool,
    pacing: Pacing,
    record: Vec<WireEvent>,
    written_by_a: u64,
    delivered_to_c: u64,
}

impl Sim {
    fn new(seed: u64, hidden: bool, pacing: Pacing) -> Self {
        let mut master = ChaCha20Rng::seed_from_u64(seed);
        let geometry = Geometry::new(u64::from(PIECES) * u64::from(PIECE_LEN), PIECE_LEN, BLOCK)
            .expect("geometry");
        let cfg = LinkConfig::public([0x5a; 20]);
        let mut nodes: Vec<Node> = (0..3)
            .map(|_| {
                let pieces: Vec<u32> = (0..PIECES).filter(|_| master.gen_bool(0.5)).collect();
                Node {
                    progress: Progress::with_pieces(geometry, pieces).expect("pieces"),
                    eps: Vec::new(),
                }
            })
            .collect();
        // (node, peer, latency, download rate of node from peer in blocks/s, upload limit of node)
        let sides = [
            (A, B, 12, 100.0, None),
            (B, A, 12, 200.0, None),
            (B, C, 7, 100.0, Some(4.0e6)),
            (C, B, 7, 150.0, None),
        ];
        for (node, peer, ms, rate, upload) in sides {
            let pacer_cfg = PacerConfig {
                rate: Rate::BlocksPerSec(rate),
                ..PacerConfig::default()
            };
            let mut pacer = RequestPacer::new(pacer_cfg, geometry, &mut master).expect("pacer");
            pacer.on_bitfield(&bitfield(&nodes[peer].progress));
            pacer.on_unchoke();
            let ep = Endpoint {
                peer,
                peer_ep: 0,
                latency: Duration::from_millis(ms),
                link: Link::new(&cfg, &mut master).expect("link"),
                pacer,
                upload: UploadPacer::new(upload, 4 * BLOCK, 256).expect("upload"),
                timer: None,
                last_arrival: Duration::ZERO,
            };
            nodes[node].eps.push(ep);
        }
        // Wire the endpoint pairs: A[0] <-> B[0], B[1] <-> C[0].
        nodes[A].eps[0].peer_ep = 0;
        nodes[B].eps[0].peer_ep = 0;
        nodes[B].eps[1].peer_ep = 0;
        nodes[C].eps[0].peer_ep = B_TO_C;
        let mut sim = Self {
            now: Duration::ZERO,
            seq: 0,
            heap: BinaryHeap::new(),
            nodes,
            geometry,
            net_rng: ChaCha20Rng::from_rng(&mut master).expect("rng"),
            hidden,
            pacing,
            record: Vec::new(),
            written_by_a: 0,
            delivered_to_c: 0,
        };
        for (node, ep) in [(A, 0), (B, 0), (B, 1), (C, 0)] {
            sim.push(Duration::ZERO, Event::Wake { node, ep });
            sim.nodes[node].eps[ep].timer = Some(Duration::ZERO);
        }
        sim
    }

    fn push(&mut self, at: Duration, event: Event) {
        self.seq += 1;
        self.heap.push(Scheduled {
            at,
            seq: self.seq,
            event,
        });
    }

    fn observe(&mut self, node: usize, ep: usize, msg: &Msg, dir: Direction) {
        if node != B || ep != B_TO_C {
            return;
        }
        let size = match msg {
            Msg::Request(_) => REQUEST_SIZE,
            Msg::Piece(b, _) => PIECE_HEADER + b.len,
            Msg::Have(_) => return,
        };
        self.record.push(WireEvent {
            at: self.now,
            size,
            dir,
        });
    }

    fn send(&mut self, node: usize, ep: usize, msg: Msg) {
        self.observe(node, ep, &msg, Direction::Out);
        let jitter = Duration::from_micros(self.net_rng.gen_range(0..3000));
        let e = &mut self.nodes[node].eps[ep];
        let arrival = (self.now + e.latency + jitter).max(e.last_arrival);
        e.last_arrival = arrival;
        let (to, to_ep) = (e.peer, e.peer_ep);
        self.push(
            arrival,
            Event::Deliver {
                node: to,
                ep: to_ep,
                msg,
            },
        );
    }

    fn run(mut self, until: Duration) -> Run {
        while let Some(s) = self.heap.pop() {
            if s.at >= until {
                break;
            }
            self.now = s.at;
            match s.event {
                Event::Deliver { node, ep, msg } => self.deliver(node, ep, msg),
                Event::Wake { node, ep } => {
                    if self.nodes[node].eps[ep].timer == Some(self.now) {
                        self.nodes[node].eps[ep].timer = None;
                        self.service(node, ep);
                    }
                }
                Event::Answer { node, ep, block } => self.answer(node, ep, block),
            }
        }
        let stats = self.nodes[B].eps[B_TO_C].link.stats();
        Run {
            record: self.record,
            delivered_to_c: self.delivered_to_c,
            b_to_c_data_frames: stats.data_frames_sent,
            b_to_c_cover_frames: stats.cover_frames_sent,
        }
    }

    fn deliver(&mut self, node: usize, ep: usize, msg: Msg) {
        self.observe(node, ep, &msg, Direction::In);
        match msg {
            Msg::Request(block) => {
                let now = self.now;
                let e = &mut self.nodes[node].eps[ep];
                assert!(e.upload.push(block, block.len, now).is_ok(), "reqq full");
            }
            Msg::Have(piece) => {
                self.nodes[node].eps[ep]
                    .pacer
                    .on_have(piece)
                    .expect("valid piece");
            }
            Msg::Piece(block, data) => self.on_piece(node, ep, block, data),
        }
        self.service(node, ep);
    }

    fn on_piece(&mut self, node: usize, ep: usize, block: BlockRequest, data: Vec<u8>) {
        let id = block_id(&self.geometry, &block);
        let n = &mut self.nodes[node];
        let e = &mut n.eps[ep];
        e.pacer.on_piece(&block);
        let frame = CiphertextCarrier.extract(id, &data).expect("extract");
        e.link.on_frame(&frame).expect("frame opens");
        let bytes = e.link.read();
        let outcome = n.progress.on_block(&block).expect("valid block");
        match (node, ep) {
            (B, 0) => {
                if !bytes.is_empty() {
                    n.eps[B_TO_C].link.write(bytes).expect("link open");
                }
            }
            (C, _) => {
                for (i, b) in bytes.iter().enumerate() {
                    assert_eq!(*b, stream_byte(self.delivered_to_c + i as u64), "corrupt");
                }
                self.delivered_to_c += bytes.len() as u64;
            }
            _ => assert!(bytes.is_empty(), "data on a direction that carries none"),
        }
        if let Some(piece) = outcome.piece_completed {
            for other in 0..self.nodes[node].eps.len() {
                self.send(node, other, Msg::Have(piece));
            }
        }
    }

    /// Algorithm 1 for one endpoint: send due requests, answer due requests.
    fn service(&mut self, node: usize, ep: usize) {
        let now = self.now;
        if node == A && self.hidden {
            // The local source keeps the queue full (backpressure, not pacing).
            let link = &mut self.nodes[A].eps[0].link;
            while link.queued() < 256 * 1024 {
                let chunk: Vec<u8> = (0..4096)
                    .map(|i| stream_byte(self.written_by_a + i))
                    .collect();
                self.written_by_a += chunk.len() as u64;
                link.write(chunk).expect("link open");
            }
        }
        let n = &mut self.nodes[node];
        let requests = n.eps[ep].pacer.poll(now, &n.progress);
        for r in requests {
            self.send(node, ep, Msg::Request(r));
        }
        let answers = self.nodes[node].eps[ep].upload.poll(now);
        for block in answers {
            let data_driven = self.pacing == Pacing::DataDriven && (node, ep) == (B, B_TO_C);
            if data_driven && self.nodes[node].eps[ep].link.queued() == 0 {
                let delay = Duration::from_micros(self.net_rng.gen_range(0..CONTROL_MAX_DELAY_US));
                self.push(now + delay, Event::Answer { node, ep, block });
            } else {
                self.answer(node, ep, block);
            }
        }
        let e = &self.nodes[node].eps[ep];
        let wake = [e.pacer.next_wakeup(now), e.upload.next_wakeup(now)]
            .into_iter()
            .flatten()
            .min();
        if let Some(w) = wake {
            let at = now + w.max(Duration::from_micros(1));
            if e.timer.is_none_or(|t| at < t || t < now) {
                self.nodes[node].eps[ep].timer = Some(at);
                self.push(at, Event::Wake { node, ep });
            }
        }
    }

    fn answer(&mut self, node: usize, ep: usize, block: BlockRequest) {
        let id = block_id(&self.geometry, &block);
        let carrier = CiphertextCarrier;
        let capacity = carrier.capacity(id, block.len as usize);
        let frame = self.nodes[node].eps[ep]
            .link
            .next_frame(capacity)
            .expect("frame");
        let cover = vec![0u8; block.len as usize];
        let data = carrier.embed(id, &cover, &frame).expect("embed");
        self.send(node, ep, Msg::Piece(block, data));
    }
}

fn bitfield(p: &Progress) -> Vec<u8> {
    let mut bits = vec![0u8; (PIECES as usize).div_ceil(8)];
    for piece in 0..PIECES {
        if p.has_piece(piece) {
            bits[piece as usize / 8] |= 0x80 >> (piece % 8);
        }
    }
    bits
}

fn simulate(seed: u64, hidden: bool, pacing: Pacing) -> Run {
    Sim::new(seed, hidden, pacing).run(DURATION)
}

/// p-values of the features an observer of B–C would compare.
struct Verdict {
    gaps_all: f64,
    gaps_pieces_to_c: f64,
    counts: f64,
}

fn compare(x: &[WireEvent], y: &[WireEvent]) -> Verdict {
    let pieces_to_c = |r: &[WireEvent]| -> Vec<WireEvent> {
        r.iter()
            .filter(|e| e.dir == Direction::Out && e.size > REQUEST_SIZE)
            .copied()
            .collect()
    };
    let p = |a: Vec<f64>, b: Vec<f64>| ks_two_sample(&a, &b).expect("samples").p_value;
    Verdict {
        gaps_all: p(inter_message_times(x), inter_message_times(y)),
        gaps_pieces_to_c: p(
            inter_message_times(&pieces_to_c(x)),
            inter_message_times(&pieces_to_c(y)),
        ),
        counts: p(
            counts_per_window(x, Duration::ZERO, DURATION, WINDOW),
            counts_per_window(y, Duration::ZERO, DURATION, WINDOW),
        ),
    }
}

fn assert_hidden_stream_flowed(run: &Run) {
    assert!(
        run.delivered_to_c > 10 * 1024 * 1024,
        "only {} hidden bytes reached C",
        run.delivered_to_c
    );
    assert!(run.b_to_c_data_frames > 10 * run.b_to_c_cover_frames);
}

#[test]
fn same_randomness_gives_the_same_wire_with_or_without_hidden_data() {
    let quiet = simulate(1, false, Pacing::Blind);
    let busy = simulate(1, true, Pacing::Blind);
    assert_hidden_stream_flowed(&busy);
    assert_eq!(quiet.delivered_to_c, 0);
    assert_eq!(quiet.b_to_c_data_frames, 0);
    assert!(quiet.record.len() > 3_000);
    assert_eq!(quiet.record, busy.record);
}

#[test]
fn observer_cannot_tell_hidden_data_on_b_to_c() {
    let quiet = simulate(2, false, Pacing::Blind);
    let busy = simulate(3, true, Pacing::Blind);
    assert_hidden_stream_flowed(&busy);
    let piece_sizes: std::collections::BTreeSet<u32> = quiet
        .record
        .iter()
        .chain(&busy.record)
        .filter(|e| e.size != REQUEST_SIZE)
        .map(|e| e.size)
        .collect();
    assert_eq!(
        piece_sizes.into_iter().collect::<Vec<_>>(),
        [PIECE_HEADER + BLOCK]
    );
    let v = compare(&quiet.record, &busy.record);
    println!(
        "blind: p(gaps) {:.3} p(piece gaps to C) {:.3} p(counts/100ms) {:.3}",
        v.gaps_all, v.gaps_pieces_to_c, v.counts
    );
    assert!(
        v.gaps_all > 0.01,
        "inter-message times differ: p {}",
        v.gaps_all
    );
    assert!(
        v.gaps_pieces_to_c > 0.01,
        "piece times differ: p {}",
        v.gaps_pieces_to_c
    );
    assert!(v.counts > 0.01, "counts per window differ: p {}", v.counts);
}

#[test]
fn data_driven_answers_are_detected() {
    let quiet = simulate(2, false, Pacing::DataDriven);
    let busy = simulate(3, true, Pacing::DataDriven);
    assert_hidden_stream_flowed(&busy);
    let v = compare(&quiet.record, &busy.record);
    println!(
        "data-driven: p(gaps) {:.2e} p(piece gaps to C) {:.2e} p(counts/100ms) {:.2e}",
        v.gaps_all, v.gaps_pieces_to_c, v.counts
    );
    // Random delays of answers to Poisson requests leave the answers a Poisson
    // process (displacement theorem), so piece gaps alone barely show it; the
    // request-to-answer timing in the merged record does.
    assert!(v.gaps_all < 0.01, "control not detected: p {}", v.gaps_all);
    // The exact-replay check catches it too.
    assert_ne!(quiet.record, simulate(2, true, Pacing::DataDriven).record);
}
