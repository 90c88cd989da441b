use std::collections::VecDeque;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::*;

const CAP: usize = 16384;

fn pair(mode: Mode, seed: u64) -> (Link, Link, ChaCha20Rng) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let cfg = match mode {
        Mode::Public => LinkConfig::public([0xab; 20]),
        Mode::Private => LinkConfig::private([0x42; 32], [0xab; 20]),
    };
    let a = Link::new(&cfg, &mut rng).unwrap();
    let b = Link::new(&cfg, &mut rng).unwrap();
    (a, b, rng)
}

/// Both sides answer one request each "at the same time", then exchange.
fn establish(a: &mut Link, b: &mut Link) {
    let fa = a.next_frame(CAP).unwrap();
    let fb = b.next_frame(CAP).unwrap();
    a.on_frame(&fb).unwrap();
    b.on_frame(&fa).unwrap();
    assert!(a.is_established() && b.is_established());
}

fn pipe_round_trip(mode: Mode, seed: u64) {
    let (mut a, mut b, mut rng) = pair(mode, seed);
    let (mut a_sent, mut b_sent) = (Vec::new(), Vec::new());
    let (mut a_got, mut b_got) = (Vec::new(), Vec::new());
    let (mut to_b, mut to_a) = (VecDeque::new(), VecDeque::new());
    for _ in 0..1500 {
        match rng.gen_range(0..8) {
            6 => a.stage(rng.gen_range(0..6)),
            7 => b.stage(rng.gen_range(0..6)),
            0 => {
                let data: Vec<u8> = (0..rng.gen_range(1..40_000)).map(|_| rng.gen()).collect();
                a_sent.extend_from_slice(&data);
                a.write(data).unwrap();
            }
            1 => {
                let data: Vec<u8> = (0..rng.gen_range(1..9_000)).map(|_| rng.gen()).collect();
                b_sent.extend_from_slice(&data);
                b.write(data).unwrap();
            }
            2 => to_b.push_back(a.next_frame(rng.gen_range(MIN_CAPACITY..=CAP)).unwrap()),
            3 => to_a.push_back(b.next_frame(rng.gen_range(MIN_CAPACITY..=CAP)).unwrap()),
            4 => {
                if let Some(f) = to_b.pop_front() {
                    b.on_frame(&f).unwrap();
                    b_got.extend_from_slice(&b.read());
                }
            }
            _ => {
                if let Some(f) = to_a.pop_front() {
                    a.on_frame(&f).unwrap();
                    a_got.extend_from_slice(&a.read());
                }
            }
        }
    }
    // Drain: keep answering requests until both queues are empty.
    while a.queued() > 0 || b.queued() > 0 || !to_a.is_empty() || !to_b.is_empty() {
        to_b.push_back(a.next_frame(CAP).unwrap());
        to_a.push_back(b.next_frame(CAP).unwrap());
        while let Some(f) = to_b.pop_front() {
            b.on_frame(&f).unwrap();
        }
        while let Some(f) = to_a.pop_front() {
            a.on_frame(&f).unwrap();
        }
        a_got.extend_from_slice(&a.read());
        b_got.extend_from_slice(&b.read());
    }
    assert!(a_sent.len() > 1_000_000, "test moved too little");
    assert_eq!(b_got, a_sent);
    assert_eq!(a_got, b_sent);
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!(sa.data_frames_sent, sb.data_frames_received);
    assert_eq!(sb.data_frames_sent, sa.data_frames_received);
    assert_eq!(sa.cover_frames_sent, sb.cover_frames_received);
    assert_eq!(sa.bytes_sent, a_sent.len() as u64);
    // With both queues empty, an answer is cover and opens to nothing.
    let covers = sb.cover_frames_received;
    b.on_frame(&a.next_frame(CAP).unwrap()).unwrap();
    assert_eq!(b.stats().cover_frames_received, covers + 1);
    assert!(b.read().is_empty());
    assert!(sa.data_frames_sent > 0);
}

/// Answers taken from staged frames never touch the output queue: what a
/// frame carries was decided before its request, so sealing it is the
/// same work for data and cover.
#[test]
fn staged_frames_answer_without_touching_the_queue() {
    let (mut a, mut b, mut rng) = pair(Mode::Public, 13);
    establish(&mut a, &mut b);
    a.stage(4);
    let sent: Vec<u8> = (0..100_000).map(|_| rng.gen()).collect();
    a.write(sent.clone()).unwrap();
    let per_frame = payload_capacity(CAP);
    // The four staged frames took their bytes when they were written.
    assert_eq!(a.out.len(), sent.len() - 4 * per_frame);
    assert_eq!(a.queued(), sent.len());
    let mut got = Vec::new();
    for _ in 0..4 {
        let before = a.out.len();
        b.on_frame(&a.next_frame(CAP).unwrap()).unwrap();
        assert_eq!(a.out.len(), before, "an answer popped the queue");
        got.extend_from_slice(&b.read());
    }
    assert_eq!(got, sent[..4 * per_frame]);
    assert_eq!(a.stats().unstaged_frames_sent, 0);
    // Nothing staged: the frame is built on the spot, and counted.
    b.on_frame(&a.next_frame(CAP).unwrap()).unwrap();
    assert_eq!(a.stats().unstaged_frames_sent, 1);
    got.extend_from_slice(&b.read());
    // Restaged after the answers went out: the rest, in order.
    while a.queued() > 0 {
        a.stage(4);
        for _ in 0..4 {
            b.on_frame(&a.next_frame(CAP).unwrap()).unwrap();
            got.extend_from_slice(&b.read());
        }
    }
    assert_eq!(got, sent);
    assert_eq!(a.stats().unstaged_frames_sent, 1);
    // Staged cover stays cover until bytes are written, then carries them.
    a.stage(2);
    b.on_frame(&a.next_frame(CAP).unwrap()).unwrap();
    assert!(b.read().is_empty());
    a.write(b"late".to_vec()).unwrap();
    assert_eq!(a.out.len(), 0);
    b.on_frame(&a.next_frame(CAP).unwrap()).unwrap();
    assert_eq!(b.read(), b"late");
}

/// A request for a smaller block than staged frames were filled for puts
/// the staged bytes back in order; frames never exceed their capacity.
#[test]
fn staged_bytes_survive_a_smaller_capacity() {
    let (mut a, mut b, mut rng) = pair(Mode::Private, 14);
    establish(&mut a, &mut b);
    a.stage(3);
    let sent: Vec<u8> = (0..40_000).map(|_| rng.gen()).collect();
    a.write(sent.clone()).unwrap();
    let mut got = Vec::new();
    for cap in [1000, 1000, CAP, MIN_CAPACITY, CAP, CAP, CAP] {
        let frame = a.next_frame(cap).unwrap();
        assert_eq!(frame.len(), cap);
        b.on_frame(&frame).unwrap();
        got.extend_from_slice(&b.read());
        a.stage(3);
    }
    while a.queued() > 0 {
        b.on_frame(&a.next_frame(CAP).unwrap()).unwrap();
        got.extend_from_slice(&b.read());
        a.stage(3);
    }
    assert_eq!(got, sent);
    // Once the small blocks are out of mind, frames carry a full payload again.
    let more: Vec<u8> = (0..40 * payload_capacity(CAP)).map(|_| rng.gen()).collect();
    a.write(more.clone()).unwrap();
    let mut full = 0;
    let mut got_more = Vec::new();
    while a.queued() > 0 {
        b.on_frame(&a.next_frame(CAP).unwrap()).unwrap();
        let bytes = b.read();
        full += usize::from(bytes.len() == payload_capacity(CAP));
        got_more.extend_from_slice(&bytes);
        a.stage(3);
    }
    assert_eq!(got_more, more);
    assert!(full > 20, "only {full} full frames");
    assert_eq!(a.stats().bytes_sent, (sent.len() + more.len()) as u64);
}

#[test]
fn byte_identical_pipe_public() {
    pipe_round_trip(Mode::Public, 10);
}

#[test]
fn byte_identical_pipe_private() {
    pipe_round_trip(Mode::Private, 11);
}

#[test]
fn frames_before_the_peer_key_are_cover_and_accepted() {
    let (mut a, mut b, _) = pair(Mode::Private, 12);
    a.write(b"early".to_vec()).unwrap();
    // A answers four requests before B's handshake reaches it.
    let early: Vec<_> = (0..4).map(|_| a.next_frame(CAP).unwrap()).collect();
    assert!(!a.is_established());
    let hb = b.next_frame(CAP).unwrap();
    for f in &early {
        b.on_frame(f).unwrap();
    }
    assert_eq!(b.stats().handshake_frames_received, 1);
    assert_eq!(b.stats().cover_frames_received, 3);
    assert!(b.read().is_empty());
    a.on_frame(&hb).unwrap();
    b.on_frame(&a.next_frame(CAP).unwrap()).unwrap();
    assert_eq!(b.read(), b"early");
    assert!(b.is_confirmed());
}

#[test]
fn cover_and_data_frames_have_identical_length() {
    let (mut a, mut b, _) = pair(Mode::Public, 13);
    establish(&mut a, &mut b);
    for cap in [MIN_CAPACITY, 1000, CAP] {
        let cover = a.next_frame(cap).unwrap();
        a.write(vec![1u8; 5]).unwrap();
        let small = a.next_frame(cap).unwrap();
        a.write(vec![2u8; 3 * cap]).unwrap();
        let full = a.next_frame(cap).unwrap();
        assert_eq!([cover.len(), small.len(), full.len()], [cap; 3]);
        for f in [cover, small, full] {
            b.on_frame(&f).unwrap();
        }
        // Drain the rest so the next round starts with cover.
        while a.queued() > 0 {
            b.on_frame(&a.next_frame(cap).unwrap()).unwrap();
        }
    }
}

fn established_with_frames(seed: u64) -> (Link, Link, Vec<Vec<u8>>) {
    let (mut a, mut b, _) = pair(Mode::Public, seed);
    establish(&mut a, &mut b);
    let frames = (0..4u8)
        .map(|i| {
            a.write(vec![i; 100]).unwrap();
            a.next_frame(CAP).unwrap()
        })
        .collect();
    (a, b, frames)
}

#[test]
fn tampered_frame_closes_the_link() {
    let (_a, mut b, frames) = established_with_frames(14);
    b.on_frame(&frames[0]).unwrap();
    let mut bad = frames[1].clone();
    bad[500] ^= 0x01;
    assert_eq!(b.on_frame(&bad), Err(LinkError::Open { counter: 1 }));
    assert!(b.is_closed());
    assert_eq!(b.on_frame(&frames[1]), Err(LinkError::Closed));
    assert_eq!(b.next_frame(CAP), Err(LinkError::Closed));
    assert_eq!(b.write(vec![1]), Err(LinkError::Closed));
}

#[test]
fn replayed_frame_rejected() {
    let (_a, mut b, frames) = established_with_frames(15);
    b.on_frame(&frames[0]).unwrap();
    b.on_frame(&frames[1]).unwrap();
    assert_eq!(b.on_frame(&frames[1]), Err(LinkError::Open { counter: 2 }));
}

#[test]
fn reordered_frames_rejected() {
    let (_a, mut b, frames) = established_with_frames(16);
    b.on_frame(&frames[0]).unwrap();
    assert_eq!(b.on_frame(&frames[2]), Err(LinkError::Open { counter: 1 }));
}

#[test]
fn truncated_frames_rejected() {
    let (_a, mut b, frames) = established_with_frames(17);
    assert_eq!(
        b.on_frame(&frames[0][..40]),
        Err(LinkError::Truncated { len: 40 })
    );
    let (_a, mut b, frames) = established_with_frames(18);
    assert_eq!(
        b.on_frame(&frames[0][..CAP - 1]),
        Err(LinkError::Open { counter: 0 })
    );
    let (mut a, _b, _) = pair(Mode::Public, 19);
    let short_handshake = vec![7u8; 10];
    assert_eq!(
        a.on_frame(&short_handshake),
        Err(LinkError::Truncated { len: 10 })
    );
}

#[test]
fn wrong_group_key_or_swarm_cannot_talk() {
    let mut rng = ChaCha20Rng::seed_from_u64(20);
    for other in [
        LinkConfig::private([0x43; 32], [0xab; 20]),
        LinkConfig::private([0x42; 32], [0xac; 20]),
    ] {
        let mut a = Link::new(&LinkConfig::private([0x42; 32], [0xab; 20]), &mut rng).unwrap();
        let mut b = Link::new(&other, &mut rng).unwrap();
        establish(&mut a, &mut b);
        a.write(vec![1u8; 10]).unwrap();
        assert_eq!(
            b.on_frame(&a.next_frame(CAP).unwrap()),
            Err(LinkError::Open { counter: 0 })
        );
    }
}

#[test]
fn reflected_handshake_rejected() {
    let (mut a, _b, _) = pair(Mode::Private, 21);
    let own = a.next_frame(CAP).unwrap();
    assert_eq!(
        a.on_frame(&own),
        Err(LinkError::Handshake(HandshakeError::Reflected))
    );
}

#[test]
fn tiny_capacity_refused_without_closing() {
    let (mut a, _b, _) = pair(Mode::Public, 22);
    assert_eq!(
        a.next_frame(MIN_CAPACITY - 1),
        Err(LinkError::CapacityTooSmall {
            capacity: MIN_CAPACITY - 1
        })
    );
    assert!(a.next_frame(MIN_CAPACITY).is_ok());
}

/// Counts of ones per bit position over many handshake frames; each must be
/// within 5 standard deviations of half.
fn bits_look_uniform(frames: &[Vec<u8>], len: usize) -> Result<(), String> {
    let n = frames.len() as f64;
    let sd = (n * 0.25).sqrt();
    for bit in 0..len * 8 {
        let ones = frames
            .iter()
            .filter(|f| f[bit / 8] >> (bit % 8) & 1 == 1)
            .count() as f64;
        if (ones - n / 2.0).abs() > 5.0 * sd {
            return Err(format!("bit {bit}: {ones} ones in {n}"));
        }
    }
    Ok(())
}

/// Pearson chi-square of byte values against uniform.
fn byte_chi_square(frames: &[Vec<u8>], len: usize) -> f64 {
    let mut counts = [0u64; 256];
    for f in frames {
        for b in &f[..len] {
            counts[*b as usize] += 1;
        }
    }
    let expected = (frames.len() * len) as f64 / 256.0;
    counts
        .iter()
        .map(|c| (*c as f64 - expected).powi(2) / expected)
        .sum()
}

#[test]
fn private_handshake_frames_look_random() {
    let mut rng = ChaCha20Rng::seed_from_u64(23);
    let cfg = LinkConfig::private([0x42; 32], [0xab; 20]);
    let frames: Vec<Vec<u8>> = (0..2000)
        .map(|_| {
            Link::new(&cfg, &mut rng)
                .unwrap()
                .next_frame(MIN_CAPACITY)
                .unwrap()
        })
        .collect();
    assert!(frames.iter().all(|f| f.len() == MIN_CAPACITY));
    bits_look_uniform(&frames, MIN_CAPACITY).unwrap();
    // 255 degrees of freedom: 330 is beyond the 0.1% tail.
    let chi = byte_chi_square(&frames, KEY_WIRE_LEN);
    assert!(chi < 330.0, "chi-square of key bytes {chi}");

    // The same checks catch plain X25519 keys (bit 255 always zero).
    let plain: Vec<Vec<u8>> = (0..2000)
        .map(|_| {
            x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::random_from_rng(&mut rng))
                .to_bytes()
                .to_vec()
        })
        .collect();
    assert!(bits_look_uniform(&plain, KEY_WIRE_LEN).is_err());
}

#[test]
fn close_wipes_every_secret() {
    let (mut a, mut b, _) = pair(Mode::Private, 24);
    establish(&mut a, &mut b);
    a.write(vec![9u8; 100]).unwrap();
    b.on_frame(&a.next_frame(CAP).unwrap()).unwrap();
    b.write(vec![9u8; 100]).unwrap();
    b.stage(2);
    assert_eq!(b.out.len(), 0, "the bytes sit in a staged frame");
    assert!(!b.secrets_wiped());
    // `Drop` runs the same `wipe` as `close`.
    b.close();
    assert!(b.secrets_wiped());
    assert!(!format!("{a:?}").contains("key:"));
}

#[test]
fn zeroize_on_drop_types() {
    // What `wipe` relies on to clear memory when it drops these values.
    fn wipes_itself<T: zeroize::ZeroizeOnDrop>() {}
    fn wiped_explicitly<T: Zeroize>() {}
    wiped_explicitly::<x25519_dalek::StaticSecret>();
    wipes_itself::<aes::Aes256>();
    wipes_itself::<Zeroizing<[u8; 32]>>();
}

#[test]
fn default_public_key_is_the_published_hash() {
    use sha2::Digest;
    let h = sha2::Sha256::digest(b"PACOM public network group key v1");
    assert_eq!(h.as_slice(), DEFAULT_PUBLIC_GROUP_KEY);
}
