#!/usr/bin/env python3
"""A libtorrent peer that finds and is found through a private loopback DHT, for swarmfs's
discovery interop tests.

usage: discovery_lt.py seed  TORRENT SAVE_DIR BOOTSTRAP   # prints "READY port=P" once seeding
                                                          # and announced; runs until stdin closes
       discovery_lt.py leech MAGNET  SAVE_DIR BOOTSTRAP   # prints "DONE <ms>" once every piece verified

The leecher waits for its DHT bootstrap before adding the magnet, then prints "PEER <ms>" and
"METADATA <ms>" (milliseconds since the magnet was added) as they happen.

BOOTSTRAP is a comma-separated list of 127.0.0.1:PORT DHT nodes (never a public router: the
settings are given to the session constructor, so libtorrent's default bootstrap is never used),
or `lsd`: no DHT, BEP 14 local service discovery announcing every second instead (run it only
inside a private network namespace).
No UPnP, NAT-PMP, uTP or encryption. Loopback settings from ../shared/peers/NOTES.md: no
one-node-per-/24 rule, no DoS blocker on 127.0.0.1, a DHT upload limit that is not zero.
"""
import sys
import threading
import time
import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning)
import libtorrent as lt  # noqa: E402


def session(bootstrap):
    lsd = bootstrap == "lsd"
    for node in ([] if lsd else bootstrap.split(",")):
        if not node.startswith("127.0.0.1:"):
            sys.exit("refusing non-loopback bootstrap node " + node)
    s = dict(lt.default_settings())
    s.update({
        "listen_interfaces": "127.0.0.1:0",
        "outgoing_interfaces": "",
        "enable_dht": not lsd,
        "dht_bootstrap_nodes": "" if lsd else bootstrap,
        "enable_lsd": lsd,
        "local_service_announce_interval": 1,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_ip_notifier": False,
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_prefer_verified_node_ids": False,
        "dht_ignore_dark_internet": False,
        "dht_upload_rate_limit": 1000000,
        "dht_block_ratelimit": 100000,
        "dht_block_timeout": 1,
        "dht_announce_interval": 5,
        "allow_multiple_connections_per_ip": True,
        "out_enc_policy": 2,
        "in_enc_policy": 1,
        "min_reconnect_time": 1,
        "peer_connect_timeout": 3,
        "alert_mask": lt.alert.category_t.status_notification
        | lt.alert.category_t.error_notification
        | lt.alert.category_t.dht_notification,
    })
    return lt.session(s)


def main():
    mode, what, save, bootstrap = sys.argv[1:5]
    ses = session(bootstrap)
    if mode == "leech" and bootstrap != "lsd":
        wait_bootstrap(ses)
    if mode == "seed":
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(what)
    else:
        atp = lt.parse_magnet_uri(what)
    atp.save_path = save
    h = ses.add_torrent(atp)
    t0 = time.time()
    deadline = t0 + 90
    if mode == "seed":
        while not h.status().is_seeding:
            if time.time() > deadline:
                sys.exit("seed: data did not check")
            time.sleep(0.05)
        h.force_dht_announce()
        print("READY port=%d" % ses.listen_port(), flush=True)
        done = threading.Event()
        threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
        while not done.wait(3):
            h.force_dht_announce()
        return
    last = 0.0
    ms = lambda: (time.time() - t0) * 1e3  # noqa: E731
    peer = meta = False
    while True:
        st = h.status()
        if not peer and st.num_peers > 0:
            peer = True
            print("PEER %.1f" % ms(), flush=True)
        if not meta and st.has_metadata:
            meta = True
            print("METADATA %.1f" % ms(), flush=True)
        if st.is_seeding:
            print("DONE %.1f" % ms(), flush=True)
            return
        if time.time() > deadline:
            sys.exit("leech: not complete after 90 s: %s %.3f peers=%d"
                     % (st.state, st.progress, st.num_peers))
        if st.num_peers == 0 and time.time() - last > 2.0:
            h.force_dht_announce()
            last = time.time()
        for a in ses.pop_alerts():
            if isinstance(a, lt.torrent_error_alert):
                sys.exit("leech: " + a.message())
        time.sleep(0.005)


def wait_bootstrap(ses):
    """Until the routing table holds 5 nodes (dht_stats_alert; libtorrent keeps its bootstrap
    nodes out of it), at most 15 s."""
    end = time.time() + 15
    while time.time() < end:
        ses.post_dht_stats()
        ses.wait_for_alert(100)
        for a in ses.pop_alerts():
            if isinstance(a, lt.dht_stats_alert):
                if sum(b["num_nodes"] for b in a.routing_table) >= 5:
                    return
        time.sleep(0.05)
    print("leech: dht routing table still small after 15 s, going on", file=sys.stderr)


if __name__ == "__main__":
    main()
