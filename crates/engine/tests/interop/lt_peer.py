#!/usr/bin/env python3
"""A libtorrent peer for swarmfs interop tests, loopback only.

usage: lt_peer.py seed  TORRENT SAVE_DIR            # prints "READY port=P" once seeding; runs until stdin closes
       lt_peer.py leech TORRENT SAVE_DIR HOST:PORT  # prints "DONE" and exits 0 once every piece is verified

TCP only, no DHT/LSD/UPnP/NAT-PMP, no encryption (libtorrent otherwise tries MSE/PE first and
loses a second per connection to a peer that does not speak it).
"""
import sys
import threading
import time
import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning)
import libtorrent as lt  # noqa: E402


def session():
    s = dict(lt.default_settings())
    s.update({
        "listen_interfaces": "127.0.0.1:0",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "allow_multiple_connections_per_ip": True,
        "out_enc_policy": 2,
        "in_enc_policy": 1,
        "alert_mask": lt.alert.category_t.status_notification | lt.alert.category_t.error_notification,
    })
    return lt.session(s)


def main():
    mode, torrent, save = sys.argv[1:4]
    peer = sys.argv[4] if len(sys.argv) > 4 else None
    ses = session()
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(torrent)
    atp.save_path = save
    h = ses.add_torrent(atp)
    deadline = time.time() + 60
    if mode == "seed":
        while not h.status().is_seeding:
            if time.time() > deadline:
                sys.exit("seed: data did not check")
            time.sleep(0.05)
        print("READY port=%d" % ses.listen_port(), flush=True)
        done = threading.Event()
        threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
        done.wait(120)
        return
    host, _, port = peer.rpartition(":")
    last = 0.0
    while True:
        st = h.status()
        if st.is_seeding:
            print("DONE", flush=True)
            return
        if time.time() > deadline:
            sys.exit("leech: not complete after 60 s: %s %.3f" % (st.state, st.progress))
        if st.num_peers == 0 and time.time() - last > 1.0:
            h.connect_peer((host, int(port)))
            last = time.time()
        for a in ses.pop_alerts():
            if isinstance(a, lt.torrent_error_alert):
                sys.exit("leech: " + a.message())
        time.sleep(0.05)


if __name__ == "__main__":
    main()
