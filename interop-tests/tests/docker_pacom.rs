//! A dockerised PACOM network, end to end: the images of `docker/` (no
//! registry), a popular torrent seeded and downloaded by libtorrent, a DHT
//! seed (`pacom dht-node`), one bootstrap node and six PACOM nodes, each a
//! container with its own address on a private network.
//!
//! Every newcomer must join a PACOM swarm by itself (decode x from the
//! bootstrap node's HAVE order, find the swarm on the DHT); a message then
//! crosses a circuit between two containers; a relay of that circuit is cut
//! off with `docker network disconnect`, and a second message must arrive
//! over a rebuilt circuit that avoids it. Last, a SOCKS5 port published on
//! the host (profile `socks`) carries curl's request through a PACOM circuit
//! and an exit to a web server in the swarm. Then everything is torn down.
//!
//! Skipped (with the reason printed) when no Docker engine answers.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use interop_tests::docker::{
    build_images, compose_file, leftovers, pacom_binary, prepare, unique_project, wait_for, Compose,
};
use serde_json::Value;

const NODES: u32 = 6;

/// One PACOM container: `bootstrap` #1 or `node` #1..=NODES.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Pacom {
    service: &'static str,
    index: u32,
}

impl Pacom {
    fn name(&self) -> String {
        match self.service {
            "node" => format!("node{}", self.index),
            other => other.into(),
        }
    }
}

const BOOTSTRAP: Pacom = Pacom {
    service: "bootstrap",
    index: 1,
};

fn all() -> Vec<Pacom> {
    std::iter::once(BOOTSTRAP)
        .chain((1..=NODES).map(|index| Pacom {
            service: "node",
            index,
        }))
        .collect()
}

/// `pacom ARGS` in a PACOM container; its stdout, or an error with stderr.
fn pacom(swarm: &Compose, p: Pacom, args: &[&str]) -> Result<String> {
    let mut cmd = vec!["pacom"];
    cmd.extend_from_slice(args);
    let out = swarm.exec(p.service, p.index, &cmd)?;
    ensure!(
        out.success(),
        "pacom {args:?} in {} failed: {}{}",
        p.name(),
        out.stdout,
        out.stderr
    );
    Ok(out.stdout)
}

fn status(swarm: &Compose, p: Pacom) -> Result<Value> {
    let out = pacom(swarm, p, &["status", "--json"])?;
    serde_json::from_str(&out).with_context(|| format!("status of {}: {out}", p.name()))
}

/// The PACOM swarms `s` joined (not created) and runs, from its bootstrap section.
fn joined(s: &Value) -> Vec<Value> {
    s["bootstrap"]["swarms"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|e| e["running"] == true && e["own"] == false)
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// Neighbour id → IP of the peer, from a status.
fn neighbour_ips(s: &Value) -> HashMap<u64, String> {
    s["neighbours"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| {
            let ip = n["addr"].as_str()?.rsplit_once(':')?.0.to_owned();
            Some((n["id"].as_u64()?, ip))
        })
        .collect()
}

/// The containers each container has a link with.
type Graph = HashMap<Pacom, BTreeSet<Pacom>>;

fn graph(swarm: &Compose, by_ip: &HashMap<String, Pacom>) -> Result<Graph> {
    let mut g = Graph::new();
    for p in all() {
        let s = status(swarm, p)?;
        for ip in neighbour_ips(&s).values() {
            if let Some(q) = by_ip.get(ip) {
                g.entry(p).or_default().insert(*q);
                g.entry(*q).or_default().insert(p);
            }
        }
    }
    Ok(g)
}

/// Whether `a` reaches `b` in `g` without crossing `avoid`.
fn connected_without(g: &Graph, a: Pacom, b: Pacom, avoid: Pacom) -> bool {
    let mut seen = BTreeSet::from([a]);
    let mut queue = VecDeque::from([a]);
    while let Some(p) = queue.pop_front() {
        if p == b {
            return true;
        }
        for q in g.get(&p).into_iter().flatten() {
            if *q != avoid && seen.insert(*q) {
                queue.push_back(*q);
            }
        }
    }
    false
}

fn show(g: &Graph) -> String {
    let mut lines: Vec<String> = g
        .iter()
        .map(|(p, qs)| {
            let qs: Vec<String> = qs.iter().map(Pacom::name).collect();
            format!("  {} - {}", p.name(), qs.join(" "))
        })
        .collect();
    lines.sort();
    lines.join("\n")
}

/// The session of `s`'s status with the contact of fingerprint `fp`.
fn session_with<'a>(s: &'a Value, fp: &str) -> Option<&'a Value> {
    s["sessions"]
        .as_array()?
        .iter()
        .find(|x| x["peer"].as_str() == Some(fp))
}

/// The first hops (containers) of the circuits of `from`'s session with `fp`.
fn first_hops(s: &Value, fp: &str, by_ip: &HashMap<String, Pacom>) -> Vec<Pacom> {
    let ips = neighbour_ips(s);
    session_with(s, fp)
        .and_then(|x| x["circuits"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|c| ips.get(&c["neighbour"].as_u64()?))
        .filter_map(|ip| by_ip.get(ip).copied())
        .collect()
}

/// Sends `text` from `from` to `to` (queued; delivery is checked in the inbox).
fn send(swarm: &Compose, from: Pacom, to: Pacom, text: &str) -> Result<()> {
    pacom(
        swarm,
        from,
        &["send", &to.name(), "--message", text, "--no-wait"],
    )?;
    Ok(())
}

/// Waits until `to`'s inbox holds `text`, verified and from `from_fp`.
fn wait_inbox(swarm: &Compose, to: Pacom, text: &str, from_fp: &str) -> Result<Duration> {
    let t = Instant::now();
    wait_for(
        &format!("{text:?} in the inbox of {}", to.name()),
        Duration::from_secs(120),
        Duration::from_secs(1),
        || {
            let out = pacom(swarm, to, &["inbox", "--json"])?;
            for line in out.lines().filter(|l| !l.trim().is_empty()) {
                let r: Value = serde_json::from_str(line)?;
                if r["text"].as_str() == Some(text) {
                    ensure!(r["verified"] == true, "unverified record: {r}");
                    ensure!(
                        r["from_fingerprint"].as_str() == Some(from_fp),
                        "record from someone else: {r}"
                    );
                    return Ok(Some(()));
                }
            }
            Ok(None)
        },
    )?;
    Ok(t.elapsed())
}

#[test]
fn pacom_nodes_in_docker_bootstrap_talk_and_route_around_a_cut_relay() -> Result<()> {
    if !prepare()? {
        return Ok(());
    }
    let t0 = Instant::now();
    let bin = pacom_binary()?;
    let log = build_images(Some(&bin))?;
    println!("{log}images ready in {:?}", t0.elapsed());

    let t = Instant::now();
    let project = unique_project("pacom");
    let seed = format!("popular-{project}");
    let mut swarm = Compose::up_with(
        &project,
        &compose_file(),
        &[
            ("node", NODES),
            ("popular-leech", 1),
            ("socks", 0),
            ("web", 0),
        ],
        &[
            ("COMPOSE_PROFILES", "socks"),
            ("PACOM_POPULAR_SEED", seed.as_str()),
            // One circuit per peer pair: cutting its relay forces a rebuild.
            ("PACOM_CIRCUITS", "1"),
        ],
    )?;
    let net = swarm.network("pacomnet");
    println!("swarm {project} up in {:?}", t.elapsed());
    let result = exercise(&swarm, &net, t);
    if result.is_err() {
        for service in ["dht-seed", "bootstrap", "node"] {
            match swarm.logs(service) {
                Ok(l) => eprintln!("--- logs of {service} (last lines)\n{}", tail(&l, 60)),
                Err(e) => eprintln!("no logs of {service}: {e:#}"),
            }
        }
    }
    result?;

    let t = Instant::now();
    swarm.down()?;
    let left = leftovers(&project)?;
    assert!(left.is_empty(), "left behind after down: {left:?}");
    println!(
        "torn down in {:?}; whole test {:?}",
        t.elapsed(),
        t0.elapsed()
    );
    Ok(())
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Everything between up and down; `up` is when the swarm started.
fn exercise(swarm: &Compose, net: &str, up: Instant) -> Result<()> {
    let pacoms = all();
    let mut by_ip = HashMap::new();
    let mut fp = HashMap::new();
    let mut contact = HashMap::new();
    for p in &pacoms {
        let c = swarm.container(p.service, p.index)?;
        by_ip.insert(swarm.ip(&c, net)?, *p);
    }
    // Identities exist once the entry point ran `pacom init`.
    for p in &pacoms {
        let id = wait_for(
            &format!("the identity of {}", p.name()),
            Duration::from_secs(60),
            Duration::from_millis(500),
            || Ok(pacom(swarm, *p, &["id"]).ok()),
        )?;
        let mut lines = id.lines();
        let c = lines.next().context("pacom id printed nothing")?.to_owned();
        let f = lines
            .next()
            .and_then(|l| l.strip_prefix("fingerprint "))
            .context("pacom id printed no fingerprint")?
            .to_owned();
        contact.insert(*p, c);
        fp.insert(*p, f);
    }

    // Nodes 1-2 and nodes 4-5 cannot reach each other (like peers behind
    // NATs): circuits between them need relays, nodes 3 and 6 or the
    // bootstrap node, so there is always a way around one relay.
    let ip_of: HashMap<Pacom, String> = by_ip.iter().map(|(ip, p)| (*p, ip.clone())).collect();
    let node = |index| Pacom {
        service: "node",
        index,
    };
    let (left, right) = ([node(1), node(2)], [node(4), node(5)]);
    for a in left {
        for b in right {
            for (from, to) in [(a, b), (b, a)] {
                let out = swarm.exec(
                    from.service,
                    from.index,
                    &[
                        "ip",
                        "route",
                        "add",
                        "prohibit",
                        &format!("{}/32", ip_of[&to]),
                    ],
                )?;
                ensure!(
                    out.success(),
                    "ip route add prohibit in {}: {}",
                    from.name(),
                    out.stderr
                );
            }
        }
    }

    // Every newcomer joins a PACOM swarm through the bootstrap node's HAVE order.
    let bootstrap_ip = by_ip
        .iter()
        .find(|(_, p)| **p == BOOTSTRAP)
        .map(|(ip, _)| ip.clone())
        .context("no bootstrap address")?;
    for p in pacoms.iter().filter(|p| **p != BOOTSTRAP) {
        let s = wait_for(
            &format!("{} to join a PACOM swarm", p.name()),
            Duration::from_secs(180),
            Duration::from_secs(2),
            || {
                let s = status(swarm, *p)?;
                Ok((!joined(&s).is_empty()
                    && s["neighbours"].as_array().is_some_and(|n| !n.is_empty()))
                .then_some(s))
            },
        )?;
        let b = &s["bootstrap"];
        let decoded: Vec<&Value> = b["decoded"].as_array().into_iter().flatten().collect();
        ensure!(
            decoded
                .iter()
                .any(|d| d["ip"].as_str() == Some(bootstrap_ip.as_str())),
            "{} joined without decoding the bootstrap node's x: {b:#}",
            p.name()
        );
        let swarms: Vec<String> = joined(&s)
            .iter()
            .map(|e| {
                format!(
                    "x={} of {}",
                    e["x"],
                    e["bootstrap_ip"].as_str().unwrap_or("?")
                )
            })
            .collect();
        println!(
            "{} joined {} {:?} after the swarm started (decoded {})",
            p.name(),
            swarms.join(", "),
            up.elapsed(),
            decoded
                .iter()
                .map(|d| format!("x={} from {}", d["x"], d["ip"].as_str().unwrap_or("?")))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let b = status(swarm, BOOTSTRAP)?;
    ensure!(
        b["bootstrap"]["is_bootstrap"] == true,
        "the bootstrap node does not act as one: {:#}",
        b["bootstrap"]
    );
    println!("bootstrap node's swarms: {}", b["bootstrap"]["members"]);

    // Address books: the nodes on each side know those on the other by name.
    for (a, b) in left
        .iter()
        .flat_map(|a| right.iter().map(move |b| (*a, *b)))
    {
        pacom(swarm, a, &["contacts", "add", &b.name(), &contact[&b]])?;
        pacom(swarm, b, &["contacts", "add", &a.name(), &contact[&a]])?;
    }

    let g = graph(swarm, &by_ip)?;
    println!("links:\n{}", show(&g));
    for a in left {
        for b in right {
            ensure!(
                !g.get(&a).is_some_and(|n| n.contains(&b)),
                "{} and {} have a link although they cannot reach each other",
                a.name(),
                b.name()
            );
        }
    }
    // Pairs that are not neighbours; the circuit's relay is whoever answered first.
    let pairs: Vec<(Pacom, Pacom)> = left
        .iter()
        .flat_map(|a| right.iter().map(move |b| (*a, *b)))
        .collect();

    for (attempt, (s, t)) in pairs.iter().copied().enumerate() {
        let text = format!("hello {} from {} #{attempt}", t.name(), s.name());
        let t1 = Instant::now();
        send(swarm, s, t, &text)?;
        let took = wait_inbox(swarm, t, &text, &fp[&s])?;
        let st = status(swarm, s)?;
        let hops = first_hops(&st, &fp[&t], &by_ip);
        println!(
            "{} -> {}: delivered in {took:?} (sent {:?} ago), first hops {:?}",
            s.name(),
            t.name(),
            t1.elapsed(),
            hops.iter().map(Pacom::name).collect::<Vec<_>>()
        );
        let relay = hops
            .iter()
            .copied()
            .find(|r| *r != t && *r != BOOTSTRAP && connected_without(&g, s, t, *r));
        let Some(relay) = relay else {
            continue;
        };
        let session = session_with(&st, &fp[&t]).context("no session")?;
        let rebuilds_before = session["rebuilds"].as_u64().unwrap_or(0);
        let built_before = st["stats"]["circuits_built"].as_u64().unwrap_or(0);

        // Cut the relay off; the next message must find another way.
        let relay_container = swarm.container(relay.service, relay.index)?;
        swarm.disconnect(&relay_container, net)?;
        println!("cut {} ({relay_container}) off the network", relay.name());
        let text2 = format!("{text} again, around {}", relay.name());
        send(swarm, s, t, &text2)?;
        let took = wait_inbox(swarm, t, &text2, &fp[&s])?;
        let st = wait_for(
            "a circuit that avoids the cut relay",
            Duration::from_secs(60),
            Duration::from_secs(1),
            || {
                let st = status(swarm, s)?;
                let hops = first_hops(&st, &fp[&t], &by_ip);
                Ok((!hops.is_empty() && !hops.contains(&relay)).then_some(st))
            },
        )?;
        let hops = first_hops(&st, &fp[&t], &by_ip);
        let session = session_with(&st, &fp[&t]).context("no session")?;
        let rebuilds = session["rebuilds"].as_u64().unwrap_or(0);
        let built = st["stats"]["circuits_built"].as_u64().unwrap_or(0);
        println!(
            "{} -> {} again: delivered in {took:?}, first hops now {:?}, session rebuilds {rebuilds_before} -> {rebuilds}, circuits built {built_before} -> {built}",
            s.name(),
            t.name(),
            hops.iter().map(Pacom::name).collect::<Vec<_>>()
        );
        ensure!(
            rebuilds > rebuilds_before || built > built_before,
            "no circuit was rebuilt after cutting {}: {session:#}",
            relay.name()
        );
        let exit = [3, 6, 2]
            .into_iter()
            .map(node)
            .find(|p| *p != relay)
            .context("no exit")?;
        return socks_from_the_host(swarm, exit, &contact[&exit]);
    }
    bail!(
        "no circuit between two nodes that cannot reach each other crossed a relay \
         other than the bootstrap node; links:\n{}",
        show(&g)
    )
}

/// The `socks` profile: one more PACOM node offering SOCKS5 on a port of the
/// host, streams leaving at `exit`; curl fetches the swarm's web server's
/// copy of the popular .torrent through it.
fn socks_from_the_host(swarm: &Compose, exit: Pacom, exit_contact: &str) -> Result<()> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port()
        .to_string();
    let t = Instant::now();
    swarm.up_services(
        &["socks", "web"],
        &[
            ("PACOM_SOCKS_EXIT", exit_contact),
            ("PACOM_SOCKS_PORT", port.as_str()),
        ],
    )?;
    let socks = Pacom {
        service: "socks",
        index: 1,
    };
    wait_for(
        "the socks node to join a PACOM swarm",
        Duration::from_secs(180),
        Duration::from_secs(2),
        || Ok(status(swarm, socks).ok().filter(|s| !joined(s).is_empty())),
    )?;
    let want = pacom_sha1(swarm)?;
    let proxy = format!("127.0.0.1:{port}");
    let got = wait_for(
        "curl through the SOCKS port",
        Duration::from_secs(90),
        Duration::from_secs(2),
        || {
            let out = std::process::Command::new("curl")
                .args(["-sS", "--max-time", "30", "--socks5-hostname", &proxy])
                .arg("http://web:8080/popular.torrent")
                .output()
                .context("running curl")?;
            Ok(out.status.success().then_some(out.stdout))
        },
    )?;
    use sha1::{Digest, Sha1};
    let got_sha1 = hex::encode(Sha1::digest(&got));
    ensure!(
        got_sha1 == want,
        "curl through SOCKS got {} bytes with SHA-1 {got_sha1}, the swarm's file has {want}",
        got.len()
    );
    println!(
        "SOCKS on the host's {proxy} through exit {}: {} bytes, SHA-1 {got_sha1} as in the swarm, {:?} after the socks node started",
        exit.name(),
        got.len(),
        t.elapsed()
    );
    Ok(())
}

/// SHA-1 of the popular .torrent in the shared volume.
fn pacom_sha1(swarm: &Compose) -> Result<String> {
    let out = swarm.exec("node", 1, &["sha1sum", "/torrents/popular.torrent"])?;
    ensure!(out.success(), "sha1sum failed: {}", out.stderr);
    let h = out.stdout.split_whitespace().next().unwrap_or_default();
    ensure!(h.len() == 40, "odd sha1sum output: {}", out.stdout);
    Ok(h.to_owned())
}
