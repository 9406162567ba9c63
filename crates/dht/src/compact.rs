//! Compact node and peer encodings (BEP 5, BEP 32).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::id::Id;

/// A node's id and UDP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeInfo {
    /// The node's id.
    pub id: Id,
    /// Where it listens.
    pub addr: SocketAddr,
}

/// Compact IPv4 node info length: 20-byte id, 4-byte IP, 2-byte port.
pub(crate) const NODE_V4_LEN: usize = 26;
/// Compact IPv6 node info length: 20-byte id, 16-byte IP, 2-byte port.
pub(crate) const NODE_V6_LEN: usize = 38;

/// Appends the compact form of an address (6 or 18 bytes).
pub(crate) fn put_addr(buf: &mut Vec<u8>, addr: &SocketAddr) {
    match addr.ip() {
        IpAddr::V4(ip) => buf.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => buf.extend_from_slice(&ip.octets()),
    }
    buf.extend_from_slice(&addr.port().to_be_bytes());
}

/// Reads a compact address of 6 (IPv4) or 18 (IPv6) bytes.
pub(crate) fn read_addr(bytes: &[u8]) -> Option<SocketAddr> {
    match bytes.len() {
        6 => {
            let ip = Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]);
            let port = u16::from_be_bytes([bytes[4], bytes[5]]);
            Some(SocketAddr::V4(SocketAddrV4::new(ip, port)))
        }
        18 => {
            let octets: [u8; 16] = bytes[..16].try_into().ok()?;
            let port = u16::from_be_bytes([bytes[16], bytes[17]]);
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(octets),
                port,
                0,
                0,
            )))
        }
        _ => None,
    }
}

/// Encodes nodes of one family as a compact string (nodes of the other family are skipped).
pub(crate) fn encode_nodes(nodes: &[NodeInfo], v6: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(nodes.len() * NODE_V6_LEN);
    for node in nodes.iter().filter(|n| n.addr.is_ipv6() == v6) {
        out.extend_from_slice(node.id.as_bytes());
        put_addr(&mut out, &node.addr);
    }
    out
}

/// Decodes a compact node string; `None` when its length is not a multiple of the entry size.
pub(crate) fn decode_nodes(bytes: &[u8], v6: bool) -> Option<Vec<NodeInfo>> {
    let entry = if v6 { NODE_V6_LEN } else { NODE_V4_LEN };
    if !bytes.len().is_multiple_of(entry) {
        return None;
    }
    bytes
        .chunks_exact(entry)
        .map(|chunk| {
            Some(NodeInfo {
                id: Id::from_slice(&chunk[..20])?,
                addr: read_addr(&chunk[20..])?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_round_trip_per_family() {
        let nodes = vec![
            NodeInfo {
                id: Id([1; 20]),
                addr: "127.0.0.1:6881".parse().unwrap(),
            },
            NodeInfo {
                id: Id([2; 20]),
                addr: "[::1]:6882".parse().unwrap(),
            },
        ];
        let v4 = encode_nodes(&nodes, false);
        assert_eq!(v4.len(), NODE_V4_LEN);
        assert_eq!(decode_nodes(&v4, false).unwrap(), vec![nodes[0]]);
        let v6 = encode_nodes(&nodes, true);
        assert_eq!(decode_nodes(&v6, true).unwrap(), vec![nodes[1]]);
        assert_eq!(decode_nodes(&v4[..25], false), None);
    }
}
