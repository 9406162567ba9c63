#!/usr/bin/env python3
"""A libtorrent 2.x leecher for the swarmfs bridge tests, loopback only.

usage: lt_leech.py TORRENT SAVE_DIR HOST:PORT

Dials HOST:PORT (the bridge) and prints "DONE pieces=N" once every piece is verified by
libtorrent's own hash check, then exits 0. TCP only; no DHT, LSD, UPnP, NAT-PMP, web seeds
(url-list entries are removed so every byte comes from the peer); no encryption (libtorrent
would otherwise try MSE first and lose a second per connection to a peer that does not speak it).
"""
import sys
import time
import warnings

warnings.filterwarnings("ignore", category=DeprecationWarning)
import libtorrent as lt  # noqa: E402


def main():
    torrent, save, peer = sys.argv[1:4]
    host, _, port = peer.rpartition(":")
    if not host.startswith("127."):
        sys.exit("refusing a non-loopback peer")
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
    ses = lt.session(s)
    ti = lt.torrent_info(torrent)
    ti.set_web_seeds([])
    atp = lt.add_torrent_params()
    atp.ti = ti
    atp.save_path = save
    h = ses.add_torrent(atp)
    deadline = time.time() + 240
    last = 0.0
    while True:
        st = h.status()
        if st.is_seeding:
            print("DONE pieces=%d" % st.num_pieces, flush=True)
            return
        if time.time() > deadline:
            sys.exit("leech: not complete after 240 s: %s %.3f" % (st.state, st.progress))
        if st.num_peers == 0 and time.time() - last > 1.0:
            h.connect_peer((host, int(port)))
            last = time.time()
        for a in ses.pop_alerts():
            if isinstance(a, lt.torrent_error_alert):
                sys.exit("leech: " + a.message())
        time.sleep(0.05)


if __name__ == "__main__":
    main()
