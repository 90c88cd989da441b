//! A torrent's shared mutable state: what we have, what each peer has, which
//! blocks are requested from whom. Peer tasks lock it briefly per batch of
//! messages; nothing here awaits or does I/O.

use crate::bitfield::Bitfield;
use crate::choke::{self, ChokeCandidate};
use crate::metainfo::Metainfo;
use crate::observe::HaveLog;
use crate::picker::{PickContext, PiecePicker};
use crate::ratelimit::RateEstimate;
use crate::storage::Storage;
use crate::ut_metadata::MetadataAssembler;
use crate::wire::{BlockRequest, BLOCK_SIZE};
use bytes::Bytes;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

pub(crate) type PeerKey = u64;

/// Bad pieces after which a contributor is banned.
const MAX_STRIKES: u32 = 3;

/// What the torrent asks of a peer task.
#[derive(Debug, Clone)]
pub(crate) enum PeerCmd {
    Have(u32),
    Cancel(BlockRequest),
    Choke,
    Unchoke,
    /// The metadata arrived: re-evaluate the peer's pieces and interest.
    MetadataReady,
    /// Blocks were released (failed piece, a peer left): try requesting.
    Wake,
    Disconnect,
}

/// A peer protocol violation; the peer is dropped.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Violation(pub String);

fn violation(s: impl Into<String>) -> Violation {
    Violation(s.into())
}

#[derive(Debug)]
pub(crate) struct PeerEntry {
    pub addr: SocketAddr,
    pub peer_id: [u8; 20],
    pub tx: mpsc::UnboundedSender<PeerCmd>,
    pub has: Option<Bitfield>,
    /// BITFIELD/HAVE received before we had the metadata.
    pub early_bitfield: Option<Bytes>,
    pub early_haves: Vec<u32>,
    pub peer_interested: bool,
    pub am_choking: bool,
    pub peer_choking: bool,
    pub outstanding: HashMap<(u32, u32), Instant>,
    pub down: RateEstimate,
    pub up: RateEstimate,
    pub snubbed: bool,
    pub strikes: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockState {
    Free,
    Requested {
        first: PeerKey,
        second: Option<PeerKey>,
    },
    Done,
}

#[derive(Debug)]
struct PieceDl {
    buf: Vec<u8>,
    blocks: Vec<BlockState>,
    remaining: u32,
    next_free: usize,
    contributors: Vec<PeerKey>,
}

/// A piece whose blocks all arrived, to be hashed outside the lock.
pub(crate) struct CompletedPiece {
    pub index: u32,
    pub data: Vec<u8>,
    pub contributors: Vec<PeerKey>,
}

/// The data side, present once the metadata is known.
pub(crate) struct Loaded {
    pub metainfo: Arc<Metainfo>,
    pub storage: Arc<dyn Storage>,
    pub have: Bitfield,
    availability: Vec<u32>,
    pieces: BTreeMap<u32, PieceDl>,
    in_flight: HashSet<u32>,
}

impl Loaded {
    pub fn new(metainfo: Arc<Metainfo>, storage: Arc<dyn Storage>, have: Bitfield) -> Self {
        let n = metainfo.info.num_pieces() as usize;
        Self {
            metainfo,
            storage,
            have,
            availability: vec![0; n],
            pieces: BTreeMap::new(),
            in_flight: HashSet::new(),
        }
    }

    pub fn is_complete(&self) -> bool {
        self.have.is_full()
    }

    fn block_len(&self, index: u32, block: usize) -> u32 {
        let plen = self.metainfo.info.piece_len(index);
        let begin = block as u32 * BLOCK_SIZE;
        plen.saturating_sub(begin).min(BLOCK_SIZE)
    }
}

/// Everything behind the torrent's lock.
pub(crate) struct State {
    pub loaded: Option<Loaded>,
    pub metadata: Option<MetadataAssembler>,
    pub peers: HashMap<PeerKey, PeerEntry>,
    next_key: PeerKey,
    pub picker: Box<dyn PiecePicker>,
    pub haves: HaveLog,
    pub banned: HashSet<SocketAddr>,
    pub banned_ids: HashSet<[u8; 20]>,
    pub downloaded: RateEstimate,
    pub uploaded: RateEstimate,
    pub wasted: u64,
    pub optimistic: Option<PeerKey>,
    pub upload_slots: usize,
}

impl State {
    pub fn new(picker: Box<dyn PiecePicker>, upload_slots: usize) -> Self {
        Self {
            loaded: None,
            metadata: None,
            peers: HashMap::new(),
            next_key: 1,
            picker,
            haves: HaveLog::new(),
            banned: HashSet::new(),
            banned_ids: HashSet::new(),
            downloaded: RateEstimate::default(),
            uploaded: RateEstimate::default(),
            wasted: 0,
            optimistic: None,
            upload_slots,
        }
    }

    pub fn add_peer(
        &mut self,
        addr: SocketAddr,
        peer_id: [u8; 20],
        tx: mpsc::UnboundedSender<PeerCmd>,
    ) -> PeerKey {
        let key = self.next_key;
        self.next_key += 1;
        self.peers.insert(
            key,
            PeerEntry {
                addr,
                peer_id,
                tx,
                has: None,
                early_bitfield: None,
                early_haves: Vec::new(),
                peer_interested: false,
                am_choking: true,
                peer_choking: true,
                outstanding: HashMap::new(),
                down: RateEstimate::default(),
                up: RateEstimate::default(),
                snubbed: false,
                strikes: 0,
            },
        );
        if let Some(l) = &self.loaded {
            if let Some(p) = self.peers.get_mut(&key) {
                p.has = Some(Bitfield::new(l.metainfo.info.num_pieces()));
            }
        }
        key
    }

    pub fn remove_peer(&mut self, key: PeerKey) {
        self.release_requests(key);
        let Some(p) = self.peers.remove(&key) else {
            return;
        };
        if let (Some(l), Some(has)) = (&mut self.loaded, &p.has) {
            for i in has.iter_ones() {
                if let Some(a) = l.availability.get_mut(i as usize) {
                    *a = a.saturating_sub(1);
                }
            }
        }
        if self.optimistic == Some(key) {
            self.optimistic = None;
        }
    }

    /// Forgets every block requested from `key` (choked, timed out, gone) so
    /// other peers can request them; wakes the other peers.
    pub fn release_requests(&mut self, key: PeerKey) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        let outstanding: Vec<(u32, u32)> = p.outstanding.drain().map(|(k, _)| k).collect();
        if outstanding.is_empty() {
            return;
        }
        if let Some(l) = &mut self.loaded {
            for (index, begin) in outstanding {
                let Some(piece) = l.pieces.get_mut(&index) else {
                    continue;
                };
                let b = (begin / BLOCK_SIZE) as usize;
                if let Some(st) = piece.blocks.get_mut(b) {
                    *st = match *st {
                        BlockState::Requested { first, second } if first == key => match second {
                            Some(s) => BlockState::Requested {
                                first: s,
                                second: None,
                            },
                            None => BlockState::Free,
                        },
                        BlockState::Requested {
                            first,
                            second: Some(s),
                        } if s == key => BlockState::Requested {
                            first,
                            second: None,
                        },
                        other => other,
                    };
                    if *st == BlockState::Free {
                        piece.next_free = piece.next_free.min(b);
                    }
                }
            }
        }
        self.wake_others(key);
    }

    fn wake_others(&self, except: PeerKey) {
        for (k, p) in &self.peers {
            if *k != except {
                let _ = p.tx.send(PeerCmd::Wake);
            }
        }
    }

    /// Applies a BITFIELD; returns whether we are interested.
    pub fn on_bitfield(&mut self, key: PeerKey, bits: Bytes) -> Result<bool, Violation> {
        let Some(l) = &mut self.loaded else {
            if let Some(p) = self.peers.get_mut(&key) {
                p.early_bitfield = Some(bits);
            }
            return Ok(false);
        };
        let bf = Bitfield::from_bytes(&bits, l.metainfo.info.num_pieces())
            .map_err(|e| violation(format!("bitfield: {e}")))?;
        let Some(p) = self.peers.get_mut(&key) else {
            return Ok(false);
        };
        if let Some(old) = &p.has {
            for i in old.iter_ones() {
                if let Some(a) = l.availability.get_mut(i as usize) {
                    *a = a.saturating_sub(1);
                }
            }
        }
        for i in bf.iter_ones() {
            if let Some(a) = l.availability.get_mut(i as usize) {
                *a += 1;
            }
        }
        p.has = Some(bf);
        Ok(self.interesting(key))
    }

    /// Applies a HAVE, recording it in the observation log.
    pub fn on_have(&mut self, key: PeerKey, index: u32) -> Result<bool, Violation> {
        let Some(p) = self.peers.get_mut(&key) else {
            return Ok(false);
        };
        let addr = p.addr;
        let Some(l) = &mut self.loaded else {
            p.early_haves.push(index);
            self.haves.record(addr, index);
            return Ok(false);
        };
        if index >= l.metainfo.info.num_pieces() {
            return Err(violation(format!("HAVE {index} out of range")));
        }
        self.haves.record(addr, index);
        if let Some(has) = &mut p.has {
            if has.set(index) {
                if let Some(a) = l.availability.get_mut(index as usize) {
                    *a += 1;
                }
            }
        }
        Ok(self.interesting(key))
    }

    /// Turns bitfields and HAVEs received before the metadata into real ones.
    pub fn apply_early(&mut self, key: PeerKey) -> Result<bool, Violation> {
        let Some(l) = &self.loaded else {
            return Ok(false);
        };
        let n = l.metainfo.info.num_pieces();
        let Some(p) = self.peers.get_mut(&key) else {
            return Ok(false);
        };
        if p.has.is_none() {
            p.has = Some(Bitfield::new(n));
        }
        let early_bf = p.early_bitfield.take();
        let early_haves = std::mem::take(&mut p.early_haves);
        if let Some(bits) = early_bf {
            self.on_bitfield(key, bits)?;
        }
        for i in early_haves {
            if i >= n {
                return Err(violation(format!("HAVE {i} out of range")));
            }
            if let (Some(p), Some(l)) = (self.peers.get_mut(&key), &mut self.loaded) {
                if let Some(has) = &mut p.has {
                    if has.set(i) {
                        if let Some(a) = l.availability.get_mut(i as usize) {
                            *a += 1;
                        }
                    }
                }
            }
        }
        Ok(self.interesting(key))
    }

    /// Whether the peer has a piece we lack.
    pub fn interesting(&self, key: PeerKey) -> bool {
        let (Some(l), Some(p)) = (&self.loaded, self.peers.get(&key)) else {
            return false;
        };
        let Some(has) = &p.has else { return false };
        !l.is_complete() && l.have.missing_from(has).next().is_some()
    }

    /// Up to `max` new block requests for `key`.
    pub fn pick_blocks(&mut self, key: PeerKey, max: usize) -> Vec<BlockRequest> {
        let mut out = Vec::new();
        let Some(l) = &mut self.loaded else {
            return out;
        };
        let Some(p) = self.peers.get_mut(&key) else {
            return out;
        };
        let Some(has) = &p.has else { return out };
        if max == 0 || p.peer_choking || l.is_complete() {
            return out;
        }
        let now = Instant::now();
        // 1. Free blocks of pieces already started.
        for (&index, piece) in l.pieces.iter_mut() {
            if out.len() >= max {
                break;
            }
            if has.get(index) {
                take_free(index, piece, key, max, &mut out);
            }
        }
        // 2. New pieces from the picker.
        while out.len() < max {
            let ctx = PickContext {
                peer: p.addr,
                peer_has: has,
                have: &l.have,
                availability: &l.availability,
                in_flight: &l.in_flight,
            };
            let Some(index) = self.picker.pick(&ctx) else {
                break;
            };
            if !ctx.candidate(index) {
                break;
            }
            let plen = l.metainfo.info.piece_len(index) as usize;
            let nblocks = plen.div_ceil(BLOCK_SIZE as usize);
            l.in_flight.insert(index);
            let piece = l.pieces.entry(index).or_insert(PieceDl {
                buf: vec![0; plen],
                blocks: vec![BlockState::Free; nblocks],
                remaining: nblocks as u32,
                next_free: 0,
                contributors: Vec::new(),
            });
            take_free(index, piece, key, max, &mut out);
        }
        // 3. Endgame: nothing free anywhere for this peer; duplicate blocks
        //    requested from one other peer only (cancelled when one arrives).
        if out.len() < max {
            for (&index, piece) in l.pieces.iter_mut() {
                if !has.get(index) {
                    continue;
                }
                for (b, st) in piece.blocks.iter_mut().enumerate() {
                    if out.len() >= max {
                        break;
                    }
                    if let BlockState::Requested {
                        first,
                        second: None,
                    } = *st
                    {
                        if first != key {
                            *st = BlockState::Requested {
                                first,
                                second: Some(key),
                            };
                            out.push(BlockRequest {
                                index,
                                begin: b as u32 * BLOCK_SIZE,
                                length: 0,
                            });
                        }
                    }
                }
            }
        }
        for r in &mut out {
            r.length = l.block_len(r.index, (r.begin / BLOCK_SIZE) as usize);
            p.outstanding.insert((r.index, r.begin), now);
        }
        out
    }

    /// Stores a received block. Returns the completed piece, if this block
    /// finished one, and whether the block was useful.
    pub fn on_block(
        &mut self,
        key: PeerKey,
        index: u32,
        begin: u32,
        data: &[u8],
    ) -> Result<(bool, Option<CompletedPiece>), Violation> {
        let Some(l) = &mut self.loaded else {
            return Err(violation("PIECE before metadata"));
        };
        if let Some(p) = self.peers.get_mut(&key) {
            p.outstanding.remove(&(index, begin));
            p.down.add(data.len() as u64);
            p.snubbed = false;
        }
        let b = (begin / BLOCK_SIZE) as usize;
        let expected = l.block_len(index, b);
        if begin & (BLOCK_SIZE - 1) != 0 || expected == 0 || data.len() != expected as usize {
            // Not a block we could have asked for.
            if index < l.metainfo.info.num_pieces() && data.len() <= BLOCK_SIZE as usize {
                self.wasted += data.len() as u64;
                return Ok((false, None));
            }
            return Err(violation(format!("PIECE {index}+{begin} of bad size")));
        }
        let Some(piece) = l.pieces.get_mut(&index) else {
            self.wasted += data.len() as u64;
            return Ok((false, None));
        };
        let Some(st) = piece.blocks.get_mut(b) else {
            return Err(violation("block out of range"));
        };
        if *st == BlockState::Done {
            self.wasted += data.len() as u64;
            return Ok((false, None));
        }
        // Other requesters of this block get a CANCEL.
        if let BlockState::Requested { first, second } = *st {
            for other in [Some(first), second].into_iter().flatten() {
                if other != key {
                    if let Some(op) = self.peers.get_mut(&other) {
                        if op.outstanding.remove(&(index, begin)).is_some() {
                            let _ = op.tx.send(PeerCmd::Cancel(BlockRequest {
                                index,
                                begin,
                                length: expected,
                            }));
                        }
                    }
                }
            }
        }
        *st = BlockState::Done;
        let start = begin as usize;
        piece.buf[start..start + data.len()].copy_from_slice(data);
        piece.remaining -= 1;
        if !piece.contributors.contains(&key) {
            piece.contributors.push(key);
        }
        self.downloaded.add(data.len() as u64);
        if piece.remaining > 0 {
            return Ok((true, None));
        }
        let done = l.pieces.remove(&index).map(|p| CompletedPiece {
            index,
            data: p.buf,
            contributors: p.contributors,
        });
        Ok((true, done))
    }

    /// Records the verdict on a completed piece (already written if good).
    /// Returns the peers to disconnect (banned contributors of a bad piece).
    pub fn finish_piece(&mut self, piece: &CompletedPiece, good: bool) -> Vec<PeerKey> {
        let Some(l) = &mut self.loaded else {
            return Vec::new();
        };
        l.in_flight.remove(&piece.index);
        if good {
            l.have.set(piece.index);
            self.picker.on_piece_complete(piece.index);
            for p in self.peers.values() {
                let _ = p.tx.send(PeerCmd::Have(piece.index));
            }
            return Vec::new();
        }
        self.picker.on_piece_abandoned(piece.index);
        let sole = piece.contributors.len() == 1;
        let mut ban = Vec::new();
        for k in &piece.contributors {
            if let Some(p) = self.peers.get_mut(k) {
                p.strikes += 1;
                if sole || p.strikes >= MAX_STRIKES {
                    self.banned.insert(p.addr);
                    self.banned_ids.insert(p.peer_id);
                    ban.push(*k);
                }
            }
        }
        // Blocks banned peers gave us in other unfinished pieces are suspect:
        // fetch those pieces again from scratch.
        if !ban.is_empty() {
            for piece in l.pieces.values_mut() {
                if piece.contributors.iter().any(|k| ban.contains(k)) {
                    for st in &mut piece.blocks {
                        if *st == BlockState::Done {
                            *st = BlockState::Free;
                        }
                    }
                    piece.remaining = piece.blocks.len() as u32;
                    piece.next_free = 0;
                    piece.contributors.clear();
                }
            }
        }
        self.wake_others(0);
        ban
    }

    /// Checks a peer's REQUEST. `Ok(None)`: ignore it (we choke the peer).
    pub fn check_request(&self, key: PeerKey, r: &BlockRequest) -> Result<Option<u64>, Violation> {
        let Some(l) = &self.loaded else {
            return Err(violation("REQUEST before we have metadata"));
        };
        let info = &l.metainfo.info;
        let fits = r.length > 0
            && r.length <= BLOCK_SIZE
            && r.begin
                .checked_add(r.length)
                .is_some_and(|end| end <= info.piece_len(r.index));
        if !fits {
            return Err(violation(format!(
                "bad REQUEST {}+{} len {}",
                r.index, r.begin, r.length
            )));
        }
        if !l.have.get(r.index) {
            return Err(violation(format!("REQUEST for piece {} we lack", r.index)));
        }
        match self.peers.get(&key) {
            Some(p) if !p.am_choking => Ok(Some(info.piece_offset(r.index) + u64::from(r.begin))),
            _ => Ok(None),
        }
    }

    /// Peers whose oldest outstanding request is older than `timeout`: their
    /// requests are released so others fetch the blocks.
    pub fn expire_requests(&mut self, key: PeerKey, timeout: Duration) -> bool {
        let now = Instant::now();
        let late = self.peers.get(&key).is_some_and(|p| {
            p.outstanding
                .values()
                .any(|t| now.duration_since(*t) > timeout)
        });
        if late {
            self.release_requests(key);
            if let Some(p) = self.peers.get_mut(&key) {
                p.snubbed = true;
            }
        }
        late
    }

    /// Unchokes an interested peer at once if a slot is free.
    pub fn try_unchoke(&mut self, key: PeerKey) -> bool {
        let unchoked = self.peers.values().filter(|p| !p.am_choking).count();
        let Some(p) = self.peers.get_mut(&key) else {
            return false;
        };
        if p.am_choking && p.peer_interested && unchoked < self.upload_slots + 1 {
            p.am_choking = false;
            return true;
        }
        false
    }

    /// One round of the choking algorithm; sends CHOKE/UNCHOKE as needed.
    pub fn choke_round(&mut self, rotate: bool) {
        let seeding = self.loaded.as_ref().is_some_and(|l| l.is_complete());
        let candidates: Vec<ChokeCandidate> = self
            .peers
            .iter()
            .map(|(k, p)| ChokeCandidate {
                key: *k,
                interested: p.peer_interested,
                rate: if seeding { p.up.rate() } else { p.down.rate() },
            })
            .collect();
        let d = choke::decide(&candidates, self.upload_slots, self.optimistic, rotate);
        self.optimistic = d.optimistic;
        for (k, p) in self.peers.iter_mut() {
            let unchoke = d.unchoked.contains(k);
            if unchoke && p.am_choking {
                p.am_choking = false;
                let _ = p.tx.send(PeerCmd::Unchoke);
            } else if !unchoke && !p.am_choking {
                p.am_choking = true;
                let _ = p.tx.send(PeerCmd::Choke);
            }
        }
    }

    /// Folds byte counts into rates.
    pub fn tick(&mut self, dt: Duration) {
        self.downloaded.tick(dt);
        self.uploaded.tick(dt);
        for p in self.peers.values_mut() {
            p.down.tick(dt);
            p.up.tick(dt);
        }
    }
}

fn take_free(
    index: u32,
    piece: &mut PieceDl,
    key: PeerKey,
    max: usize,
    out: &mut Vec<BlockRequest>,
) {
    while out.len() < max && piece.next_free < piece.blocks.len() {
        let b = piece.next_free;
        piece.next_free += 1;
        if let Some(st @ BlockState::Free) = piece.blocks.get_mut(b) {
            *st = BlockState::Requested {
                first: key,
                second: None,
            };
            out.push(BlockRequest {
                index,
                begin: b as u32 * BLOCK_SIZE,
                length: 0,
            });
        }
    }
}
