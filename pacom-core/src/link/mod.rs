//! The encrypted neighbour link: an ordered byte pipe carried in block payloads.
//!
//! Every frame answers a block request, so the link never decides *when* to
//! send: [`Link::next_frame`] is called once per request and returns a data
//! frame if bytes are queued, a cover frame otherwise, always exactly the
//! block's capacity.
//!
//! So that answering costs the same for data and cover, the engine calls
//! [`Link::stage`] after its answers went out: the next frames' plaintexts
//! are then built ahead (queued bytes move into them as they are written),
//! and `next_frame` only seals one (see `staging`).
//!
//! Both sides open with a handshake frame (a 32-byte key encoding, then random
//! fill). Both send it as the answer to the first request they get, usually
//! at the same time, so neither waits for the other. Until a side has the
//! peer's key it cannot encrypt to it; the frames it sends meanwhile are
//! cover sealed under a "prekey" derived from its own key encoding and the
//! group key, which the receiver tells apart by trial opening. Data flows once
//! the receiver of the handshake has derived the directional keys.
//! Anyone holding the group key could forge a prekey frame, so prekey frames
//! must be empty and are refused once the peer's first keyed frame arrived.
//!
//! Contract with the engine: every PIECE from the peer goes to
//! [`Link::on_frame`] in arrival order, including answers to requests that
//! timed out, since the counters count frames, not requests.

mod frame;
mod keys;
mod staging;

use rand::{CryptoRng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use thiserror::Error;
use zeroize::{Zeroize, Zeroizing};

use crate::queue::ByteQueue;
use frame::{Opener, Sealer};
use keys::{derive_link_keys, derive_prekey, Ephemeral};
use staging::Staging;

pub use frame::{payload_capacity, FRAME_OVERHEAD, MIN_CAPACITY};
pub use keys::KEY_WIRE_LEN;

/// The published group key of the public PACOM network: SHA-256 of
/// `"PACOM public network group key v1"`.
pub const DEFAULT_PUBLIC_GROUP_KEY: [u8; 32] = [
    229, 46, 91, 0, 26, 254, 222, 88, 5, 159, 221, 64, 69, 212, 69, 39, 170, 129, 102, 243, 130,
    49, 78, 107, 154, 35, 125, 42, 205, 148, 217, 20,
];

/// Which PACOM network a link belongs to; decides the handshake key encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Published group key; the handshake sends the plain X25519 key.
    Public,
    /// Group key shared out of band; the handshake sends an Elligator2
    /// representative so the frame is indistinguishable from random.
    Private,
}

/// What a link needs to know about its swarm.
#[derive(Clone)]
pub struct LinkConfig {
    pub mode: Mode,
    /// Salt of the key schedule and key of the prekey frames.
    pub group_key: [u8; 32],
    /// The PACOM swarm's info hash, bound into every key.
    pub info_hash: [u8; 20],
}

impl LinkConfig {
    /// A public-network link with [`DEFAULT_PUBLIC_GROUP_KEY`].
    pub fn public(info_hash: [u8; 20]) -> Self {
        Self {
            mode: Mode::Public,
            group_key: DEFAULT_PUBLIC_GROUP_KEY,
            info_hash,
        }
    }

    /// A private-group link.
    pub fn private(group_key: [u8; 32], info_hash: [u8; 20]) -> Self {
        Self {
            mode: Mode::Private,
            group_key,
            info_hash,
        }
    }
}

impl std::fmt::Debug for LinkConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkConfig")
            .field("mode", &self.mode)
            .field("info_hash", &hex::encode(self.info_hash))
            .finish_non_exhaustive()
    }
}

impl Drop for LinkConfig {
    fn drop(&mut self) {
        self.group_key.zeroize();
    }
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum HandshakeError {
    #[error("no Elligator2-representable key after many tries (broken RNG?)")]
    NoRepresentableKey,
    #[error("peer's handshake key is not a valid representative")]
    BadRepresentative,
    #[error("peer's handshake key has low order")]
    LowOrderKey,
    #[error("peer sent our own handshake key back")]
    Reflected,
    #[error("key derivation failed")]
    KeyDerivation,
    #[error("random generator failed")]
    Rng,
}

/// Why a link failed. Any error from the peer's frames closes this link (and
/// only this link); later calls return [`LinkError::Closed`].
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum LinkError {
    #[error("frame {counter} failed to open (tampered, replayed, reordered or cut)")]
    Open { counter: u64 },
    #[error("frame of {len} bytes is shorter than any frame ({MIN_CAPACITY})")]
    Truncated { len: usize },
    #[error("frame {counter} declares {len} link bytes, more than it holds")]
    BadLength { counter: u64, len: usize },
    #[error("a prekey frame carried {len} link bytes; prekey frames are cover only")]
    PrekeyData { len: usize },
    #[error("handshake: {0}")]
    Handshake(#[from] HandshakeError),
    #[error("block capacity {capacity} is below the link minimum {MIN_CAPACITY}")]
    CapacityTooSmall { capacity: usize },
    #[error("sealing frame {counter} failed")]
    Seal { counter: u64 },
    #[error("frame counter exhausted")]
    CounterExhausted,
    #[error("link is closed")]
    Closed,
}

/// Frame and byte counts of one link (nothing secret).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub handshake_frames_sent: u64,
    pub handshake_frames_received: u64,
    pub data_frames_sent: u64,
    pub cover_frames_sent: u64,
    pub data_frames_received: u64,
    pub cover_frames_received: u64,
    /// Link bytes (not frame bytes) sealed into data frames.
    pub bytes_sent: u64,
    /// Link bytes opened from data frames.
    pub bytes_received: u64,
    /// Frames built while answering because none was staged (the engine
    /// staged too few ahead); their answer cost depends on the queue.
    pub unstaged_frames_sent: u64,
}

/// Receive state. Openers are boxed: each holds expanded AES round keys.
enum Rx {
    AwaitHandshake,
    /// The peer's key is known; the peer may still send prekey cover until it has ours.
    Prekey {
        prekey: Box<Opener>,
        keyed: Box<Opener>,
    },
    Keyed(Box<Opener>),
    Closed,
}

/// One link's state machine. See the module documentation.
pub struct Link {
    mode: Mode,
    group_key: Zeroizing<[u8; 32]>,
    info_hash: [u8; 20],
    /// Our ephemeral key; dropped (and wiped) once the DH is done.
    ephemeral: Option<Ephemeral>,
    our_wire: [u8; KEY_WIRE_LEN],
    handshake_sent: bool,
    tx_prekey: Option<Sealer>,
    tx: Option<Sealer>,
    rx: Rx,
    out: ByteQueue,
    /// Plaintexts of the next frames, built off the request path.
    staged: Staging,
    inbox: Vec<u8>,
    /// Only fills handshake frames.
    rng: ChaCha20Rng,
    stats: LinkStats,
    closed: bool,
}

impl Link {
    /// A fresh link with a new ephemeral key.
    pub fn new<R: RngCore + CryptoRng>(cfg: &LinkConfig, rng: &mut R) -> Result<Self, LinkError> {
        let ephemeral = Ephemeral::generate(cfg.mode, rng)?;
        let our_wire = *ephemeral.wire();
        let prekey = derive_prekey(&cfg.group_key, &cfg.info_hash, &our_wire)?;
        Ok(Self {
            mode: cfg.mode,
            group_key: Zeroizing::new(cfg.group_key),
            info_hash: cfg.info_hash,
            ephemeral: Some(ephemeral),
            our_wire,
            handshake_sent: false,
            tx_prekey: Some(Sealer::new(&prekey)),
            tx: None,
            rx: Rx::AwaitHandshake,
            out: ByteQueue::new(),
            staged: Staging::default(),
            inbox: Vec::new(),
            rng: ChaCha20Rng::from_rng(rng).map_err(|_| HandshakeError::Rng)?,
            stats: LinkStats::default(),
            closed: false,
        })
    }

    /// Queues link bytes for the peer (the output queue `Q(self, peer)`).
    /// They leave only when the peer's requests pull frames; staged frames
    /// with room take them at once.
    pub fn write(&mut self, bytes: impl Into<Vec<u8>>) -> Result<(), LinkError> {
        if self.closed {
            return Err(LinkError::Closed);
        }
        self.out.push(bytes.into());
        if self.tx.is_some() {
            self.staged.fill(&mut self.out);
        }
        Ok(())
    }

    /// Builds the plaintexts of the next `depth` frames ahead, sized for the
    /// largest capacity asked for so far (nothing before the first
    /// [`Link::next_frame`]), and moves queued bytes into them. Call it off
    /// the request path, after the answers went out; answering a request
    /// then costs the same whether its frame carries data or cover.
    pub fn stage(&mut self, depth: usize) {
        if !self.closed {
            self.staged.stage(depth, &mut self.out, self.tx.is_some());
        }
    }

    /// The frame answering one block request of `capacity` frame bytes.
    ///
    /// Depends only on the request having arrived: the handshake first, then a
    /// data frame if bytes are queued and the peer's key is known, a cover
    /// frame otherwise. Every frame is exactly `capacity` bytes.
    pub fn next_frame(&mut self, capacity: usize) -> Result<Vec<u8>, LinkError> {
        if self.closed {
            return Err(LinkError::Closed);
        }
        if capacity < MIN_CAPACITY {
            return Err(LinkError::CapacityTooSmall { capacity });
        }
        if !self.handshake_sent {
            let mut frame = vec![0u8; capacity];
            frame[..KEY_WIRE_LEN].copy_from_slice(&self.our_wire);
            self.rng.fill_bytes(&mut frame[KEY_WIRE_LEN..]);
            self.handshake_sent = true;
            self.stats.handshake_frames_sent += 1;
            self.staged.saw(capacity);
            return Ok(frame);
        }
        // Only keyed frames may carry link bytes.
        let data = self.tx.is_some();
        let plain = match self.staged.take(capacity, &mut self.out) {
            Some(p) => p,
            None => {
                self.stats.unstaged_frames_sent += 1;
                Staging::build(capacity, &mut self.out, data)
            }
        };
        let len = plain.len;
        let result = match (&mut self.tx, &mut self.tx_prekey) {
            (Some(tx), _) => tx.seal_body(plain.body, len),
            (None, Some(prekey)) if len == 0 => prekey.seal_body(plain.body, 0),
            _ => Err(LinkError::Closed),
        };
        if result.is_ok() {
            if len == 0 {
                self.stats.cover_frames_sent += 1;
            } else {
                self.stats.data_frames_sent += 1;
                self.stats.bytes_sent += len as u64;
            }
        }
        result.inspect_err(|_| self.close())
    }

    /// [`Link::next_frame`] written into `frame` (whose length is the
    /// capacity): the engine's send buffer. The frame is sealed in its
    /// staged buffer (built ahead, see [`Link::stage`]) and copied once.
    pub fn next_frame_into(&mut self, frame: &mut [u8]) -> Result<(), LinkError> {
        let sealed = self.next_frame(frame.len())?;
        frame.copy_from_slice(&sealed);
        Ok(())
    }

    /// Opens the next frame from the peer (frames must be given in the order
    /// the peer's blocks arrived) and appends its link bytes to the receive
    /// stream. An error closes the link.
    pub fn on_frame(&mut self, frame: &[u8]) -> Result<(), LinkError> {
        // The copy is opened in place: it holds plaintext until dropped.
        self.on_frame_mut(&mut Zeroizing::new(frame.to_vec()))
    }

    /// [`Link::on_frame`] decrypting in `frame` itself (the engine's reused
    /// receive buffer), which is left holding plaintext or zeros.
    pub fn on_frame_mut(&mut self, frame: &mut [u8]) -> Result<(), LinkError> {
        if self.closed {
            return Err(LinkError::Closed);
        }
        let result = self.open(frame);
        if result.is_err() {
            self.close();
        }
        result
    }

    fn open(&mut self, frame: &mut [u8]) -> Result<(), LinkError> {
        match std::mem::replace(&mut self.rx, Rx::Closed) {
            Rx::AwaitHandshake => {
                if frame.len() < MIN_CAPACITY {
                    return Err(LinkError::Truncated { len: frame.len() });
                }
                let mut peer_wire = [0u8; KEY_WIRE_LEN];
                peer_wire.copy_from_slice(&frame[..KEY_WIRE_LEN]);
                let ephemeral = self.ephemeral.take().ok_or(LinkError::Closed)?;
                let shared = ephemeral.agree(self.mode, &peer_wire)?;
                drop(ephemeral);
                let keys = derive_link_keys(
                    &self.group_key,
                    &self.info_hash,
                    &shared,
                    &self.our_wire,
                    &peer_wire,
                )?;
                let prekey = derive_prekey(&self.group_key, &self.info_hash, &peer_wire)?;
                self.tx = Some(Sealer::new(&keys.send));
                self.tx_prekey = None;
                self.staged.fill(&mut self.out);
                self.rx = Rx::Prekey {
                    prekey: Box::new(Opener::new(&prekey)),
                    keyed: Box::new(Opener::new(&keys.recv)),
                };
                self.stats.handshake_frames_received += 1;
                Ok(())
            }
            // Trial opening needs the ciphertext twice: copies, but only
            // for the few frames around the handshake.
            Rx::Prekey {
                mut prekey,
                mut keyed,
            } => match keyed.open(frame) {
                Ok(mut bytes) => {
                    self.rx = Rx::Keyed(keyed);
                    self.deliver(&bytes);
                    bytes.zeroize();
                    Ok(())
                }
                Err(keyed_err) => match prekey.open(frame) {
                    Ok(bytes) if bytes.is_empty() => {
                        self.stats.cover_frames_received += 1;
                        self.rx = Rx::Prekey { prekey, keyed };
                        Ok(())
                    }
                    Ok(bytes) => Err(LinkError::PrekeyData { len: bytes.len() }),
                    Err(_) => Err(keyed_err),
                },
            },
            Rx::Keyed(mut keyed) => {
                let range = keyed.open_in_place(frame)?;
                self.rx = Rx::Keyed(keyed);
                self.deliver(&frame[range]);
                Ok(())
            }
            Rx::Closed => Err(LinkError::Closed),
        }
    }

    fn deliver(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            self.stats.cover_frames_received += 1;
            return;
        }
        self.stats.data_frames_received += 1;
        self.stats.bytes_received += bytes.len() as u64;
        self.inbox.extend_from_slice(bytes);
    }

    /// Drains the bytes received so far, in order.
    pub fn read(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.inbox)
    }

    /// Received bytes not yet read.
    pub fn readable(&self) -> usize {
        self.inbox.len()
    }

    /// Bytes waiting in the output queue. For backpressure on local sources
    /// only: request pacing and answers must never look at it.
    pub fn queued(&self) -> usize {
        self.out.len() + self.staged.bytes()
    }

    /// We have the peer's key and can seal data to it.
    pub fn is_established(&self) -> bool {
        !self.closed && self.tx.is_some()
    }

    /// The peer has shown it has our key (a frame under the link key arrived).
    pub fn is_confirmed(&self) -> bool {
        !self.closed && matches!(self.rx, Rx::Keyed(_))
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Closes the link and wipes its keys and buffers.
    pub fn close(&mut self) {
        self.closed = true;
        self.wipe();
    }

    fn wipe(&mut self) {
        // Ciphers and the X25519 secret wipe themselves on drop (see `zeroize_on_drop_types`).
        self.ephemeral = None;
        self.tx = None;
        self.tx_prekey = None;
        self.rx = Rx::Closed;
        self.group_key.zeroize();
        self.out.wipe();
        self.staged.wipe();
        self.inbox.zeroize();
    }

    /// Whether every secret this link holds has been dropped or overwritten.
    #[cfg(test)]
    fn secrets_wiped(&self) -> bool {
        self.ephemeral.is_none()
            && self.tx.is_none()
            && self.tx_prekey.is_none()
            && matches!(self.rx, Rx::Closed)
            && self.group_key.iter().all(|b| *b == 0)
            && self.out.is_empty()
            && self.staged.is_empty()
            && self.inbox.is_empty()
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.wipe();
    }
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("mode", &self.mode)
            .field("established", &self.is_established())
            .field("confirmed", &self.is_confirmed())
            .field("closed", &self.closed)
            .field("queued", &self.out.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
