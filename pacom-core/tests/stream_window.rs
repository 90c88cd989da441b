//! Stream windows that differ between the two ends: a receiver never holds
//! more unconsumed data than the window it advertised, and a window larger
//! than the initial one is advertised and used.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{identities, node, payload};
use pacom_core::session::{Config, Event, SessionId, StreamId, INITIAL_STREAM_WINDOW};
use pacom_core::sim::Sim;

/// A line 0 - 1 - 2 whose nodes use `cfgs[i]`; 10 ms, 4 MB/s per link.
fn line(cfgs: [&Config; 3]) -> Sim {
    let mut g = vec![BTreeSet::new(); 3];
    for i in 1..3 {
        g[i].insert(i - 1);
        g[i - 1].insert(i);
    }
    let nodes = (0..3).map(|i| node(i, cfgs[i], 11)).collect();
    Sim::new(nodes, g, |_, _| (Duration::from_millis(10), 4e6))
}

fn cfg(window: u64) -> Config {
    Config {
        stream_window: window,
        app_credits_streams: true,
        handshake_window: Duration::ZERO,
        ..Config::default()
    }
}

/// Stream bytes node `at` received so far, and its session id.
fn received(sim: &Sim, at: usize, st: StreamId) -> (Vec<u8>, Option<SessionId>) {
    let mut got = Vec::new();
    let mut sid = None;
    for (_, i, e) in &sim.events {
        if let Event::StreamData {
            data,
            session,
            stream,
        } = e
        {
            if *i == at && *stream == st {
                got.extend_from_slice(data);
                sid = Some(*session);
            }
        }
    }
    (got, sid)
}

/// Opens a stream from node 0 to node 2 and writes `data` into it.
fn open_and_write(sim: &mut Sim, data: &[u8]) -> (SessionId, StreamId) {
    let target = identities(3)[2].contact().clone();
    let sid = sim.call(0, |n, now| n.connect(&target, now));
    let st = sim.call(0, |n, now| n.open_stream(sid, now)).expect("open");
    sim.call(0, |n, now| n.stream_write(sid, st, data, now))
        .expect("write");
    (sid, st)
}

#[test]
fn a_small_receiver_is_never_sent_more_than_its_window() {
    let (small, big) = (cfg(INITIAL_STREAM_WINDOW), cfg(16 * INITIAL_STREAM_WINDOW));
    let mut sim = line([&big, &big, &small]);
    let data = payload(5, 3 << 20);
    let (_, st) = open_and_write(&mut sim, &data);
    sim.run_until(Duration::from_secs(20), |_| false);
    let (got, tsid) = received(&sim, 2, st);
    let tsid = tsid.expect("data arrived");
    // The sender's larger window is its own receive window, not ours.
    assert_eq!(got.len() as u64, INITIAL_STREAM_WINDOW);
    assert_eq!(
        sim.node(2).stream_unconsumed(tsid, st),
        Some(INITIAL_STREAM_WINDOW)
    );
    // A slow reader: never more than the window waits unconsumed.
    for _ in 0..400 {
        let unconsumed = sim.node(2).stream_unconsumed(tsid, st).unwrap_or(0);
        assert!(unconsumed <= INITIAL_STREAM_WINDOW, "{unconsumed} buffered");
        if received(&sim, 2, st).0.len() == data.len() && unconsumed == 0 {
            break;
        }
        let take = unconsumed.min(100_000) as usize;
        sim.call(2, |n, now| n.stream_consumed(tsid, st, take, now));
        let t = sim.now() + Duration::from_millis(200);
        sim.run_until(t, |_| false);
    }
    let (got, _) = received(&sim, 2, st);
    assert!(
        got == data,
        "stream bytes differ ({} of {})",
        got.len(),
        data.len()
    );
}

#[test]
fn a_large_window_is_advertised_and_filled() {
    let window = 6 * INITIAL_STREAM_WINDOW;
    let (small, big) = (cfg(INITIAL_STREAM_WINDOW), cfg(window));
    // The source assumes only the initial window until the target speaks.
    let mut sim = line([&small, &small, &big]);
    let data = payload(6, 4 << 20);
    let (sid, st) = open_and_write(&mut sim, &data);
    sim.run_until(Duration::from_secs(20), |_| false);
    let (got, tsid) = received(&sim, 2, st);
    let tsid = tsid.expect("data arrived");
    assert_eq!(got.len() as u64, window, "the whole advertised window");
    assert_eq!(sim.node(2).stream_unconsumed(tsid, st), Some(window));
    assert!(got[..] == data[..got.len()], "stream bytes differ");
    assert_eq!(
        sim.node(0).stream_backlog(sid, st),
        Some(data.len() - window as usize)
    );
}
