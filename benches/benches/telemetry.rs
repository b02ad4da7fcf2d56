//! What Istio's metrics cost: recording on the canary's decision + finish
//! path (with and without recording, same run, so the difference reads
//! directly), and rendering the Prometheus text of many series.

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use std::hint::black_box;
use std::time::Duration;
use weir_core::compile::RequestOutcome;
use weir_core::telemetry::{Metrics, MetricsOptions, RequestEnd};
use weir_core::{Engine, Request};

const CANARY: &str = include_str!("../../examples/configs/fleetman-canary.yaml");
const HOST: &str = "fleetman-staff-service.default.svc.cluster.local";

fn canary() -> Engine {
    let engine = Engine::new();
    engine.apply_str(CANARY).expect("canary applies");
    engine
}

/// One canary request: decide, begin, finish, and, with `metrics`,
/// record it (the order a proxy calls them in).
#[inline(always)]
fn canary_request(
    table: &weir_core::Table,
    req: &Request<'_>,
    entropy: u64,
    metrics: Option<(&Metrics, &RequestEnd)>,
) -> weir_core::Outcome {
    let d = table.decide(black_box(req), entropy % 100);
    let t = table.begin(&d);
    table.finish(t, RequestOutcome::Status(200), 1);
    if let Some((metrics, end)) = metrics {
        metrics.record_request(&d, black_box(end));
    }
    black_box(d.outcome)
}

/// Requests per chunk of the interleaved measurement: long enough for the
/// clock (~20 µs), short enough that few chunks see another process run.
const CHUNK: u64 = 200;

fn record(c: &mut Criterion) {
    let engine = canary();
    let metrics = engine.metrics();
    let table = engine.snapshot();
    let req = Request::get(HOST, "/");
    let end = RequestEnd {
        status: 200,
        duration: Duration::from_micros(2500),
        request_bytes: 300,
        response_bytes: 2000,
        ..RequestEnd::default()
    };
    let mut g = c.benchmark_group("telemetry/canary");
    let mut entropy = 0u64;
    g.bench_function("decide+finish", |b| {
        b.iter(|| {
            entropy = entropy.wrapping_add(1);
            canary_request(&table, &req, entropy, None)
        })
    });
    g.bench_function("decide+finish+record", |b| {
        b.iter(|| {
            entropy = entropy.wrapping_add(1);
            canary_request(&table, &req, entropy, Some((metrics, &end)))
        })
    });
    // The difference itself, robust on a shared machine: chunks of both
    // kinds alternate (which goes first alternating too) over the same
    // entropy; each sample reports the median over its chunk pairs of
    // time(with record) - time(without), so a pair that another process
    // preempted is an outlier, not a shift. A negative median (noise
    // only) is reported as 0.001 ns a request (criterion refuses 0).
    g.sampling_mode(SamplingMode::Flat);
    g.bench_function("record cost (median of interleaved differences)", |b| {
        let mut differences: Vec<i128> = Vec::new();
        b.iter_custom(|iters| {
            differences.clear();
            let mut done = 0u64;
            while done < iters {
                let first = entropy;
                let mut elapsed = [0i128; 2];
                let order = differences.len() % 2;
                for recording in [order == 0, order != 0] {
                    let start = std::time::Instant::now();
                    if recording {
                        for e in first..first + CHUNK {
                            canary_request(&table, &req, e, Some((metrics, &end)));
                        }
                    } else {
                        for e in first..first + CHUNK {
                            canary_request(&table, &req, e, None);
                        }
                    }
                    elapsed[usize::from(recording)] = start.elapsed().as_nanos() as i128;
                }
                differences.push(elapsed[1] - elapsed[0]);
                entropy += CHUNK;
                done += CHUNK;
            }
            differences.sort_unstable();
            let median = differences[differences.len() / 2] as f64 / CHUNK as f64;
            Duration::from_secs_f64(median.max(0.001) * 1e-9 * iters as f64)
        })
    });
    g.bench_function("record only", |b| {
        let d = table.decide(&req, 0);
        b.iter(|| metrics.record_request(black_box(&d), black_box(&end)))
    });
    // The worst case of a thread's recent keys: 16 series in turn, two to
    // each of its 8 ways, so every record looks its key up in the shared
    // table (the path a record takes the first time it sees a series).
    g.bench_function("record only, 16 series in turn (every one a miss)", |b| {
        let d = table.decide(&req, 0);
        let ends: Vec<RequestEnd> = (200..216)
            .map(|status| RequestEnd { status, ..end })
            .collect();
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % ends.len();
            metrics.record_request(black_box(&d), black_box(&ends[i]))
        })
    });
    g.finish();
}

/// The Prometheus text of a registry holding `label_sets` HTTP label sets
/// (each 1 + 3 × 22 sample lines, i.e. distinct series) into a caller's
/// buffer, as a scrape through the C ABI does; beside it, a memcpy of the
/// same text into the same buffer: the floor any renderer has.
fn render(c: &mut Criterion) {
    let engine = canary();
    let table = engine.snapshot();
    let d = table.decide(&Request::get(HOST, "/"), 0);
    let mut g = c.benchmark_group("telemetry/render");
    g.sample_size(20);
    // 150 label sets: the first count holding 10 000 distinct series
    // (150 × 67 + 3 counters = 10 053); 10 000 label sets for scale.
    for sets in [150u16, 10_000] {
        let metrics = Metrics::new(MetricsOptions {
            max_series: u32::from(sets),
            ..MetricsOptions::default()
        });
        for i in 0..sets {
            let end = RequestEnd {
                status: 100 + i % 900,
                grpc_status: Some((i / 900 % 17) as u8),
                duration: Duration::from_millis(u64::from(i)),
                ..RequestEnd::default()
            };
            metrics.record_request(&d, &end);
        }
        let text = metrics.render_string();
        let series = text.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(series, usize::from(sets) * 67 + 3, "distinct series");
        let mut buf = vec![0u8; text.len()];
        g.throughput(Throughput::Bytes(text.len() as u64));
        let id = format!(
            "{series} series ({sets} label sets, {} kB)",
            text.len() / 1000
        );
        g.bench_with_input(BenchmarkId::new("render_into", &id), &metrics, |b, m| {
            b.iter(|| black_box(m.render_into(black_box(&mut buf))))
        });
        g.bench_with_input(
            BenchmarkId::new("memcpy of the text (floor)", &id),
            text.as_bytes(),
            |b, text| {
                b.iter(|| {
                    buf.copy_from_slice(black_box(text));
                    black_box(buf.len())
                })
            },
        );
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = weir_benches::criterion();
    targets = record, render
}
criterion_main!(benches);
