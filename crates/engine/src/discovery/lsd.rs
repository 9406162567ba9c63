//! BEP 14 local service discovery over `socket2` multicast sockets.
//!
//! One task per engine owns the sockets: the configured group (IPv4 `239.192.152.143:6771` by
//! default) and, with the default group, the IPv6 group `[ff15::efc0:988f]:6771` when the host
//! has IPv6 multicast. It announces the engine's torrents with our cookie and offers the sender
//! of every announce naming one of our torrents to that torrent; our own announces (our
//! cookie) are ignored.
//!
//! BEP 14: "As long as a client is participating in a swarm it should send a LSD announce every
//! 5 minutes"; "a client should send no more than 1 announce per minute"; "When sending multiple
//! infohashes the packet length should not exceed 1400 bytes". So each datagram carries every
//! torrent due (up to 1400 bytes), and datagrams are at least the minimum gap apart.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU16;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use swarmfs_metainfo::InfoHash;
use swarmfs_wire::lsd::{LSD_IPV4, LSD_IPV6};
use swarmfs_wire::{LsdAnnounce, LsdCookie};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::{Discovery, DiscoveryTorrent, PeerSink, PeerSource};
use crate::tasks::Tasks;

/// BEP 14's datagram size limit.
pub(crate) const MAX_DATAGRAM: usize = 1400;
/// Largest datagram read (longer ones are truncated and fail to parse).
const RECV_BUF: usize = 2048;

/// Settings of the LSD task.
#[derive(Clone, Debug)]
pub(crate) struct LsdConfig {
    pub(crate) group: SocketAddr,
    pub(crate) interface: Ipv4Addr,
    pub(crate) announce_interval: Duration,
    pub(crate) min_gap: Duration,
}

/// The LSD task as a [`Discovery`] source.
#[derive(Debug)]
pub(crate) struct LsdDiscovery {
    torrents: mpsc::UnboundedSender<DiscoveryTorrent>,
}

impl LsdDiscovery {
    /// Opens the sockets and starts the task. Fails when the configured group cannot be joined.
    pub(crate) fn start(
        config: LsdConfig,
        tasks: &Tasks,
        shutdown: watch::Receiver<bool>,
    ) -> io::Result<Self> {
        let primary = open(config.group, config.interface)?;
        let mut sockets = vec![(primary, config.group)];
        if config.group == LSD_IPV4 {
            match open(LSD_IPV6, config.interface) {
                Ok(s) => sockets.push((s, LSD_IPV6)),
                Err(e) => tracing::debug!(error = %e, "no ipv6 lsd"),
            }
        }
        let cookie = random_cookie();
        let (tx, rx) = mpsc::unbounded_channel();
        let task = LsdTask {
            config,
            sockets,
            cookie,
            torrents: HashMap::new(),
            last_send: None,
        };
        tasks.spawn(task.run(rx, shutdown));
        Ok(Self { torrents: tx })
    }
}

impl Discovery for LsdDiscovery {
    fn name(&self) -> &'static str {
        "lsd"
    }

    fn add_torrent(&self, torrent: DiscoveryTorrent) {
        let _ = self.torrents.send(torrent);
    }
}

/// One socket joined to `group` on `interface`, bound to the group's port on every address
/// (so unicast datagrams to that port are heard too), with loopback of our own datagrams on.
fn open(group: SocketAddr, interface: Ipv4Addr) -> io::Result<UdpSocket> {
    let socket = match group.ip() {
        IpAddr::V4(g) => {
            let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
            s.set_reuse_address(true)?;
            s.bind(&SockAddr::from(SocketAddr::from((
                Ipv4Addr::UNSPECIFIED,
                group.port(),
            ))))?;
            if g.is_multicast() {
                s.join_multicast_v4(&g, &interface)?;
                s.set_multicast_loop_v4(true)?;
                // BEP 14: "implementations may want to set the IP_MULTICAST_TTL socket option
                // to a value above 1".
                s.set_multicast_ttl_v4(32)?;
                if !interface.is_unspecified() {
                    s.set_multicast_if_v4(&interface)?;
                }
            }
            s
        }
        IpAddr::V6(g) => {
            let s = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
            s.set_only_v6(true)?;
            s.set_reuse_address(true)?;
            s.bind(&SockAddr::from(SocketAddr::from((
                Ipv6Addr::UNSPECIFIED,
                group.port(),
            ))))?;
            if g.is_multicast() {
                s.join_multicast_v6(&g, 0)?;
                s.set_multicast_loop_v6(true)?;
            }
            s
        }
    };
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket.into())
}

fn random_cookie() -> LsdCookie {
    let bytes: [u8; 4] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    // Eight hex digits are visible ASCII.
    LsdCookie::new(hex).unwrap_or_else(|_| unreachable!("hex digits are a valid cookie"))
}

struct Announced {
    sink: PeerSink,
    port: u16,
    next: Instant,
}

struct LsdTask {
    config: LsdConfig,
    sockets: Vec<(UdpSocket, SocketAddr)>,
    cookie: LsdCookie,
    torrents: HashMap<InfoHash, Announced>,
    last_send: Option<Instant>,
}

impl LsdTask {
    async fn run(
        mut self,
        mut added: mpsc::UnboundedReceiver<DiscoveryTorrent>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let tick = self
            .config
            .min_gap
            .min(Duration::from_secs(1))
            .max(Duration::from_millis(10));
        let mut ticker = tokio::time::interval(tick);
        let mut buf_a = vec![0u8; RECV_BUF];
        let mut buf_b = vec![0u8; RECV_BUF];
        loop {
            let (first, second) = match self.sockets.as_slice() {
                [a] => (&a.0, None),
                [a, b, ..] => (&a.0, Some(&b.0)),
                [] => return,
            };
            tokio::select! {
                _ = crate::engine::stopped(&mut shutdown) => return,
                t = added.recv() => match t {
                    Some(t) => {
                        self.torrents.insert(t.info_hash, Announced {
                            sink: t.sink,
                            port: t.listen_port,
                            next: Instant::now(),
                        });
                        self.announce_due().await;
                    }
                    None => return,
                },
                r = first.recv_from(&mut buf_a) => {
                    if let Ok((n, from)) = r {
                        self.heard(&buf_a[..n], from);
                    }
                }
                r = recv_opt(second, &mut buf_b) => {
                    if let Ok((n, from)) = r {
                        self.heard(&buf_b[..n], from);
                    }
                }
                _ = ticker.tick() => {
                    self.torrents.retain(|_, t| !t.sink.is_closed());
                    self.announce_due().await;
                }
            }
        }
    }

    /// An incoming datagram: peers for the torrents it names that we have.
    fn heard(&self, datagram: &[u8], from: SocketAddr) {
        let a = match LsdAnnounce::parse(datagram) {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!(%from, error = %e, "not an lsd announce");
                return;
            }
        };
        if a.cookie.as_ref() == Some(&self.cookie) {
            return; // our own announce, looped back
        }
        let peer = SocketAddr::new(from.ip(), a.port.get());
        for ih in &a.info_hashes {
            if let Some(t) = self.torrents.get(ih) {
                t.sink.offer(peer, PeerSource::Lsd);
            }
        }
    }

    /// Sends one datagram with the torrents due, if the rate limit allows.
    async fn announce_due(&mut self) {
        let now = Instant::now();
        if self
            .last_send
            .is_some_and(|at| now.duration_since(at) < self.config.min_gap)
        {
            return;
        }
        // Every torrent of one engine listens on the same port; group by port anyway.
        let mut due: Vec<(InfoHash, u16)> = self
            .torrents
            .iter()
            .filter(|(_, t)| t.next <= now)
            .map(|(ih, t)| (*ih, t.port))
            .collect();
        let Some(&(_, port)) = due.first() else {
            return;
        };
        due.retain(|(_, p)| *p == port);
        let Some(port) = NonZeroU16::new(port) else {
            return;
        };
        for (socket, group) in &self.sockets {
            let batch = batch(*group, port, &self.cookie, &due);
            let datagram = batch.to_bytes();
            if let Err(e) = socket.send_to(&datagram, *group).await {
                tracing::debug!(%group, error = %e, "lsd send failed");
            }
        }
        let sent = batch(self.sockets[0].1, port, &self.cookie, &due).info_hashes;
        for ih in sent {
            if let Some(t) = self.torrents.get_mut(&ih) {
                t.next = now + self.config.announce_interval;
            }
        }
        self.last_send = Some(now);
    }
}

/// The announce of as many of `due` as fit in [`MAX_DATAGRAM`] bytes (at least one).
pub(crate) fn batch(
    group: SocketAddr,
    port: NonZeroU16,
    cookie: &LsdCookie,
    due: &[(InfoHash, u16)],
) -> LsdAnnounce {
    let mut a = LsdAnnounce {
        host: group,
        port,
        info_hashes: Vec::new(),
        cookie: Some(cookie.clone()),
    };
    let base = a.to_bytes().len();
    // "Infohash: " + 40 hex digits + CRLF.
    let per = 10 + 40 + 2;
    let fit = (MAX_DATAGRAM.saturating_sub(base) / per).max(1);
    a.info_hashes = due.iter().take(fit).map(|(ih, _)| *ih).collect();
    a
}

async fn recv_opt(s: Option<&UdpSocket>, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
    match s {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discovery::sink;

    /// A group on a free port, multicast over the loopback interface (works without a
    /// namespace when the interface is given explicitly).
    fn loopback_config(min_gap: Duration, interval: Duration) -> LsdConfig {
        let port = std::net::UdpSocket::bind(("127.0.0.1", 0))
            .and_then(|s| s.local_addr())
            .expect("port")
            .port();
        LsdConfig {
            group: SocketAddr::from((Ipv4Addr::new(239, 192, 152, 143), port)),
            interface: Ipv4Addr::LOCALHOST,
            announce_interval: interval,
            min_gap,
        }
    }

    #[tokio::test]
    async fn own_announces_are_ignored_and_others_become_peers() {
        let config = loopback_config(Duration::from_millis(20), Duration::from_millis(50));
        let group = config.group;
        let tasks = Tasks::default();
        let stop = watch::Sender::new(false);
        let lsd = LsdDiscovery::start(config, &tasks, stop.subscribe()).expect("lsd");
        // A listener in the group sees our announces.
        let listener = open(group, Ipv4Addr::LOCALHOST).expect("listener");
        let ih = InfoHash([7; 20]);
        let (s, mut rx) = sink();
        lsd.add_torrent(DiscoveryTorrent {
            info_hash: ih,
            listen_port: 4242,
            sink: s,
        });
        let mut buf = vec![0u8; RECV_BUF];
        let mut ours = 0;
        while ours < 3 {
            let (n, _) = tokio::time::timeout(Duration::from_secs(5), listener.recv_from(&mut buf))
                .await
                .expect("announce heard")
                .expect("recv");
            let a = LsdAnnounce::parse(&buf[..n]).expect("parses");
            assert_eq!(a.info_hashes, vec![ih]);
            assert_eq!(a.port.get(), 4242);
            assert_eq!(a.host, group);
            ours += 1;
        }
        // Three of our announces looped back to our own socket: none became a peer.
        assert!(rx.try_recv().is_err(), "own announce offered as a peer");
        // Someone else's announce (another cookie) names our torrent and another one.
        let other = LsdAnnounce {
            host: group,
            port: NonZeroU16::new(5555).expect("nonzero"),
            info_hashes: vec![InfoHash([1; 20]), ih],
            cookie: Some(LsdCookie::new("someone-else").expect("cookie")),
        };
        listener
            .send_to(&other.to_bytes(), group)
            .await
            .expect("send");
        let (addr, source) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("offered")
            .expect("open");
        assert_eq!(addr, SocketAddr::from(([127, 0, 0, 1], 5555)));
        assert_eq!(source, PeerSource::Lsd);
        // Garbage is ignored, the task lives on.
        listener
            .send_to(b"BT-SEARCH junk", group)
            .await
            .expect("send");
        stop.send_replace(true);
        tasks.wait_idle().await;
    }

    #[tokio::test]
    async fn announces_respect_the_minimum_gap() {
        // Every torrent is always due; only the gap limits the sending.
        let gap = Duration::from_millis(200);
        let config = loopback_config(gap, Duration::ZERO);
        let group = config.group;
        let tasks = Tasks::default();
        let stop = watch::Sender::new(false);
        let lsd = LsdDiscovery::start(config, &tasks, stop.subscribe()).expect("lsd");
        let listener = open(group, Ipv4Addr::LOCALHOST).expect("listener");
        let mut keep = Vec::new();
        for i in 0..30u8 {
            let (s, rx) = sink();
            keep.push(rx);
            lsd.add_torrent(DiscoveryTorrent {
                info_hash: InfoHash([i; 20]),
                listen_port: 4242,
                sink: s,
            });
        }
        let window = Duration::from_millis(1000);
        let start = Instant::now();
        let mut datagrams = 0u32;
        let mut buf = vec![0u8; RECV_BUF];
        while let Ok(r) =
            tokio::time::timeout_at(start + window, listener.recv_from(&mut buf)).await
        {
            let (n, _) = r.expect("recv");
            assert!(n <= MAX_DATAGRAM);
            datagrams += 1;
        }
        // At most one datagram per gap (plus the first), however many torrents are added.
        assert!(datagrams >= 2, "{datagrams} datagrams");
        assert!(
            datagrams <= 1 + (window.as_millis() / gap.as_millis()) as u32,
            "{datagrams} datagrams in {window:?}"
        );
        stop.send_replace(true);
        tasks.wait_idle().await;
    }

    #[test]
    fn batches_stay_under_1400_bytes_and_carry_the_cookie() {
        let cookie = LsdCookie::new("abcd1234").expect("cookie");
        let due: Vec<(InfoHash, u16)> = (0..100u8).map(|i| (InfoHash([i; 20]), 6881)).collect();
        let port = NonZeroU16::new(6881).expect("nonzero");
        let a = batch(LSD_IPV4, port, &cookie, &due);
        let bytes = a.to_bytes();
        assert!(bytes.len() <= MAX_DATAGRAM, "{} bytes", bytes.len());
        assert!(
            a.info_hashes.len() > 20,
            "{} per datagram",
            a.info_hashes.len()
        );
        let parsed = LsdAnnounce::parse(&bytes).expect("parses");
        assert_eq!(parsed.cookie.as_ref(), Some(&cookie));
        assert_eq!(
            parsed.info_hashes,
            due[..a.info_hashes.len()]
                .iter()
                .map(|d| d.0)
                .collect::<Vec<_>>()
        );
        let one = batch(LSD_IPV4, port, &cookie, &due[..1]);
        assert_eq!(one.info_hashes.len(), 1);
    }
}
