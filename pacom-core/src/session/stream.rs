//! Per-stream flow control and half-close state.

use std::collections::VecDeque;

/// Receive window both ends of a new stream may count on before the other
/// advertises its own: the window every node granted before it became
/// configurable, so nodes with any configured window interoperate. A node
/// whose window is larger advertises it as the stream opens.
pub const INITIAL_STREAM_WINDOW: u64 = 256 * 1024;

/// One bidirectional byte stream. The peer may send up to `peer_max`; we
/// advertise `recv_max` and widen it as the application consumes data.
pub struct Stream {
    pub send_buf: VecDeque<u8>,
    pub sent: u64,
    pub peer_max: u64,
    pub fin_requested: bool,
    pub fin_sent: bool,
    pub peer_fin: bool,
    received: u64,
    consumed: u64,
    recv_max: u64,
    window: u64,
    /// Bytes the peer sent beyond our window (a protocol violation).
    pub overruns: u64,
}

impl Stream {
    /// A stream whose receive window is `window`. Until the peer advertises
    /// its window we assume the smaller of ours and [`INITIAL_STREAM_WINDOW`]
    /// (a network whose nodes all use one smaller window stays within it).
    pub fn new(window: u64) -> Self {
        Stream {
            send_buf: VecDeque::new(),
            sent: 0,
            peer_max: window.min(INITIAL_STREAM_WINDOW),
            fin_requested: false,
            fin_sent: false,
            peer_fin: false,
            received: 0,
            consumed: 0,
            recv_max: window,
            window,
            overruns: 0,
        }
    }

    /// The window edge to advertise as the stream opens: ours when it is
    /// larger than what the peer assumes without being told.
    pub fn opening_advert(&self) -> Option<u64> {
        (self.window > INITIAL_STREAM_WINDOW).then_some(self.recv_max)
    }

    /// Up to `max` bytes the peer's window allows us to send now.
    pub fn take_sendable(&mut self, max: usize) -> Option<Vec<u8>> {
        let credit = self.peer_max.saturating_sub(self.sent);
        let n = (credit.min(max as u64) as usize).min(self.send_buf.len());
        if n == 0 {
            return None;
        }
        self.sent += n as u64;
        Some(self.send_buf.drain(..n).collect())
    }

    /// Accounts received bytes; false if they overran our window.
    pub fn on_data(&mut self, n: usize) -> bool {
        self.received += n as u64;
        if self.received > self.recv_max {
            self.overruns += 1;
            return false;
        }
        true
    }

    /// Returns a new window edge to advertise once half the window is used.
    pub fn consume(&mut self, n: usize) -> Option<u64> {
        self.consumed += n as u64;
        if self.consumed + self.window - self.recv_max >= self.window / 2 {
            self.recv_max = self.consumed + self.window;
            Some(self.recv_max)
        } else {
            None
        }
    }

    /// Received bytes the application has not reported consumed.
    pub fn unconsumed(&self) -> u64 {
        self.received.saturating_sub(self.consumed)
    }

    #[cfg(test)]
    pub fn bytes_unsent(&self) -> usize {
        self.send_buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_window_is_advertised_and_not_assumed() {
        let big = Stream::new(4 * INITIAL_STREAM_WINDOW);
        assert_eq!(big.peer_max, INITIAL_STREAM_WINDOW);
        assert_eq!(big.opening_advert(), Some(4 * INITIAL_STREAM_WINDOW));
        assert_eq!(Stream::new(INITIAL_STREAM_WINDOW).opening_advert(), None);
        assert_eq!(Stream::new(1000).peer_max, 1000);
    }

    #[test]
    fn window_limits_and_reopens() {
        let mut s = Stream::new(100);
        s.send_buf.extend(vec![0u8; 250]);
        assert_eq!(s.take_sendable(60).map(|v| v.len()), Some(60));
        assert_eq!(s.take_sendable(60).map(|v| v.len()), Some(40));
        assert_eq!(s.take_sendable(60), None);
        s.peer_max = 200;
        assert_eq!(s.take_sendable(500).map(|v| v.len()), Some(100));
        assert_eq!(s.bytes_unsent(), 50);

        let mut r = Stream::new(100);
        assert!(r.on_data(80));
        assert_eq!(r.consume(30), None);
        assert_eq!(r.consume(30), Some(160));
        assert!(r.on_data(80));
        assert!(!r.on_data(1));
    }
}
