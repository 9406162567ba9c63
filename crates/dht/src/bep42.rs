//! BEP 42: node ids derived from the node's external IP, so that an attacker cannot pick ids.
//!
//! "The first 21 bits of the node ID must match the first 21 bits of crc32c((ip & mask) | (r << 29))",
//! with `r` the low 3 bits of the id's last byte. Local and private addresses are exempt
//! ("... IP addresses in the following ranges are exempt: 10.0.0.0/8, 172.16.0.0/12,
//! 192.168.0.0/16, 169.254.0.0/16, 127.0.0.0/8").

use std::net::IpAddr;

use rand::RngCore;

use crate::id::Id;

const V4_MASK: [u8; 4] = [0x03, 0x0f, 0x3f, 0xff];
const V6_MASK: [u8; 8] = [0x01, 0x03, 0x07, 0x0f, 0x1f, 0x3f, 0x7f, 0xff];

/// Derives a BEP 42 node id for `ip`, with `rand` choosing `r` (its low 3 bits) and the last byte;
/// the middle bytes come from `rng`.
pub fn node_id_for_ip(ip: IpAddr, rand: u8, rng: &mut impl RngCore) -> Id {
    let mut id = Id::random(rng).0;
    let crc = ip_crc(ip, rand & 7);
    id[0] = (crc >> 24) as u8;
    id[1] = (crc >> 16) as u8;
    id[2] = ((crc >> 8) as u8 & 0xf8) | (id[2] & 0x07);
    id[19] = rand;
    Id(id)
}

/// True when `id` is a valid BEP 42 id for `ip`, or `ip` is exempt.
pub fn is_valid_node_id(id: &Id, ip: IpAddr) -> bool {
    if is_exempt(ip) {
        return true;
    }
    let crc = ip_crc(ip, id.0[19] & 7);
    id.0[0] == (crc >> 24) as u8
        && id.0[1] == (crc >> 16) as u8
        && (id.0[2] & 0xf8) == ((crc >> 8) as u8 & 0xf8)
}

/// Loopback, private and link-local addresses are exempt from BEP 42 checks.
pub fn is_exempt(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

fn ip_crc(ip: IpAddr, r: u8) -> u32 {
    match ip {
        IpAddr::V4(v4) => {
            let mut bytes = v4.octets();
            for (byte, mask) in bytes.iter_mut().zip(V4_MASK) {
                *byte &= mask;
            }
            bytes[0] |= r << 5;
            crc32c(&bytes)
        }
        IpAddr::V6(v6) => {
            let mut bytes: [u8; 8] = [0; 8];
            bytes.copy_from_slice(&v6.octets()[..8]);
            for (byte, mask) in bytes.iter_mut().zip(V6_MASK) {
                *byte &= mask;
            }
            bytes[0] |= r << 5;
            crc32c(&bytes)
        }
    }
}

/// CRC-32C (Castagnoli), bitwise.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// The BEP's table: IP, rand, and the id prefix / suffix it must give.
    const VECTORS: [(&str, u8, &str); 5] = [
        ("124.31.75.21", 1, "5fbfbf"),
        ("21.75.31.124", 86, "5a3ce9"),
        ("65.23.51.170", 22, "a5d432"),
        ("84.124.73.14", 65, "1b0321"),
        ("43.213.53.83", 90, "e56f6c"),
    ];

    #[test]
    fn bep42_test_vectors() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for (ip, rand, prefix) in VECTORS {
            let ip: IpAddr = ip.parse().unwrap();
            let id = node_id_for_ip(ip, rand, &mut rng);
            let hex = id.to_string();
            assert_eq!(&hex[..5], &prefix[..5], "{ip}");
            assert_eq!(
                u8::from_str_radix(&hex[4..6], 16).unwrap() & 0xf8,
                u8::from_str_radix(&prefix[4..6], 16).unwrap() & 0xf8
            );
            assert_eq!(id.0[19], rand);
            assert!(is_valid_node_id(&id, ip));
            let mut forged = id;
            forged.0[0] ^= 0x80;
            assert!(!is_valid_node_id(&forged, ip));
        }
    }

    #[test]
    fn crc32c_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn local_addresses_are_exempt() {
        let id = Id([0; 20]);
        for ip in ["127.0.0.1", "10.1.2.3", "192.168.0.9", "::1"] {
            assert!(is_valid_node_id(&id, ip.parse().unwrap()), "{ip}");
        }
        assert!(!is_valid_node_id(&id, "8.8.8.8".parse().unwrap()));
    }
}
