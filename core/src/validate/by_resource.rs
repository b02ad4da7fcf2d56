//! Diagnostics kept by resource, only for the resources that have some: an
//! incremental validation copies those in force in time proportional to
//! the resources with diagnostics (few in a healthy mesh), not to all
//! resources, and replaces the changed ones'.

use crate::diagnostic::Diagnostic;
use std::collections::BTreeMap;

/// Each resource's diagnostics by its index among its kind (absent: none),
/// reported in index order.
#[derive(Debug, Clone, Default)]
pub(crate) struct ByResource(BTreeMap<usize, Vec<Diagnostic>>);

impl ByResource {
    /// Makes `diagnostics` those of resource `index`.
    pub(crate) fn set(&mut self, index: usize, diagnostics: Vec<Diagnostic>) {
        if diagnostics.is_empty() {
            self.0.remove(&index);
        } else {
            self.0.insert(index, diagnostics);
        }
    }

    /// Every diagnostic, resource by resource in index order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.values().flatten()
    }
}

impl FromIterator<Vec<Diagnostic>> for ByResource {
    /// One list per resource, in index order.
    fn from_iter<I: IntoIterator<Item = Vec<Diagnostic>>>(lists: I) -> Self {
        let mut out = ByResource::default();
        for (i, list) in lists.into_iter().enumerate() {
            out.set(i, list);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::{ResourceRef, Severity};

    fn d(message: &str) -> Diagnostic {
        Diagnostic::new(
            "T",
            Severity::Warning,
            ResourceRef::default(),
            "f",
            message.into(),
        )
    }

    /// Reported in index order whatever the order of changes; an empty
    /// list removes a resource's diagnostics.
    #[test]
    fn keeps_index_order_and_drops_empty_lists() {
        let mut by: ByResource = [vec![d("a")], vec![], vec![d("c1"), d("c2")]]
            .into_iter()
            .collect();
        by.set(1, vec![d("b")]);
        by.set(0, Vec::new());
        by.set(7, vec![d("h")]);
        let got: Vec<&str> = by.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(got, ["b", "c1", "c2", "h"]);
        assert_eq!(by.0.len(), 3, "an empty list was kept");
    }
}
