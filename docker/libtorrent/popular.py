#!/usr/bin/python3
"""A plain BitTorrent peer (libtorrent) for the popular-torrent swarm.

  popular.py seed --size BYTES --seed TEXT --piece-size BYTES --data DIR --torrent FILE
      writes the popular file (deterministic content, see below) into DIR,
      creates a v1 .torrent for it at FILE and seeds it forever.
  popular.py get --torrent FILE --data DIR --peer HOST:PORT [--peer ...]
      waits for FILE, downloads the torrent from the peers (every address a
      host name resolves to: a scaled service gives all its replicas), prints
      "complete sha1=<hex>", writes the hex SHA-1 to DIR/.complete and keeps seeding.
  popular.py --self-test
      checks that libtorrent imports and can make a torrent.

Content of the popular file: SHA-1(seed || i) for i = 0, 1, 2, ... (i as an
8-byte big-endian integer), concatenated and cut to BYTES. Anyone can
recompute it, so a test can check a download against its own expectation.

No DHT, tracker, local peer discovery, UPnP or NAT-PMP: the peer talks only
to the peers it is given (and those they tell it about through PEX).
"""

import argparse
import hashlib
import os
import signal
import socket
import sys
import tempfile
import time

import libtorrent as lt

PORT = 6881
PIECE = 64 * 1024


def log(*args):
    print(time.strftime("%H:%M:%S"), *args, flush=True)


def content(seed: bytes, size: int):
    """Yields the popular file in chunks."""
    i = 0
    done = 0
    chunk = bytearray()
    while done < size:
        chunk += hashlib.sha1(seed + i.to_bytes(8, "big")).digest()
        i += 1
        if len(chunk) >= 1 << 16 or done + len(chunk) >= size:
            part = bytes(chunk[: size - done])
            done += len(part)
            chunk.clear()
            yield part


def sha1_file(path: str) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def make_torrent(path: str, out: str, piece: int = PIECE) -> bytes:
    fs = lt.file_storage()
    lt.add_files(fs, path)
    t = lt.create_torrent(fs, piece, flags=lt.create_torrent.v1_only)
    t.set_creator("pacom popular.py")
    lt.set_piece_hashes(t, os.path.dirname(path))
    data = lt.bencode(t.generate())
    tmp = out + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, out)
    return data


def session(listen_port: int) -> lt.session:
    return lt.session(
        {
            "listen_interfaces": f"0.0.0.0:{listen_port}",
            "enable_dht": False,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            "allow_multiple_connections_per_ip": True,
            "user_agent": "pacom-popular/1.0",
            "alert_mask": lt.alert.category_t.error_notification
            | lt.alert.category_t.status_notification,
        }
    )


def print_alerts(ses: lt.session):
    for a in ses.pop_alerts():
        if a.category() & lt.alert.category_t.error_notification:
            log("libtorrent:", a.message())


def resolve(peers, own_port):
    """All IPv4 addresses the given HOST:PORT names resolve to (this peer excluded)."""
    own = set()
    try:
        own = {ai[4][0] for ai in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    except OSError:
        pass
    out = set()
    for p in peers:
        host, _, port = p.rpartition(":")
        try:
            infos = socket.getaddrinfo(host, int(port), socket.AF_INET, socket.SOCK_STREAM)
        except OSError:
            continue
        for ai in infos:
            if not (ai[4][0] in own and int(port) == own_port):
                out.add((ai[4][0], int(port)))
    return sorted(out)


def add(ses: lt.session, torrent: str, data: str):
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(torrent)
    atp.save_path = data
    return ses.add_torrent(atp)


def cmd_seed(args) -> int:
    os.makedirs(args.data, exist_ok=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.torrent)), exist_ok=True)
    path = os.path.join(args.data, args.name)
    log(f"writing {path}: {args.size} bytes from seed {args.seed!r}")
    with open(path, "wb") as f:
        for part in content(args.seed.encode(), args.size):
            f.write(part)
    log(f"sha1 {sha1_file(path)}")
    make_torrent(path, args.torrent + ".new", args.piece_size)
    ses = session(args.port)
    h = add(ses, args.torrent + ".new", args.data)
    while not h.status().is_seeding:
        print_alerts(ses)
        time.sleep(0.2)
    # Published only once we can serve it, so leechers never wait on a checking seeder.
    os.replace(args.torrent + ".new", args.torrent)
    log(f"seeding {args.torrent} info hash {h.info_hash()} on port {args.port}")
    while True:
        print_alerts(ses)
        s = h.status()
        log(f"seeding peers {s.num_peers} uploaded {s.total_payload_upload}")
        time.sleep(args.report)


def cmd_get(args) -> int:
    os.makedirs(args.data, exist_ok=True)
    deadline = time.monotonic() + args.wait
    while not os.path.exists(args.torrent):
        if time.monotonic() > deadline:
            log(f"error: {args.torrent} did not appear within {args.wait} s")
            return 1
        time.sleep(0.5)
    ses = session(args.port)
    h = add(ses, args.torrent, args.data)
    name = h.torrent_file().files().file_path(0)
    log(f"downloading {name} info hash {h.info_hash()}")
    last_connect = 0.0
    last_report = 0.0
    while not h.status().is_seeding:
        print_alerts(ses)
        now = time.monotonic()
        if now - last_connect > 2.0:
            for peer in resolve(args.peer, args.port):
                h.connect_peer(peer)
            last_connect = now
        if now - last_report > args.report:
            s = h.status()
            log(f"progress {s.progress * 100:.1f}% peers {s.num_peers} state {s.state}")
            last_report = now
        time.sleep(0.2)
    digest = sha1_file(os.path.join(args.data, name))
    with open(os.path.join(args.data, ".complete.tmp"), "w") as f:
        f.write(digest + "\n")
    os.replace(os.path.join(args.data, ".complete.tmp"), os.path.join(args.data, ".complete"))
    log(f"complete sha1={digest}")
    if args.exit_on_complete:
        return 0
    while True:
        print_alerts(ses)
        s = h.status()
        log(f"seeding peers {s.num_peers} uploaded {s.total_payload_upload}")
        time.sleep(args.report)


def self_test() -> int:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "f.bin")
        with open(path, "wb") as f:
            for part in content(b"self-test", 100_000):
                f.write(part)
        data = make_torrent(path, os.path.join(d, "f.torrent"))
        info = lt.torrent_info(lt.bdecode(data))
        if info.total_size() != 100_000:
            print("self-test: wrong size", file=sys.stderr)
            return 1
    print(f"ok libtorrent {lt.__version__}")
    return 0


def main() -> int:
    # PID 1 in a container ignores SIGTERM unless it installs a handler.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--self-test", action="store_true", help="check libtorrent and exit")
    sub = p.add_subparsers(dest="cmd")
    s = sub.add_parser("seed", help="generate the popular file and seed it")
    s.add_argument("--size", type=int, default=8 << 20)
    s.add_argument("--seed", default="popular")
    s.add_argument("--name", default="popular.bin")
    # Small pieces mean many HAVE messages: room for bootstrap nodes' hidden x.
    s.add_argument("--piece-size", type=int, default=PIECE, help="bytes, a power of two >= 16384")
    g = sub.add_parser("get", help="download the popular torrent, then seed it")
    g.add_argument("--peer", action="append", default=[], help="HOST:PORT, repeatable")
    g.add_argument("--wait", type=float, default=120.0, help="seconds to wait for the .torrent")
    g.add_argument("--exit-on-complete", action="store_true")
    for q in (s, g):
        q.add_argument("--data", default="/data")
        q.add_argument("--torrent", default="/torrents/popular.torrent")
        q.add_argument("--port", type=int, default=PORT)
        q.add_argument("--report", type=float, default=5.0, help="seconds between status lines")
    args = p.parse_args()
    if args.self_test:
        return self_test()
    if args.cmd == "seed":
        return cmd_seed(args)
    if args.cmd == "get":
        return cmd_get(args)
    p.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
