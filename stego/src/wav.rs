//! The canonical 44-byte RIFF/WAVE header of 16-bit PCM stereo at 44.1 kHz.
//!
//! A canonical header keeps every block that starts at a multiple of 16 KiB
//! aligned to a whole stereo frame (44 and 16384 are both multiples of 4), so
//! each block can be parsed as samples on its own.

/// Length of the header; audio data starts at this byte.
pub const HEADER_LEN: usize = 44;
/// Samples per second per channel.
pub const SAMPLE_RATE: u32 = 44_100;
/// Interleaved channels (left, right).
pub const CHANNELS: u16 = 2;
/// Bytes of one sample of one channel.
pub const BYTES_PER_SAMPLE: usize = 2;
/// Bytes of one stereo frame.
pub const FRAME_BYTES: usize = BYTES_PER_SAMPLE * CHANNELS as usize;

/// Header for `frames` stereo frames of audio data.
pub fn header(frames: u64) -> [u8; HEADER_LEN] {
    let data_len = (frames * FRAME_BYTES as u64).min(u32::MAX as u64 - 36) as u32;
    let mut h = [0u8; HEADER_LEN];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&(36 + data_len).to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes()); // integer PCM
    h[22..24].copy_from_slice(&CHANNELS.to_le_bytes());
    h[24..28].copy_from_slice(&SAMPLE_RATE.to_le_bytes());
    h[28..32].copy_from_slice(&(SAMPLE_RATE * FRAME_BYTES as u32).to_le_bytes());
    h[32..34].copy_from_slice(&(FRAME_BYTES as u16).to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data_len.to_le_bytes());
    h
}

/// Number of stereo frames announced by a canonical header, if `bytes` starts with one.
pub fn parse_header(bytes: &[u8]) -> Option<u64> {
    if bytes.len() < HEADER_LEN
        || &bytes[0..4] != b"RIFF"
        || &bytes[8..16] != b"WAVEfmt "
        || &bytes[36..40] != b"data"
    {
        return None;
    }
    let expected = header(0);
    if bytes[16..36] != expected[16..36] {
        return None;
    }
    let data_len = u32::from_le_bytes(bytes[40..44].try_into().ok()?);
    Some(u64::from(data_len) / FRAME_BYTES as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_rejects_other_formats() {
        let h = header(1000);
        assert_eq!(parse_header(&h), Some(1000));
        assert_eq!(u32::from_le_bytes(h[4..8].try_into().unwrap()), 36 + 4000);
        let mut mono = h;
        mono[22] = 1;
        assert_eq!(parse_header(&mono), None);
        assert_eq!(parse_header(&h[..40]), None);
    }
}
