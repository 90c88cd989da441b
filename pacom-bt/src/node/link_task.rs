//! One claimed PACOM peer driven by Algorithm 1: the I/O around a
//! [`Link`], a [`RequestPacer`] and an [`UploadPacer`] from `pacom-core`.
//!
//! After both handshakes the task sends our BITFIELD, UNCHOKE and
//! INTERESTED. Our PACOM-side progress starts as a random subset of pieces
//! (the swarm's `initial_fraction`), so both directions of every link have
//! blocks to request from the start; blocks received from PACOM peers count
//! as had (anyone can regenerate the cover), so HAVEs progress like any
//! downloader's.
//!
//! Requests leave on the pacer's own timer (at most `h` outstanding); every
//! REQUEST from the peer is answered through the upload pacer with whatever
//! frame the link produces for it, data or cover: nothing here looks at the
//! link's output queue. After each write the task has the link build its
//! next frames ahead ([`Link::stage`]), so answering a request only seals
//! one: the same work, and time, for data and cover. Every PIECE goes to
//! the link in arrival order (also late answers to timed-out requests: the
//! frame counters count frames).
//! Any bad input from the peer closes this link only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use pacom_core::analysis::LeakyAnswerer;
use pacom_core::link::{Link, LinkError, MIN_CAPACITY};
use pacom_core::pacom_file::PacomFileError;
use pacom_core::schedule::{BlockRequest, RequestPacer, ScheduleError, UploadPacer};
use pacom_core::stats::{Direction, WireEvent};
use rand::rngs::OsRng;
use stego::CarrierError;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use zeroize::Zeroizing;

use super::block_map::{self, BlockError};
use super::swarm_state::{LinkCmd, SwarmState};
use super::NeighbourId;
use crate::bitfield::{Bitfield, BitfieldError};
use crate::hook::ClaimedPeer;
use crate::wire::{encode_piece_header, FrameReader, WireError, WireMsg};

/// Wire size of a REQUEST: length prefix, id, three u32 fields.
pub const REQUEST_WIRE_SIZE: u32 = 4 + 1 + 12;
/// Wire size of a PIECE header before the block.
pub const PIECE_HEADER_WIRE_SIZE: u32 = 4 + 1 + 8;
/// Requests the peer may queue with us (BitTorrent's `reqq`); more are dropped.
const MAX_QUEUED_REQUESTS: usize = 256;
/// Upload bucket size: four blocks.
const UPLOAD_BURST: u32 = 4 * 16384;
/// Longest sleep between checks of timeouts and keepalives.
const HOUSEKEEPING: Duration = Duration::from_millis(250);
/// Decoded messages handled before the next flush.
const DRAIN: usize = 64;
/// Frames built ahead of the requests that will carry them (see
/// [`Link::stage`]): answers sent back to back beyond the staged ones cost
/// more when they carry data. A burst of answers raises the depth to its
/// size, up to the most.
const STAGED_FRAMES: usize = 8;
const MAX_STAGED_FRAMES: usize = 32;

/// Why a link ended; its text is the `Down` reason.
#[derive(Debug, thiserror::Error)]
pub enum LinkTaskError {
    #[error("peer wire: {0}")]
    Wire(#[from] WireError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad block from peer: {0}")]
    Block(#[from] BlockError),
    #[error("HAVE for piece {piece}, file has {pieces}")]
    BadHave { piece: u32, pieces: u32 },
    #[error("bad bitfield: {0}")]
    Bitfield(#[from] BitfieldError),
    #[error("link: {0}")]
    Link(#[from] LinkError),
    #[error("carrier: {0}")]
    Carrier(#[from] CarrierError),
    #[error("cover: {0}")]
    Cover(#[from] PacomFileError),
    #[error("schedule: {0}")]
    Schedule(#[from] ScheduleError),
    #[error("positive control: {0}")]
    Control(String),
    #[error("peer silent for {0:?}")]
    Idle(Duration),
    #[error("{0}")]
    Replaced(String),
    #[error("peer closed the connection")]
    Closed,
    #[error("peer has no block we lack: no frame can reach us on this link")]
    Starved,
    #[error("left the swarm")]
    Left,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts the task of a claimed PACOM peer (called from the peer hook).
pub(crate) fn spawn(state: Arc<SwarmState>, peer: ClaimedPeer) {
    tokio::spawn(run(state, peer));
}

async fn run(state: Arc<SwarmState>, peer: ClaimedPeer) {
    let ClaimedPeer {
        addr,
        handshake,
        reader,
        writer,
    } = peer;
    let their_id = handshake.peer_id;
    let inbound = writer
        .local_addr()
        .is_ok_and(|a| a.port() == state.listen_port);
    let preferred = state.is_preferred(&their_id, inbound);
    let Some(admission) = state.admit(their_id, preferred) else {
        tracing::debug!(
            %addr,
            inbound,
            "PACOM connection not admitted (duplicate, swarm left or file complete)"
        );
        return;
    };
    let link = match Link::new(&state.link_config, &mut OsRng) {
        Ok(l) => Arc::new(Mutex::new(l)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot create link");
            state.release(&their_id, admission.token);
            return;
        }
    };
    let id = state.links.register(state.info_hash, addr, link.clone());
    tracing::debug!(%addr, neighbour = id.0, inbound, "PACOM link up");
    let reason = match LinkTask::new(state.clone(), id, link.clone(), writer) {
        Ok(task) => match task.drive(reader, admission.commands).await {
            Ok(()) => LinkTaskError::Left,
            Err(e) => e,
        },
        Err(e) => e,
    };
    lock(&link).close();
    if matches!(reason, LinkTaskError::Starved) {
        state.link_starved();
    }
    tracing::debug!(%addr, neighbour = id.0, reason = %reason, "PACOM link down");
    state.links.unregister(id, reason.to_string());
    state.release(&their_id, admission.token);
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct LinkTask {
    state: Arc<SwarmState>,
    id: NeighbourId,
    link: Arc<Mutex<Link>>,
    pacer: RequestPacer,
    upload: UploadPacer<BlockRequest>,
    /// The independence test's positive control only (see
    /// [`super::SwarmConfig::leaky_control`]); `None` in every real node.
    leaky: Option<LeakyAnswerer<BlockRequest>>,
    /// When each outstanding request was sent (request timeouts).
    sent_at: HashMap<BlockRequest, Duration>,
    /// Frames kept staged (see [`STAGED_FRAMES`]).
    staged: usize,
    writer: OwnedWriteHalf,
    out: BytesMut,
    /// Reused buffer a received frame is opened in (holds plaintext: wiped on drop).
    rx_frame: Zeroizing<Vec<u8>>,
    last_read: Instant,
    last_write: Instant,
}

impl LinkTask {
    fn new(
        state: Arc<SwarmState>,
        id: NeighbourId,
        link: Arc<Mutex<Link>>,
        writer: OwnedWriteHalf,
    ) -> Result<Self, LinkTaskError> {
        let pacer = RequestPacer::new(state.pacer, state.geometry, &mut OsRng)?;
        let upload = UploadPacer::new(state.upload_rate, UPLOAD_BURST, MAX_QUEUED_REQUESTS)?;
        let leaky = match state.leaky_control {
            Some(rate) => {
                Some(LeakyAnswerer::new(rate).map_err(|e| LinkTaskError::Control(e.to_string()))?)
            }
            None => None,
        };
        Ok(Self {
            state,
            id,
            link,
            pacer,
            upload,
            leaky,
            sent_at: HashMap::new(),
            staged: STAGED_FRAMES,
            writer,
            out: BytesMut::with_capacity(256 * 1024),
            rx_frame: Zeroizing::new(Vec::with_capacity(16 * 1024)),
            last_read: Instant::now(),
            last_write: Instant::now(),
        })
    }

    /// Runs until the peer goes, misbehaves, is replaced, or we leave.
    async fn drive(
        mut self,
        mut reader: FrameReader<OwnedReadHalf>,
        mut commands: mpsc::UnboundedReceiver<LinkCmd>,
    ) -> Result<(), LinkTaskError> {
        let mut stop = self.state.shutdown.subscribe();
        if *stop.borrow_and_update() {
            return Ok(());
        }
        let bits = block_map::bitfield_bytes(&self.state.progress());
        self.send(WireMsg::Bitfield(Bytes::from(bits)));
        self.send(WireMsg::Unchoke);
        self.send(WireMsg::Interested);
        self.flush().await?;

        let (msg_tx, mut msg_rx) = mpsc::channel::<Result<WireMsg, WireError>>(1024);
        let _reader = AbortOnDrop(tokio::spawn(async move {
            loop {
                let m = reader.next().await;
                let stop = m.is_err();
                if msg_tx.send(m).await.is_err() || stop {
                    break;
                }
            }
        }));
        loop {
            let now = self.state.now();
            let leaky = self.leaky.as_ref().and_then(|l| l.next_wakeup(now));
            let wait = [
                self.pacer.next_wakeup(now),
                self.upload.next_wakeup(now),
                leaky,
            ]
            .into_iter()
            .flatten()
            .min()
            .map_or(HOUSEKEEPING, |w| w.min(HOUSEKEEPING));
            tokio::select! {
                m = msg_rx.recv() => {
                    let Some(m) = m else { return Err(LinkTaskError::Closed) };
                    self.on_msg(m.map_err(closed_or)?)?;
                    for _ in 0..DRAIN {
                        match msg_rx.try_recv() {
                            Ok(m) => self.on_msg(m.map_err(closed_or)?)?,
                            Err(_) => break,
                        }
                    }
                }
                cmd = commands.recv() => match cmd {
                    Some(LinkCmd::Have(piece)) => self.send(WireMsg::Have(piece)),
                    Some(LinkCmd::Close(reason)) => return Err(LinkTaskError::Replaced(reason)),
                    None => return Err(LinkTaskError::Left),
                },
                _ = stop.changed() => return Ok(()),
                _ = tokio::time::sleep(wait) => {}
            }
            self.housekeeping()?;
            self.service()?;
            self.flush().await?;
            self.stage();
        }
    }

    fn observe(&self, size: u32, dir: Direction) {
        self.state.observe(
            self.id,
            WireEvent {
                at: self.state.now(),
                size,
                dir,
            },
        );
    }

    fn send(&mut self, msg: WireMsg) {
        msg.encode(&mut self.out);
    }

    async fn flush(&mut self) -> Result<(), LinkTaskError> {
        if !self.out.is_empty() {
            self.writer.write_all(&self.out).await?;
            self.out.clear();
            self.last_write = Instant::now();
        }
        Ok(())
    }

    fn on_msg(&mut self, msg: WireMsg) -> Result<(), LinkTaskError> {
        self.last_read = Instant::now();
        match msg {
            WireMsg::KeepAlive
            | WireMsg::Interested
            | WireMsg::NotInterested
            | WireMsg::Extended { .. }
            | WireMsg::Unknown { .. } => {}
            WireMsg::Choke => {
                self.pacer.on_choke();
                self.sent_at.clear();
            }
            WireMsg::Unchoke => self.pacer.on_unchoke(),
            WireMsg::Have(piece) => {
                self.pacer
                    .on_have(piece)
                    .map_err(|_| LinkTaskError::BadHave {
                        piece,
                        pieces: self.state.geometry.num_pieces(),
                    })?;
            }
            WireMsg::Bitfield(bits) => {
                Bitfield::from_bytes(&bits, self.state.geometry.num_pieces())?;
                self.pacer.on_bitfield(&bits);
            }
            WireMsg::Request(r) => {
                let block = {
                    let have = self.state.progress();
                    block_map::check_request(&self.state.geometry, &have, &r)?
                };
                self.observe(REQUEST_WIRE_SIZE, Direction::In);
                if self
                    .upload
                    .push(block, block.len, self.state.now())
                    .is_err()
                {
                    tracing::debug!(neighbour = self.id.0, "request queue full, request dropped");
                }
            }
            WireMsg::Cancel(r) => {
                let block = block_map::from_wire(&r);
                self.upload.retain(|b| *b != block);
                if let Some(l) = &mut self.leaky {
                    l.retain(|b| *b != block);
                }
            }
            WireMsg::Piece { index, begin, data } => self.on_piece(index, begin, data)?,
        }
        Ok(())
    }

    fn on_piece(&mut self, index: u32, begin: u32, data: Bytes) -> Result<(), LinkTaskError> {
        let geometry = self.state.geometry;
        let block = block_map::check_piece(&geometry, index, begin, data.len())?;
        self.observe(PIECE_HEADER_WIRE_SIZE + block.len, Direction::In);
        self.pacer.on_piece(&block);
        self.sent_at.remove(&block);
        let outcome = self.state.progress().on_block(&block)?;
        let id = block_map::block_id(&geometry, &block);
        let carrier = self.state.carrier.clone();
        if carrier.capacity(id, data.len()) >= MIN_CAPACITY {
            carrier.extract_into(id, &data, &mut self.rx_frame)?;
            let bytes = {
                let mut link = lock(&self.link);
                link.on_frame_mut(&mut self.rx_frame)?;
                link.read()
            };
            self.state.links.deliver(self.id, bytes);
        }
        if let Some(piece) = outcome.piece_completed {
            self.state.broadcast_have(piece);
        }
        if outcome.file_completed {
            self.state.file_completed();
        }
        Ok(())
    }

    /// Algorithm 1 for this link: send due requests, answer due requests.
    fn service(&mut self) -> Result<(), LinkTaskError> {
        let now = self.state.now();
        let requests = {
            let have = self.state.progress();
            self.pacer.poll(now, &have)
        };
        for block in requests {
            self.sent_at.insert(block, now);
            self.send(WireMsg::Request(block_map::to_wire(&block)));
            self.observe(REQUEST_WIRE_SIZE, Direction::Out);
        }
        // A link that can no longer download cannot carry a circuit: close it
        // so the circuits over it move at once instead of stalling silently.
        if self.pacer.is_starved() {
            return Err(LinkTaskError::Starved);
        }
        let mut answers = self.upload.poll(now);
        if let Some(leaky) = &mut self.leaky {
            leaky.hold(answers);
            answers = leaky.release(now, lock(&self.link).queued());
        }
        self.staged = self.staged.max(answers.len().min(MAX_STAGED_FRAMES));
        for block in answers {
            self.answer(block)?;
        }
        Ok(())
    }

    /// Builds the next frames ahead now that the answers went out, so that
    /// answering costs the same for data and cover.
    fn stage(&self) {
        lock(&self.link).stage(self.staged);
    }

    /// The PIECE for one request: the link's next frame in the genuine cover
    /// block (blocks too small for a frame go out as plain cover).
    fn answer(&mut self, block: BlockRequest) -> Result<(), LinkTaskError> {
        let geometry = self.state.geometry;
        let id = block_map::block_id(&geometry, &block);
        let len = block.len as usize;
        if self.state.carrier.block_is_frame() && len >= MIN_CAPACITY {
            // Public mode: the block is the frame. It goes straight into the
            // send buffer; the cover it replaces is never generated.
            encode_piece_header(&mut self.out, block.piece, block.offset, len);
            let start = self.out.len();
            self.out.resize(start + len, 0);
            lock(&self.link).next_frame_into(&mut self.out[start..])?;
            self.observe(PIECE_HEADER_WIRE_SIZE + block.len, Direction::Out);
            return Ok(());
        }
        let cover = self
            .state
            .file
            .block(block.piece, block.offset, block.len)?;
        let carrier = self.state.carrier.clone();
        let capacity = carrier.capacity(id, cover.len());
        let data = if capacity >= MIN_CAPACITY {
            let frame = lock(&self.link).next_frame(capacity)?;
            carrier.embed(id, &cover, &frame)?
        } else {
            cover
        };
        encode_piece_header(&mut self.out, block.piece, block.offset, data.len());
        self.out.put_slice(&data);
        self.observe(PIECE_HEADER_WIRE_SIZE + block.len, Direction::Out);
        Ok(())
    }

    /// Request timeouts, keepalives and the idle limit.
    fn housekeeping(&mut self) -> Result<(), LinkTaskError> {
        let timing = self.state.timing;
        let now = self.state.now();
        let expired: Vec<BlockRequest> = self
            .sent_at
            .iter()
            .filter(|(_, at)| now.saturating_sub(**at) >= timing.request_timeout)
            .map(|(b, _)| *b)
            .collect();
        for block in expired {
            self.sent_at.remove(&block);
            self.pacer.on_request_timeout(&block);
        }
        let silent = self.last_read.elapsed();
        if silent >= timing.idle_timeout {
            return Err(LinkTaskError::Idle(silent));
        }
        if self.last_write.elapsed() >= timing.keepalive_interval && self.out.is_empty() {
            self.send(WireMsg::KeepAlive);
        }
        Ok(())
    }
}

/// A hang-up is a plain close, not a wire error.
fn closed_or(e: WireError) -> LinkTaskError {
    match e {
        WireError::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            LinkTaskError::Closed
        }
        e => LinkTaskError::Wire(e),
    }
}
