//! The output queue `Q(self, peer)` of one link: an ordered byte FIFO.
//!
//! Cells are written whole and popped in frame-sized slices, so the queue keeps
//! the written chunks and an offset into the first one instead of copying
//! every byte into a ring. Nothing that paces traffic may look at its length:
//! only local sources (backpressure) and tests do.

use std::collections::VecDeque;

use zeroize::Zeroize;

/// A FIFO of bytes made of written chunks.
#[derive(Default)]
pub struct ByteQueue {
    chunks: VecDeque<Vec<u8>>,
    /// Bytes of `chunks[0]` already popped.
    head: usize,
    len: usize,
}

impl ByteQueue {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `bytes` at the back.
    pub fn push(&mut self, bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        self.len += bytes.len();
        self.chunks.push_back(bytes);
    }

    /// Number of queued bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Moves up to `out.len()` bytes from the front into the start of `out`;
    /// returns how many.
    pub fn pop_into_slice(&mut self, out: &mut [u8]) -> usize {
        let mut moved = 0;
        while moved < out.len() {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            let available = &front[self.head..];
            let take = available.len().min(out.len() - moved);
            out[moved..moved + take].copy_from_slice(&available[..take]);
            moved += take;
            self.head += take;
            if self.head == front.len() {
                if let Some(mut done) = self.chunks.pop_front() {
                    done.zeroize();
                }
                self.head = 0;
            }
        }
        self.len -= moved;
        moved
    }

    /// Drops every queued byte, overwriting it first.
    pub fn wipe(&mut self) {
        for chunk in &mut self.chunks {
            chunk.zeroize();
        }
        self.chunks.clear();
        self.head = 0;
        self.len = 0;
    }
}

impl std::fmt::Debug for ByteQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ByteQueue").field("len", &self.len).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn pops_what_was_pushed_in_order() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut q = ByteQueue::new();
        let mut written = Vec::new();
        let mut read = Vec::new();
        for _ in 0..500 {
            if rng.gen_bool(0.5) {
                let n = rng.gen_range(0..3000);
                let chunk: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
                written.extend_from_slice(&chunk);
                q.push(chunk);
            } else {
                let max = rng.gen_range(0..5000);
                let before = q.len();
                let mut buf = vec![0u8; max];
                let got = q.pop_into_slice(&mut buf);
                assert_eq!(got, max.min(before));
                read.extend_from_slice(&buf[..got]);
            }
            assert_eq!(q.len(), written.len() - read.len());
        }
        let mut rest = vec![0u8; q.len() + 10];
        let got = q.pop_into_slice(&mut rest);
        read.extend_from_slice(&rest[..got]);
        assert_eq!(read, written);
        assert!(q.is_empty());
    }

    #[test]
    fn wipe_empties() {
        let mut q = ByteQueue::new();
        q.push(vec![1; 10]);
        q.wipe();
        assert!(q.is_empty());
        let mut out = [0u8; 10];
        assert_eq!(q.pop_into_slice(&mut out), 0);
    }
}
