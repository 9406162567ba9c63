#!/usr/bin/env python3
"""Streaming over HTTP: `swarmfs serve` beside rqbit's stream endpoint, same seeder, same run.

One seeder seeds a file of --mib MiB (default 1024): `swarmfs seed` (default), or with
--seeder lt a libtorrent session (python bindings). All on loopback, no DHT/LSD. Then, interleaved swarmfs / rqbit:

- time to first byte of `GET <file>` with `Range: bytes=<50%>-` on a torrent that was just
  added (metadata known, nothing downloaded on purpose): a fresh `swarmfs serve` process per
  run (the whole process, file storage under the scratch dir); for rqbit one `rqbit server`
  whose torrent is added through its API (`POST /torrents`, waits for the metadata), streamed
  at `/torrents/{id}/stream/0`, then deleted with its files. Median of --runs (10).
- throughput of a whole-file `GET` through a fresh torrent on each side (--tp-runs, 3).

Prints both sides and the ratios (rqbit / swarmfs for time, swarmfs / rqbit for rate), plus
CPU seconds of each server process over the throughput runs.

Run (release binary first):
    cargo build --release -p swarmfs-cli
    python3 crates/http/benches/vs_rqbit.py [--mib 1024] [--runs 10] [--tp-runs 3]
Environment: SWARMFS (default target/release/swarmfs), RQBIT (default ~/.cargo/bin/rqbit),
BENCH_DIR (default /tmp/http-lane/vs_rqbit; the payload is kept there between runs, delete it
after). Loopback only.
"""
import argparse
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning)
try:
    import libtorrent as lt  # only for --seeder lt
except ImportError:
    lt = None

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_payload(path, mib):
    if os.path.exists(path) and os.path.getsize(path) == mib << 20:
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        for i in range(mib):
            f.write(hashlib.sha256(i.to_bytes(8, "little")).digest() * (1 << 15))


def make_torrent(path, piece):
    fs = lt.file_storage()
    lt.add_files(fs, path)
    ct = lt.create_torrent(fs, piece)
    lt.set_piece_hashes(ct, os.path.dirname(path))
    return lt.torrent_info(lt.bencode(ct.generate()))


def seeder(ti, parent):
    s = dict(lt.default_settings())
    s.update({
        "listen_interfaces": "127.0.0.1:0", "enable_dht": False, "enable_lsd": False,
        "enable_upnp": False, "enable_natpmp": False, "enable_outgoing_utp": False,
        "enable_incoming_utp": False, "allow_multiple_connections_per_ip": True,
    })
    ses = lt.session(s)
    atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = parent
    atp.flags = atp.flags & ~lt.torrent_flags.auto_managed & ~lt.torrent_flags.paused
    h = ses.add_torrent(atp)
    t0 = time.monotonic()
    while not h.status().is_seeding:
        time.sleep(0.05)
        if time.monotonic() - t0 > 300:
            sys.exit("libtorrent seeder: not seeding after 300 s")
    return ses, h


def request(port, path, rng, read_all):
    """GET; returns (seconds to first body byte, body bytes, total seconds)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    hdr = "Range: bytes=%d-\r\n" % rng if rng is not None else ""
    t0 = time.monotonic()
    s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s\r\n" % (path, hdr)).encode())
    head = b""
    first = None
    body = 0
    buf = bytearray(1 << 20)
    while True:
        n = s.recv_into(buf)
        if n == 0:
            break
        if first is None:
            head += bytes(buf[:n])
            p = head.find(b"\r\n\r\n")
            if p < 0:
                continue
            status = head.split(b" ", 2)[1]
            if status not in (b"200", b"206"):
                raise RuntimeError("HTTP %s: %r" % (status, head[:300]))
            extra = len(head) - p - 4
            if extra == 0:
                continue
            first = time.monotonic() - t0
            body += extra
            if not read_all:
                break
            continue
        body += n
    total = time.monotonic() - t0
    s.close()
    return first, body, total


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Swarmfs:
    name = "swarmfs"

    def __init__(self, binary, magnet, scratch, fname):
        self.binary, self.magnet, self.scratch, self.fname = binary, magnet, scratch, fname
        self.proc = None

    def start(self, run):
        d = os.path.join(self.scratch, "sw-%s" % run)
        shutil.rmtree(d, ignore_errors=True)
        self.port = free_port()
        self.proc = subprocess.Popen(
            [self.binary, "serve", self.magnet, "--http", "127.0.0.1:%d" % self.port, "--no-dht",
             "--no-lsd", "--no-pex", "--storage-dir", d, "--timeout", "60"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()  # printed once the metadata is known and it listens
        if not line.startswith("http://"):
            raise RuntimeError("swarmfs serve printed %r" % line)
        self.dir = d
        return self.port, "/" + self.fname

    def stop(self):
        cpu = cpu_seconds(self.proc.pid)
        self.proc.terminate()
        self.proc.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)
        return cpu


class Rqbit:
    name = "rqbit"

    def __init__(self, binary, magnet, scratch, seed_port):
        self.api = free_port()
        self.scratch = os.path.join(scratch, "rq")
        shutil.rmtree(self.scratch, ignore_errors=True)
        os.makedirs(self.scratch)
        self.magnet, self.seed_port = magnet, seed_port
        self.proc = subprocess.Popen(
            [binary, "--disable-dht", "--disable-dht-persistence", "--disable-lsd",
             "--disable-upnp-port-forward", "--disable-trackers", "--listen-ip", "127.0.0.1",
             "--listen-port", str(free_port()), "--http-api-listen-addr", "127.0.0.1:%d" % self.api,
             "server", "start", "--disable-persistence", self.scratch],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=dict(os.environ, NO_COLOR="1"))
        for _ in range(200):
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/" % self.api, timeout=1).read()
                break
            except Exception:
                time.sleep(0.05)
        else:
            raise RuntimeError("rqbit server did not come up")

    def start(self, run):
        out = os.path.join(self.scratch, "rq-%s" % run)
        url = ("http://127.0.0.1:%d/torrents?overwrite=true&output_folder=%s&initial_peers=127.0.0.1:%d"
               % (self.api, out, self.seed_port))
        req = urllib.request.Request(url, data=self.magnet.encode(), method="POST")
        res = json.loads(urllib.request.urlopen(req, timeout=60).read())
        self.id = res["id"]
        return self.api, "/torrents/%d/stream/0" % self.id

    def stop(self):
        req = urllib.request.Request("http://127.0.0.1:%d/torrents/%d/delete" % (self.api, self.id),
                                     data=b"", method="POST")
        urllib.request.urlopen(req, timeout=60).read()
        return None

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        shutil.rmtree(self.scratch, ignore_errors=True)


def fmt(xs, unit, scale=1.0):
    xs = sorted(x * scale for x in xs)
    return "median %.1f %s (min %.1f, max %.1f, n=%d)" % (statistics.median(xs), unit, xs[0], xs[-1], len(xs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--piece-kib", type=int, default=256)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--tp-runs", type=int, default=3)
    ap.add_argument("--seeder", choices=["swarmfs", "lt"], default="swarmfs",
                    help="the one seeder both sides download from")
    a = ap.parse_args()
    scratch = os.environ.get("BENCH_DIR", "/tmp/http-lane/vs_rqbit")
    binary = os.environ.get("SWARMFS", os.path.join(ROOT, "target/release/swarmfs"))
    rqbin = os.environ.get("RQBIT", os.path.expanduser("~/.cargo/bin/rqbit"))
    fname = "bench.bin"
    payload = os.path.join(scratch, "seed", fname)
    make_payload(payload, a.mib)
    seed_proc = None
    if a.seeder == "lt":
        ti = make_torrent(payload, a.piece_kib * 1024)
        ses, _h = seeder(ti, os.path.dirname(payload))
        port = ses.listen_port()
        ih = str(ti.info_hash())
        desc = "libtorrent %s, %d KiB pieces" % (lt.__version__, a.piece_kib)
    else:
        seed_proc = subprocess.Popen([binary, "seed", payload, "--no-dht", "--no-lsd", "--no-pex"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = seed_proc.stdout.readline().strip()
        if not line.startswith("magnet:?xt=urn:btih:"):
            raise RuntimeError("swarmfs seed printed %r" % line)
        ih = line.split("btih:")[1][:40]
        port = int(line.rsplit("x.pe=", 1)[1].replace("%3A", ":").rsplit(":", 1)[1])
        desc = "swarmfs seed (its own piece length)"
    magnet = "magnet:?xt=urn:btih:%s&dn=%s" % (ih, fname)
    print("payload %d MiB, seeder %s on 127.0.0.1:%d" % (a.mib, desc, port), flush=True)
    sw = Swarmfs(binary, magnet + "&x.pe=127.0.0.1:%d" % port, scratch, fname)
    rq = Rqbit(rqbin, magnet, scratch, port)
    size = a.mib << 20
    ttfb = {"swarmfs": [], "rqbit": []}
    try:
        for i in range(a.runs):
            for side in (sw, rq) if i % 2 == 0 else (rq, sw):
                p, path = side.start("t%d" % i)
                first, n, _ = request(p, path, size // 2, False)
                side.stop()
                ttfb[side.name].append(first)
        tp = {"swarmfs": [], "rqbit": []}
        cpu_sw = []
        rq_cpu0 = cpu_seconds(rq.proc.pid)
        rq_cpu = 0.0
        for i in range(a.tp_runs):
            for side in (sw, rq) if i % 2 == 0 else (rq, sw):
                p, path = side.start("p%d" % i)
                c0 = cpu_seconds(rq.proc.pid)
                _, n, total = request(p, path, None, True)
                if n != size:
                    raise RuntimeError("%s sent %d of %d bytes" % (side.name, n, size))
                c = side.stop()
                if side is sw:
                    cpu_sw.append(c)
                else:
                    rq_cpu += cpu_seconds(rq.proc.pid) - c0
                tp[side.name].append(a.mib / total)
        del rq_cpu0
    finally:
        rq.close()
        if seed_proc:
            seed_proc.terminate()
            seed_proc.wait(timeout=30)
    s_t, r_t = statistics.median(ttfb["swarmfs"]), statistics.median(ttfb["rqbit"])
    print("TTFB, Range at 50%% of %d MiB, fresh torrent (ms):" % a.mib)
    print("  swarmfs serve: " + fmt(ttfb["swarmfs"], "ms", 1000))
    print("  rqbit stream:  " + fmt(ttfb["rqbit"], "ms", 1000))
    print("  ratio rqbit/swarmfs: %.2fx (above 1: swarmfs first byte sooner)" % (r_t / s_t))
    s_p, r_p = statistics.median(tp["swarmfs"]), statistics.median(tp["rqbit"])
    print("whole-file GET of %d MiB, fresh torrent (MiB/s):" % a.mib)
    print("  swarmfs serve: " + fmt(tp["swarmfs"], "MiB/s"))
    print("  rqbit stream:  " + fmt(tp["rqbit"], "MiB/s"))
    print("  ratio swarmfs/rqbit: %.2fx (above 1: swarmfs faster)" % (s_p / r_p))
    print("server CPU seconds per whole-file GET: swarmfs %.2f (whole process, incl. lookup), "
          "rqbit %.2f (during the GET)" % (statistics.median(cpu_sw), rq_cpu / a.tp_runs))


if __name__ == "__main__":
    main()
