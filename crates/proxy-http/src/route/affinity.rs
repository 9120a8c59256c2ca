//! Stable hashing for session affinity by client address.
//!
//! Rendezvous (highest random weight) hashing: every origin scores every client and the highest
//! score wins, so removing an origin moves only its own clients and adding one takes a fair share
//! from each. The hash is fixed (FNV-1a, then a 64-bit finalizer), not randomly keyed, so every
//! proxy instance and every restart sends a client to the same origin.

use std::net::IpAddr;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The hash of a client address; an IPv4 client seen through a dual-stack socket hashes like
/// the plain IPv4 address.
pub(super) fn client_key(client: IpAddr) -> u64 {
    match client.to_canonical() {
        IpAddr::V4(v4) => hash_bytes(&v4.octets()),
        IpAddr::V6(v6) => hash_bytes(&v6.octets()),
    }
}

/// The hash of an origin name, computed once per routing snapshot.
pub(super) fn name_key(name: &str) -> u64 {
    hash_bytes(name.as_bytes())
}

/// How strongly an origin with `name_key` and `weight` claims the client with `client_key`;
/// the highest score wins. Weighted rendezvous: `weight / -ln(u)` with `u` uniform in (0, 1).
pub(super) fn score(client_key: u64, name_key: u64, weight: u32) -> f64 {
    let unit = ((mix64(client_key ^ name_key) >> 11) as f64 + 0.5) / (1_u64 << 53) as f64;
    f64::from(weight.max(1)) / -unit.ln()
}

/// The murmur3 64-bit finalizer: spreads every input bit over the whole output.
pub(super) fn mix64(mut value: u64) -> u64 {
    value ^= value >> 33;
    value = value.wrapping_mul(0xff51_afd7_ed55_8ccd);
    value ^= value >> 33;
    value = value.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    value ^ (value >> 33)
}

fn hash_bytes(bytes: &[u8]) -> u64 {
    let fnv = bytes.iter().fold(FNV_OFFSET, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(FNV_PRIME)
    });
    mix64(fnv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_v4_hashes_like_v4() {
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_key(v4), client_key(mapped));
        assert_ne!(client_key(v4), client_key("192.0.2.8".parse().unwrap()));
    }

    #[test]
    fn heavier_origins_win_proportionally_more_clients() {
        let (light, heavy) = (name_key("light"), name_key("heavy"));
        let heavy_wins = (0..4_000_u32)
            .map(|n| client_key(IpAddr::from(n.to_be_bytes())))
            .filter(|client| score(*client, heavy, 3) > score(*client, light, 1))
            .count();
        assert!((2_800..3_200).contains(&heavy_wins), "{heavy_wins}");
    }
}
