//! Reassembly of length-prefixed cells from a link byte pipe.

use super::{Cell, CellError, LEN_PREFIX, MAX_CELL_LEN};

/// Accumulates link bytes and yields complete cells.
///
/// The declared length is checked against [`MAX_CELL_LEN`] before anything is
/// buffered for it, so a peer cannot make us reserve more than that. After an
/// error the stream is out of sync: the caller should drop the link.
#[derive(Debug, Default)]
pub struct CellReader {
    buf: Vec<u8>,
    pos: usize,
    failed: Option<CellError>,
}

impl CellReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes received from the link.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_none() {
            // Compact before growing so the buffer stays near one cell.
            if self.pos > 0 && self.pos * 2 >= self.buf.len() {
                self.buf.drain(..self.pos);
                self.pos = 0;
            }
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Bytes buffered but not yet returned as cells.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The buffered bytes themselves (for state inspection in tests).
    pub fn pending_bytes(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// Returns the next complete cell, `Ok(None)` if more bytes are needed.
    pub fn next_cell(&mut self) -> Result<Option<Cell>, CellError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let avail = &self.buf[self.pos..];
        let Some(prefix) = avail.first_chunk::<LEN_PREFIX>() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(*prefix) as usize;
        if len > MAX_CELL_LEN {
            let e = CellError::TooLong { len };
            self.failed = Some(e.clone());
            self.buf = Vec::new();
            self.pos = 0;
            return Err(e);
        }
        let Some(body) = avail.get(LEN_PREFIX..LEN_PREFIX + len) else {
            return Ok(None);
        };
        let res = Cell::decode_body(body);
        self.pos += LEN_PREFIX + len;
        match res {
            Ok(c) => Ok(Some(c)),
            Err(e) => {
                self.failed = Some(e.clone());
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn reassembles_across_arbitrary_splits() {
        let cells: Vec<Cell> = (0..50u64)
            .map(|i| Cell::Data {
                h_id: i,
                sealed: vec![i as u8; 28 + (i as usize * 37) % 3000],
            })
            .collect();
        let mut wire = Vec::new();
        for c in &cells {
            c.encode_framed(&mut wire);
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut r = CellReader::new();
        let mut got = Vec::new();
        let mut off = 0;
        while off < wire.len() {
            let n = rng.gen_range(1..700).min(wire.len() - off);
            r.push(&wire[off..off + n]);
            off += n;
            while let Some(c) = r.next_cell().expect("valid stream") {
                got.push(c);
            }
        }
        assert_eq!(got, cells);
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn oversized_length_is_rejected_without_buffering() {
        let mut r = CellReader::new();
        r.push(&u32::MAX.to_be_bytes());
        assert!(matches!(r.next_cell(), Err(CellError::TooLong { .. })));
        r.push(&[0; 100]);
        assert_eq!(r.buffered(), 0);
        assert!(r.next_cell().is_err(), "reader stays failed");
    }

    #[test]
    fn random_streams_never_panic() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        for _ in 0..2_000 {
            let mut r = CellReader::new();
            for _ in 0..rng.gen_range(1..8) {
                let len = rng.gen_range(0..200);
                let mut b: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
                // Often plant a small plausible length prefix.
                if b.len() >= 4 && rng.gen_bool(0.7) {
                    let l = rng.gen_range(0..120u32).to_be_bytes();
                    b[..4].copy_from_slice(&l);
                }
                r.push(&b);
                while let Ok(Some(_)) = r.next_cell() {}
                assert!(r.buffered() <= 8 * 200 + 4);
            }
        }
    }
}
