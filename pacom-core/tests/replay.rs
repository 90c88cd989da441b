//! Replays of handshakes and data cells, and what a relay can see, driven
//! by hand on a line source - relay - target.

mod common;

use std::time::Duration;

use common::{identities, node, payload};
use pacom_core::cell::{Cell, CellReader};
use pacom_core::circuit::NeighbourId;
use pacom_core::session::{Config, Event};
use pacom_core::sim::SimNode;

struct Line {
    nodes: Vec<SimNode>,
    /// Every cell that crossed a link: (from, to, cell).
    log: Vec<(usize, usize, Cell)>,
    events: Vec<(usize, Event)>,
}

impl Line {
    fn new(cfg: &Config) -> Self {
        let mut nodes: Vec<SimNode> = (0..3).map(|i| node(i, cfg, 40)).collect();
        for (i, n) in nodes.iter_mut().enumerate() {
            for j in [i.wrapping_sub(1), i + 1] {
                if j < 3 {
                    n.on_neighbour_up(NeighbourId(j as u64), Duration::ZERO);
                }
            }
        }
        Line {
            nodes,
            log: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Delivers everything instantly until the network is quiet.
    fn pump(&mut self, now: Duration) {
        loop {
            let mut any = false;
            for i in 0..3 {
                for (n, bytes) in self.nodes[i].drain_outgoing() {
                    any = true;
                    let mut r = CellReader::new();
                    r.push(&bytes);
                    while let Ok(Some(c)) = r.next_cell() {
                        self.log.push((i, n.0 as usize, c));
                    }
                    let to = n.0 as usize;
                    self.nodes[to]
                        .on_link_bytes(NeighbourId(i as u64), &bytes, now)
                        .expect("well-formed");
                }
                while let Some(e) = self.nodes[i].poll_event() {
                    self.events.push((i, e));
                }
            }
            if !any {
                break;
            }
        }
    }

    fn inject(&mut self, from: usize, to: usize, cell: &Cell, now: Duration) {
        self.nodes[to]
            .on_link_bytes(NeighbourId(from as u64), &cell.to_framed(), now)
            .expect("well-formed");
    }
}

fn received(l: &Line, node: usize) -> usize {
    l.events
        .iter()
        .filter(|(i, e)| *i == node && matches!(e, Event::MessageReceived { .. }))
        .count()
}

#[test]
fn replayed_handshakes_and_data_cells_are_rejected() {
    // The line delivers at once and never advances the clock: no window.
    let cfg = Config {
        handshake_window: Duration::ZERO,
        ..Config::default()
    };
    let mut l = Line::new(&cfg);
    let t0 = Duration::from_secs(1);
    let target = identities(3)[2].contact().clone();
    let sid = l.nodes[0].connect(&target, t0);
    l.nodes[0]
        .send_message(sid, b"first message", t0)
        .expect("send");
    l.pump(t0);
    assert_eq!(received(&l, 2), 1);

    let hs = l
        .log
        .iter()
        .find(|(f, t, c)| (*f, *t) == (1, 2) && matches!(c, Cell::Handshake { .. }))
        .map(|x| x.2.clone())
        .expect("handshake reached the target");
    let data: Vec<Cell> = l
        .log
        .iter()
        .filter(|(f, t, c)| (*f, *t) == (1, 2) && matches!(c, Cell::Data { .. }))
        .map(|x| x.2.clone())
        .collect();
    assert!(!data.is_empty());

    // Data cells replayed by the relay: refused, nothing delivered twice.
    let before = l.nodes[2].stats().data_replays_rejected;
    for c in &data {
        l.inject(1, 2, c, t0);
    }
    l.pump(t0);
    assert_eq!(
        l.nodes[2].stats().data_replays_rejected - before,
        data.len() as u64
    );
    assert_eq!(received(&l, 2), 1);

    let responses = |l: &Line| {
        l.log
            .iter()
            .filter(|(f, _, c)| *f == 2 && matches!(c, Cell::Response { .. }))
            .count()
    };
    let answered = responses(&l);

    // The same handshake again, soon: a duplicate from a neighbour already
    // answered; later: a replay of an accepted handshake; much later, when
    // even the seen-set forgot it: stale `time`. Never answered again.
    l.inject(1, 2, &hs, t0 + Duration::from_secs(2));
    l.pump(t0);
    assert!(l.nodes[2].stats().handshake_duplicates >= 1);
    let later = t0 + Duration::from_secs(60);
    l.nodes[2].handle_timeout(later);
    l.inject(1, 2, &hs, later);
    let r1 = l.nodes[2].stats().handshake_replays_rejected;
    assert_eq!(r1, 1);
    let much_later = t0 + Duration::from_secs(1000);
    l.nodes[2].handle_timeout(much_later);
    l.inject(1, 2, &hs, much_later);
    assert_eq!(l.nodes[2].stats().handshake_replays_rejected, 2);
    l.pump(much_later);
    assert_eq!(responses(&l), answered);

    // A relay cannot re-label the handshake: the inner h_id must match.
    if let Cell::Handshake { h_id, ttl, sealed } = hs {
        let forged = Cell::Handshake {
            h_id: h_id ^ 1,
            ttl,
            sealed,
        };
        let accepted = l.nodes[2].stats().handshakes_accepted;
        l.inject(1, 2, &forged, t0 + Duration::from_secs(3));
        assert_eq!(l.nodes[2].stats().handshakes_accepted, accepted);
    }
    l.pump(much_later);
    assert_eq!(responses(&l), answered);
    assert_eq!(
        l.events
            .iter()
            .filter(|(i, e)| *i == 2 && matches!(e, Event::SessionAccepted { .. }))
            .count(),
        1
    );
}

#[test]
fn relay_state_never_holds_key_or_payload() {
    let cfg = Config {
        max_fragment: 1000,
        handshake_window: Duration::ZERO,
        ..Config::default()
    };
    let mut l = Line::new(&cfg);
    let target = identities(3)[2].contact().clone();
    let t0 = Duration::from_secs(1);
    let sid = l.nodes[0].connect(&target, t0);
    let msg = payload(77, 50_000);
    l.nodes[0].send_message(sid, &msg, t0).expect("send");
    // Deliver one link write at a time and inspect the relay after each.
    let mut checks = 0;
    for step in 0..10_000 {
        let mut moved = false;
        for i in 0..3 {
            for bytes in l.nodes[i].drain_outgoing() {
                // Deliver in small pieces, so the relay holds partial cells.
                let to = bytes.0 .0 as usize;
                for part in bytes.1.chunks(700) {
                    l.nodes[to]
                        .on_link_bytes(NeighbourId(i as u64), part, t0)
                        .expect("ok");
                    let keys: Vec<[u8; 32]> = l.nodes[2]
                        .endpoint_keys_for_tests()
                        .into_iter()
                        .map(|k| k.1)
                        .collect();
                    let st = l.nodes[1].relay_state();
                    for k in &keys {
                        assert!(!st.contains_bytes(k), "relay holds K at step {step}");
                    }
                    for w in msg.chunks(997) {
                        assert!(
                            !st.contains_bytes(&w[..w.len().min(24)]),
                            "relay holds plaintext"
                        );
                    }
                    checks += 1;
                }
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    while let Some(e) = l.nodes[2].poll_event() {
        l.events.push((2, e));
    }
    assert!(checks > 150, "only {checks} checks");
    assert_eq!(received(&l, 2), 1);
    assert!(
        !l.nodes[1].relay_state().records.is_empty(),
        "the relay keeps its record"
    );
    assert!(l.nodes[1].stats().cells_relayed > 40);
}
