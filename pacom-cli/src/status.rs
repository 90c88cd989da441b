//! `pacom status`: the daemon's snapshot as JSON, and its human rendering.

use serde_json::{json, Value};

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
