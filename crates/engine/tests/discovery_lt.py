#!/usr/bin/env python3
"""A libtorrent peer that finds and is found through a private loopback DHT, for swarmfs's
discovery interop tests.

usage: discovery_lt.py seed  TORRENT SAVE_DIR BOOTSTRAP   # prints "READY port=P" once seeding
                                                          # and announced; runs until stdin closes
       discovery_lt.py leech MAGNET  SAVE_DIR BOOTSTRAP   # prints "DONE" once every piece verified

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
    if mode == "seed":
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(what)
    else:
        atp = lt.parse_magnet_uri(what)
    atp.save_path = save
    h = ses.add_torrent(atp)
    deadline = time.time() + 90
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
    while True:
        st = h.status()
        if st.is_seeding:
            print("DONE", flush=True)
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
        time.sleep(0.05)


if __name__ == "__main__":
    main()
