//! Joining the PACOM network (paper §3.3) as a running task: download a
//! popular torrent F like any client, read bootstrap nodes' hidden x from
//! its peers' HAVE orders, look their swarms up on the DHT and join them;
//! take the bootstrap role when too few bootstrap nodes show up; bootstrap
//! again when a swarm completes or all are lost. The decisions come from
//! [`JoinPlanner`] and [`BootstrapRole`]'s core state; this file only does
//! the I/O they ask for.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pacom_core::bootstrap::{
    DecoderParams, JoinPlanner, RoleAction, RoleConfig, RolloverPolicy, UtcDate,
};
use pacom_core::link::Mode;
use pacom_core::pacom_file::PacomFile;
use pacom_core::schedule::PacerConfig;
use rand::Rng;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;

use super::bootstrap::BootstrapRole;
use super::have_order::{HaveOrderControl, HaveOrderPicker};
use super::newcomer::{look_up, FileRecipe, HaveWatch, LookupResult};
use super::swarm::SwarmView;
use super::{LinkTiming, Links, PacomSwarm, SwarmConfig};
use crate::dht::Dht;
use crate::dht_source::DhtSource;
use crate::discovery::PeerSource;
use crate::engine::{AddTorrent, Engine, TorrentSource};
use crate::metainfo::{InfoHash, Metainfo};
use crate::observe::HaveEvent;
use crate::torrent::{StorageSpec, TorrentHandle};

/// A popular torrent to download (and hide x in, as a bootstrap node).
pub struct PopularTorrent {
    pub metainfo: Metainfo,
    pub storage: StorageSpec,
    pub initial_peers: Vec<SocketAddr>,
    pub peer_sources: Vec<Arc<dyn PeerSource>>,
}

/// A carrier keyed per swarm (private mode: from the group key and the
/// swarm's info hash), so every member derives the same one.
pub type CarrierFor = Arc<dyn Fn(&[u8; 20]) -> Arc<dyn stego::Carrier> + Send + Sync>;

/// The per-swarm settings every joined or created swarm gets.
#[derive(Clone)]
pub struct SwarmTemplate {
    pub mode: Mode,
    pub carrier: Arc<dyn stego::Carrier>,
    /// When set, replaces `carrier` with one keyed by the swarm.
    pub carrier_for: Option<CarrierFor>,
    pub pacer: PacerConfig,
    pub upload_rate: Option<f64>,
    pub initial_fraction: f64,
    pub timing: LinkTiming,
}

/// How a node joins.
pub struct JoinConfig {
    /// Group key, cover kind and file options: all members must agree.
    pub recipe: FileRecipe,
    /// The address other peers see for this node: IP(Pb) of its own swarms.
    pub public_ip: IpAddr,
    /// Popular torrents, downloaded one after the other.
    pub popular: Vec<PopularTorrent>,
    pub swarm: SwarmTemplate,
    pub role: RoleConfig,
    pub decoder: DecoderParams,
    pub rollover: RolloverPolicy,
    /// Take the bootstrap role at once instead of after watching.
    pub start_as_bootstrap: bool,
    /// Swarm caps of the bootstrap role; `None` draws c and caps from the laws.
    pub caps: Option<Vec<u32>>,
    /// How often own swarms are announced on the DHT again.
    pub reannounce: Duration,
    /// How often membership, completion and the planner's clock are checked.
    pub tick: Duration,
}

/// A swarm this node is in, as the status shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwarmEntry {
    pub info_hash: InfoHash,
    /// Created by this node (bootstrap role) or joined.
    pub own: bool,
    /// The bootstrap node's IP and the swarm's x.
    pub bootstrap_ip: IpAddr,
    pub x: u8,
    pub date: UtcDate,
    /// Whether the engine side is running (false: joining failed).
    pub running: bool,
}

/// One DHT lookup of a decoded swarm.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupRecord {
    pub ip: IpAddr,
    pub x: u8,
    pub info_hash: Option<InfoHash>,
    pub peers: Vec<SocketAddr>,
}

/// What the node has done so far.
#[derive(Clone, Debug, Default)]
pub struct JoinStatus {
    /// The popular torrent being downloaded now.
    pub popular: Option<InfoHash>,
    /// The x hidden in its HAVE order (bootstrap role, Case 2).
    pub advert: Option<u8>,
    pub is_bootstrap: bool,
    /// (x, members, cap) of own swarms.
    pub members: Vec<(u8, u32, u32)>,
    pub swarms: Vec<SwarmEntry>,
    /// Distinct (peer IP, x) read from HAVE orders.
    pub decoded: Vec<(IpAddr, u8)>,
    pub lookups: Vec<LookupRecord>,
    pub rebootstraps: u32,
    pub errors: Vec<String>,
}

enum Command {
    SwarmComplete(InfoHash),
}

/// Tells a [`JoinNode`] that a swarm's PACOM file completed; cloneable, so
/// whoever reads the link events can hold one.
#[derive(Clone)]
pub struct CompletionNotifier(mpsc::UnboundedSender<Command>);

impl CompletionNotifier {
    pub fn swarm_complete(&self, swarm: InfoHash) {
        let _ = self.0.send(Command::SwarmComplete(swarm));
    }
}

/// The running swarms of a [`JoinNode`], shared with status readers.
type Views = Arc<Mutex<HashMap<InfoHash, SwarmView>>>;

fn views_lock(v: &Views) -> std::sync::MutexGuard<'_, HashMap<InfoHash, SwarmView>> {
    v.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running joining task; dropping it does not stop it (call [`JoinNode::stop`]).
pub struct JoinNode {
    status: watch::Receiver<JoinStatus>,
    commands: mpsc::UnboundedSender<Command>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    views: Views,
}

impl JoinNode {
    /// Starts joining with `engine` (its listen port is announced), the node's
    /// `links` hub and a DHT node.
    pub fn start(engine: Arc<Engine>, links: Links, dht: Dht, cfg: JoinConfig) -> JoinNode {
        let (status_tx, status) = watch::channel(JoinStatus::default());
        let (commands, cmd_rx) = mpsc::unbounded_channel();
        let (stop, stop_rx) = watch::channel(false);
        let views = Views::default();
        let runner = Runner::new(engine, links, dht, cfg, status_tx, views.clone());
        let task = tokio::spawn(runner.run(cmd_rx, stop_rx));
        JoinNode {
            status,
            commands,
            stop,
            task,
            views,
        }
    }

    /// The swarms joined or created so far that are running.
    pub fn swarms(&self) -> Vec<SwarmView> {
        views_lock(&self.views).values().cloned().collect()
    }

    /// A handle that reports completed swarms to this node.
    pub fn notifier(&self) -> CompletionNotifier {
        CompletionNotifier(self.commands.clone())
    }

    /// A snapshot of the status.
    pub fn status(&self) -> JoinStatus {
        self.status.borrow().clone()
    }

    /// Waits until `pred` holds for the status (or the task ended).
    pub async fn wait_for(&self, mut pred: impl FnMut(&JoinStatus) -> bool) -> JoinStatus {
        let mut rx = self.status.clone();
        let res = rx.wait_for(|s| pred(s)).await.map(|s| s.clone());
        res.unwrap_or_else(|_| self.status())
    }

    /// The circuit layer saw `LinkEvent::SwarmComplete`: leave and rejoin elsewhere.
    pub fn swarm_complete(&self, swarm: InfoHash) {
        let _ = self.commands.send(Command::SwarmComplete(swarm));
    }

    /// Leaves every swarm and stops the popular downloads.
    pub async fn stop(self) {
        self.stop.send_replace(true);
        let _ = self.task.await;
    }
}

struct Member {
    swarm: Option<PacomSwarm>,
    own: bool,
    last_neighbour: Duration,
}

struct Runner {
    engine: Arc<Engine>,
    links: Links,
    dht: Dht,
    cfg: JoinConfig,
    status: watch::Sender<JoinStatus>,
    started: Instant,
    planner: JoinPlanner,
    popular: std::vec::IntoIter<PopularTorrent>,
    current: Option<(TorrentHandle, HaveOrderControl)>,
    finished: Vec<TorrentHandle>,
    watches: HashMap<InfoHash, HaveWatch>,
    have_tx: mpsc::UnboundedSender<(InfoHash, HaveEvent)>,
    have_rx: Option<mpsc::UnboundedReceiver<(InfoHash, HaveEvent)>>,
    look_tx: mpsc::UnboundedSender<LookupResult>,
    look_rx: Option<mpsc::UnboundedReceiver<LookupResult>>,
    role: Option<BootstrapRole>,
    members: HashMap<InfoHash, Member>,
    last_announce: Option<Duration>,
    views: Views,
}

impl Runner {
    fn new(
        engine: Arc<Engine>,
        links: Links,
        dht: Dht,
        mut cfg: JoinConfig,
        status: watch::Sender<JoinStatus>,
        views: Views,
    ) -> Self {
        let popular = std::mem::take(&mut cfg.popular).into_iter();
        let (have_tx, have_rx) = mpsc::unbounded_channel();
        let (look_tx, look_rx) = mpsc::unbounded_channel();
        Self {
            planner: JoinPlanner::new(cfg.role.clone(), Duration::ZERO),
            engine,
            links,
            dht,
            cfg,
            status,
            started: Instant::now(),
            popular,
            current: None,
            finished: Vec::new(),
            watches: HashMap::new(),
            have_tx,
            have_rx: Some(have_rx),
            look_tx,
            look_rx: Some(look_rx),
            role: None,
            members: HashMap::new(),
            last_announce: None,
            views,
        }
    }

    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    fn error(&self, e: String) {
        tracing::warn!(error = %e, "joining");
        self.status.send_modify(|s| s.errors.push(e));
    }

    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut stop: watch::Receiver<bool>,
    ) {
        let (Some(mut haves), Some(mut lookups)) = (self.have_rx.take(), self.look_rx.take())
        else {
            return;
        };
        // A node told to be a bootstrap node hides x from its first HAVE on.
        if self.cfg.start_as_bootstrap {
            self.planner.set_bootstrap();
            self.become_bootstrap().await;
        }
        self.next_popular().await;
        let mut tick = tokio::time::interval(self.cfg.tick);
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                Some((f, ev)) = haves.recv() => self.on_have(f, ev),
                Some(res) = lookups.recv() => self.on_lookup(res).await,
                Some(cmd) = commands.recv() => match cmd {
                    Command::SwarmComplete(ih) => self.leave(ih, true).await,
                },
                _ = tick.tick() => self.maintain().await,
            }
        }
        views_lock(&self.views).clear();
        for (_, m) in self.members.drain() {
            if let Some(s) = m.swarm {
                s.leave().await;
            }
        }
        if let Some((h, _)) = self.current.take() {
            h.shutdown().await;
        }
        for h in self.finished.drain(..) {
            h.shutdown().await;
        }
    }

    /// Starts downloading the next popular torrent, hiding the current advert.
    async fn next_popular(&mut self) {
        let Some(p) = self.popular.next() else {
            return;
        };
        let ih = p.metainfo.info_hash;
        let n = p.metainfo.info.num_pieces();
        let x = self.role.as_ref().and_then(BootstrapRole::advert);
        let (picker, control) = HaveOrderPicker::new(&self.cfg.recipe.group_key, &ih.0, n, x);
        let mut add = AddTorrent::new(TorrentSource::Metainfo(Box::new(p.metainfo)), p.storage);
        add.picker = Some(Box::new(picker));
        add.initial_peers = p.initial_peers;
        add.peer_sources = p.peer_sources;
        let handle = match self.engine.add_torrent(add).await {
            Ok(h) => h,
            Err(e) => return self.error(format!("popular torrent {ih}: {e}")),
        };
        match HaveWatch::new(&self.cfg.recipe.group_key, &ih.0, &self.cfg.decoder) {
            Ok(w) => {
                self.watches.insert(ih, w);
            }
            Err(e) => self.error(format!("decoder: {e}")),
        }
        let mut rx = handle.subscribe_haves();
        let tx = self.have_tx.clone();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(ev) => {
                        if tx.send((ih, ev)).is_err() {
                            break;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::debug!(n, "HAVE observation lagged");
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        if let Some((old, _)) = self.current.replace((handle, control)) {
            self.finished.push(old);
        }
        self.status.send_modify(|s| s.popular = Some(ih));
    }

    fn on_have(&mut self, f: InfoHash, ev: HaveEvent) {
        let Some(watch) = self.watches.get_mut(&f) else {
            return;
        };
        let Some((ip, d)) = watch.on_have(ev.peer, ev.piece) else {
            return;
        };
        if ip == self.cfg.public_ip {
            return;
        }
        self.status.send_modify(|s| {
            if !s.decoded.contains(&(ip, d.x)) {
                s.decoded.push((ip, d.x));
            }
        });
        let now = self.now();
        if let Some(RoleAction::Lookup { ip, x }) = self.planner.on_decoded(now, ip, d.x) {
            tracing::debug!(x, "decoded a hidden swarm id; looking it up");
            let dht = self.dht.clone();
            let recipe = self.cfg.recipe.clone();
            let policy = self.cfg.rollover;
            let tx = self.look_tx.clone();
            tokio::spawn(async move {
                let res = look_up(&dht, &recipe, &policy, ip, x, unix_now()).await;
                let _ = tx.send(res);
            });
        }
    }

    async fn on_lookup(&mut self, res: LookupResult) {
        for e in &res.errors {
            self.error(format!("lookup of x = {}: {e}", res.x));
        }
        self.planner.on_lookup(res.ip, res.found.is_some());
        let record = LookupRecord {
            ip: res.ip,
            x: res.x,
            info_hash: res.found.as_ref().map(|(_, f, _)| InfoHash(f.info_hash)),
            peers: res
                .found
                .as_ref()
                .map(|(_, _, p)| p.clone())
                .unwrap_or_default(),
        };
        self.status.send_modify(|s| s.lookups.push(record));
        let Some((date, file, peers)) = res.found else {
            return;
        };
        let ih = InfoHash(file.info_hash);
        if self.members.contains_key(&ih) || !self.planner.wants_swarm() {
            return;
        }
        let entry = SwarmEntry {
            info_hash: ih,
            own: false,
            bootstrap_ip: res.ip,
            x: res.x,
            date,
            running: false,
        };
        self.join(entry, file, peers).await;
    }

    /// Joins (or, for own swarms, creates) a swarm and records it.
    async fn join(&mut self, mut entry: SwarmEntry, file: Arc<PacomFile>, peers: Vec<SocketAddr>) {
        let tpl = &self.cfg.swarm;
        let carrier = match &tpl.carrier_for {
            Some(f) => f(&file.info_hash),
            None => tpl.carrier.clone(),
        };
        let cfg = SwarmConfig {
            file,
            group_key: self.cfg.recipe.group_key,
            mode: tpl.mode,
            carrier,
            pacer: tpl.pacer,
            upload_rate: tpl.upload_rate,
            initial_fraction: tpl.initial_fraction,
            initial_peers: peers,
            peer_sources: vec![Arc::new(DhtSource::new(self.dht.clone())) as Arc<dyn PeerSource>],
            observer: None,
            timing: tpl.timing,
            leaky_control: None,
            renew: false,
        };
        let swarm = match PacomSwarm::join(&self.engine, &self.links, cfg).await {
            Ok(s) => Some(s),
            Err(e) => {
                self.error(format!("joining swarm {}: {e}", entry.info_hash));
                None
            }
        };
        entry.running = swarm.is_some();
        if let Some(s) = &swarm {
            views_lock(&self.views).insert(entry.info_hash, s.view());
        }
        // A failed own swarm is still counted: it stays announced and
        // bookkept, so the role's state matches what newcomers derive.
        if swarm.is_some() || entry.own {
            self.planner.on_joined(entry.info_hash.0);
            let now = self.now();
            self.members.insert(
                entry.info_hash,
                Member {
                    swarm,
                    own: entry.own,
                    last_neighbour: now,
                },
            );
        }
        self.status.send_modify(|s| s.swarms.push(entry));
    }

    async fn become_bootstrap(&mut self) {
        let today = UtcDate::from_unix_secs(unix_now());
        let seed: [u8; 32] = rand::thread_rng().gen();
        let role = match BootstrapRole::create(
            &self.cfg.recipe,
            self.cfg.public_ip,
            today,
            self.cfg.caps.as_deref(),
            seed,
        )
        .await
        {
            Ok(r) => r,
            Err(e) => return self.error(format!("bootstrap role: {e}")),
        };
        let own: Vec<(u8, Arc<PacomFile>)> = role
            .swarms()
            .values()
            .map(|s| (s.x, s.file.clone()))
            .collect();
        let ip = role.ip();
        self.role = Some(role);
        for (x, file) in own {
            let entry = SwarmEntry {
                info_hash: InfoHash(file.info_hash),
                own: true,
                bootstrap_ip: ip,
                x,
                date: today,
                running: false,
            };
            self.join(entry, file, Vec::new()).await;
        }
        self.announce().await;
        self.update_advert();
    }

    async fn announce(&mut self) {
        let Some(role) = &self.role else { return };
        let errors = role
            .announce(&self.dht, self.engine.local_addr().port())
            .await;
        self.last_announce = Some(self.now());
        for e in errors {
            self.error(format!("announce: {e}"));
        }
    }

    fn update_advert(&mut self) {
        let Some(role) = &mut self.role else { return };
        let advert = role.count_members(&self.links);
        let members = role.members();
        if let Some((_, control)) = &self.current {
            if control.x() != advert {
                tracing::info!(?advert, "HAVE-order advert changed");
                control.set_x(advert);
            }
        }
        self.status.send_modify(|s| {
            s.is_bootstrap = true;
            s.advert = advert;
            s.members = members;
        });
    }

    async fn leave(&mut self, ih: InfoHash, complete: bool) {
        // A bootstrap node keeps serving its own swarms.
        if self.members.get(&ih).is_none_or(|m| m.own) {
            return;
        }
        let Some(m) = self.members.remove(&ih) else {
            return;
        };
        views_lock(&self.views).remove(&ih);
        if let Some(s) = m.swarm {
            s.leave().await;
        }
        self.status
            .send_modify(|s| s.swarms.retain(|e| e.info_hash != ih));
        let now = self.now();
        if let Some(action) = self.planner.on_swarm_ended(now, ih.0, complete) {
            self.on_action(action).await;
        }
    }

    async fn on_action(&mut self, action: RoleAction) {
        match action {
            RoleAction::BecomeBootstrap => self.become_bootstrap().await,
            RoleAction::Rebootstrap => {
                tracing::info!("bootstrapping again");
                self.status.send_modify(|s| s.rebootstraps += 1);
            }
            RoleAction::Lookup { .. } => {}
        }
    }

    async fn maintain(&mut self) {
        let now = self.now();
        // Popular torrent done: keep seeding it, hide x in the next one.
        let done = self
            .current
            .as_ref()
            .is_some_and(|(h, _)| h.stats().complete);
        if done && !self.popular.as_slice().is_empty() {
            self.next_popular().await;
        }
        self.update_advert();
        let due = self
            .last_announce
            .is_some_and(|t| now.saturating_sub(t) >= self.cfg.reannounce);
        if due {
            self.announce().await;
        }
        // Joined swarms without any neighbour for too long are lost.
        let mut live: HashMap<InfoHash, usize> = HashMap::new();
        for n in self.links.neighbours() {
            *live.entry(n.swarm).or_default() += 1;
        }
        let mut lost = Vec::new();
        for (ih, m) in self.members.iter_mut() {
            if m.own || live.get(ih).copied().unwrap_or(0) > 0 {
                m.last_neighbour = now;
            } else if now.saturating_sub(m.last_neighbour) >= self.cfg.role.lost_after {
                lost.push(*ih);
            }
        }
        for ih in lost {
            self.leave(ih, false).await;
        }
        for action in self.planner.poll(now) {
            self.on_action(action).await;
        }
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
