//! Public-mode cover: a file that looks like an encrypted 7-Zip archive.
//!
//! In public mode the block carries ciphertext, so the cover must be a file
//! whose genuine content is itself indistinguishable from random: an archive
//! with encrypted content and encrypted headers. Real encrypted `.7z` files
//! start with the 32-byte *signature header* in the clear (magic, version,
//! CRC-protected pointer to the trailing header), so we reproduce that header
//! with correct CRCs; every other byte is a ChaCha20 keystream keyed by the
//! seed. The trailing "next header" is keystream too: a real 7z reader would
//! find it undecodable, which is what an archive whose header is AES-encrypted
//! and whose password we lack looks like to anyone scanning past the magic.
//!
//! Everything (name, size, bytes) is a function of the 32-byte seed, and any
//! byte range is produced in time proportional to its length (the keystream is
//! seekable by 64-byte block).

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::cover::{Cover, CoverError};

/// ChaCha stream used for the name and size draws.
const META_STREAM: u64 = 0x6d65_7461;
/// ChaCha stream used for the file content.
const CONTENT_STREAM: u64 = 0x6461_7461;
/// Length of the 7z signature header.
const SIGNATURE_HEADER_LEN: u64 = 32;
/// 7z magic bytes.
const MAGIC: [u8; 6] = [0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C];
/// Format version 0.4, written by every 7-Zip release since 9.x.
const VERSION: [u8; 2] = [0x00, 0x04];

/// How the archive's size is chosen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ArchiveParams {
    /// Exact size in bytes; when `None` it is drawn from the seed.
    pub size: Option<u64>,
    /// Lower bound for a drawn size.
    pub min_size: u64,
    /// Upper bound for a drawn size.
    pub max_size: u64,
    /// Median of the drawn size (log-normal law).
    pub median_size: u64,
    /// Standard deviation of the natural log of the drawn size.
    pub log_sigma: f64,
}

impl Default for ArchiveParams {
    /// Sizes resembling archives shared on public trackers: log-normal with a
    /// median of 350 MiB, clamped to 8 MiB ..= 8 GiB.
    fn default() -> Self {
        Self {
            size: None,
            min_size: 8 << 20,
            max_size: 8 << 30,
            median_size: 350 << 20,
            log_sigma: 1.1,
        }
    }
}

impl ArchiveParams {
    /// Parameters for an archive of exactly `size` bytes.
    pub fn with_size(size: u64) -> Self {
        Self {
            size: Some(size),
            ..Self::default()
        }
    }
}

/// A deterministic pseudo-encrypted 7z archive.
#[derive(Clone, Debug)]
pub struct ArchiveCover {
    seed: [u8; 32],
    name: String,
    size: u64,
    /// Signature header bytes (empty when the file is too small for one).
    header: Vec<u8>,
}

impl ArchiveCover {
    /// Builds the cover for `seed`. Sizes of 0 are raised to 1 (a torrent
    /// cannot describe an empty file).
    pub fn new(seed: [u8; 32], params: ArchiveParams) -> Self {
        let mut meta = ChaCha20Rng::from_seed(seed);
        meta.set_stream(META_STREAM);
        let name = archive_name(&mut meta);
        let size = params
            .size
            .unwrap_or_else(|| draw_size(&mut meta, &params))
            .max(1);
        let next_header_len: u64 = meta.gen_range(33..=64);
        let mut cover = Self {
            seed,
            name,
            size,
            header: Vec::new(),
        };
        if size >= SIGNATURE_HEADER_LEN + next_header_len {
            cover.header = cover.signature_header(next_header_len);
        }
        cover
    }

    /// The seed the cover was generated from.
    pub fn seed(&self) -> &[u8; 32] {
        &self.seed
    }

    /// Builds the 32-byte signature header pointing at the last
    /// `next_header_len` bytes of the file.
    fn signature_header(&self, next_header_len: u64) -> Vec<u8> {
        let mut tail = vec![0u8; next_header_len as usize];
        self.keystream_at(self.size - next_header_len, &mut tail);
        let next_offset = self.size - SIGNATURE_HEADER_LEN - next_header_len;
        let mut start = Vec::with_capacity(20);
        start.extend_from_slice(&next_offset.to_le_bytes());
        start.extend_from_slice(&next_header_len.to_le_bytes());
        start.extend_from_slice(&crc32(&tail).to_le_bytes());
        let mut header = Vec::with_capacity(SIGNATURE_HEADER_LEN as usize);
        header.extend_from_slice(&MAGIC);
        header.extend_from_slice(&VERSION);
        header.extend_from_slice(&crc32(&start).to_le_bytes());
        header.extend_from_slice(&start);
        header
    }

    /// Fills `buf` with the content keystream from byte `offset`.
    fn keystream_at(&self, offset: u64, buf: &mut [u8]) {
        let mut rng = ChaCha20Rng::from_seed(self.seed);
        rng.set_stream(CONTENT_STREAM);
        rng.set_word_pos(u128::from(offset / 4));
        let skip = (offset % 4) as usize;
        let mut rest = buf;
        if skip != 0 {
            let mut word = [0u8; 4];
            rng.fill_bytes(&mut word);
            let take = (4 - skip).min(rest.len());
            rest[..take].copy_from_slice(&word[skip..skip + take]);
            rest = &mut rest[take..];
        }
        // One call from a word boundary yields the stream contiguously.
        rng.fill_bytes(rest);
    }
}

impl Cover for ArchiveCover {
    fn name(&self) -> &str {
        &self.name
    }

    fn len(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), CoverError> {
        let end = offset.checked_add(buf.len() as u64);
        if end.is_none_or(|end| end > self.size) {
            return Err(CoverError::OutOfRange {
                offset,
                len: buf.len(),
                size: self.size,
            });
        }
        self.keystream_at(offset, buf);
        let header_len = self.header.len() as u64;
        if offset < header_len {
            let from = offset as usize;
            let n = (self.header.len() - from).min(buf.len());
            buf[..n].copy_from_slice(&self.header[from..from + n]);
        }
        Ok(())
    }
}

/// Draws a log-normal size clamped to the configured bounds, rounded to whole
/// KiB minus a small seeded remainder so sizes do not look synthetic.
fn draw_size(rng: &mut impl Rng, p: &ArchiveParams) -> u64 {
    // Box-Muller: one standard normal from two uniforms.
    let u1: f64 = rng.gen_range(f64::MIN_POSITIVE..1.0);
    let u2: f64 = rng.gen();
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    let raw = (p.median_size.max(1) as f64).ln() + p.log_sigma * z;
    let size = raw.exp();
    let lo = p.min_size.min(p.max_size) as f64;
    let hi = p.max_size.max(p.min_size) as f64;
    let size = size.clamp(lo, hi) as u64;
    let jitter: u64 = rng.gen_range(0..1024);
    size.saturating_sub(jitter).max(1)
}

const ADJECTIVES: &[&str] = &[
    "old", "new", "final", "private", "shared", "misc", "full", "raw", "archived", "spare",
    "summer", "winter", "spring", "autumn", "family", "office", "team", "personal", "daily",
    "weekly",
];
const NOUNS: &[&str] = &[
    "backup",
    "photos",
    "documents",
    "project",
    "scans",
    "recordings",
    "notes",
    "drafts",
    "invoices",
    "thesis",
    "website",
    "database",
    "exports",
    "samples",
    "footage",
    "library",
    "mail",
    "reports",
    "assets",
    "sources",
    "music",
    "lectures",
    "renders",
    "dataset",
];
const SUFFIXES: &[&str] = &[
    "", "", "", "_v2", "_v3", "_final", "_old", "_copy", "_part1",
];

/// A plausible archive file name such as `family_photos_2019_v2.7z`.
fn archive_name(rng: &mut impl Rng) -> String {
    let pick = |rng: &mut dyn RngCore, words: &[&'static str]| -> &'static str {
        words[(rng.next_u32() as usize) % words.len()]
    };
    let sep = if rng.gen_bool(0.5) { "_" } else { "-" };
    let adjective = pick(rng, ADJECTIVES);
    let noun = pick(rng, NOUNS);
    let suffix = pick(rng, SUFFIXES);
    let year: u32 = rng.gen_range(2009..=2025);
    let mut name = match rng.gen_range(0..4) {
        0 => format!("{adjective}{sep}{noun}{sep}{year}"),
        1 => format!("{noun}{sep}{year}{sep}{:02}", rng.gen_range(1..=12u32)),
        2 => format!("{}{sep}{noun}", capitalise(adjective)),
        _ => format!("{noun}{sep}{adjective}"),
    };
    name.push_str(suffix);
    name.push_str(".7z");
    name
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// CRC-32 (IEEE, reflected, as used by 7z and zip), bitwise: only ever run
/// over a few dozen bytes.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cover(seed: u8, size: Option<u64>) -> ArchiveCover {
        let params = ArchiveParams {
            size,
            ..ArchiveParams::default()
        };
        ArchiveCover::new([seed; 32], params)
    }

    #[test]
    fn crc32_matches_known_vector() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn same_seed_same_cover_and_different_seed_differs() {
        let a = cover(1, None);
        let b = cover(1, None);
        let c = cover(2, None);
        assert_eq!(a.name(), b.name());
        assert_eq!(a.len(), b.len());
        assert!(a.name().ends_with(".7z"));
        let (mut x, mut y, mut z) = (vec![0; 4096], vec![0; 4096], vec![0; 4096]);
        a.read_at(1000, &mut x).unwrap();
        b.read_at(1000, &mut y).unwrap();
        c.read_at(1000, &mut z).unwrap();
        assert_eq!(x, y);
        assert_ne!(x, z);
    }

    #[test]
    fn reads_at_any_offset_agree_with_one_long_read() {
        let c = cover(3, Some(100_000));
        let mut whole = vec![0u8; 100_000];
        c.read_at(0, &mut whole).unwrap();
        for &(off, len) in &[
            (0usize, 1usize),
            (1, 7),
            (2, 33),
            (3, 64),
            (31, 5),
            (4093, 9000),
        ] {
            let mut part = vec![0u8; len];
            c.read_at(off as u64, &mut part).unwrap();
            assert_eq!(part, whole[off..off + len], "offset {off} len {len}");
        }
        let mut tail = vec![0u8; 3];
        c.read_at(99_997, &mut tail).unwrap();
        assert_eq!(tail, whole[99_997..]);
    }

    #[test]
    fn out_of_range_reads_fail_without_panicking() {
        let c = cover(4, Some(10_000));
        let mut buf = [0u8; 16];
        assert!(c.read_at(9_990, &mut buf).is_err());
        assert!(c.read_at(u64::MAX - 4, &mut buf).is_err());
        assert!(c.read_at(9_984, &mut buf).is_ok());
    }

    #[test]
    fn signature_header_is_a_valid_7z_start_header() {
        let c = cover(5, Some(1 << 20));
        let mut head = [0u8; 32];
        c.read_at(0, &mut head).unwrap();
        assert_eq!(head[..6], MAGIC);
        assert_eq!(head[6..8], VERSION);
        let start_crc = u32::from_le_bytes(head[8..12].try_into().unwrap());
        assert_eq!(start_crc, crc32(&head[12..32]));
        let next_offset = u64::from_le_bytes(head[12..20].try_into().unwrap());
        let next_len = u64::from_le_bytes(head[20..28].try_into().unwrap());
        assert_eq!(32 + next_offset + next_len, c.len());
        let mut next = vec![0u8; next_len as usize];
        c.read_at(32 + next_offset, &mut next).unwrap();
        let next_crc = u32::from_le_bytes(head[28..32].try_into().unwrap());
        assert_eq!(next_crc, crc32(&next));
    }

    #[test]
    fn drawn_sizes_stay_in_bounds_and_vary() {
        let p = ArchiveParams::default();
        let sizes: Vec<u64> = (0..200u8).map(|s| cover(s, None).len()).collect();
        assert!(sizes
            .iter()
            .all(|&s| s >= p.min_size - 1024 && s <= p.max_size));
        let distinct: std::collections::HashSet<_> = sizes.iter().collect();
        assert!(distinct.len() > 150);
        let mut sorted = sizes.clone();
        sorted.sort_unstable();
        let median = sorted[sorted.len() / 2] as f64;
        // Log-normal median 350 MiB, sigma 1.1: the sample median of 200 draws
        // lies well within a factor of two of it.
        assert!(
            median > 175.0 * 1048576.0 && median < 700.0 * 1048576.0,
            "median {median}"
        );
    }
}
