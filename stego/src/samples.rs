//! Where the samples of a block are, and which of them may carry bits.
//!
//! The receiver must find the same usable samples as the sender without the
//! cover, so usability is decided on `x >> 1` (the sample with its LSB
//! dropped) and the embedder only makes the ±1 change that keeps a sample
//! usable. Of the two directions, the one that stays inside the same `x >> 1`
//! pair is always allowed, so such a choice always exists.

use crate::wav::HEADER_LEN;

/// Pairs `x >> 1` at or below this are silent-ish: never touched.
const QUIET_LOW: i16 = -4;
/// Pairs `x >> 1` at or above this... up to `QUIET_HIGH` are silent-ish too.
const QUIET_HIGH: i16 = 2;
/// Pairs beyond these are near full scale (clipping): never touched.
const PAIR_MIN: i16 = -16_382;
const PAIR_MAX: i16 = 16_381;

/// Whole 16-bit samples inside a block: the byte where the first starts
/// within the block, and how many there are. The WAV header and a trailing
/// odd byte are skipped.
pub fn span(file_offset: u64, block_len: usize) -> (usize, usize) {
    let mut first = file_offset.max(HEADER_LEN as u64);
    // Samples start at even file offsets because the header length is even.
    first += first % 2;
    let end = file_offset.saturating_add(block_len as u64);
    if first >= end {
        return (block_len, 0);
    }
    ((first - file_offset) as usize, ((end - first) / 2) as usize)
}

/// The little-endian samples of `block` described by `span`.
pub fn read(block: &[u8], (start, count): (usize, usize)) -> Vec<i16> {
    block[start..start + 2 * count]
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// Writes `samples` back over the span they were read from.
pub fn write(block: &mut [u8], start: usize, samples: &[i16]) {
    for (dst, s) in block[start..].chunks_exact_mut(2).zip(samples) {
        dst.copy_from_slice(&s.to_le_bytes());
    }
}

/// Whether a sample may carry a bit: not silent, not near clipping.
/// Depends only on `x >> 1`.
pub fn usable(x: i16) -> bool {
    let pair = x >> 1;
    (PAIR_MIN..=PAIR_MAX).contains(&pair) && !(QUIET_LOW..=QUIET_HIGH).contains(&pair)
}

/// `x ± 1` in the preferred direction unless that would make the sample
/// unusable, in which case the other direction (which keeps `x >> 1`).
pub fn step(x: i16, up: bool) -> i16 {
    let (a, b) = if up { (1, -1) } else { (-1, 1) };
    match x.checked_add(a) {
        Some(y) if usable(y) => y,
        _ => x + b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usability_survives_every_allowed_change() {
        for x in i16::MIN..=i16::MAX {
            if !usable(x) {
                continue;
            }
            for up in [false, true] {
                let y = step(x, up);
                assert_eq!((i32::from(y) - i32::from(x)).abs(), 1, "{x}");
                assert_eq!(y & 1, (x & 1) ^ 1);
                assert!(usable(y), "{x} -> {y}");
            }
        }
        assert!(!usable(0) && !usable(5) && !usable(-7) && usable(6) && usable(-9));
        assert!(!usable(i16::MAX) && !usable(i16::MIN) && !usable(32_764) && usable(32_763));
    }

    #[test]
    fn spans_skip_header_and_odd_bytes() {
        assert_eq!(span(0, 16_384), (44, 8170));
        assert_eq!(span(16_384, 16_384), (0, 8192));
        assert_eq!(span(16_384, 101), (0, 50));
        assert_eq!(span(0, 40), (40, 0));
        assert_eq!(span(43, 5), (1, 2));
    }
}
