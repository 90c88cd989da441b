//! End-to-end behaviour on small topologies.

mod common;

use std::time::Duration;

use common::{identities, line_sim, payload};
use pacom_core::session::{Config, Event};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn message_each_way_over_a_line_arrives_once() {
    let cfg = Config::default();
    let mut sim = line_sim(5, &cfg);
    let target = identities(5)[4].contact().clone();
    let sid = sim.call(0, |n, now| n.connect(&target, now));
    let fwd = payload(1, 300_000);
    let back = payload(2, 70_001);
    let mid = sim
        .call(0, |n, now| n.send_message(sid, &fwd, now))
        .expect("send");
    let accepted = sim.run_until(secs(10), |s| {
        s.events
            .iter()
            .any(|(_, i, e)| *i == 4 && matches!(e, Event::SessionAccepted { .. }))
    });
    assert!(accepted);
    let tsid = sim
        .events
        .iter()
        .find_map(|(_, i, e)| match e {
            Event::SessionAccepted { session } if *i == 4 => Some(*session),
            _ => None,
        })
        .expect("accepted");
    sim.call(4, |n, now| n.send_message(tsid, &back, now))
        .expect("reply");
    sim.run_until(secs(60), |_| false);

    let got_at = |node: usize| -> Vec<Vec<u8>> {
        sim.events
            .iter()
            .filter(|(_, i, _)| *i == node)
            .filter_map(|(_, _, e)| match e {
                Event::MessageReceived { data, .. } => Some(data.clone()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(got_at(4), vec![fwd]);
    assert_eq!(got_at(0), vec![back]);
    // The source knows whom it talks to; the target does not.
    assert!(sim.events.iter().any(|(_, i, e)| *i == 0
        && matches!(e, Event::MessageReceived { from: Some(f), .. } if *f == target.fingerprint())));
    assert!(sim
        .events
        .iter()
        .any(|(_, i, e)| *i == 4 && matches!(e, Event::MessageReceived { from: None, .. })));
    assert!(sim.events.iter().any(|(_, i, e)| *i == 0
        && *e
            == Event::MessageDelivered {
                session: sid,
                id: mid
            }));
    // On a line there is one path: one circuit, four hops.
    let circs = sim.node(0).session_circuits(sid);
    assert_eq!(circs.len(), 1);
    assert_eq!(sim.circuit_hops(0, circs[0].0, circs[0].1), Some(4));
    // Relays saw data cells, and purge their unused handshake records.
    assert!(sim.node(2).stats().cells_relayed > 0);
}

#[test]
fn streams_respect_windows_and_half_close() {
    let cfg = Config {
        stream_window: 32 * 1024,
        max_fragment: 4096,
        ..Config::default()
    };
    let mut sim = line_sim(4, &cfg);
    let target = identities(4)[3].contact().clone();
    let sid = sim.call(0, |n, now| n.connect(&target, now));
    let st = sim.call(0, |n, now| n.open_stream(sid, now)).expect("open");
    let data = payload(3, 500_000);
    sim.call(0, |n, now| {
        n.stream_write(sid, st, &data, now)?;
        n.stream_close(sid, st, now)
    })
    .expect("write");
    assert!(sim
        .call(0, |n, now| n.stream_write(sid, st, b"late", now))
        .is_err());
    sim.run_until(secs(60), |_| false);

    let mut got = Vec::new();
    let mut opened = 0;
    let mut finished = 0;
    for (_, i, e) in &sim.events {
        if *i != 3 {
            continue;
        }
        match e {
            Event::StreamOpened { stream, .. } if *stream == st => opened += 1,
            Event::StreamData { data, stream, .. } if *stream == st => got.extend_from_slice(data),
            Event::StreamFinished { stream, .. } if *stream == st => finished += 1,
            _ => {}
        }
    }
    assert_eq!((opened, finished), (1, 1));
    assert_eq!(got.len(), data.len());
    assert!(got == data, "stream bytes differ");
}

/// With `app_credits_streams`, data the application has not taken holds
/// the sender back: the receiver never gets more than one window ahead.
#[test]
fn unconsumed_stream_data_stops_the_sender_at_one_window() {
    let window = 32 * 1024;
    let cfg = Config {
        stream_window: window,
        max_fragment: 4096,
        app_credits_streams: true,
        ..Config::default()
    };
    let mut sim = line_sim(3, &cfg);
    let target = identities(3)[2].contact().clone();
    let sid = sim.call(0, |n, now| n.connect(&target, now));
    let st = sim.call(0, |n, now| n.open_stream(sid, now)).expect("open");
    let data = payload(4, 300_000);
    sim.call(0, |n, now| {
        n.stream_write(sid, st, &data, now)?;
        n.stream_close(sid, st, now)
    })
    .expect("write");
    let received =
        |sim: &pacom_core::sim::Sim| -> (Vec<u8>, Option<pacom_core::session::SessionId>) {
            let mut got = Vec::new();
            let mut tsid = None;
            for (_, i, e) in &sim.events {
                if let (2, Event::StreamData { data, session, .. }) = (*i, e) {
                    got.extend_from_slice(data);
                    tsid = Some(*session);
                }
            }
            (got, tsid)
        };
    sim.run_until(secs(30), |_| false);
    let (got, tsid) = received(&sim);
    let tsid = tsid.expect("some data arrived");
    assert_eq!(got.len() as u64, window, "exactly one window, then a stop");
    assert_eq!(sim.node(2).stream_unconsumed(tsid, st), Some(window));
    assert!(sim.node(0).stream_backlog(sid, st).unwrap_or(0) > 200_000);
    // The reader takes its bytes little by little; everything follows.
    for _ in 0..200 {
        let (got, _) = received(&sim);
        if got.len() == data.len() {
            break;
        }
        let unconsumed = sim.node(2).stream_unconsumed(tsid, st).unwrap_or(0);
        sim.call(2, |n, now| {
            n.stream_consumed(tsid, st, unconsumed as usize, now)
        });
        let t = sim.now() + secs(1);
        sim.run_until(t, |_| false);
    }
    let (got, _) = received(&sim);
    assert!(
        got == data,
        "stream bytes differ ({} of {})",
        got.len(),
        data.len()
    );
}

#[test]
fn handshake_to_unreachable_key_fails_after_retries() {
    let cfg = Config {
        handshake_timeout: secs(2),
        handshake_retries: 2,
        ..Config::default()
    };
    let mut sim = line_sim(3, &cfg);
    // Key 10 is not in this network.
    let stranger = identities(11)[10].contact().clone();
    let sid = sim.call(0, |n, now| n.connect(&stranger, now));
    let mid = sim
        .call(0, |n, now| n.send_message(sid, b"hello", now))
        .expect("send");
    sim.run_until(secs(30), |_| false);
    let failed: Vec<_> = sim
        .events
        .iter()
        .filter(|(_, i, _)| *i == 0)
        .map(|(_, _, e)| e.clone())
        .collect();
    assert!(failed
        .iter()
        .any(|e| matches!(e, Event::MessageFailed { id, .. } if *id == mid)));
    assert!(failed
        .iter()
        .any(|e| matches!(e, Event::SessionFailed { .. })));
    assert_eq!(
        sim.node(0).stats().handshakes_started,
        3,
        "first try and two retries"
    );
    assert_eq!(sim.node(0).stats().handshake_timeouts, 3);
}

#[test]
fn target_answers_k_copies_giving_disjoint_first_hops() {
    // Copies reach the target only from neighbours the flood reached
    // before the target's own forwarded copy did, and response paths that
    // merge at a relay keep only the first, so a handshake yields "up to k"
    // circuits, node-disjoint past the source.
    let cfg = Config {
        circuits_per_peer: 3,
        ..Config::default()
    };
    let mut sim = common::random_sim(40, &cfg, 5, 2e6);
    let pairs: Vec<(usize, usize)> = (0..8).map(|k| (k, 39 - k)).collect();
    let mut sessions = Vec::new();
    for &(src, dst) in &pairs {
        let target = identities(40)[dst].contact().clone();
        let msg = payload(src as u64, 200_000);
        let sid = sim.call(src, |n, now| {
            let s = n.connect(&target, now);
            n.send_message(s, &msg, now).map(|_| s)
        });
        sessions.push((src, dst, sid.expect("send"), msg));
    }
    sim.run_until(secs(60), |_| false);
    let mut total = 0;
    for (src, dst, sid, msg) in &sessions {
        let circs = sim.node(*src).session_circuits(*sid);
        assert!((1..=3).contains(&circs.len()), "circuits {circs:?}");
        let mut first_hops: Vec<_> = circs.iter().map(|c| c.1).collect();
        first_hops.sort();
        first_hops.dedup();
        assert_eq!(first_hops.len(), circs.len(), "distinct first hops");
        for c in &circs {
            assert!(
                sim.circuit_hops(*src, c.0, c.1).is_some(),
                "every circuit routes end to end"
            );
        }
        total += circs.len();
        let got = sim
            .events
            .iter()
            .filter(|(_, i, e)| {
                *i == *dst && matches!(e, Event::MessageReceived { data, .. } if data == msg)
            })
            .count();
        assert_eq!(got, 1);
    }
    println!(
        "{total} circuits for {} sessions with k = 3",
        sessions.len()
    );
    assert!(
        total > sessions.len(),
        "some sessions must get several circuits"
    );
}

#[test]
fn same_seed_same_inputs_same_run() {
    let run = || {
        let cfg = Config::default();
        let mut sim = common::random_sim(25, &cfg, 8, 1e6);
        let target = identities(25)[20].contact().clone();
        let sid = sim.call(3, |n, now| n.connect(&target, now));
        sim.call(3, |n, now| n.send_message(sid, &payload(4, 100_000), now))
            .expect("send");
        sim.run_until(secs(30), |_| false);
        let stats: Vec<_> = (0..25).map(|i| sim.node(i).stats().clone()).collect();
        (sim.events.clone(), stats, sim.bytes_carried)
    };
    let a = run();
    assert!(a
        .0
        .iter()
        .any(|(_, i, e)| *i == 20 && matches!(e, Event::MessageReceived { .. })));
    assert!(a == run(), "two runs with the same seeds differ");
}
