//! Handshake and codec throughput: `cargo bench -p pacom-core --bench handshake`.
//!
//! Prints, for one core: raw RSA-2048 OAEP decryptions per second, handshake
//! trial decryptions per second (for us and for someone else, the common
//! case at a relay), whole handshake cells processed by a relaying `Node`,
//! and cells per second through the codec.

use std::hint::black_box;
use std::time::{Duration, Instant};

use pacom_core::cell::{Cell, CellReader};
use pacom_core::circuit::{HandshakeSecret, NeighbourId};
use pacom_core::identity::Identity;
use pacom_core::session::{Config, Node};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rsa::Oaep;
use sha2::Sha256;

/// Runs `f` repeatedly for about `budget`; returns operations per second.
fn rate(budget: Duration, mut f: impl FnMut() -> u64) -> f64 {
    let start = Instant::now();
    let mut ops = 0u64;
    while start.elapsed() < budget {
        ops += f();
    }
    ops as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let budget = Duration::from_secs(2);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let t = Instant::now();
    let me = Identity::generate(&mut rng, 2048).expect("keygen");
    let other = Identity::generate(&mut rng, 2048).expect("keygen");
    let keygen = t.elapsed() / 2;

    let secret = HandshakeSecret::generate(&mut rng, 7, 1_700_000_000);
    let for_me = secret.encrypt_to(&mut rng, me.contact()).expect("encrypt");
    let for_other = secret
        .encrypt_to(&mut rng, other.contact())
        .expect("encrypt");

    let raw = rate(budget, || {
        let pt = me
            .private_key()
            .decrypt(Oaep::new::<Sha256>(), black_box(&for_me))
            .expect("decrypt");
        black_box(pt);
        1
    });
    let trial_hit = rate(budget, || {
        black_box(HandshakeSecret::trial_decrypt(&me, black_box(&for_me)).is_some());
        1
    });
    let trial_miss = rate(budget, || {
        black_box(HandshakeSecret::trial_decrypt(&me, black_box(&for_other)).is_none());
        1
    });

    // A relaying node with two neighbours processing distinct handshakes
    // for someone else: budget check, record, forward, trial decryption.
    let cfg = Config {
        flood_rate: 1e9,
        flood_burst: 1e9,
        ..Config::default()
    };
    let mut node = Node::new(me.clone(), cfg, ChaCha8Rng::seed_from_u64(2));
    node.on_neighbour_up(NeighbourId(1), Duration::ZERO);
    node.on_neighbour_up(NeighbourId(2), Duration::ZERO);
    let mut h = 0u64;
    let node_rate = rate(budget, || {
        h += 1;
        let cell = Cell::Handshake {
            h_id: h,
            ttl: 8,
            sealed: for_other.clone(),
        };
        node.on_link_bytes(NeighbourId(1), &cell.to_framed(), Duration::from_millis(h))
            .expect("ok");
        black_box(node.drain_outgoing());
        1
    });

    let mut codec = Vec::new();
    for (name, size) in [
        ("data 16 KiB", 16 * 1024 + 40),
        ("data 512 B", 512),
        ("destroy", 0),
    ] {
        let cell = if size == 0 {
            Cell::Destroy { h_id: 1, reason: 0 }
        } else {
            Cell::Data {
                h_id: 1,
                sealed: (0..size).map(|_| rng.gen()).collect(),
            }
        };
        let batch: Vec<u8> = (0..64).flat_map(|_| cell.to_framed()).collect();
        let enc = rate(budget / 2, || {
            let mut out = Vec::with_capacity(batch.len());
            for _ in 0..64 {
                cell.encode_framed(&mut out);
            }
            black_box(out);
            64
        });
        let dec = rate(budget / 2, || {
            let mut r = CellReader::new();
            r.push(&batch);
            let mut n = 0;
            while let Ok(Some(c)) = r.next_cell() {
                black_box(c);
                n += 1;
            }
            n
        });
        codec.push((name, enc, dec, cell.body_len() + 4));
    }

    println!("pacom-core handshake bench (one core, RSA-2048, OAEP-SHA256)");
    println!("{:<44} {:>14}", "operation", "per second");
    println!("{:<44} {:>14.0}", "raw RSA-2048 OAEP decrypt", raw);
    println!(
        "{:<44} {:>14.0}",
        "handshake trial decrypt, for us", trial_hit
    );
    println!(
        "{:<44} {:>14.0}",
        "handshake trial decrypt, for someone else", trial_miss
    );
    println!(
        "{:<44} {:>14.0}",
        "handshake cell through a relaying Node", node_rate
    );
    for (name, enc, dec, len) in codec {
        println!(
            "{:<44} {:>14.0}   ({:.0} MB/s)",
            format!("codec encode, {name}"),
            enc,
            enc * len as f64 / 1e6
        );
        println!(
            "{:<44} {:>14.0}   ({:.0} MB/s)",
            format!("codec CellReader decode, {name}"),
            dec,
            dec * len as f64 / 1e6
        );
    }
    println!(
        "RSA-2048 key generation: {:.0} ms per key",
        keygen.as_secs_f64() * 1e3
    );
}
