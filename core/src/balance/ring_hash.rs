//! Envoy's RING_HASH ("ketama") load balancer. (Stub.)

/// A built ring over hosts given as `(hash key, weight)`.
#[derive(Debug, Clone, Default)]
pub struct RingHash {
    hosts: u32,
}

impl RingHash {
    /// Envoy's default `minimum_ring_size`.
    pub const DEFAULT_MIN_RING_SIZE: u64 = 1024;
    /// Envoy's default (and largest) `maximum_ring_size`.
    pub const MAX_RING_SIZE: u64 = 8 * 1024 * 1024;

    /// Builds the ring; `hosts` in host-set order, key is `ip:port`.
    pub fn build(hosts: &[(&str, u32)], _min_ring_size: u64, _max_ring_size: u64) -> Self {
        RingHash { hosts: hosts.len() as u32 }
    }

    /// The host index for request hash `hash` on retry attempt `attempt` (0 first).
    pub fn pick(&self, hash: u64, attempt: u32) -> Option<u32> {
        if self.hosts == 0 {
            None
        } else {
            Some(((hash + attempt as u64) % self.hosts as u64) as u32)
        }
    }
}
