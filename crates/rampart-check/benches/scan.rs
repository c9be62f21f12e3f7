//! Secret scanning speed: the matcher over real source text (no I/O), and a whole scan of a
//! tree (walk + read + match). The tree is `$RAMPART_SCAN_BENCH_DIR`, else the cargo registry
//! sources (`~/.cargo/registry/src`), else this workspace's `crates/`. Peers (rg, ripsecrets,
//! detect-secrets, secretlint) run in `benches/scan_peers.sh`; figures go to BENCHMARKS.md.
//!
//! Run: `cargo bench -p rampart-check --bench scan`.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rampart_check::scan::{Options, Scanner, scan};

fn tree() -> PathBuf {
    let env = rampart_core::config::process_env();
    if let Some(d) = env.get("RAMPART_SCAN_BENCH_DIR") {
        return PathBuf::from(d);
    }
    if let Some(home) = env.get("HOME") {
        let reg = PathBuf::from(home).join(".cargo/registry/src");
        if reg.is_dir() {
            return reg;
        }
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Up to `limit` bytes of text files under `dir`, in walk order.
fn sample(dir: &PathBuf, limit: usize) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut total = 0;
    for e in ignore::WalkBuilder::new(dir).build().flatten() {
        if total >= limit {
            break;
        }
        if e.file_type().is_some_and(|t| t.is_file())
            && let Ok(data) = std::fs::read(e.path())
            && !rampart_check::scan::is_binary(&data)
        {
            total += data.len();
            out.push((e.path().display().to_string(), data));
        }
    }
    out
}

fn matcher(c: &mut Criterion) {
    let files = sample(&tree(), 32 << 20);
    let bytes: usize = files.iter().map(|(_, d)| d.len()).sum();
    let scanner = Scanner::new(&Options::new(".")).unwrap();
    let mut g = c.benchmark_group("scan");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.sample_size(10);
    g.bench_function("matcher, one thread, in memory", |b| {
        b.iter(|| {
            let n: usize = files
                .iter()
                .map(|(name, data)| scanner.scan_bytes(name, data).len())
                .sum();
            black_box(n)
        })
    });
    g.finish();
}

fn whole_tree(c: &mut Criterion) {
    let dir = tree();
    let bytes = scan(&Options::new(&dir)).unwrap().bytes;
    let mut g = c.benchmark_group("scan");
    g.throughput(Throughput::Bytes(bytes));
    g.sample_size(10);
    g.bench_function("walk + read + match, all cores", |b| {
        b.iter(|| black_box(scan(&Options::new(&dir)).unwrap().findings.len()))
    });
    g.finish();
}

criterion_group!(benches, matcher, whole_tree);
criterion_main!(benches);
