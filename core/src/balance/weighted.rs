//! Weighted destination choice, the way Envoy's `weighted_clusters` picks.

/// Relative weights of a route's destinations, zero weights already dropped.
#[derive(Debug, Clone, Default)]
pub struct WeightedChoice {
    /// Running sums of the weights: `cumulative[i]` = w0 + … + wi.
    cumulative: Box<[u64]>,
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
            .collect();
        WeightedChoice { cumulative }
    }

    /// The sum of the weights.
    pub fn total(&self) -> u64 {
        self.cumulative.last().copied().unwrap_or(0)
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
        let total = self.total();
        if total == 0 {
            return None;
        }
        if self.cumulative.len() == 1 {
            return Some(0);
        }
        let selected = entropy % total;
        if self.cumulative.len() <= 8 {
            self.cumulative.iter().position(|&c| selected < c)
        } else {
            Some(self.cumulative.partition_point(|&c| c <= selected))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
