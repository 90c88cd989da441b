//! The protocol at scale on a virtual clock: 200 nodes, 50 circuits, 1 MiB
//! each way on each, relays dying mid-transfer, and a flooding node.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{identities, payload, random_sim};
use pacom_core::session::{Config, Event, SessionId};
use pacom_core::sim::{bfs, Sim};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const NODES: usize = 200;

struct Pair {
    src: usize,
    dst: usize,
    fwd: Vec<u8>,
    back: Vec<u8>,
    sid: Option<SessionId>,
    replied: bool,
}

fn pairs(rng: &mut ChaCha8Rng, n: usize, len: usize) -> Vec<Pair> {
    let mut ids: Vec<usize> = (0..NODES).collect();
    ids.shuffle(rng);
    (0..n)
        .map(|p| Pair {
            src: ids[2 * p],
            dst: ids[2 * p + 1],
            fwd: payload(1000 + p as u64, len),
            back: payload(2000 + p as u64, len),
            sid: None,
            replied: false,
        })
        .collect()
}

fn received(sim: &Sim, node: usize) -> Vec<&Vec<u8>> {
    sim.events
        .iter()
        .filter(|(_, i, _)| *i == node)
        .filter_map(|(_, _, e)| match e {
            Event::MessageReceived { data, .. } => Some(data),
            _ => None,
        })
        .collect()
}

/// Answers each new session at a target with the pair's reply; returns
/// how many events were examined.
fn reply_to_new_sessions(sim: &mut Sim, pairs: &mut [Pair], seen: usize) -> usize {
    let new: Vec<(usize, SessionId)> = sim.events[seen..]
        .iter()
        .filter_map(|(_, i, e)| match e {
            Event::SessionAccepted { session } => Some((*i, *session)),
            _ => None,
        })
        .collect();
    let len = sim.events.len();
    for (node, s) in new {
        if let Some(p) = pairs.iter_mut().find(|p| p.dst == node && !p.replied) {
            p.replied = true;
            let back = p.back.clone();
            sim.call(node, |n, now| n.send_message(s, &back, now))
                .expect("reply");
        }
    }
    len
}

/// Asserts that no node other than a circuit's endpoints holds its key or
/// a sample of the plaintext.
fn assert_relays_blind(sim: &Sim, pairs: &[Pair]) -> usize {
    let mut keys = Vec::new();
    for p in pairs {
        for (h, k) in sim.node(p.dst).endpoint_keys_for_tests() {
            keys.push((h, k, p));
        }
    }
    let mut checked = 0;
    for i in 0..sim.len() {
        if !sim.alive()[i] {
            continue;
        }
        let st = sim.node(i).relay_state();
        for (h, k, p) in &keys {
            if i == p.src || i == p.dst {
                continue;
            }
            assert!(
                !sim.node(i).is_endpoint_of(*h),
                "node {i} terminates a foreign circuit"
            );
            assert!(!st.contains_bytes(k), "node {i} holds a circuit key");
            assert!(
                !st.contains_bytes(&p.fwd[4096..4128]),
                "node {i} holds plaintext"
            );
            assert!(
                !st.contains_bytes(&p.back[4096..4128]),
                "node {i} holds plaintext"
            );
            checked += 1;
        }
    }
    checked
}

#[test]
fn scale_200_nodes_50_circuits_1mib_each_way_with_relay_loss() {
    let cfg = Config::default();
    let mut sim = random_sim(NODES, &cfg, 11, 4e6);
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let mut pairs = pairs(&mut rng, 50, 1 << 20);
    for (k, p) in pairs.iter_mut().enumerate() {
        sim.run_until(Duration::from_millis(100 * k as u64), |_| false);
        let c = identities(NODES)[p.dst].contact().clone();
        let fwd = p.fwd.clone();
        p.sid = Some(
            sim.call(p.src, |n, now| {
                let s = n.connect(&c, now);
                n.send_message(s, &fwd, now).map(|_| s)
            })
            .expect("send"),
        );
    }

    // Run until 20 of the 100 messages are through, then kill 20 % of the
    // relays (half with link-down notices, half silently), keeping every
    // pair connected so delivery remains possible.
    let mut seen = 0;
    let mut lengths: Vec<(usize, usize)> = Vec::new();
    let mut measured = 0;
    let count_received = |s: &Sim| {
        s.events
            .iter()
            .filter(|(_, _, e)| matches!(e, Event::MessageReceived { .. }))
            .count()
    };
    let mut removed = 0;
    let mut blind_checks = 0;
    let deadline = Duration::from_secs(900);
    while sim.now() < deadline {
        let t = sim.now() + Duration::from_millis(200);
        sim.run_until(t, |_| false);
        seen = reply_to_new_sessions(&mut sim, &mut pairs, seen);
        // Circuit length vs shortest path, measured at build time.
        for (_, i, e) in sim.events[measured..].iter() {
            if let Event::CircuitBuilt { session, h_id, .. } = e {
                let key = sim
                    .node(*i)
                    .session_circuits(*session)
                    .into_iter()
                    .find(|c| c.0 == *h_id);
                if let Some(key) = key {
                    let dst = pairs.iter().find(|p| p.src == *i).map(|p| p.dst);
                    if let (Some(h), Some(dst)) = (sim.circuit_hops(*i, *h_id, key.1), dst) {
                        let d = bfs(sim.graph(), *i, sim.alive())[dst];
                        lengths.push((h, d));
                    }
                }
            }
        }
        measured = sim.events.len();
        if removed == 0 && count_received(&sim) >= 20 {
            blind_checks += assert_relays_blind(&sim, &pairs);
            let mut relays: Vec<usize> = (0..NODES)
                .filter(|i| !pairs.iter().any(|p| p.src == *i || p.dst == *i))
                .collect();
            relays.shuffle(&mut rng);
            let mut alive = sim.alive().to_vec();
            for r in relays {
                if removed == relays_to_remove() {
                    break;
                }
                alive[r] = false;
                let ok = pairs
                    .iter()
                    .all(|p| bfs(sim.graph(), p.src, &alive)[p.dst] != usize::MAX);
                if ok {
                    sim.remove_node(r, removed % 2 == 0);
                    removed += 1;
                } else {
                    alive[r] = true;
                }
            }
            println!("removed {removed} relays at t = {:?}", sim.now());
        }
        let done = pairs
            .iter()
            .all(|p| received(&sim, p.dst).len() == 1 && received(&sim, p.src).len() == 1)
            && sim
                .events
                .iter()
                .filter(|(_, _, e)| matches!(e, Event::MessageDelivered { .. }))
                .count()
                == 100;
        if done {
            break;
        }
    }
    blind_checks += assert_relays_blind(&sim, &pairs);
    assert_eq!(removed, relays_to_remove());
    for (k, p) in pairs.iter().enumerate() {
        let at_dst = received(&sim, p.dst);
        let at_src = received(&sim, p.src);
        assert_eq!(
            at_dst.len(),
            1,
            "pair {k}: target got {} messages",
            at_dst.len()
        );
        assert_eq!(
            at_src.len(),
            1,
            "pair {k}: source got {} messages",
            at_src.len()
        );
        assert!(
            *at_dst[0] == p.fwd && *at_src[0] == p.back,
            "pair {k}: corrupted"
        );
    }
    let delivered = sim
        .events
        .iter()
        .filter(|(_, _, e)| matches!(e, Event::MessageDelivered { .. }))
        .count();
    assert_eq!(delivered, 100);
    let rebuilds: u32 = pairs
        .iter()
        .map(|p| sim.node(p.src).sessions().iter().map(|s| s.1).sum::<u32>())
        .sum();
    let lost: u64 = (0..NODES).map(|i| sim.node(i).stats().circuits_lost).sum();
    let dups: u64 = (0..NODES)
        .map(|i| sim.node(i).stats().cells_unroutable)
        .sum();
    println!(
        "done at t = {:?}: 100 x 1 MiB delivered exactly once; {removed} relays removed; {rebuilds} rebuilds; {lost} circuit ends lost; {dups} unroutable cells; {blind_checks} relay-blindness checks; {} MiB carried",
        sim.now(),
        sim.bytes_carried >> 20
    );
    report_lengths(&lengths);
    assert!(rebuilds > 0, "relay loss mid-transfer must force rebuilds");
}

fn relays_to_remove() -> usize {
    // 20 % of the 100 nodes that are not endpoints.
    20
}

fn report_lengths(lengths: &[(usize, usize)]) {
    let n = lengths.len().max(1) as f64;
    let mean_h = lengths.iter().map(|l| l.0).sum::<usize>() as f64 / n;
    let mean_d = lengths.iter().map(|l| l.1).sum::<usize>() as f64 / n;
    let mut stretch: BTreeMap<isize, usize> = BTreeMap::new();
    for (h, d) in lengths {
        *stretch.entry(*h as isize - *d as isize).or_default() += 1;
    }
    println!(
        "circuits measured: {}; mean hops {mean_h:.2} vs mean shortest path {mean_d:.2}; hops - shortest: {stretch:?}",
        lengths.len()
    );
}

#[test]
fn random_walk_lengthens_circuits() {
    // Extension 2: with p0 the flood becomes partly a random walk.
    let mut out = Vec::new();
    for p0 in [0.0, 0.5] {
        let cfg = Config {
            walk_p0: p0,
            ttl: 20,
            handshake_timeout: Duration::from_secs(5),
            handshake_retries: 8,
            ..Config::default()
        };
        let mut sim = random_sim(100, &cfg, 21, 4e6);
        let mut rng = ChaCha8Rng::seed_from_u64(22);
        let mut lengths = Vec::new();
        for k in 0..20 {
            let (s, d) = (rng.gen_range(0..100), rng.gen_range(0..100));
            if s == d {
                continue;
            }
            let c = identities(100)[d].contact().clone();
            let sid = sim.call(s, |n, now| n.connect(&c, now));
            sim.run_until(Duration::from_secs(60 * (k + 1)), |_| false);
            for key in sim.node(s).session_circuits(sid) {
                if let Some(h) = sim.circuit_hops(s, key.0, key.1) {
                    lengths.push((h, bfs(sim.graph(), s, sim.alive())[d]));
                }
            }
        }
        println!("p0 = {p0}:");
        report_lengths(&lengths);
        let stretch: f64 = lengths.iter().map(|(h, d)| (*h - *d) as f64).sum::<f64>()
            / lengths.len().max(1) as f64;
        out.push((lengths.len(), stretch));
    }
    assert!(out[0].0 >= 15 && out[1].0 >= 10, "circuits built: {out:?}");
    assert!(out[1].1 > out[0].1, "random walk should add hops: {out:?}");
}

#[test]
fn flooding_node_at_100x_leaves_honest_handshakes_working() {
    let cfg = Config::default();
    let mut sim = random_sim(NODES, &cfg, 31, 4e6);
    let mut rng = ChaCha8Rng::seed_from_u64(32);
    let attacker = 0usize;
    let mut honest = pairs(&mut rng, 60, 64);
    honest.retain(|p| p.src != attacker && p.dst != attacker);
    honest.truncate(50);
    // Honest sources each start one handshake over 5 s: normal rate per
    // node ~1/s at most. The attacker sends 100 handshakes per second, each
    // to all its neighbours, with ciphertexts of the right size so every
    // node that accepts one pays a trial decryption.
    let mut starts: Vec<(Duration, usize)> = honest
        .iter()
        .enumerate()
        .map(|(k, _)| (Duration::from_millis(rng.gen_range(0..5_000)), k))
        .collect();
    starts.sort();
    let mut next = 0;
    let step = Duration::from_millis(10);
    let nbrs: Vec<usize> = sim.graph()[attacker].iter().copied().collect();
    let mut t = Duration::ZERO;
    let mut sent = 0u64;
    while t < Duration::from_secs(6) {
        sim.run_until(t, |_| false);
        while next < starts.len() && starts[next].0 <= t {
            let p = &mut honest[starts[next].1];
            let c = identities(NODES)[p.dst].contact().clone();
            p.sid = Some(sim.call(p.src, |n, now| n.connect(&c, now)));
            next += 1;
        }
        let cell = pacom_core::cell::Cell::Handshake {
            h_id: rng.gen(),
            ttl: 255,
            sealed: (0..128).map(|_| rng.gen()).collect(),
        };
        for &n in &nbrs {
            sim.inject(attacker, n, cell.to_framed());
        }
        sent += 1;
        t += step;
    }
    sim.run_until(Duration::from_secs(60), |_| false);
    let ok = honest
        .iter()
        .filter(|p| {
            p.sid
                .is_some_and(|s| !sim.node(p.src).session_circuits(s).is_empty())
        })
        .count();
    let first_try = honest
        .iter()
        .filter(|p| {
            p.sid
                .is_some_and(|s| sim.node(p.src).sessions().iter().any(|x| x.0 == s))
                && sim.node(p.src).stats().handshake_timeouts == 0
        })
        .count();
    let budget_drops: u64 = (0..NODES)
        .map(|i| sim.node(i).stats().handshake_budget_drops)
        .sum();
    let at_neighbours: u64 = nbrs
        .iter()
        .map(|i| sim.node(*i).stats().handshake_budget_drops)
        .sum();
    let decrypts: u64 = (0..NODES)
        .map(|i| sim.node(i).stats().trial_decryptions)
        .sum();
    println!(
        "attacker sent {sent} handshakes to each of {} neighbours; {budget_drops} dropped by budgets ({at_neighbours} at its neighbours); {decrypts} trial decryptions; honest circuits: {ok}/{} built, {first_try} without any time-out",
        nbrs.len(),
        honest.len()
    );
    assert_eq!(honest.len(), 50);
    assert!(
        ok * 100 >= 95 * honest.len(),
        "only {ok}/50 honest handshakes succeeded"
    );
    assert!(
        at_neighbours >= sent,
        "budgets at the attacker's neighbours must drop most of the flood"
    );
}
