//! Time to generate a PACOM file (keystream + SHA-1 of every piece).
//! `cargo run --release -p pacom-core --example pacom_file_speed [MiB...]`

use std::time::Instant;

use pacom_core::pacom_file::{CoverKind, PacomFile, PacomFileOptions};

fn main() {
    let sizes: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![4, 64, 256]
    } else {
        sizes
    };
    for mib in sizes {
        let opts = PacomFileOptions::with_size(mib << 20);
        let start = Instant::now();
        let f = PacomFile::generate([7; 32], &CoverKind::Archive, &opts).expect("generation");
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{mib:>6} MiB: {:>5} pieces of {:>4} KiB, {:.3} s ({:.0} MiB/s), {}",
            f.num_pieces(),
            f.piece_length >> 10,
            secs,
            mib as f64 / secs,
            f.name
        );
    }
}
