//! One peer connection: handshake, then a loop over the peer's messages,
//! commands from the torrent, and a one-second timer. A reader task decodes
//! frames so that a blocked write never stops us from reading.

use crate::hook::{ClaimedPeer, PeerDecision};
use crate::metainfo::Metainfo;
use crate::state::{PeerCmd, PeerKey, Violation};
use crate::torrent::Torrent;
use crate::ut_metadata::{metadata_piece, MetadataAssembler, MetadataMsg};
use crate::wire::{
    encode_piece_header, BlockRequest, ExtHandshake, FrameReader, Handshake, WireError, WireMsg,
    BLOCK_SIZE, HANDSHAKE_LEN, OUR_UT_METADATA_ID,
};
use bytes::{Bytes, BytesMut};
use sha1::{Digest, Sha1};
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;

/// Why a peer connection ended.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("wire: {0}")]
    Wire(#[from] WireError),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("protocol violation: {0}")]
    Violation(String),
    #[error("handshake for another torrent")]
    WrongInfoHash,
    #[error("connected to ourselves")]
    SelfConnection,
    #[error("peer is banned")]
    Banned,
    #[error("timed out: {0}")]
    Timeout(&'static str),
    #[error("storage: {0}")]
    Storage(#[from] crate::storage::StorageError),
    #[error("closed")]
    Closed,
}

impl From<Violation> for PeerError {
    fn from(v: Violation) -> Self {
        PeerError::Violation(v.0)
    }
}

/// Frames larger than this close the peer: a 16 KiB block plus header, or a
/// bitfield for up to 8 M pieces.
pub(crate) const MAX_FRAME: u32 = 1024 * 1024 + 64;
/// Requests a peer may queue with us before it is dropped.
const MAX_SERVE_QUEUE: usize = 2048;
/// Outstanding metadata requests per peer.
const METADATA_PIPELINE: usize = 4;

/// Dials `addr` and runs the connection until it ends.
pub(crate) async fn connect(t: Arc<Torrent>, addr: SocketAddr) {
    let timeout = t.engine.config.handshake_timeout;
    let res = async {
        let local = t.engine.local_addr.ip();
        let stream = tokio::time::timeout(timeout, dial(local, addr))
            .await
            .map_err(|_| PeerError::Timeout("connect"))??;
        let _ = stream.set_nodelay(true);
        let (rd, mut wr) = stream.into_split();
        let ours = Handshake::new(t.info_hash.0, t.peer_id);
        wr.write_all(&ours.encode()).await?;
        let mut reader = FrameReader::new(rd, MAX_FRAME);
        let theirs = read_handshake(&mut reader, timeout).await?;
        if theirs.info_hash != t.info_hash.0 {
            return Err(PeerError::WrongInfoHash);
        }
        run(t.clone(), addr, reader, wr, theirs).await
    }
    .await;
    log_end(addr, res);
}

/// Connects from the engine's listen address when it is a specific one, so
/// peers see the same IP whichever side dialled (a PACOM bootstrap node's
/// swarms are derived from the IP its peers see).
async fn dial(local: IpAddr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    if local.is_unspecified() || local.is_ipv4() != addr.is_ipv4() {
        return TcpStream::connect(addr).await;
    }
    let socket = if local.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.bind(SocketAddr::new(local, 0))?;
    socket.connect(addr).await
}

/// Runs an accepted connection whose handshake (`theirs`) was read by the
/// listener; answers with ours.
pub(crate) async fn accept(
    t: Arc<Torrent>,
    addr: SocketAddr,
    reader: FrameReader<OwnedReadHalf>,
    mut wr: OwnedWriteHalf,
    theirs: Handshake,
) {
    let res = async {
        let ours = Handshake::new(t.info_hash.0, t.peer_id);
        wr.write_all(&ours.encode()).await?;
        run(t, addr, reader, wr, theirs).await
    }
    .await;
    log_end(addr, res);
}

fn log_end(addr: SocketAddr, res: Result<(), PeerError>) {
    match res {
        Ok(()) | Err(PeerError::Closed) => tracing::debug!(%addr, "peer closed"),
        Err(PeerError::Wire(WireError::Io(e))) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            tracing::debug!(%addr, "peer hung up")
        }
        Err(e) => {
            tracing::info!(error = %e, "peer dropped");
            tracing::debug!(%addr, error = %e, "peer dropped");
        }
    }
}

pub(crate) async fn read_handshake(
    reader: &mut FrameReader<OwnedReadHalf>,
    timeout: Duration,
) -> Result<Handshake, PeerError> {
    let raw = tokio::time::timeout(timeout, reader.read_raw(HANDSHAKE_LEN))
        .await
        .map_err(|_| PeerError::Timeout("handshake"))??;
    let mut arr = [0u8; HANDSHAKE_LEN];
    arr.copy_from_slice(&raw);
    Ok(Handshake::decode(&arr)?)
}

/// Removes the peer from the torrent however the connection ends.
struct Registration {
    t: Arc<Torrent>,
    key: PeerKey,
    meta_pending: Vec<u32>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut st = self.t.lock();
        if let Some(m) = &mut st.metadata {
            for p in &self.meta_pending {
                m.on_reject(*p);
            }
        }
        st.remove_peer(self.key);
    }
}

struct Conn {
    t: Arc<Torrent>,
    reg: Registration,
    addr: SocketAddr,
    writer: OwnedWriteHalf,
    out: BytesMut,
    serve: VecDeque<BlockRequest>,
    am_interested: bool,
    peer_ext: Option<ExtHandshake>,
    last_read: Instant,
    last_write: Instant,
}

async fn run(
    t: Arc<Torrent>,
    addr: SocketAddr,
    mut reader: FrameReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    theirs: Handshake,
) -> Result<(), PeerError> {
    if theirs.peer_id == t.peer_id {
        return Err(PeerError::SelfConnection);
    }
    {
        let st = t.lock();
        if st.banned.contains(&addr) || st.banned_ids.contains(&theirs.peer_id) {
            return Err(PeerError::Banned);
        }
    }
    if let Some(hook) = &t.hook {
        if hook.on_handshake(addr, &theirs.peer_id) == PeerDecision::Claim {
            hook.take(ClaimedPeer {
                addr,
                handshake: theirs,
                reader,
                writer,
            });
            return Ok(());
        }
    }
    let (tx, mut cmd_rx) = mpsc::unbounded_channel();
    let key = t.lock().add_peer(addr, theirs.peer_id, tx);
    tracing::debug!(%addr, extended = theirs.supports_extended(), "peer connected");
    let mut c = Conn {
        t: t.clone(),
        reg: Registration {
            t: t.clone(),
            key,
            meta_pending: Vec::new(),
        },
        addr,
        writer,
        out: BytesMut::with_capacity(512 * 1024),
        serve: VecDeque::new(),
        am_interested: false,
        peer_ext: None,
        last_read: Instant::now(),
        last_write: Instant::now(),
    };
    c.send_greeting(theirs.supports_extended());
    c.flush().await?;

    let (msg_tx, mut msg_rx) = mpsc::channel::<Result<WireMsg, WireError>>(1024);
    let down = t.engine.download_limit.clone();
    let reader_task = tokio::spawn(async move {
        loop {
            let m = reader.next().await;
            if let Ok(WireMsg::Piece { data, .. }) = &m {
                down.acquire(data.len() as u64).await;
            }
            let stop = m.is_err();
            if msg_tx.send(m).await.is_err() || stop {
                break;
            }
        }
    });
    let _abort = AbortOnDrop(reader_task);
    let mut stop = t.shutdown.subscribe();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            m = msg_rx.recv() => {
                let Some(m) = m else { return Err(PeerError::Closed) };
                c.last_read = Instant::now();
                c.on_msg(m?)?;
                // Drain what is already decoded before writing once.
                for _ in 0..256 {
                    match msg_rx.try_recv() {
                        Ok(m) => c.on_msg(m?)?,
                        Err(_) => break,
                    }
                }
            }
            cmd = cmd_rx.recv() => {
                let Some(cmd) = cmd else { return Err(PeerError::Closed) };
                if !c.on_cmd(cmd)? {
                    return Ok(());
                }
                while let Ok(cmd) = cmd_rx.try_recv() {
                    if !c.on_cmd(cmd)? {
                        return Ok(());
                    }
                }
            }
            _ = tick.tick() => c.on_tick()?,
            _ = stop.changed() => return Ok(()),
        }
        c.serve_requests().await?;
        c.request_more();
        c.flush().await?;
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Conn {
    fn key(&self) -> PeerKey {
        self.reg.key
    }

    fn push(&mut self, m: &WireMsg) {
        m.encode(&mut self.out);
    }

    async fn flush(&mut self) -> Result<(), PeerError> {
        if self.out.is_empty() {
            return Ok(());
        }
        self.writer.write_all(&self.out).await?;
        self.out.clear();
        self.last_write = Instant::now();
        Ok(())
    }

    /// Extended handshake, then our bitfield if we have any piece.
    fn send_greeting(&mut self, peer_extended: bool) {
        let cfg = &self.t.engine.config;
        let st = self.t.lock();
        if peer_extended {
            let hs = ExtHandshake {
                ut_metadata: Some(OUR_UT_METADATA_ID),
                metadata_size: st
                    .loaded
                    .as_ref()
                    .map(|l| l.metainfo.info_bytes.len() as u32),
                reqq: Some(MAX_SERVE_QUEUE as u32),
                client: Some(cfg.client_version.clone()),
                listen_port: Some(self.t.engine.local_addr.port()),
                yourip: Some(self.addr.ip()),
            };
            let payload = hs.encode();
            drop(st);
            self.push(&WireMsg::Extended { id: 0, payload });
        } else {
            drop(st);
        }
        let st = self.t.lock();
        let bits = st
            .loaded
            .as_ref()
            .filter(|l| l.have.count_ones() > 0)
            .map(|l| Bytes::copy_from_slice(l.have.as_bytes()));
        drop(st);
        if let Some(bits) = bits {
            self.push(&WireMsg::Bitfield(bits));
        }
    }

    fn set_interest(&mut self, interested: bool) {
        let interested = interested && !self.t.seed_only;
        if interested != self.am_interested {
            self.am_interested = interested;
            self.push(&if interested {
                WireMsg::Interested
            } else {
                WireMsg::NotInterested
            });
        }
    }

    fn on_msg(&mut self, m: WireMsg) -> Result<(), PeerError> {
        let key = self.key();
        match m {
            WireMsg::KeepAlive | WireMsg::Unknown { .. } => {}
            WireMsg::Choke => {
                let mut st = self.t.lock();
                if let Some(p) = st.peers.get_mut(&key) {
                    p.peer_choking = true;
                }
                // Without the Fast extension a choke discards our requests.
                st.release_requests(key);
            }
            WireMsg::Unchoke => {
                if let Some(p) = self.t.lock().peers.get_mut(&key) {
                    p.peer_choking = false;
                }
            }
            WireMsg::Interested | WireMsg::NotInterested => {
                let interested = matches!(m, WireMsg::Interested);
                let mut st = self.t.lock();
                if let Some(p) = st.peers.get_mut(&key) {
                    p.peer_interested = interested;
                }
                let unchoke = interested && st.try_unchoke(key);
                drop(st);
                if unchoke {
                    self.push(&WireMsg::Unchoke);
                }
            }
            WireMsg::Have(i) => {
                let interesting = self.t.lock().on_have(key, i)?;
                self.set_interest(interesting || self.am_interested);
            }
            WireMsg::Bitfield(bits) => {
                let interesting = self.t.lock().on_bitfield(key, bits)?;
                self.set_interest(interesting);
            }
            WireMsg::Request(r) => {
                if r.length > BLOCK_SIZE {
                    return Err(PeerError::Violation(format!(
                        "request of {} bytes",
                        r.length
                    )));
                }
                if self.serve.len() >= MAX_SERVE_QUEUE {
                    return Err(PeerError::Violation("request flood".into()));
                }
                self.serve.push_back(r);
            }
            WireMsg::Cancel(r) => self.serve.retain(|q| *q != r),
            WireMsg::Piece { index, begin, data } => self.on_piece(index, begin, &data)?,
            WireMsg::Extended { id, payload } => self.on_extended(id, &payload)?,
        }
        Ok(())
    }

    fn on_piece(&mut self, index: u32, begin: u32, data: &[u8]) -> Result<(), PeerError> {
        let (_, done) = self.t.lock().on_block(self.key(), index, begin, data)?;
        let Some(piece) = done else { return Ok(()) };
        let (metainfo, storage) = {
            let st = self.t.lock();
            let Some(l) = &st.loaded else { return Ok(()) };
            (l.metainfo.clone(), l.storage.clone())
        };
        let good = metainfo
            .info
            .piece_hash(piece.index)
            .is_some_and(|h| Sha1::digest(&piece.data).as_slice() == h);
        let good = good && {
            let offset = metainfo.info.piece_offset(piece.index);
            match storage.write(offset, &piece.data) {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(error = %e, piece = piece.index, "writing piece failed");
                    false
                }
            }
        };
        if !good {
            tracing::info!(piece = piece.index, "piece failed verification");
        }
        let (ban, complete) = {
            let mut st = self.t.lock();
            let ban = st.finish_piece(&piece, good);
            for k in &ban {
                if let Some(p) = st.peers.get(k) {
                    let _ = p.tx.send(PeerCmd::Disconnect);
                }
            }
            (ban, st.loaded.as_ref().is_some_and(|l| l.is_complete()))
        };
        if ban.contains(&self.key()) {
            return Err(PeerError::Violation("sent bad pieces".into()));
        }
        if complete && !*self.t.complete.borrow() {
            tracing::info!(info_hash = %self.t.info_hash, "torrent complete");
            let _ = storage.flush();
            self.t.complete.send_replace(true);
        }
        Ok(())
    }

    fn on_extended(&mut self, id: u8, payload: &[u8]) -> Result<(), PeerError> {
        if id == 0 {
            let hs = ExtHandshake::decode(payload)?;
            tracing::debug!(addr = %self.addr, ?hs, "extended handshake");
            self.peer_ext = Some(hs);
            self.request_metadata();
            return Ok(());
        }
        if id != OUR_UT_METADATA_ID {
            return Ok(()); // an extension we did not advertise: ignore
        }
        let msg = MetadataMsg::decode(payload)
            .map_err(|e| PeerError::Violation(format!("ut_metadata: {e}")))?;
        tracing::debug!(addr = %self.addr, kind = ?std::mem::discriminant(&msg), "ut_metadata");
        match msg {
            MetadataMsg::Request { piece } => {
                let Some(their_id) = self.peer_ext.as_ref().and_then(|e| e.ut_metadata) else {
                    return Ok(());
                };
                let reply = {
                    let st = self.t.lock();
                    match &st.loaded {
                        Some(l) => match metadata_piece(&l.metainfo.info_bytes, piece) {
                            Some(data) => MetadataMsg::Data {
                                piece,
                                total_size: l.metainfo.info_bytes.len() as u32,
                                data: data.to_vec(),
                            },
                            None => MetadataMsg::Reject { piece },
                        },
                        None => MetadataMsg::Reject { piece },
                    }
                };
                self.push(&WireMsg::Extended {
                    id: their_id,
                    payload: Bytes::from(reply.encode()),
                });
            }
            MetadataMsg::Reject { piece } => {
                self.reg.meta_pending.retain(|p| *p != piece);
                if let Some(m) = &mut self.t.lock().metadata {
                    m.on_reject(piece);
                }
            }
            MetadataMsg::Data { piece, data, .. } => {
                self.reg.meta_pending.retain(|p| *p != piece);
                let info_bytes = {
                    let mut st = self.t.lock();
                    let Some(m) = &mut st.metadata else {
                        return Ok(());
                    };
                    let complete = m
                        .on_data(piece, &data)
                        .map_err(|e| PeerError::Violation(format!("ut_metadata: {e}")))?;
                    if complete {
                        m.finish()
                    } else {
                        None
                    }
                };
                if let Some(bytes) = info_bytes {
                    self.install_metadata(&bytes)?;
                } else {
                    self.request_metadata();
                }
            }
        }
        Ok(())
    }

    /// Parses fetched metadata and loads the torrent (rechecking any data).
    fn install_metadata(&mut self, bytes: &[u8]) -> Result<(), PeerError> {
        let metainfo = Metainfo::from_info_bytes(bytes, self.t.trackers.clone())
            .map_err(|e| PeerError::Violation(format!("metadata: {e}")))?;
        tracing::info!(info_hash = %self.t.info_hash, "metadata received");
        if let Err(e) = self.t.load(Arc::new(metainfo)) {
            tracing::warn!(error = %e, "loading torrent after metadata failed");
            return Err(PeerError::Closed);
        }
        Ok(())
    }

    /// While the metadata is missing, asks this peer for pieces of it.
    fn request_metadata(&mut self) {
        let Some(ext) = &self.peer_ext else { return };
        let (Some(their_id), Some(size)) = (ext.ut_metadata, ext.metadata_size) else {
            return;
        };
        let mut requests = Vec::new();
        {
            let mut st = self.t.lock();
            if st.loaded.is_some() {
                return;
            }
            if st.metadata.is_none() {
                match MetadataAssembler::new(self.t.info_hash, size) {
                    Ok(m) => st.metadata = Some(m),
                    Err(e) => {
                        tracing::debug!(error = %e, "peer metadata_size unusable");
                        return;
                    }
                }
            }
            let Some(m) = &mut st.metadata else { return };
            if m.total_size() != size {
                return;
            }
            while self.reg.meta_pending.len() + requests.len() < METADATA_PIPELINE {
                match m.next_request() {
                    Some(p) => requests.push(p),
                    None => break,
                }
            }
        }
        for piece in requests {
            self.reg.meta_pending.push(piece);
            self.push(&WireMsg::Extended {
                id: their_id,
                payload: Bytes::from(MetadataMsg::Request { piece }.encode()),
            });
        }
    }

    /// Returns `false` when the connection should close quietly.
    fn on_cmd(&mut self, cmd: PeerCmd) -> Result<bool, PeerError> {
        match cmd {
            PeerCmd::Have(i) => {
                self.push(&WireMsg::Have(i));
                let interesting = self.t.lock().interesting(self.key());
                if !interesting {
                    self.set_interest(false);
                }
            }
            PeerCmd::Cancel(r) => self.push(&WireMsg::Cancel(r)),
            PeerCmd::Choke => {
                self.serve.clear();
                self.push(&WireMsg::Choke);
            }
            PeerCmd::Unchoke => self.push(&WireMsg::Unchoke),
            PeerCmd::MetadataReady => {
                let interesting = self.t.lock().interesting(self.key());
                self.set_interest(interesting);
            }
            PeerCmd::Wake => {}
            PeerCmd::Disconnect => return Ok(false),
        }
        Ok(true)
    }

    fn on_tick(&mut self) -> Result<(), PeerError> {
        let (idle, keepalive, timeout) = {
            let c = &self.t.engine.config;
            (c.idle_timeout, c.keepalive_interval, c.request_timeout)
        };
        let now = Instant::now();
        if now.duration_since(self.last_read) > idle {
            return Err(PeerError::Timeout("peer silent"));
        }
        if now.duration_since(self.last_write) > keepalive {
            self.push(&WireMsg::KeepAlive);
        }
        self.t.lock().expire_requests(self.key(), timeout);
        if !self.reg.meta_pending.is_empty() && now.duration_since(self.last_read) > timeout {
            if let Some(m) = &mut self.t.lock().metadata {
                for p in &self.reg.meta_pending {
                    m.on_reject(*p);
                }
            }
            self.reg.meta_pending.clear();
        }
        Ok(())
    }

    /// Answers queued REQUESTs (one buffer per batch, read straight into it).
    async fn serve_requests(&mut self) -> Result<(), PeerError> {
        while let Some(r) = self.serve.pop_front() {
            let (offset, storage) = {
                let st = self.t.lock();
                let Some(offset) = st.check_request(self.key(), &r)? else {
                    continue;
                };
                let Some(l) = &st.loaded else { continue };
                (offset, l.storage.clone())
            };
            self.t
                .engine
                .upload_limit
                .acquire(u64::from(r.length))
                .await;
            let start = self.out.len();
            encode_piece_header(&mut self.out, r.index, r.begin, r.length as usize);
            let data_at = self.out.len();
            self.out.resize(data_at + r.length as usize, 0);
            if let Err(e) = storage.read(offset, &mut self.out[data_at..]) {
                self.out.truncate(start);
                return Err(e.into());
            }
            {
                let mut st = self.t.lock();
                st.uploaded.add(u64::from(r.length));
                if let Some(p) = st.peers.get_mut(&self.key()) {
                    p.up.add(u64::from(r.length));
                }
            }
            if self.out.len() >= 256 * 1024 {
                self.flush().await?;
            }
        }
        Ok(())
    }

    /// Tops up the request pipeline to a depth that follows the peer's rate.
    fn request_more(&mut self) {
        if !self.am_interested {
            return;
        }
        let (min_q, max_q) = {
            let c = &self.t.engine.config;
            (c.min_requests, c.max_requests)
        };
        let peer_cap = self
            .peer_ext
            .as_ref()
            .and_then(|e| e.reqq)
            .map_or(250, |q| q as usize)
            .max(1);
        let requests = {
            let mut st = self.t.lock();
            let Some(p) = st.peers.get(&self.key()) else {
                return;
            };
            let depth = if p.snubbed {
                1
            } else {
                // About two seconds of data at the current rate.
                let by_rate = (p.down.rate() * 2.0 / f64::from(BLOCK_SIZE)) as usize;
                by_rate.clamp(min_q, max_q.max(min_q)).min(peer_cap)
            };
            let n = depth.saturating_sub(p.outstanding.len());
            if n < depth / 4 && !p.outstanding.is_empty() {
                return; // refill in batches
            }
            st.pick_blocks(self.key(), n)
        };
        for r in requests {
            self.push(&WireMsg::Request(r));
        }
    }
}
