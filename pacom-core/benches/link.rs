//! Link throughput at 16 KiB frames beside raw AES-256-GCM in the same run.
//!
//! `cargo bench -p pacom-core --bench link`

use std::hint::black_box;
use std::time::Instant;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use pacom_core::link::{payload_capacity, Link, LinkConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

const CAP: usize = 16384;
const FRAMES: usize = 20_000;

fn per_sec(n: usize, secs: f64) -> f64 {
    n as f64 / secs
}

fn mb_per_sec(n: usize, secs: f64) -> f64 {
    (n * CAP) as f64 / secs / 1e6
}

fn main() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let cfg = LinkConfig::public([7; 20]);
    let mut a = Link::new(&cfg, &mut rng).expect("link");
    let mut b = Link::new(&cfg, &mut rng).expect("link");
    let (ha, hb) = (
        a.next_frame(CAP).expect("frame"),
        b.next_frame(CAP).expect("frame"),
    );
    a.on_frame(&hb).expect("handshake");
    b.on_frame(&ha).expect("handshake");
    let payload = vec![0x5au8; payload_capacity(CAP)];

    // Link: write a full frame of bytes, seal, open, read.
    let start = Instant::now();
    for _ in 0..FRAMES {
        a.write(payload.as_slice()).expect("write");
        let frame = a.next_frame(CAP).expect("seal");
        b.on_frame(&frame).expect("open");
        black_box(b.read());
    }
    let link_secs = start.elapsed().as_secs_f64();

    // Raw AES-256-GCM seal (and seal+open) of 16 KiB in place.
    let cipher = Aes256Gcm::new(&[3u8; 32].into());
    let mut buf = vec![0u8; CAP];
    let start = Instant::now();
    for i in 0..FRAMES {
        let mut n = [0u8; 12];
        n[4..].copy_from_slice(&(i as u64).to_be_bytes());
        black_box(
            cipher
                .encrypt_in_place_detached(Nonce::from_slice(&n), &[], &mut buf)
                .expect("seal"),
        );
    }
    let seal_secs = start.elapsed().as_secs_f64();
    let start = Instant::now();
    for i in 0..FRAMES {
        let mut n = [0u8; 12];
        n[4..].copy_from_slice(&(i as u64).to_be_bytes());
        let nonce = Nonce::from_slice(&n);
        let tag: Tag = cipher
            .encrypt_in_place_detached(nonce, &[], &mut buf)
            .expect("seal");
        cipher
            .decrypt_in_place_detached(nonce, &[], &mut buf, &tag)
            .expect("open");
    }
    let both_secs = start.elapsed().as_secs_f64();

    // Handshake keys: a private-mode link draws keys until one is representable.
    let keys = 500;
    let private = LinkConfig::private([9; 32], [7; 20]);
    let start = Instant::now();
    for _ in 0..keys {
        black_box(Link::new(&private, &mut rng).expect("link"));
    }
    let private_secs = start.elapsed().as_secs_f64();

    println!("{FRAMES} frames of {CAP} bytes");
    println!("{:<34} {:>12} {:>10}", "operation", "frames/s", "MB/s");
    println!(
        "{:<34} {:>12.0} {:>10.0}",
        "link write+seal+open+read",
        per_sec(FRAMES, link_secs),
        mb_per_sec(FRAMES, link_secs)
    );
    println!(
        "{:<34} {:>12.0} {:>10.0}",
        "raw AES-256-GCM seal",
        per_sec(FRAMES, seal_secs),
        mb_per_sec(FRAMES, seal_secs)
    );
    println!(
        "{:<34} {:>12.0} {:>10.0}",
        "raw AES-256-GCM seal+open",
        per_sec(FRAMES, both_secs),
        mb_per_sec(FRAMES, both_secs)
    );
    println!(
        "link / raw seal: {:.2}   link / raw seal+open: {:.2}",
        seal_secs / link_secs,
        both_secs / link_secs
    );
    println!(
        "private-mode Link::new (Elligator2 key): {:.0} µs each",
        private_secs / f64::from(keys) * 1e6
    );
}
