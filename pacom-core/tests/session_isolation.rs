//! Fresh sessions for isolated SOCKS users, and stream backlogs that
//! drain only as the peer's window allows.

mod common;

use std::time::Duration;

use common::{identities, line_sim};
use pacom_core::session::{Config, Event};

#[test]
fn connect_new_never_reuses_a_session_and_backlog_drains() {
    let cfg = Config::default();
    let mut sim = line_sim(3, &cfg);
    let target = identities(3)[2].contact().clone();
    let a = sim.call(0, |n, now| n.connect(&target, now));
    assert_eq!(sim.call(0, |n, now| n.connect(&target, now)), a);
    let b = sim.call(0, |n, now| n.connect_new(&target, now));
    assert_ne!(a, b);

    let st = sim.call(0, |n, now| n.open_stream(b, now)).expect("stream");
    let big = vec![7u8; 4 * cfg.stream_window as usize];
    sim.call(0, |n, now| n.stream_write(b, st, &big, now))
        .expect("write");
    assert!(sim.call(0, |n, _| n.stream_backlog(b, st)).unwrap() > 0);
    sim.run_until(Duration::from_secs(30), |_| false);
    // The simulator pops the target's events, widening its window, so all
    // of it eventually leaves.
    let accepted = sim
        .events
        .iter()
        .filter(|(_, i, e)| *i == 2 && matches!(e, Event::SessionAccepted { .. }))
        .count();
    assert_eq!(accepted, 2, "the target sees two unrelated sessions");
    assert_eq!(sim.call(0, |n, _| n.stream_backlog(b, st)), Some(0));
    let (sa, sb) = (
        sim.call(0, |n, _| n.session_circuits(a)),
        sim.call(0, |n, _| n.session_circuits(b)),
    );
    assert!(
        sa.iter().all(|c| !sb.contains(c)),
        "sessions share a circuit"
    );
}
