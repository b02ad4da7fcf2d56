//! Watches the config directory (`notify`) and offers every settled change
//! to the [`Store`]: read whole, validated whole, published only if accepted.
//!
//! An editor's save is a burst of events (write, rename, chmod); the reload
//! waits until the directory has been quiet for [`QUIET`] (at most
//! [`MAX_WAIT`] after the first event), then reads with the stability check
//! of [`crate::source::read_files`].

use crate::source::{documents, read_files};
use crate::state::{ChangeKind, Offered, Store};
use notify::{RecursiveMode, Watcher};
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

impl DirWatcher {
    /// Watches `dir` and reloads into `store` on every settled change.
    ///
    /// # Errors
    /// The watch cannot be set up (no such directory, inotify limits).
    pub fn start(dir: PathBuf, store: Arc<Store>) -> Result<DirWatcher, String> {
        let (tx, rx) = channel();
        let mut watcher =
            notify::recommended_watcher(tx).map_err(|e| format!("{}: {e}", dir.display()))?;
        watcher
            .watch(&dir, RecursiveMode::Recursive)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("weir-serve-watch".into())
            .spawn(move || {
                let _watcher = watcher; // lives as long as the loop
                while !stopping.load(Ordering::Relaxed) {
                    match rx.recv_timeout(Duration::from_millis(100)) {
                        Ok(_) => {}
                        Err(RecvTimeoutError::Timeout) => continue,
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                    // Settle: until quiet, or MAX_WAIT after the first event.
                    let first = Instant::now();
                    loop {
                        let left = MAX_WAIT.saturating_sub(first.elapsed());
                        if left.is_zero() {
                            break;
                        }
                        match rx.recv_timeout(QUIET.min(left)) {
                            Ok(_) => continue,
                            Err(RecvTimeoutError::Timeout) => break,
                            Err(RecvTimeoutError::Disconnected) => return,
                        }
                    }
                    if stopping.load(Ordering::Relaxed) {
                        return;
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
