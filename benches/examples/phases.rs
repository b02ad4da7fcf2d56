//! Where the build phase's time and memory go, phase by phase, through the
//! library API (what `Engine::apply` runs):
//! `cargo run --release -p weir-benches --example phases -- mesh.yaml`
//! prints, for load, validate and compile, the CPU time, the heap live after
//! it and the peak live heap during it (a counting allocator over the system
//! one), then one whole `Engine::apply` of the same text.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use weir_core::config::Loaded;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: forwards to the system allocator; only counts bytes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        grew(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The CPU time this process has used (user + system), from /proc.
fn cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is the
    // 12th, stime the 13th; clock ticks are 100 a second on Linux.
    let after = stat.rsplit_once(')').map_or("", |(_, a)| a);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    (ticks(11).unwrap_or(0.0) + ticks(12).unwrap_or(0.0)) / 100.0
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

/// Runs `f`, printing its wall and CPU time, the live heap after it and the
/// peak during it.
fn phase<T>(name: &str, f: impl FnOnce() -> T) -> T {
    PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
    let (wall, cpu0) = (Instant::now(), cpu());
    let out = f();
    println!(
        "{name:>9}: wall {:>8.3?} cpu {:>6.2}s  live {:>7.1} MiB  peak {:>7.1} MiB",
        wall.elapsed(),
        cpu() - cpu0,
        mib(LIVE.load(Ordering::Relaxed)),
        mib(PEAK.load(Ordering::Relaxed)),
    );
    out
}

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: phases FILE.yaml [load]");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(&path).expect("readable input");
    println!("{path}: {:.1} MiB", mib(text.len()));
    let mut loaded = phase("load", || Loaded::from_source(&path, &text));
    // `phases FILE load`: the load phase alone (for a profiler).
    if std::env::args().nth(2).as_deref() == Some("load") {
        return;
    }
    let mut diagnostics = std::mem::take(&mut loaded.diagnostics);
    let validated = phase("validate", || {
        weir_core::validate::validate_for_compile(&loaded.config, &mut diagnostics)
    });
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    println!(
        "{:>9}  {} diagnostics, {errors} errors",
        "",
        diagnostics.len()
    );
    let table = phase("compile", || {
        weir_core::compile::compile_validated(&loaded.config, validated, &Default::default(), None)
    });
    if let Ok(t) = &table {
        println!("{:>9}  {} clusters", "", t.clusters().len());
    }
    phase("drop", || drop((table, loaded, diagnostics)));
    let engine = weir_core::Engine::new();
    phase("apply", || {
        let applied = engine.apply(Loaded::from_source(&path, &text));
        println!("{:>9}  accepted: {}", "", applied.is_ok());
    });
}
