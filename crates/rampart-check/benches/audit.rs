//! Dependency audit speed: a 2,000-package npm lockfile against a generated full-ecosystem OSV
//! export (40,000 advisories over 15,000 packages), a 50-crate Cargo.lock against a crates.io
//! export the size of RustSec + GHSA (2,000 records), and the one-time index compilation.
//!
//! Run: `cargo bench -p rampart-check --bench audit`. Figures go to BENCHMARKS.md.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use rampart_check::audit::{Database, Options, audit, db};

/// A small deterministic generator (xorshift), so every run audits the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn record(id: &str, eco: &str, name: &str, rng: &mut Rng) -> Vec<u8> {
    let major = rng.below(5);
    let minor = rng.below(20);
    let ranges: Vec<String> = (0..1 + rng.below(2))
        .map(|i| {
            format!(
                r#"{{"type":"SEMVER","events":[{{"introduced":"{}.{}.0"}},{{"fixed":"{}.{}.{}"}}]}}"#,
                major + i,
                minor,
                major + i,
                minor + 1 + rng.below(5),
                rng.below(10)
            )
        })
        .collect();
    format!(
        r#"{{"id":"{id}","modified":"2024-01-01T00:00:00Z","aliases":["CVE-2024-{}"],"summary":"generated advisory for {name}","details":"{}","severity":[{{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}}],"affected":[{{"package":{{"ecosystem":"{eco}","name":"{name}"}},"ranges":[{}],"database_specific":{{"source":"generated"}}}}],"references":[{{"type":"WEB","url":"https://example.com/{id}"}}]}}"#,
        rng.below(90_000) + 10_000,
        "A description long enough to resemble a real advisory's details field. ".repeat(8),
        ranges.join(",")
    )
    .into_bytes()
}

/// Writes `DIR/{eco}/all.zip` with `advisories` records over `packages` names.
fn export(dir: &Path, eco: &str, prefix: &str, packages: u64, advisories: u64) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let records: Vec<(String, Vec<u8>)> = (0..advisories)
        .map(|i| {
            let id = format!("GHSA-gen-{i:06}");
            let name = format!("{prefix}{}", rng.below(packages));
            (format!("{id}.json"), record(&id, eco, &name, &mut rng))
        })
        .collect();
    std::fs::create_dir_all(dir.join(eco)).unwrap();
    db::write_zip(&dir.join(eco).join("all.zip"), &records).unwrap();
}

fn npm_lockfile(path: &Path, packages: u64) {
    let mut rng = Rng(42);
    let mut entries = vec![r#""": {"name": "app", "version": "1.0.0"}"#.to_string()];
    for i in 0..packages {
        // Half the names exist in the database (pkg0..pkg14999), half do not.
        let name = if i % 2 == 0 {
            format!("pkg{}", rng.below(15_000))
        } else {
            format!("other{i}")
        };
        let nested = if i % 10 == 0 {
            "node_modules/parent/"
        } else {
            ""
        };
        entries.push(format!(
            r#""{nested}node_modules/{name}": {{"version": "{}.{}.{}", "resolved": "https://registry.npmjs.org/{name}/-/{name}.tgz", "integrity": "sha512-x"}}"#,
            rng.below(5),
            rng.below(25),
            rng.below(10)
        ));
    }
    std::fs::write(
        path,
        format!(
            "{{\"name\": \"app\", \"lockfileVersion\": 3, \"packages\": {{{}}}}}",
            entries.join(",\n")
        ),
    )
    .unwrap();
}

fn cargo_lockfile(path: &Path, crates: u64) {
    let mut rng = Rng(7);
    let mut s = String::from("version = 3\n\n[[package]]\nname = \"app\"\nversion = \"0.1.0\"\n");
    for i in 0..crates {
        s.push_str(&format!(
            "\n[[package]]\nname = \"crate{}\"\nversion = \"{}.{}.{}\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"00\"\n",
            if i % 3 == 0 { rng.below(800) } else { 10_000 + i },
            rng.below(5),
            rng.below(25),
            rng.below(10)
        ));
    }
    std::fs::write(path, s).unwrap();
}

fn benches(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let dbdir = tmp.path().join("db");
    export(&dbdir, "npm", "pkg", 15_000, 40_000);
    export(&dbdir, "crates.io", "crate", 800, 2_000);
    let npm = tmp.path().join("npm");
    std::fs::create_dir(&npm).unwrap();
    npm_lockfile(&npm.join("package-lock.json"), 2_000);
    let cargo = tmp.path().join("cargo");
    std::fs::create_dir(&cargo).unwrap();
    cargo_lockfile(&cargo.join("Cargo.lock"), 50);
    // Compile the indexes once, as `--update` does.
    let db = Database::open(&dbdir).unwrap();
    assert_eq!(db.record_count(), 42_000);
    drop(db);

    let opts = |p: &Path| {
        let mut o = Options::offline(p, &dbdir);
        o.git = false;
        o
    };
    let npm_opts = opts(&npm);
    let r = audit(&npm_opts).unwrap();
    eprintln!(
        "npm: {} packages, {} findings, {} vulnerable",
        r.summary["packages"], r.summary["total"], r.summary["vulnerable_packages"]
    );
    let cargo_opts = opts(&cargo);
    let r = audit(&cargo_opts).unwrap();
    eprintln!(
        "cargo: {} packages, {} findings",
        r.summary["packages"], r.summary["total"]
    );

    let mut g = c.benchmark_group("audit");
    g.sample_size(20);
    g.bench_function("npm_2000_packages_vs_40k_advisories", |b| {
        b.iter(|| black_box(audit(&npm_opts).unwrap()))
    });
    g.bench_function("cargo_lock_50_crates_vs_2k_advisories", |b| {
        b.iter(|| black_box(audit(&cargo_opts).unwrap()))
    });
    g.bench_function("parse_npm_lockfile_2000", |b| {
        b.iter(|| {
            black_box(
                rampart_check::audit::lockfile::parse_file(&npm.join("package-lock.json")).unwrap(),
            )
        })
    });
    g.sample_size(10);
    g.bench_function("compile_index_40k_advisories", |b| {
        let zip = dbdir.join("npm/all.zip");
        b.iter(|| black_box(db::compile(&zip, "0 0").unwrap()))
    });
    g.finish();
}

criterion_group!(audit_benches, benches);
criterion_main!(audit_benches);
