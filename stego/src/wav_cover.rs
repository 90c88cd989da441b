//! A generated WAV recording as a [`Cover`]: any byte range is rendered on
//! demand from the chunks it touches, never the whole file.

use sha2::{Digest, Sha256};

use crate::cover::{Cover, CoverError};
use crate::synth::{Synth, CHUNK_FRAMES};
use crate::wav::{self, FRAME_BYTES, HEADER_LEN};

const ADJECTIVES: [&str; 12] = [
    "Quiet", "Northern", "Late", "Amber", "Hollow", "Silver", "Open", "Distant", "Winter", "Paper",
    "Low", "Golden",
];
const NOUNS: [&str; 12] = [
    "Harbour", "Rooms", "Fields", "Lanterns", "Tides", "Gardens", "Rivers", "Lights", "Hours",
    "Stations", "Bridges", "Orchards",
];
const KINDS: [&str; 4] = [
    "Live Session",
    "Rehearsal Take",
    "Studio Jam",
    "Improvisation",
];

/// One long stereo recording, 16-bit 44.1 kHz, generated from a seed.
#[derive(Clone, Debug)]
pub struct WavCover {
    synth: Synth,
    name: String,
    frames: u64,
}

impl WavCover {
    /// A recording of about `size` bytes (rounded down to whole stereo frames
    /// after the 44-byte header; at least one frame).
    pub fn new(seed: &[u8; 32], size: u64) -> Self {
        let frames = (size.saturating_sub(HEADER_LEN as u64) / FRAME_BYTES as u64).max(1);
        let d = Sha256::new()
            .chain_update(b"pacom wav name v1")
            .chain_update(seed)
            .finalize();
        let year = 1994 + u32::from(d[3]) % 30;
        let name = format!(
            "{} {} ({} {}).wav",
            ADJECTIVES[d[0] as usize % ADJECTIVES.len()],
            NOUNS[d[1] as usize % NOUNS.len()],
            KINDS[d[2] as usize % KINDS.len()],
            year
        );
        WavCover {
            synth: Synth::new(seed),
            name,
            frames,
        }
    }

    /// Stereo frames of audio.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Duration in seconds.
    pub fn duration_s(&self) -> f64 {
        self.frames as f64 / f64::from(wav::SAMPLE_RATE)
    }
}

impl Cover for WavCover {
    fn name(&self) -> &str {
        &self.name
    }

    fn len(&self) -> u64 {
        HEADER_LEN as u64 + self.frames * FRAME_BYTES as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), CoverError> {
        let size = self.len();
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|&e| e <= size)
            .ok_or(CoverError::OutOfRange {
                offset,
                len: buf.len(),
                size,
            })?;
        let header = wav::header(self.frames);
        let mut pos = offset;
        while pos < end.min(HEADER_LEN as u64) {
            buf[(pos - offset) as usize] = header[pos as usize];
            pos += 1;
        }
        let chunk_bytes = CHUNK_FRAMES * FRAME_BYTES as u64;
        while pos < end {
            let data = pos - HEADER_LEN as u64;
            let chunk = data / chunk_bytes;
            let samples = self.synth.render_chunk(chunk);
            let chunk_start = chunk * chunk_bytes;
            let chunk_end = (chunk_start + chunk_bytes).min(end - HEADER_LEN as u64);
            for d in data..chunk_end {
                let s = samples[((d - chunk_start) / 2) as usize].to_le_bytes();
                buf[(d + HEADER_LEN as u64 - offset) as usize] = s[(d % 2) as usize];
            }
            pos = chunk_end + HEADER_LEN as u64;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_agree_at_any_offset() {
        let c = WavCover::new(&[1; 32], 200_000);
        assert_eq!(c.len(), 44 + (200_000 - 44) / 4 * 4);
        assert!(c.name().ends_with(".wav"));
        let mut all = vec![0u8; c.len() as usize];
        c.read_at(0, &mut all).unwrap();
        assert_eq!(wav::parse_header(&all), Some(c.frames()));
        for (off, len) in [
            (0u64, 10usize),
            (43, 3),
            (16_384, 16_384),
            (33_000, 17),
            (199_000, 900),
        ] {
            let mut part = vec![0u8; len];
            c.read_at(off, &mut part).unwrap();
            assert_eq!(part, all[off as usize..off as usize + len]);
        }
        let mut over = [0u8; 8];
        assert!(c.read_at(c.len() - 4, &mut over).is_err());
        assert!(c.read_at(u64::MAX, &mut over).is_err());
    }
}
