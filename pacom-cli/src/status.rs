//! `pacom status`: the daemon's snapshot as JSON, and its human rendering.

use serde_json::{json, Value};

use pacom_bt::node::PacomNode;

use crate::config::ModeName;
use crate::contacts::Contacts;
use crate::daemon::Daemon;

/// Everything `pacom status --json` prints.
pub async fn snapshot(d: &Daemon) -> Value {
    let contacts = Contacts::load(d.dd.contacts()).ok();
    let name_of = |fp| contacts.as_ref().and_then(|c| c.name_of(fp));
    let swarms: Vec<Value> = d
        .with_node(|n| n.swarms())
        .unwrap_or_default()
        .into_iter()
        .map(|s| {
            json!({
                "info_hash": s.info_hash.to_hex(),
                "pieces_have": s.progress.pieces_had,
                "pieces_total": s.progress.pieces_total,
                "blocks_had": s.progress.blocks_had,
                "blocks_total": s.progress.blocks_total,
                "links": s.progress.links,
                "complete": s.stats.complete,
                "peers_connected": s.stats.peers_connected,
                "peers": s.peers.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                "download_rate": s.stats.download_rate,
                "upload_rate": s.stats.upload_rate,
            })
        })
        .collect();
    let listen = d.with_node(|n| n.local_addr().to_string());
    let bootstrap = d.with_node(bootstrap).flatten();
    let rates = d.rates();
    let st = match d.handle.status().await {
        Ok(s) => s,
        Err(e) => return json!({ "error": e.to_string() }),
    };
    let neighbours: Vec<Value> = st
        .neighbours
        .iter()
        .map(|n| {
            let s = n.stats;
            let r = rates.get(&n.id).copied().unwrap_or_default();
            let sent = s.data_frames_sent + s.cover_frames_sent;
            json!({
                "id": n.id.0,
                "addr": n.addr.to_string(),
                "swarm": n.swarm.to_hex(),
                "queued": n.queued,
                "data_frames_sent": s.data_frames_sent,
                "cover_frames_sent": s.cover_frames_sent,
                "data_frames_received": s.data_frames_received,
                "cover_frames_received": s.cover_frames_received,
                "bytes_sent": s.bytes_sent,
                "bytes_received": s.bytes_received,
                "cover_share_sent": if sent == 0 { 1.0 } else { s.cover_frames_sent as f64 / sent as f64 },
                "rate_frames_per_sec": {
                    "data_in": r.data_in, "cover_in": r.cover_in,
                    "data_out": r.data_out, "cover_out": r.cover_out,
                },
            })
        })
        .collect();
    let sessions: Vec<Value> = st
        .sessions
        .iter()
        .map(|s| {
            json!({
                "id": s.id.0,
                "peer": s.peer.map(|f| f.to_string()),
                "peer_name": s.peer.and_then(name_of),
                "circuits": s.circuits.iter().map(|(h, n)| json!({
                    "h_id": format!("{h:016x}"), "neighbour": n.0
                })).collect::<Vec<_>>(),
                "rebuilds": s.rebuilds,
                "busy": s.busy,
            })
        })
        .collect();
    let relays: Vec<Value> = st
        .relays
        .iter()
        .map(|(h, from, to)| json!({ "h_id": format!("{h:016x}"), "from": from.0, "to": to.0 }))
        .collect();
    let circuits: usize = st.sessions.iter().map(|s| s.circuits.len()).sum();
    let x = &st.stats;
    json!({
        "fingerprint": st.fingerprint.to_string(),
        "contact": d.identity.contact().to_contact_string(),
        "mode": match d.cfg.mode { ModeName::Public => "public", ModeName::Private => "private" },
        "listen": listen,
        "uptime_secs": st.uptime_secs,
        "swarms": swarms,
        "bootstrap": bootstrap,
        "neighbours": neighbours,
        "sessions": sessions,
        "circuits": circuits,
        "relays": relays,
        "stats": {
            "handshakes_started": x.handshakes_started,
            "handshakes_forwarded": x.handshakes_forwarded,
            "handshakes_accepted": x.handshakes_accepted,
            "circuits_built": x.circuits_built,
            "circuits_lost": x.circuits_lost,
            "cells_relayed": x.cells_relayed,
            "rebuilds": x.rebuilds,
            "malformed_links": x.malformed_links,
        },
        "streams": {
            "open": st.streams.open,
            "unsent_bytes": st.streams.unsent,
            "unread_bytes": st.streams.unconsumed,
            "hub_buffered_bytes": d.hub.buffered_bytes(),
        },
        "outbox": crate::outbox::load_all(&d.dd.outbox()).len(),
    })
}

/// Joining through popular torrents and the DHT; `None` without it.
fn bootstrap(n: &PacomNode) -> Option<Value> {
    let st = n.join_status()?;
    let popular = n.popular().map(|p| {
        json!({
            "info_hash": p.info_hash.to_hex(),
            "pieces_have": p.stats.pieces_have,
            "pieces_total": p.stats.pieces_total,
            "complete": p.stats.complete,
            "peers_connected": p.stats.peers_connected,
        })
    });
    let date = |d: pacom_core::bootstrap::UtcDate| {
        let (y, m, dd) = d.ymd();
        format!("{y:04}-{m:02}-{dd:02}")
    };
    Some(json!({
        "is_bootstrap": st.is_bootstrap,
        "advert": st.advert,
        "dht": n.dht_addr().map(|a| a.to_string()),
        "popular": popular,
        "decoded": st.decoded.iter().map(|(ip, x)| json!({"ip": ip.to_string(), "x": x})).collect::<Vec<_>>(),
        "lookups": st.lookups.iter().map(|l| json!({
            "ip": l.ip.to_string(),
            "x": l.x,
            "info_hash": l.info_hash.map(|h| h.to_hex()),
            "peers": l.peers.len(),
        })).collect::<Vec<_>>(),
        "swarms": st.swarms.iter().map(|e| json!({
            "info_hash": e.info_hash.to_hex(),
            "own": e.own,
            "bootstrap_ip": e.bootstrap_ip.to_string(),
            "x": e.x,
            "date": date(e.date),
            "running": e.running,
        })).collect::<Vec<_>>(),
        "members": st.members.iter().map(|&(x, m, cap)| json!({"x": x, "members": m, "cap": cap})).collect::<Vec<_>>(),
        "rebootstraps": st.rebootstraps,
        "errors": st.errors,
    }))
}

fn render_bootstrap(b: &Value, line: &mut impl FnMut(String)) {
    let empty = Vec::new();
    let list = |k: &str| b[k].as_array().unwrap_or(&empty).clone();
    let role = if b["is_bootstrap"] == true {
        format!("bootstrap node, hiding x = {}", f(b, "advert"))
    } else {
        "newcomer".to_string()
    };
    line(format!("bootstrap: {role}, DHT node on {}", f(b, "dht")));
    let p = &b["popular"];
    if p.is_object() {
        line(format!(
            "  popular torrent {}  pieces {}/{}  peers {}",
            f(p, "info_hash"),
            f(p, "pieces_have"),
            f(p, "pieces_total"),
            f(p, "peers_connected")
        ));
    }
    let decoded: Vec<String> = list("decoded")
        .iter()
        .map(|d| format!("{} x={}", f(d, "ip"), f(d, "x")))
        .collect();
    line(format!(
        "  decoded from HAVE orders: [{}]",
        decoded.join(", ")
    ));
    let found = list("lookups")
        .iter()
        .filter(|l| l["info_hash"].is_string())
        .count();
    line(format!(
        "  DHT lookups: {} ({found} found)",
        list("lookups").len()
    ));
    for e in list("swarms") {
        line(format!(
            "  {} swarm {} x={} of {} ({}){}",
            if e["own"] == true { "own" } else { "joined" },
            f(&e, "info_hash"),
            f(&e, "x"),
            f(&e, "bootstrap_ip"),
            f(&e, "date"),
            if e["running"] == true {
                ""
            } else {
                " not running"
            }
        ));
    }
    for m in list("members") {
        line(format!(
            "  own swarm x={}: {}/{} members",
            f(&m, "x"),
            f(&m, "members"),
            f(&m, "cap")
        ));
    }
    for e in list("errors").iter().rev().take(3) {
        line(format!("  error: {}", e.as_str().unwrap_or("")));
    }
}

fn f(v: &Value, k: &str) -> String {
    match &v[k] {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// The human form of a snapshot.
pub fn render(v: &Value) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line(format!(
        "node {} ({} mode) listening on {}, up {:.0} s",
        f(v, "fingerprint"),
        f(v, "mode"),
        f(v, "listen"),
        v["uptime_secs"].as_f64().unwrap_or(0.0)
    ));
    let empty = Vec::new();
    let swarms = v["swarms"].as_array().unwrap_or(&empty);
    line(format!("PACOM swarms: {}", swarms.len()));
    for s in swarms {
        line(format!(
            "  {}  blocks {}/{}  PACOM links {}  other peers {}",
            f(s, "info_hash"),
            f(s, "blocks_had"),
            f(s, "blocks_total"),
            f(s, "links"),
            f(s, "peers_connected")
        ));
    }
    if v["bootstrap"].is_object() {
        render_bootstrap(&v["bootstrap"], &mut line);
    }
    let ns = v["neighbours"].as_array().unwrap_or(&empty);
    line(format!("neighbours: {}", ns.len()));
    for n in ns {
        let r = &n["rate_frames_per_sec"];
        line(format!(
            "  #{} {}  out: {:.1} data + {:.1} cover frames/s  in: {:.1} data + {:.1} cover frames/s  queued {} B",
            f(n, "id"),
            f(n, "addr"),
            r["data_out"].as_f64().unwrap_or(0.0),
            r["cover_out"].as_f64().unwrap_or(0.0),
            r["data_in"].as_f64().unwrap_or(0.0),
            r["cover_in"].as_f64().unwrap_or(0.0),
            f(n, "queued")
        ));
    }
    let ss = v["sessions"].as_array().unwrap_or(&empty);
    line(format!(
        "sessions: {}  circuits: {}",
        ss.len(),
        f(v, "circuits")
    ));
    for s in ss {
        let who = match (&s["peer_name"], &s["peer"]) {
            (Value::String(n), _) => n.clone(),
            (_, Value::String(p)) => p.clone(),
            _ => "(incoming, sender unknown)".into(),
        };
        let circs: Vec<String> = s["circuits"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .map(|c| format!("{} via #{}", f(c, "h_id"), f(c, "neighbour")))
            .collect();
        line(format!(
            "  session {} with {}: [{}]",
            f(s, "id"),
            who,
            circs.join(", ")
        ));
    }
    line(format!("outbox: {} queued", f(v, "outbox")));
    out
}
