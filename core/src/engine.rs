//! The engine: publishes tables, reloads configs, updates endpoints.
//!
//! Readers take a snapshot (an arc-swap load: no lock, no allocation) and
//! decide on it; writers validate and compile off to the side and swap the
//! new table in. A rejected config changes nothing.

use crate::compile::{compile_with_registry, update_over_budget};
use crate::compile::{destination_rules_for, plain_changes, recompile_virtual_services};
use crate::compile::{EndpointSpec, Table, DEFAULT_COMPILE_BUDGET};
use crate::config::fingerprint::changed_virtual_services;
use crate::config::names::expand_host;
use crate::config::registry::{Registry, RegistryEndpoint};
use crate::config::{Config, Loaded};
use crate::diagnostic::{has_errors, Diagnostic, Rejected};
use crate::validate::{revalidate_virtual_services, validate_parts, Validated, Validation};
use arc_swap::{ArcSwap, Guard};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// What writers share: the config in force and endpoint overrides.
#[derive(Debug)]
struct WriterState {
    config: Config,
    /// The services of `config`, kept so an endpoint change need not
    /// rebuild them (that was O(config) per `set_endpoints`). With the
    /// overrides' services (kind `""`); their endpoints may lag behind
    /// `overrides`, which every compile from this registry applies again.
    registry: Registry,
    overrides: HashMap<String, Vec<RegistryEndpoint>>,
    /// Most bytes a compiled table's endpoint sets may take.
    compile_budget: usize,
    /// The validation of `config`, by where its diagnostics came from (an
    /// incremental apply checks again only what changed).
    validation: Option<Validation>,
}

impl Default for WriterState {
    fn default() -> Self {
        WriterState {
            config: Config::default(),
            registry: Registry::default(),
            overrides: HashMap::new(),
            compile_budget: DEFAULT_COMPILE_BUDGET,
            validation: None,
        }
    }
}

/// Holds the current [`Table`] and swaps in new ones.
#[derive(Debug)]
pub struct Engine {
    table: ArcSwap<Table>,
    /// [`Table::id`] of the table in force, stored after it is published:
    /// lets a caller that holds a table check it is still current with one
    /// atomic load instead of an `ArcSwap` load.
    current_id: AtomicU64,
    writer: Mutex<WriterState>,
    /// Istio's standard metrics, made on first use (`crate::telemetry`).
    pub(crate) metrics: std::sync::OnceLock<crate::telemetry::Metrics>,
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
        let table = Table::empty();
        Engine {
            current_id: AtomicU64::new(table.id()),
            table: ArcSwap::from_pointee(table),
            writer: Mutex::new(WriterState::default()),
            metrics: std::sync::OnceLock::new(),
        }
    }

    /// The [`Table::id`] of the table in force. A caller holding a table
    /// with this id holds the current one; a table published concurrently
    /// may be seen a moment later than by [`snapshot`](Self::snapshot).
    #[inline]
    pub fn current_table_id(&self) -> u64 {
        self.current_id.load(Ordering::Acquire)
    }

    /// Makes `table` the one in force.
    fn publish(&self, table: Table) {
        let id = table.id();
        self.telemetry_on_publish(&table);
        self.table.store(Arc::new(table));
        self.current_id.store(id, Ordering::Release);
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

    /// Reads the config in force (telemetry's policies: access logging,
    /// local rate limits). Takes the writer lock: not for the request path.
    pub(crate) fn with_config<R>(&self, f: impl FnOnce(&Config) -> R) -> R {
        f(&self.writer().config)
    }

    fn writer(&self) -> MutexGuard<'_, WriterState> {
        self.writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sets the most bytes a compiled table's endpoint sets and balancer
    /// tables may take ([`DEFAULT_COMPILE_BUDGET`] by default); a config
    /// over it is refused by [`apply`](Self::apply) with a WEIR0011 error.
    pub fn set_compile_budget(&self, bytes: usize) {
        self.writer().compile_budget = bytes;
    }

    /// Validates, compiles and publishes `loaded`.
    ///
    /// A config that differs from the one in force only in some
    /// VirtualServices of the mesh (as their content hashes from loading
    /// tell) is applied incrementally: those are validated again with the
    /// analyzers that read them, and only the virtual hosts they own (in
    /// every view of the mesh) are compiled; the table shares everything
    /// else with the one in force, endpoint overrides included. Diagnostics
    /// and table are those of a whole apply (`incremental_apply` and
    /// `incremental_across` tests); anything else is applied whole.
    ///
    /// # Errors
    /// When loading or validation found any error, or the compiled table
    /// would exceed the compile budget: nothing changes and the previous
    /// table keeps serving. The error carries every diagnostic.
    pub fn apply(&self, mut loaded: Loaded) -> Result<Vec<Diagnostic>, Rejected> {
        if let Some(applied) = self.apply_changes(&mut loaded) {
            return applied;
        }
        let mut diagnostics = loaded.diagnostics;
        // Built once: validation and compilation read the same services.
        let (validation, validated) = validate_parts(&loaded.config);
        validation.append_to(&mut diagnostics);
        if has_errors(&diagnostics) {
            return Err(Rejected::new(diagnostics));
        }
        let mut writer = self.writer();
        let previous = self.table.load_full();
        let compiled = compile_with_registry(
            &loaded.config,
            validated,
            &writer.overrides,
            Some(&previous),
            writer.compile_budget,
        );
        let (table, registry) = match compiled {
            Ok(compiled) => compiled,
            Err(refused) => {
                // The warnings too, as for a rejection by validation.
                diagnostics.push(refused.into_diagnostic());
                return Err(Rejected::new(diagnostics));
            }
        };
        writer.registry = registry;
        writer.config = loaded.config;
        writer.validation = Some(validation);
        self.publish(table);
        Ok(diagnostics)
    }

    /// [`apply`](Self::apply) of a config whose only changes from the one
    /// in force are VirtualServices `recompile_virtual_services` can compile
    /// alone (its config is then taken); `None`: apply it whole.
    fn apply_changes(&self, loaded: &mut Loaded) -> Option<Result<Vec<Diagnostic>, Rejected>> {
        let mut writer = self.writer();
        let previous = self.table.load_full();
        let changed = match &writer.validation {
            // A lowered budget needs the whole check. Endpoint overrides
            // may stay: the kept registry has them, as a whole compile's
            // would, and validation passes over the services only they
            // made (`Registry::find_configured`); neither reads endpoints.
            Some(_)
                if previous.sets_bytes <= writer.compile_budget
                    && !has_errors(&loaded.diagnostics) =>
            {
                changed_virtual_services(&writer.config, &loaded.config)
            }
            _ => None,
        };
        let (Some(changed), Some(kept)) = (changed, &writer.validation) else {
            return None;
        };
        if !plain_changes(&writer.config, &loaded.config, &changed) {
            return None;
        }
        let rules = destination_rules_for(&loaded.config, &changed);
        let (validation, regexes) = revalidate_virtual_services(
            &writer.config,
            &loaded.config,
            &writer.registry,
            &rules,
            &changed,
            kept,
        )?;
        let mut diagnostics = loaded.diagnostics.clone();
        validation.append_to(&mut diagnostics);
        if has_errors(&diagnostics) {
            return Some(Err(Rejected::new(diagnostics)));
        }
        let table = match recompile_virtual_services(
            &writer.config,
            &loaded.config,
            &writer.registry,
            &rules,
            regexes,
            &previous,
            &changed,
        ) {
            None => return None,
            Some(Err(refused)) => {
                diagnostics.push(refused.into_diagnostic());
                return Some(Err(Rejected::new(diagnostics)));
            }
            Some(Ok(table)) => table,
        };
        let replaced = std::mem::replace(&mut writer.config, std::mem::take(&mut loaded.config));
        writer.validation = Some(validation);
        self.publish(table);
        drop(writer);
        retire(replaced);
        Some(Ok(diagnostics))
    }

    /// Loads `text` (YAML or JSON) and applies it.
    ///
    /// # Errors
    /// As [`Engine::apply`].
    pub fn apply_str(&self, text: &str) -> Result<Vec<Diagnostic>, Rejected> {
        self.apply(Loaded::from_source("<input>", text))
    }

    /// Replaces the endpoints of service `host` (FQDN, or a short name in
    /// `default`), rebuilding only that host's endpoint sets (a host no
    /// cluster names yet compiles the table again). The override stays in
    /// force across later `apply` calls.
    ///
    /// # Errors
    /// When the endpoint sets would then take more than the compile budget:
    /// the change is dropped and the table in force stays.
    pub fn set_endpoints(&self, host: &str, endpoints: &[EndpointSpec]) -> Result<(), Rejected> {
        let host = expand_host(host, "default");
        let eps: Vec<RegistryEndpoint> = endpoints.iter().map(EndpointSpec::to_registry).collect();
        let mut writer = self.writer();
        let service = writer.registry.find(&host).cloned();
        let current = self.table.load_full();
        let replaced = writer.overrides.insert(host.clone(), eps.clone());
        let updated = if current.has_clusters_for(&host) {
            let table = current.with_endpoints(&host, &eps, service.as_ref());
            match update_over_budget(&table, &host, service.as_ref(), writer.compile_budget) {
                None => Ok(table),
                Some(over) => Err(Rejected::new(vec![over])),
            }
        } else {
            // A host no cluster names yet: routes to it were compiled as
            // missing, so compile again with the new service (the kept
            // registry is the config's, overrides applied).
            compile_with_registry(
                &writer.config,
                Validated {
                    registry: writer.registry.clone(),
                    ..Validated::default()
                },
                &writer.overrides,
                Some(&current),
                writer.compile_budget,
            )
            .map(|(table, registry)| {
                writer.registry = registry;
                table
            })
            .map_err(|refused| Rejected::new(vec![refused.into_diagnostic()]))
        };
        match updated {
            Ok(table) => {
                self.publish(table);
                Ok(())
            }
            Err(refused) => {
                // Dropped, as a refused config is.
                match replaced {
                    Some(before) => writer.overrides.insert(host, before),
                    None => writer.overrides.remove(&host),
                };
                Err(refused)
            }
        }
    }
}

/// Frees a config no longer in force. A whole mesh's config takes far
/// longer to free (tens of thousands of resources) than an incremental
/// apply takes to make its table, so natively it is freed on a thread of
/// its own, off the caller's way; inline where threads cannot be spawned.
fn retire(config: Config) {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let spawned = std::thread::Builder::new()
            .name("weir-retire".into())
            .spawn(move || drop(config));
        // On failure the closure (and the config) is dropped here.
        drop(spawned);
    }
    #[cfg(target_arch = "wasm32")]
    drop(config);
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web, namespace: default}
spec:
  hosts: [web.default.svc.cluster.local]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}]
";

    /// Every publish (apply, endpoint change) gives the engine a table id
    /// never seen before, and `current_table_id` names the table in force.
    #[test]
    fn current_table_id_follows_every_publish() {
        let engine = Engine::new();
        let other = Engine::new();
        let mut seen = vec![engine.current_table_id(), other.current_table_id()];
        assert_ne!(seen[0], seen[1], "two engines' empty tables share an id");
        assert_eq!(engine.current_table_id(), engine.snapshot().id());
        engine.apply_str(CONFIG).unwrap();
        seen.push(engine.current_table_id());
        engine
            .set_endpoints(
                "web.default.svc.cluster.local",
                &[EndpointSpec {
                    address: "10.0.0.2".into(),
                    ..EndpointSpec::default()
                }],
            )
            .unwrap();
        seen.push(engine.current_table_id());
        engine.apply_str("not: [valid").unwrap_err();
        assert_eq!(
            engine.current_table_id(),
            seen[3],
            "a rejected config published"
        );
        assert_eq!(engine.current_table_id(), engine.snapshot().id());
        let mut unique = seen.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), seen.len(), "an id was reused: {seen:?}");
        assert!(seen.iter().all(|&id| id != 0));
    }
}
