//! Watches the config directory (`notify`) and offers every settled change
//! to the [`Store`]: read whole, validated whole, published only if accepted.
//!
//! An editor's save is a burst of events (write, rename, chmod); the reload
//! waits until the directory has been quiet for [`QUIET`] (at most
//! [`MAX_WAIT`] after the first event) and no config file is open for
//! writing, then reads with the stability check of
//! [`crate::source::read_files`].

use crate::source::is_config_file;
use crate::source::{documents, read_files};
use crate::state::{ChangeKind, Offered, Store};
use notify::event::{AccessKind, AccessMode, ModifyKind};
use notify::{Event, EventKind, EventKindMask, RecursiveMode, Watcher};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the directory must be quiet before a reload.
pub const QUIET: Duration = Duration::from_millis(60);
/// The longest a reload waits behind a stream of events.
pub const MAX_WAIT: Duration = Duration::from_millis(400);

/// Reads, validates and offers the directory once; logs what happened.
pub fn reload(dir: &Path, store: &Store) -> Offered {
    let docs = match read_files(dir).and_then(|f| documents(&f)) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("weir serve: change rejected, nothing pushed: {e}");
            return Offered::Rejected(Vec::new());
        }
    };
    let n = docs.len();
    let offered = store.offer(docs);
    match &offered {
        Offered::Accepted {
            generation,
            kind,
            warnings,
        } => {
            for w in warnings {
                eprintln!("weir serve: warning: {w}");
            }
            let what = match kind {
                ChangeKind::Full => "pushed whole",
                ChangeKind::EndpointsOnly => "pushed as endpoint updates",
                ChangeKind::Same => "unchanged, nothing pushed",
            };
            eprintln!("weir serve: config {generation} accepted ({n} resources), {what}");
        }
        Offered::Rejected(diags) => {
            let errors = diags.iter().filter(|d| d.is_error()).count();
            eprintln!(
                "weir serve: change rejected with {errors} error(s); the previous config keeps being served"
            );
            for d in diags {
                eprintln!("weir serve:   {d}");
            }
        }
    }
    offered
}

/// A running watcher; stops on drop.
#[derive(Debug)]
pub struct DirWatcher {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The longest a reload waits for a file still open for writing.
pub const MAX_WRITE_WAIT: Duration = Duration::from_secs(10);

/// Config files written to and not closed yet: a reload waits for them, so
/// an editor's half-written save is never read (inotify's `IN_CLOSE_WRITE`
/// ends a write; a rename over the file ends it too).
#[derive(Debug, Default)]
struct Writing(HashSet<PathBuf>);

impl Writing {
    fn note(&mut self, event: &Event) {
        for path in &event.paths {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            if !name.as_deref().is_some_and(is_config_file) {
                continue;
            }
            match event.kind {
                EventKind::Create(_) | EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Any) => {
                    self.0.insert(path.clone());
                }
                EventKind::Access(AccessKind::Close(AccessMode::Write))
                | EventKind::Remove(_)
                | EventKind::Modify(ModifyKind::Name(_)) => {
                    self.0.remove(path);
                }
                _ => {}
            }
        }
    }
}

impl DirWatcher {
    /// Watches `dir` and reloads into `store` on every settled change.
    ///
    /// # Errors
    /// The watch cannot be set up (no such directory, inotify limits).
    pub fn start(dir: PathBuf, store: Arc<Store>) -> Result<DirWatcher, String> {
        let (tx, rx) = channel::<notify::Result<Event>>();
        // Close-after-write, not opens: our own reads must not trigger reloads.
        let config = notify::Config::default()
            .with_event_kinds(EventKindMask::CORE | EventKindMask::ACCESS_CLOSE);
        let mut watcher = notify::RecommendedWatcher::new(tx, config)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        watcher
            .watch(&dir, RecursiveMode::Recursive)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("weir-serve-watch".into())
            .spawn(move || {
                let _watcher = watcher; // lives as long as the loop
                let mut writing = Writing::default();
                while !stopping.load(Ordering::Relaxed) {
                    match rx.recv_timeout(Duration::from_millis(100)) {
                        Ok(Ok(e)) => writing.note(&e),
                        Ok(Err(_)) => {}
                        Err(RecvTimeoutError::Timeout) => continue,
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                    // Settle: until quiet (MAX_WAIT at most) with no file
                    // open for writing (MAX_WRITE_WAIT at most).
                    let first = Instant::now();
                    loop {
                        let limit = if writing.0.is_empty() {
                            MAX_WAIT
                        } else {
                            MAX_WRITE_WAIT
                        };
                        let left = limit.saturating_sub(first.elapsed());
                        if left.is_zero() {
                            break;
                        }
                        match rx.recv_timeout(QUIET.min(left)) {
                            Ok(Ok(e)) => writing.note(&e),
                            Ok(Err(_)) => {}
                            Err(RecvTimeoutError::Timeout) if writing.0.is_empty() => break,
                            Err(RecvTimeoutError::Timeout) => {}
                            Err(RecvTimeoutError::Disconnected) => return,
                        }
                        if stopping.load(Ordering::Relaxed) {
                            return;
                        }
                    }
                    if !writing.0.is_empty() {
                        eprintln!(
                            "weir serve: {} file(s) still open for writing after {:?}; reading anyway",
                            writing.0.len(),
                            MAX_WRITE_WAIT
                        );
                        writing.0.clear();
                    }
                    reload(&dir, &store);
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(DirWatcher {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for DirWatcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
