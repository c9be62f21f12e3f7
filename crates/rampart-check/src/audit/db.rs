//! The advisory database: OSV records from a directory of JSON files and/or OSV zip exports.
//!
//! A zip export (a whole ecosystem: tens of thousands of records) is never parsed at audit
//! time. It is compiled once, next to the zip, into a sorted index (`ecosystem\tname\toffset\tlen`
//! lines) and a records file holding each record's raw JSON; an audit reads the index, binary
//! searches it per package, and parses only the records of packages it has. The index is rebuilt
//! when the zip's size or modification time changes. Loose `*.json` records are parsed at load.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Ecosystem;
use super::osv::Record;

/// Suffix of the compiled index next to a zip.
pub const INDEX_SUFFIX: &str = ".rampart-idx";
/// Suffix of the compiled records file next to a zip.
pub const RECORDS_SUFFIX: &str = ".rampart-rec";
const INDEX_MAGIC: &str = "rampart-osv-index 1";
/// A directory with at least this many loose records is compiled into an index too
/// (`DIR/.rampart-osv-index`, rebuilt when the set of files, their sizes or times change).
pub const COMPILE_LOOSE_FROM: usize = 500;
/// The largest single OSV record accepted (the biggest real ones are a few hundred KB).
pub const MAX_RECORD: u64 = 16 << 20;

/// Why the database could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A record is not valid OSV JSON.
    #[error("{}: not an OSV record: {message}", path.display())]
    Record {
        /// The file (or `zip!entry`).
        path: PathBuf,
        /// The parse error.
        message: String,
    },
    /// A zip export is damaged.
    #[error("{}: not a readable OSV zip export: {message}", path.display())]
    Zip {
        /// The zip.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DbError + '_ {
    move |source| DbError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A compiled zip export: the index text, its line starts, and the records.
#[derive(Debug)]
struct Compiled {
    /// The zip export, or the base path of a directory's index.
    source: PathBuf,
    index: String,
    lines: Vec<u32>,
    records: Records,
}

#[derive(Debug)]
enum Records {
    File(File),
    Memory(Vec<u8>),
}

/// Loaded advisories.
#[derive(Debug, Default)]
pub struct Database {
    loose: HashMap<(Ecosystem, String), Vec<Arc<Record>>>,
    loose_count: usize,
    compiled: Vec<Compiled>,
    /// Records parsed from compiled indexes, by (index, offset), so a record shared by several
    /// packages or versions is parsed once.
    cache: std::sync::Mutex<HashMap<(usize, u64), Arc<Record>>>,
}

impl Database {
    /// Loads every `*.json` record and every `*.zip` export under `dir` (compiling stale
    /// indexes). A missing directory is an empty database.
    pub fn open(dir: &Path) -> Result<Database, DbError> {
        let mut db = Database::default();
        if !dir.exists() {
            return Ok(db);
        }
        let mut stack = vec![dir.to_path_buf()];
        let mut zips = Vec::new();
        let mut loose = Vec::new();
        while let Some(d) = stack.pop() {
            let rd = std::fs::read_dir(&d).map_err(io(&d))?;
            let mut entries: Vec<_> = rd.filter_map(Result::ok).collect();
            entries.sort_by_key(std::fs::DirEntry::path);
            for e in entries {
                let p = e.path();
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let Ok(ft) = e.file_type() else { continue };
                if ft.is_dir() {
                    if !name.starts_with('.') {
                        stack.push(p);
                    }
                } else if name.ends_with(".json") {
                    loose.push(p);
                } else if name.ends_with(".zip") {
                    zips.push(p);
                }
            }
        }
        loose.sort();
        if loose.len() >= COMPILE_LOOSE_FROM {
            db.compiled.push(open_compiled_dir(dir, &loose)?);
        } else {
            for p in &loose {
                db.add_loose(p)?;
            }
        }
        for z in zips {
            let c = open_compiled(&z)?;
            db.compiled.push(c);
        }
        Ok(db)
    }

    fn add_loose(&mut self, path: &Path) -> Result<(), DbError> {
        let meta = std::fs::metadata(path).map_err(io(path))?;
        if meta.len() > MAX_RECORD {
            return Err(DbError::Record {
                path: path.to_path_buf(),
                message: format!("{} bytes, over the {MAX_RECORD}-byte limit", meta.len()),
            });
        }
        let bytes = std::fs::read(path).map_err(io(path))?;
        let rec = Record::from_json(&bytes).map_err(|e| DbError::Record {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        self.insert_loose(rec);
        Ok(())
    }

    /// Adds one record (loose records; tests and callers with records in memory).
    pub fn insert_loose(&mut self, rec: Record) {
        if rec.withdrawn.is_some() {
            return;
        }
        let rec = Arc::new(rec);
        self.loose_count += 1;
        for key in keys(&rec) {
            let list = self.loose.entry(key).or_default();
            if !list.iter().any(|r| Arc::ptr_eq(r, &rec)) {
                list.push(rec.clone());
            }
        }
    }

    /// How many records are available (compiled ones counted from their indexes).
    pub fn record_count(&self) -> usize {
        self.loose_count
            + self
                .compiled
                .iter()
                .map(|c| {
                    c.index
                        .lines()
                        .next()
                        .and_then(|h| h.rsplit(' ').next()?.parse::<usize>().ok())
                        .unwrap_or(0)
                })
                .sum::<usize>()
    }

    /// The zip exports in use.
    pub fn exports(&self) -> Vec<&Path> {
        self.compiled.iter().map(|c| c.source.as_path()).collect()
    }

    /// Every non-withdrawn record that names `name` in `eco`.
    pub fn advisories(&self, eco: Ecosystem, name: &str) -> Result<Vec<Arc<Record>>, DbError> {
        let norm = eco.normalize(name);
        let mut out: Vec<Arc<Record>> = self
            .loose
            .get(&(eco, norm.clone()))
            .cloned()
            .unwrap_or_default();
        for (ci, c) in self.compiled.iter().enumerate() {
            for (offset, len) in c.lookup(eco, &norm) {
                let cached = self
                    .cache
                    .lock()
                    .ok()
                    .and_then(|m| m.get(&(ci, offset)).cloned());
                let rec = match cached {
                    Some(r) => r,
                    None => {
                        let bytes = c.read(offset, len)?;
                        let rec =
                            Arc::new(Record::from_json(&bytes).map_err(|e| DbError::Record {
                                path: sidecar(&c.source, RECORDS_SUFFIX),
                                message: format!("at offset {offset}: {e}"),
                            })?);
                        if let Ok(mut m) = self.cache.lock() {
                            m.insert((ci, offset), rec.clone());
                        }
                        rec
                    }
                };
                if rec.withdrawn.is_none() {
                    out.push(rec);
                }
            }
        }
        Ok(out)
    }
}

/// The (ecosystem, normalized name) pairs a record affects.
fn keys(rec: &Record) -> Vec<(Ecosystem, String)> {
    let mut keys: Vec<(Ecosystem, String)> = rec
        .affected
        .iter()
        .filter_map(|a| a.package.as_ref())
        .filter_map(|p| Ecosystem::from_osv(&p.ecosystem).map(|e| (e, e.normalize(&p.name))))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

impl Compiled {
    /// The (offset, len) of every record for (eco, name).
    fn lookup(&self, eco: Ecosystem, norm: &str) -> Vec<(u64, u32)> {
        let prefix = format!("{}\t{norm}\t", eco.osv_name());
        let line = |i: usize| -> &str {
            let start = self.lines[i] as usize;
            let end = self
                .lines
                .get(i + 1)
                .map_or(self.index.len(), |&e| e as usize);
            self.index[start..end].trim_end_matches('\n')
        };
        // First line not below the prefix.
        let (mut lo, mut hi) = (0, self.lines.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if line(mid) < prefix.as_str() {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let mut out = Vec::new();
        for i in lo..self.lines.len() {
            let l = line(i);
            let Some(rest) = l.strip_prefix(prefix.as_str()) else {
                break;
            };
            if let Some((o, n)) = rest.split_once('\t')
                && let (Ok(o), Ok(n)) = (o.parse(), n.parse())
            {
                out.push((o, n));
            }
        }
        out
    }

    fn read(&self, offset: u64, len: u32) -> Result<Vec<u8>, DbError> {
        let path = || PathBuf::from(format!("{}{RECORDS_SUFFIX}", self.source.display()));
        match &self.records {
            Records::Memory(m) => m
                .get(offset as usize..offset as usize + len as usize)
                .map(<[u8]>::to_vec)
                .ok_or_else(|| DbError::Zip {
                    path: path(),
                    message: "index points past the records".into(),
                }),
            Records::File(f) => {
                let mut buf = vec![0; len as usize];
                let mut f = f;
                f.seek(SeekFrom::Start(offset))
                    .map_err(|source| DbError::Io {
                        path: path(),
                        source,
                    })?;
                f.read_exact(&mut buf).map_err(|source| DbError::Io {
                    path: path(),
                    source,
                })?;
                Ok(buf)
            }
        }
    }
}

fn zip_stamp(zip: &Path) -> Result<String, DbError> {
    let meta = std::fs::metadata(zip).map_err(io(zip))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Ok(format!("{} {mtime}", meta.len()))
}

fn sidecar(zip: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", zip.display()))
}

/// Opens the compiled index of `zip`, compiling it first when missing or stale. When the
/// directory is read-only the index is built in memory for this run.
fn open_compiled(zip: &Path) -> Result<Compiled, DbError> {
    let stamp = zip_stamp(zip)?;
    open_or_build(zip, &stamp, || compile(zip, &stamp))
}

/// Uses `base` + [`INDEX_SUFFIX`]/[`RECORDS_SUFFIX`] when their header carries `stamp`, else
/// builds them with `build` and writes them (atomically, by rename) when possible.
fn open_or_build(
    base: &Path,
    stamp: &str,
    build: impl FnOnce() -> Result<(String, Vec<u8>), DbError>,
) -> Result<Compiled, DbError> {
    let idx_path = sidecar(base, INDEX_SUFFIX);
    let rec_path = sidecar(base, RECORDS_SUFFIX);
    if let Ok(index) = std::fs::read_to_string(&idx_path) {
        let fresh = index.lines().next().is_some_and(|h| {
            h.strip_prefix(INDEX_MAGIC)
                .is_some_and(|r| r.trim_start().starts_with(&format!("{stamp} ")))
        });
        if fresh && let Ok(f) = File::open(&rec_path) {
            return Ok(Compiled::new(base, index, Records::File(f)));
        }
    }
    let (index, records) = build()?;
    let written = (|| -> std::io::Result<()> {
        let tmp_rec = sidecar(base, ".rampart-rec.tmp");
        let tmp_idx = sidecar(base, ".rampart-idx.tmp");
        std::fs::write(&tmp_rec, &records)?;
        std::fs::write(&tmp_idx, &index)?;
        std::fs::rename(&tmp_rec, &rec_path)?;
        std::fs::rename(&tmp_idx, &idx_path)
    })();
    match written.and_then(|()| File::open(&rec_path)) {
        Ok(f) => Ok(Compiled::new(base, index, Records::File(f))),
        Err(_) => Ok(Compiled::new(base, index, Records::Memory(records))),
    }
}

impl Compiled {
    fn new(zip: &Path, index: String, records: Records) -> Compiled {
        // Line starts of the entries (the header line is skipped).
        let mut lines = Vec::new();
        let mut pos = index.find('\n').map_or(index.len(), |i| i + 1);
        while pos < index.len() {
            lines.push(pos as u32);
            pos = memchr::memchr(b'\n', &index.as_bytes()[pos..])
                .map_or(index.len(), |i| pos + i + 1);
        }
        Compiled {
            source: zip.to_path_buf(),
            index,
            lines,
            records,
        }
    }
}

/// Reads every record of the zip: the sorted index text and the concatenated records.
pub fn compile(zip: &Path, stamp: &str) -> Result<(String, Vec<u8>), DbError> {
    let bad = |message: String| DbError::Zip {
        path: zip.to_path_buf(),
        message,
    };
    let f = File::open(zip).map_err(io(zip))?;
    let mut archive =
        zip::ZipArchive::new(std::io::BufReader::new(f)).map_err(|e| bad(e.to_string()))?;
    let mut builder = Builder::default();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).map_err(|e| bad(e.to_string()))?;
        if file.is_dir() || !file.name().ends_with(".json") {
            continue;
        }
        let name = file.name().to_string();
        if file.size() > MAX_RECORD {
            return Err(bad(format!(
                "{name} is {} bytes, over the {MAX_RECORD}-byte record limit",
                file.size()
            )));
        }
        let mut buf = Vec::with_capacity(file.size() as usize);
        (&mut file)
            .take(MAX_RECORD + 1)
            .read_to_end(&mut buf)
            .map_err(|e| bad(format!("{name}: {e}")))?;
        builder.add(&buf, || PathBuf::from(format!("{}!{name}", zip.display())))?;
    }
    Ok(builder.finish(stamp))
}

/// Accumulates records into index entries and the records blob.
#[derive(Default)]
struct Builder {
    records: Vec<u8>,
    entries: Vec<(Ecosystem, String, u64, u32)>,
    count: usize,
}

impl Builder {
    fn add(&mut self, buf: &[u8], origin: impl Fn() -> PathBuf) -> Result<(), DbError> {
        let rec = Record::from_json(buf).map_err(|e| DbError::Record {
            path: origin(),
            message: e.to_string(),
        })?;
        if rec.withdrawn.is_some() {
            return Ok(());
        }
        let offset = self.records.len() as u64;
        self.records.extend_from_slice(buf);
        self.count += 1;
        for (eco, n) in keys(&rec) {
            if !n.contains(['\t', '\n']) {
                self.entries.push((eco, n, offset, buf.len() as u32));
            }
        }
        Ok(())
    }

    fn finish(self, stamp: &str) -> (String, Vec<u8>) {
        let mut lines: Vec<String> = self
            .entries
            .into_iter()
            .map(|(e, n, o, l)| format!("{}\t{n}\t{o}\t{l}\n", e.osv_name()))
            .collect();
        lines.sort();
        let mut index = String::with_capacity(lines.iter().map(String::len).sum::<usize>() + 64);
        index.push_str(&format!("{INDEX_MAGIC} {stamp} {}\n", self.count));
        for l in lines {
            index.push_str(&l);
        }
        (index, self.records)
    }
}

/// A fingerprint of a set of loose files: their paths, sizes and modification times.
fn loose_stamp(files: &[PathBuf]) -> Result<String, DbError> {
    // FNV-1a: a cheap, stable hash; this detects change, it is not a security boundary.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut mix = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for f in files {
        let meta = std::fs::metadata(f).map_err(io(f))?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        mix(f.as_os_str().as_encoded_bytes());
        mix(&meta.len().to_le_bytes());
        mix(&mtime.to_le_bytes());
    }
    Ok(format!("{} {h:016x}", files.len()))
}

/// Opens (compiling when stale) the index of a directory's loose records.
fn open_compiled_dir(dir: &Path, files: &[PathBuf]) -> Result<Compiled, DbError> {
    let stamp = loose_stamp(files)?;
    let base = dir.join(".rampart-osv");
    open_or_build(&base, &stamp, || {
        let mut builder = Builder::default();
        for f in files {
            let len = std::fs::metadata(f).map_err(io(f))?.len();
            if len > MAX_RECORD {
                return Err(DbError::Record {
                    path: f.clone(),
                    message: format!("{len} bytes, over the {MAX_RECORD}-byte limit"),
                });
            }
            let bytes = std::fs::read(f).map_err(io(f))?;
            builder.add(&bytes, || f.clone())?;
        }
        Ok(builder.finish(&stamp))
    })
}

/// Writes `records` (file name, JSON) as a zip export, as OSV publishes them (for tests,
/// benches and users assembling their own database).
pub fn write_zip(path: &Path, records: &[(String, Vec<u8>)]) -> Result<(), DbError> {
    let f = File::create(path).map_err(io(path))?;
    let mut w = zip::ZipWriter::new(std::io::BufWriter::new(f));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let bad = |e: zip::result::ZipError| DbError::Zip {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    for (name, json) in records {
        w.start_file(name.as_str(), opts).map_err(bad)?;
        w.write_all(json).map_err(io(path))?;
    }
    w.finish().map_err(bad)?.flush().map_err(io(path))?;
    Ok(())
}
