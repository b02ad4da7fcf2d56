//! Weighted destination choice, the way Envoy's `weighted_clusters` picks.

use super::Modulus;

/// Relative weights of a route's destinations, zero weights already dropped.
#[derive(Debug, Clone, Default)]
pub struct WeightedChoice {
    /// Running sums of the weights: `cumulative[i]` = w0 + … + wi.
    cumulative: Box<[u64]>,
    /// `% total` without a divide.
    modulus: Modulus,
    /// The sum of the weights (kept inline: the common 1- and 2-way splits
    /// are decided without touching `cumulative`).
    total: u64,
    /// `cumulative[0]`.
    first: u64,
}

impl WeightedChoice {
    /// Builds the choice over `weights` (in route order).
    ///
    /// Zero weights stay as empty ranges so indices keep matching the
    /// destination list; they can never be picked.
    pub fn new(weights: &[u32]) -> Self {
        let mut sum = 0u64;
        let cumulative = weights
            .iter()
            .map(|&w| {
                sum += u64::from(w);
                sum
            })
            .collect::<Box<[u64]>>();
        WeightedChoice {
            first: cumulative.first().copied().unwrap_or(0),
            cumulative,
            modulus: Modulus::new(sum),
            total: sum,
        }
    }

    /// The sum of the weights.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The destination index chosen by random value `entropy`, or `None` with
    /// no weight at all.
    ///
    /// Matches Envoy's weighted-cluster pick bit for bit
    /// (`source/common/router/config_impl.cc`, `WeightedClusterEntry` selection):
    /// `selected = value % total_weight`, then the first destination whose
    /// running sum exceeds `selected`, walking in configuration order.
    #[inline]
    pub fn pick(&self, entropy: u64) -> Option<usize> {
        let total = self.total;
        let n = self.cumulative.len();
        if total == 0 {
            return None;
        }
        if n == 1 {
            return Some(0);
        }
        let selected = self.modulus.remainder(entropy);
        if n == 2 {
            return Some(usize::from(selected >= self.first));
        }
        if n <= 8 {
            self.cumulative.iter().position(|&c| selected < c)
        } else {
            Some(self.cumulative.partition_point(|&c| c <= selected))
        }
    }
}

/// Weighted random choice in O(1) (Vose's alias method, integer form), for
/// picks that need no Envoy parity: random and least-request endpoint draws.
#[derive(Debug, Clone, Default)]
pub struct AliasTable {
    /// Column `i` keeps itself when the draw's fraction is below
    /// `keep[i]` (out of `total`), else it gives way to `alias[i]`.
    keep: Box<[u64]>,
    alias: Box<[u32]>,
    total: u64,
}

impl AliasTable {
    /// Builds the table; zero weights are never picked.
    pub fn new(weights: &[u32]) -> Self {
        let n = weights.len() as u64;
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        if total == 0 || n > u64::from(u32::MAX) {
            return AliasTable::default();
        }
        // Column height is `total`; weight i brings `w_i * n` of mass.
        let mut mass: Vec<u64> = weights.iter().map(|&w| u64::from(w) * n).collect();
        let mut keep = vec![total; weights.len()];
        let mut alias: Vec<u32> = (0..weights.len() as u32).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..weights.len()).partition(|&i| mass[i] < total);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            keep[s] = mass[s];
            alias[s] = l as u32;
            mass[l] -= total - mass[s];
            if mass[l] < total {
                large.pop();
                small.push(l);
            }
        }
        AliasTable {
            keep: keep.into(),
            alias: alias.into(),
            total,
        }
    }

    /// The index chosen by the random value `x`, or `None` with no weight.
    #[inline]
    pub fn pick(&self, x: u64) -> Option<usize> {
        let n = self.keep.len() as u64;
        if self.total == 0 {
            return None;
        }
        let column = (((x >> 32) * n) >> 32) as usize;
        let fraction = ((x & 0xFFFF_FFFF) * self.total) >> 32;
        Some(if fraction < self.keep[column] {
            column
        } else {
            self.alias[column] as usize
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_table_masses_equal_the_weights() {
        let cases: &[&[u32]] = &[
            &[1, 2, 3, 4],
            &[5],
            &[0, 3, 0, 1],
            &[1; 16],
            &[1000, 1, 1, 1],
            &[7, 0],
        ];
        for &weights in cases {
            let t = AliasTable::new(weights);
            let n = weights.len() as u64;
            // Exact mass per index over all columns: w_i * n (in units of 1/total per column).
            let mut mass = vec![0u64; weights.len()];
            for j in 0..weights.len() {
                mass[j] += t.keep[j];
                mass[t.alias[j] as usize] += t.total - t.keep[j];
            }
            let want: Vec<u64> = weights.iter().map(|&w| u64::from(w) * n).collect();
            assert_eq!(mass, want, "{weights:?}");
            // Zero weights are never picked.
            let mut x = 1u64;
            for _ in 0..10_000 {
                let i = t.pick(crate::balance::splitmix64(&mut x)).unwrap();
                assert_ne!(weights[i], 0, "{weights:?}");
                x = x.wrapping_add(1);
            }
        }
        assert_eq!(AliasTable::new(&[0, 0]).pick(5), None);
    }

    #[test]
    fn picks_like_envoy_weighted_clusters() {
        // (weights, value, expected index): value % total, walked in order.
        let cases: &[(&[u32], u64, usize)] = &[
            (&[90, 10], 0, 0),
            (&[90, 10], 89, 0),
            (&[90, 10], 90, 1),
            (&[90, 10], 99, 1),
            (&[90, 10], 100, 0),
            (&[90, 10], 190, 1),
            (&[0, 5, 0, 5], 0, 1),
            (&[0, 5, 0, 5], 5, 3),
            (&[1; 16], 15, 15),
            (&[1; 16], 16 * 7 + 9, 9),
            (&[3, 0, 0, 0, 0, 0, 0, 0, 0, 1], 3, 9),
            (&[7], 12345, 0),
        ];
        for &(weights, value, want) in cases {
            assert_eq!(
                WeightedChoice::new(weights).pick(value),
                Some(want),
                "{weights:?} {value}"
            );
        }
    }

    #[test]
    fn no_weight_picks_nothing() {
        assert_eq!(WeightedChoice::new(&[]).pick(3), None);
        assert_eq!(WeightedChoice::new(&[0, 0]).pick(3), None);
    }
}
