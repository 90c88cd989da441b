//! End-to-end frames: the plaintext inside a data cell's `E_K{...}`.
//!
//! Relays never see these. `Seq` frames are numbered per session (the
//! paper's `d_id` at session level) and acknowledged; they are striped over
//! the session's circuits and retransmitted on another circuit if theirs
//! dies, so the receiver reorders and de-duplicates by sequence number.

/// Most SACK ranges carried by one ack.
pub const MAX_SACK_RANGES: usize = 16;

/// Frame decoding failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame truncated")]
    Truncated,
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    #[error("too many SACK ranges ({0})")]
    TooManyRanges(u8),
    #[error("trailing bytes after frame")]
    Trailing,
}

/// A frame of the session protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// First frame on every circuit from the source: which session it joins.
    Bind { token: [u8; 16] },
    /// Cumulative ack (`next` expected) and received ranges `[start, end)`.
    Ack { next: u64, sacks: Vec<(u64, u64)> },
    /// Asks for an ack: probes a quiet circuit.
    Ping,
    /// A reliable, ordered frame.
    Seq { seq: u64, body: SeqBody },
}

/// Reliable payloads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SeqBody {
    /// A piece of message `msg_id`: `{d_id, MD5, len, data}` of eq. 7, where
    /// MD5 and len describe the reassembled message.
    Message {
        msg_id: u64,
        total_len: u64,
        md5: [u8; 16],
        offset: u64,
        data: Vec<u8>,
    },
    StreamOpen {
        stream: u32,
    },
    StreamData {
        stream: u32,
        data: Vec<u8>,
    },
    /// No more data from the sender on this stream (half-close).
    StreamFin {
        stream: u32,
    },
    /// The receiver accepts stream bytes up to `max_offset`.
    StreamWindow {
        stream: u32,
        max_offset: u64,
    },
}

struct Rd<'a>(&'a [u8]);

impl<'a> Rd<'a> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], FrameError> {
        let (a, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or(FrameError::Truncated)?;
        self.0 = rest;
        Ok(*a)
    }
    fn u8(&mut self) -> Result<u8, FrameError> {
        Ok(self.take::<1>()?[0])
    }
    fn u32(&mut self) -> Result<u32, FrameError> {
        Ok(u32::from_be_bytes(self.take()?))
    }
    fn u64(&mut self) -> Result<u64, FrameError> {
        Ok(u64::from_be_bytes(self.take()?))
    }
    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
    fn end(&self) -> Result<(), FrameError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(FrameError::Trailing)
        }
    }
}

impl Frame {
    pub fn encode(&self) -> Vec<u8> {
        let mut o = Vec::new();
        match self {
            Frame::Bind { token } => {
                o.push(0);
                o.extend_from_slice(token);
            }
            Frame::Ack { next, sacks } => {
                o.push(1);
                o.extend_from_slice(&next.to_be_bytes());
                let n = sacks.len().min(MAX_SACK_RANGES);
                o.push(n as u8);
                for (a, b) in &sacks[..n] {
                    o.extend_from_slice(&a.to_be_bytes());
                    o.extend_from_slice(&b.to_be_bytes());
                }
            }
            Frame::Ping => o.push(2),
            Frame::Seq { seq, body } => {
                o.push(3);
                o.extend_from_slice(&seq.to_be_bytes());
                body.encode(&mut o);
            }
        }
        o
    }

    pub fn decode(b: &[u8]) -> Result<Frame, FrameError> {
        let mut r = Rd(b);
        let f = match r.u8()? {
            0 => Frame::Bind { token: r.take()? },
            1 => {
                let next = r.u64()?;
                let n = r.u8()?;
                if n as usize > MAX_SACK_RANGES {
                    return Err(FrameError::TooManyRanges(n));
                }
                let mut sacks = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    sacks.push((r.u64()?, r.u64()?));
                }
                Frame::Ack { next, sacks }
            }
            2 => Frame::Ping,
            3 => {
                let seq = r.u64()?;
                Frame::Seq {
                    seq,
                    body: SeqBody::decode(&mut r)?,
                }
            }
            k => return Err(FrameError::UnknownKind(k)),
        };
        r.end()?;
        Ok(f)
    }
}

impl SeqBody {
    fn encode(&self, o: &mut Vec<u8>) {
        match self {
            SeqBody::Message {
                msg_id,
                total_len,
                md5,
                offset,
                data,
            } => {
                o.push(0);
                o.extend_from_slice(&msg_id.to_be_bytes());
                o.extend_from_slice(&total_len.to_be_bytes());
                o.extend_from_slice(md5);
                o.extend_from_slice(&offset.to_be_bytes());
                o.extend_from_slice(data);
            }
            SeqBody::StreamOpen { stream } => {
                o.push(1);
                o.extend_from_slice(&stream.to_be_bytes());
            }
            SeqBody::StreamData { stream, data } => {
                o.push(2);
                o.extend_from_slice(&stream.to_be_bytes());
                o.extend_from_slice(data);
            }
            SeqBody::StreamFin { stream } => {
                o.push(3);
                o.extend_from_slice(&stream.to_be_bytes());
            }
            SeqBody::StreamWindow { stream, max_offset } => {
                o.push(4);
                o.extend_from_slice(&stream.to_be_bytes());
                o.extend_from_slice(&max_offset.to_be_bytes());
            }
        }
    }

    fn decode(r: &mut Rd<'_>) -> Result<SeqBody, FrameError> {
        Ok(match r.u8()? {
            0 => SeqBody::Message {
                msg_id: r.u64()?,
                total_len: r.u64()?,
                md5: r.take()?,
                offset: r.u64()?,
                data: r.rest().to_vec(),
            },
            1 => SeqBody::StreamOpen { stream: r.u32()? },
            2 => SeqBody::StreamData {
                stream: r.u32()?,
                data: r.rest().to_vec(),
            },
            3 => SeqBody::StreamFin { stream: r.u32()? },
            4 => SeqBody::StreamWindow {
                stream: r.u32()?,
                max_offset: r.u64()?,
            },
            k => return Err(FrameError::UnknownKind(k)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn round_trip_all_kinds() {
        let frames = vec![
            Frame::Bind { token: [4; 16] },
            Frame::Ack {
                next: 9,
                sacks: vec![(11, 13), (20, 21)],
            },
            Frame::Ping,
            Frame::Seq {
                seq: 1,
                body: SeqBody::Message {
                    msg_id: 2,
                    total_len: 3,
                    md5: [5; 16],
                    offset: 0,
                    data: vec![1, 2, 3],
                },
            },
            Frame::Seq {
                seq: 2,
                body: SeqBody::StreamOpen { stream: 4 },
            },
            Frame::Seq {
                seq: 3,
                body: SeqBody::StreamData {
                    stream: 4,
                    data: vec![],
                },
            },
            Frame::Seq {
                seq: 4,
                body: SeqBody::StreamFin { stream: 4 },
            },
            Frame::Seq {
                seq: 5,
                body: SeqBody::StreamWindow {
                    stream: 4,
                    max_offset: 1 << 40,
                },
            },
        ];
        for f in frames {
            assert_eq!(Frame::decode(&f.encode()), Ok(f));
        }
        assert_eq!(Frame::decode(&[]), Err(FrameError::Truncated));
        assert_eq!(Frame::decode(&[2, 0]), Err(FrameError::Trailing));
        assert_eq!(
            Frame::decode(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 200]),
            Err(FrameError::TooManyRanges(200))
        );
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        for _ in 0..20_000 {
            let len = rng.gen_range(0..80);
            let mut b: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            if let Some(k) = b.first_mut() {
                *k %= 5;
            }
            let _ = Frame::decode(&b);
        }
    }
}
