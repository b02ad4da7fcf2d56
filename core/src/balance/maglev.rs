//! Envoy's MAGLEV load balancer. (Stub.)

/// A built Maglev table over hosts given as `(hash key, weight)`.
#[derive(Debug, Clone, Default)]
pub struct Maglev {
    hosts: u32,
}

impl Maglev {
    /// Envoy's default table size (prime).
    pub const DEFAULT_TABLE_SIZE: u64 = 65537;
    /// Envoy's proto limit on the table size.
    pub const MAX_TABLE_SIZE: u64 = 5_000_011;

    /// Builds the table.
    pub fn build(hosts: &[(&str, u32)], _table_size: u64) -> Self {
        Maglev { hosts: hosts.len() as u32 }
    }

    /// The host index for request hash `hash` on retry attempt `attempt` (0 first).
    pub fn pick(&self, hash: u64, attempt: u32) -> Option<u32> {
        if self.hosts == 0 {
            None
        } else {
            Some(((hash ^ attempt as u64) % self.hosts as u64) as u32)
        }
    }
}
