//! The engine: publishes tables, reloads configs, updates endpoints.
//!
//! Readers take a snapshot (an arc-swap load: no lock, no allocation) and
//! decide on it; writers validate and compile off to the side and swap the
//! new table in. A rejected config changes nothing.

use crate::compile::registry::RegistryEndpoint;
use crate::compile::{compile, CompileError, EndpointSpec, Table};
use crate::config::names::expand_host;
use crate::config::{Config, Loaded};
use crate::validate::{has_errors, validate, Diagnostic};
use arc_swap::{ArcSwap, Guard};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// What writers share: the config in force and endpoint overrides.
#[derive(Debug, Default)]
struct WriterState {
    config: Config,
    overrides: HashMap<String, Vec<RegistryEndpoint>>,
}

/// Holds the current [`Table`] and swaps in new ones.
#[derive(Debug)]
pub struct Engine {
    table: ArcSwap<Table>,
    writer: Mutex<WriterState>,
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new()
    }
}

/// A snapshot of the table in force; decisions borrow it.
pub type Snapshot = Guard<Arc<Table>>;

impl Engine {
    /// An engine with an empty table (every request: no route).
    pub fn new() -> Engine {
        Engine {
            table: ArcSwap::from_pointee(Table::default()),
            writer: Mutex::new(WriterState::default()),
        }
    }

    /// The table in force. Lock-free and allocation-free.
    #[inline]
    pub fn snapshot(&self) -> Snapshot {
        self.table.load()
    }

    /// The table in force, as an owned `Arc` (for holding across calls).
    pub fn table(&self) -> Arc<Table> {
        self.table.load_full()
    }

    fn writer(&self) -> MutexGuard<'_, WriterState> {
        self.writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Validates, compiles and publishes `loaded`.
    ///
    /// # Errors
    /// When loading or validation found any error: nothing changes and the
    /// previous table keeps serving. The error carries every diagnostic.
    pub fn apply(&self, loaded: Loaded) -> Result<Vec<Diagnostic>, CompileError> {
        let mut diagnostics = loaded.diagnostics;
        validate(&loaded.config, &mut diagnostics);
        if has_errors(&diagnostics) {
            return Err(CompileError { diagnostics });
        }
        let mut writer = self.writer();
        let previous = self.table.load_full();
        let table = compile(&loaded.config, &writer.overrides, Some(&previous));
        writer.config = loaded.config;
        self.table.store(Arc::new(table));
        Ok(diagnostics)
    }

    /// Loads `text` (YAML or JSON) and applies it.
    ///
    /// # Errors
    /// As [`Engine::apply`].
    pub fn apply_str(&self, text: &str) -> Result<Vec<Diagnostic>, CompileError> {
        self.apply(Loaded::from_source("<input>", text))
    }

    /// Replaces the endpoints of service `host` (FQDN, or a short name in
    /// `default`), rebuilding only that host's endpoint sets. The override
    /// stays in force across later `apply` calls.
    pub fn set_endpoints(&self, host: &str, endpoints: &[EndpointSpec]) {
        let host = expand_host(host, "default");
        let eps: Vec<RegistryEndpoint> = endpoints.iter().map(EndpointSpec::to_registry).collect();
        let mut writer = self.writer();
        let registry = crate::compile::registry::Registry::build(&writer.config);
        let service = registry.find(&host).cloned();
        let current = self.table.load_full();
        let known = current.clusters().iter().any(|c| *c.host == *host);
        writer.overrides.insert(host.clone(), eps.clone());
        let table = if known {
            current.with_endpoints(&host, &eps, service.as_ref())
        } else {
            // A host no cluster names yet: routes to it were compiled as
            // missing, so compile again with the new service.
            compile(&writer.config, &writer.overrides, Some(&current))
        };
        self.table.store(Arc::new(table));
    }
}
