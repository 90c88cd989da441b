//! Plaintexts of a link's next outgoing frames, built ahead of the requests
//! that will carry them.
//!
//! Answering a request must cost the same whether its frame carries data or
//! cover: otherwise the time a PIECE takes to leave after its REQUEST tells
//! an observer near the host which one it is (microseconds, but measurable
//! on a LAN or on the same host). So the work that depends on the output
//! queue — popping link bytes, copying them, wiping the popped cells — is
//! done here, when bytes are queued or after the previous answers went out.
//! Answering takes the front plaintext, always a whole zero-padded body,
//! and only seals it: the same work for data and cover.
//!
//! Staged frames are filled in order, so bytes leave in queue order: bytes
//! only ever go into the last staged frame holding any, or after it. Their
//! bytes still count as queued.

use std::collections::VecDeque;

use zeroize::Zeroize;

use super::frame::{LEN_PREFIX, TAG_LEN};
use crate::queue::ByteQueue;

/// The plaintext of one frame: `len ‖ link bytes ‖ zero padding`, the length
/// prefix still blank. `body.len()` is the frame's capacity minus the tag.
pub(crate) struct Plain {
    pub(crate) body: Vec<u8>,
    /// Link bytes in `body` after the length prefix.
    pub(crate) len: usize,
}

impl Plain {
    /// A blank body for a frame of `capacity` bytes, with room for the tag
    /// so sealing never reallocates.
    fn blank(capacity: usize) -> Self {
        let mut body = Vec::with_capacity(capacity);
        body.resize(capacity - TAG_LEN, 0);
        Self { body, len: 0 }
    }

    /// Link bytes this body can hold.
    fn room(&self, limit: usize) -> usize {
        limit.min(self.body.len() - LEN_PREFIX)
    }

    fn fill(&mut self, queue: &mut ByteQueue, limit: usize) {
        let end = LEN_PREFIX + self.room(limit);
        let start = LEN_PREFIX + self.len;
        if start < end {
            self.len += queue.pop_to(&mut self.body[start..end]);
        }
    }

    fn wipe(&mut self) {
        self.body.zeroize();
        self.len = 0;
    }
}

/// Frame capacities remembered to size the staged frames.
const RECENT: usize = 16;

/// The staged frames of one direction. See the module documentation.
#[derive(Default)]
pub(crate) struct Staging {
    frames: VecDeque<Plain>,
    /// Capacities of the last [`RECENT`] frames asked for.
    recent: VecDeque<usize>,
    /// Largest recent capacity: the size staged bodies are built for.
    capacity: usize,
    /// Link bytes a staged frame takes: the payload of the smallest recent
    /// capacity, so a staged frame fits the requests seen lately (a lone
    /// small block, such as a file's last, caps frames only for a while).
    limit: usize,
    /// Link bytes in staged frames.
    staged: usize,
}

impl Staging {
    /// Records the capacity of a frame that was asked for; staging starts
    /// with the first one.
    pub(crate) fn saw(&mut self, capacity: usize) {
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back(capacity);
        self.capacity = self.recent.iter().copied().max().unwrap_or(capacity);
        let smallest = self.recent.iter().copied().min().unwrap_or(capacity);
        self.limit = smallest - TAG_LEN - LEN_PREFIX;
    }

    /// Keeps `depth` frames staged (more are kept, not dropped) and moves
    /// queued bytes into them when `data` is allowed.
    pub(crate) fn stage(&mut self, depth: usize, queue: &mut ByteQueue, data: bool) {
        if self.capacity == 0 {
            return;
        }
        while self.frames.len() < depth {
            self.frames.push_back(Plain::blank(self.capacity));
        }
        if data {
            self.fill(queue);
        }
    }

    /// Moves queued bytes into the staged frames, in order: from the last
    /// one holding bytes on (earlier ones may have room left only because
    /// the limit rose since they were filled).
    pub(crate) fn fill(&mut self, queue: &mut ByteQueue) {
        let limit = self.limit;
        let from = self.frames.iter().rposition(|f| f.len > 0).unwrap_or(0);
        for frame in self.frames.iter_mut().skip(from) {
            if queue.is_empty() {
                break;
            }
            let before = frame.len;
            frame.fill(queue, limit);
            self.staged += frame.len - before;
        }
    }

    /// The front staged frame, its body cut or zero-extended to a frame of
    /// `capacity` bytes; `None` if nothing fitting is staged (then the
    /// caller builds the frame itself). A capacity smaller than any seen
    /// before puts every staged byte back in the queue first.
    pub(crate) fn take(&mut self, capacity: usize, queue: &mut ByteQueue) -> Option<Plain> {
        self.saw(capacity);
        let payload = capacity - TAG_LEN - LEN_PREFIX;
        if self.frames.front().is_some_and(|f| f.len > payload) {
            self.unstage(queue);
            return None;
        }
        let mut frame = self.frames.pop_front()?;
        self.staged -= frame.len;
        frame.body.resize(capacity - TAG_LEN, 0);
        Some(frame)
    }

    /// A frame built on the spot, for a request nothing was staged for.
    pub(crate) fn build(capacity: usize, queue: &mut ByteQueue, data: bool) -> Plain {
        let mut frame = Plain::blank(capacity);
        if data {
            frame.fill(queue, usize::MAX);
        }
        frame
    }

    /// Puts every staged byte back at the front of the queue, in order.
    fn unstage(&mut self, queue: &mut ByteQueue) {
        while let Some(mut frame) = self.frames.pop_back() {
            if frame.len > 0 {
                queue.push_front(frame.body[LEN_PREFIX..LEN_PREFIX + frame.len].to_vec());
            }
            frame.wipe();
        }
        self.staged = 0;
    }

    /// Link bytes waiting in staged frames.
    pub(crate) fn bytes(&self) -> usize {
        self.staged
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Drops every staged frame, overwriting it first.
    pub(crate) fn wipe(&mut self) {
        for frame in &mut self.frames {
            frame.wipe();
        }
        self.frames.clear();
        self.staged = 0;
    }
}
