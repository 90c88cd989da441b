"""A libtorrent peer controlled by JSON lines on stdin/stdout.

Each request is one JSON object with an "id" and a "cmd"; each answer is one
line {"id": .., "ok": true, "result": ..} or {"id": .., "ok": false,
"error": "..."}. One process holds at most one session. Logs go to stderr so
stdout carries answers only. Needs Debian's python3-libtorrent (2.0.x).
"""

import json
import os
import sys
import time
import traceback
import warnings

import libtorrent as lt

SESSION = None
TORRENTS = {}  # hex info hash -> torrent_handle


def settings(port, dht, dht_bootstrap):
    s = {
        "listen_interfaces": "127.0.0.1:%d" % port,
        "enable_dht": bool(dht),
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        # Plain TCP: what our engine and librqbit (TcpOnly) speak.
        "enable_incoming_utp": False,
        "enable_outgoing_utp": False,
        "allow_multiple_connections_per_ip": True,
        "alert_mask": lt.alert.category_t.error_notification
        | lt.alert.category_t.status_notification,
        # Loopback speed tests: no artificial ceilings.
        "connections_limit": 500,
        "active_downloads": -1,
        "active_seeds": -1,
        "active_limit": -1,
        "upload_rate_limit": 0,
        "download_rate_limit": 0,
        "max_out_request_queue": 2000,
        "max_allowed_in_request_queue": 4000,
        "send_buffer_watermark": 8 * 1024 * 1024,
        "send_buffer_low_watermark": 1024 * 1024,
        "send_buffer_watermark_factor": 150,
        "request_queue_time": 10,
        "unchoke_slots_limit": -1,
        "aio_threads": 4,
        "checking_mem_usage": 2048,
        "peer_connect_timeout": 3,
        "min_reconnect_time": 1,
        "tracker_completion_timeout": 10,
        "tracker_receive_timeout": 5,
        "user_agent": "lt_peer/" + lt.__version__,
    }
    if dht:
        s["dht_bootstrap_nodes"] = ",".join(dht_bootstrap or [])
        # Every node of a loopback DHT shares one IP: lift the anti-sybil limits.
        s["dht_restrict_routing_ips"] = False
        s["dht_restrict_search_ips"] = False
        s["dht_enforce_node_id"] = False
        s["dht_prefer_verified_node_ids"] = False
        s["dht_ignore_dark_internet"] = False
    return s


def drain_alerts():
    if SESSION is not None:
        for a in SESSION.pop_alerts():
            if a.category() & lt.alert.category_t.error_notification:
                print("lt alert: %s" % a.message(), file=sys.stderr)


def cmd_start(req):
    global SESSION
    if SESSION is not None:
        raise RuntimeError("session already started")
    SESSION = lt.session(
        settings(req.get("port", 0), req.get("dht", False), req.get("dht_bootstrap"))
    )
    deadline = time.time() + 10
    while SESSION.listen_port() == 0:
        drain_alerts()
        if time.time() > deadline:
            raise RuntimeError("libtorrent did not start listening")
        time.sleep(0.02)
    return {"port": SESSION.listen_port()}


def cmd_create_torrent(req):
    path = os.path.abspath(req["path"])
    fs = lt.file_storage()
    lt.add_files(fs, path)
    if fs.num_files() == 0:
        raise RuntimeError("no files under %s" % path)
    ct = lt.create_torrent(fs, req.get("piece_size", 0), flags=lt.create_torrent.v1_only)
    for i, url in enumerate(req.get("trackers", [])):
        ct.add_tracker(url, i)
    lt.set_piece_hashes(ct, os.path.dirname(path))
    data = lt.bencode(ct.generate())
    info = lt.torrent_info(data)
    return {
        "torrent": data.hex(),
        "info_hash": str(info.info_hashes().v1),
        "piece_length": info.piece_length(),
        "num_pieces": info.num_pieces(),
    }


def need_session():
    if SESSION is None:
        raise RuntimeError("no session: send start first")
    return SESSION


def handle_of(req):
    h = TORRENTS.get(req["info_hash"])
    if h is None:
        raise RuntimeError("unknown torrent %s" % req["info_hash"])
    return h


def connect_peers(h, peers):
    for p in peers:
        host, port = p.rsplit(":", 1)
        h.connect_peer((host.strip("[]"), int(port)))


def cmd_add_torrent(req):
    ses = need_session()
    info = lt.torrent_info(bytes.fromhex(req["torrent"]))
    atp = lt.add_torrent_params()
    atp.ti = info
    atp.save_path = os.path.abspath(req["save_path"])
    if req.get("seed") and req.get("seed_mode", True):
        # The data is known-good: verify lazily instead of a full recheck.
        atp.flags |= lt.torrent_flags.seed_mode
    if req.get("trackers"):
        atp.trackers = req["trackers"]
    h = ses.add_torrent(atp)
    ih = str(info.info_hashes().v1)
    TORRENTS[ih] = h
    connect_peers(h, req.get("peers", []))
    return {"info_hash": ih}


def cmd_connect(req):
    connect_peers(handle_of(req), req["peers"])
    return {}


def status_of(h):
    st = h.status()
    return {
        "progress": st.progress,
        "state": str(st.state),
        "download_rate": st.download_rate,
        "upload_rate": st.upload_rate,
        "num_peers": st.num_peers,
        "is_seeding": st.is_seeding,
        "is_finished": st.is_finished,
        "total_wanted_done": st.total_wanted_done,
        "total_wanted": st.total_wanted,
        "error": st.errc.message() if st.errc.value() else None,
    }


def cmd_status(req):
    drain_alerts()
    return status_of(handle_of(req))


def cmd_wait(req):
    """Waits until the torrent seeds (condition "seeding") or has >= n peers."""
    h = handle_of(req)
    cond = req.get("condition", "seeding")
    deadline = time.time() + req.get("timeout", 60)
    while True:
        drain_alerts()
        st = status_of(h)
        if st["error"]:
            raise RuntimeError("torrent error: %s" % st["error"])
        if cond == "seeding" and st["is_seeding"]:
            return st
        if cond == "peers" and st["num_peers"] >= req.get("n", 1):
            return st
        if time.time() > deadline:
            raise RuntimeError("timed out waiting for %s: %s" % (cond, json.dumps(st)))
        time.sleep(0.05)


def cmd_force_dht_announce(req):
    handle_of(req).force_dht_announce()
    return {}


def cmd_force_reannounce(req):
    handle_of(req).force_reannounce()
    return {}


def cmd_session_status(req):
    ses = need_session()
    drain_alerts()
    with warnings.catch_warnings():
        # session.status() is deprecated but still the simplest node count.
        warnings.simplefilter("ignore", DeprecationWarning)
        nodes = ses.status().dht_nodes
    return {"listen_port": ses.listen_port(), "dht_nodes": nodes}


COMMANDS = {
    "start": cmd_start,
    "create_torrent": cmd_create_torrent,
    "add_torrent": cmd_add_torrent,
    "connect": cmd_connect,
    "status": cmd_status,
    "wait": cmd_wait,
    "force_dht_announce": cmd_force_dht_announce,
    "force_reannounce": cmd_force_reannounce,
    "session_status": cmd_session_status,
}


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        rid = None
        try:
            req = json.loads(line)
            rid = req.get("id")
            if req.get("cmd") == "shutdown":
                print(json.dumps({"id": rid, "ok": True, "result": {}}), flush=True)
                break
            fn = COMMANDS.get(req.get("cmd"))
            if fn is None:
                raise RuntimeError("unknown command %r" % req.get("cmd"))
            reply = {"id": rid, "ok": True, "result": fn(req)}
        except Exception as e:  # reported to the Rust side, which fails the test
            traceback.print_exc(file=sys.stderr)
            reply = {"id": rid, "ok": False, "error": "%s: %s" % (type(e).__name__, e)}
        print(json.dumps(reply), flush=True)
    # Leaving without session teardown is fine: the process is disposable.
    os._exit(0)


if __name__ == "__main__":
    main()
