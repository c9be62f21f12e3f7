//! `rampart audit --update`: download OSV's per-ecosystem zip exports into the cache,
//! conditionally (`If-None-Match` / `If-Modified-Since`), then compile their indexes.
//!
//! Layout: `DB/{ecosystem}/all.zip`, `all.zip.meta` (the validators of the last download),
//! and the compiled `all.zip.rampart-idx` / `.rampart-rec`. A download goes to a `.part` file
//! and replaces the zip only once it opens as a zip, so a cut connection never leaves a
//! broken database.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Ecosystem;
use super::db::{Database, DbError};
use super::http::Http;

/// The largest export accepted (npm's, the biggest, is a few hundred MB).
pub const MAX_DOWNLOAD: u64 = 4 << 30;

/// What happened to one ecosystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Updated {
    /// A new export was downloaded (bytes).
    Downloaded(u64),
    /// The server said 304: the cached export is current.
    NotModified,
}

/// Why an update failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UpdateError {
    /// The server could not be reached.
    #[error("cannot reach {0}")]
    Unreachable(String),
    /// The server answered with an error status.
    #[error("GET {url}: HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
    },
    /// The download failed midway or was not a zip.
    #[error("GET {url}: {message}")]
    Download {
        /// The URL.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The cache could not be written or the export not compiled.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The export's path in the cache.
pub fn zip_path(db: &Path, eco: Ecosystem) -> PathBuf {
    db.join(eco.osv_name()).join("all.zip")
}

fn meta_path(zip: &Path) -> PathBuf {
    PathBuf::from(format!("{}.meta", zip.display()))
}

/// Validators saved from the last download.
fn read_meta(zip: &Path) -> (Option<String>, Option<String>) {
    let text = std::fs::read_to_string(meta_path(zip)).unwrap_or_default();
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    if !zip.exists() {
        return (None, None);
    }
    (get("etag:"), get("last-modified:"))
}

/// Downloads (when changed) the export of `eco` from `base_url` into `db`.
pub fn update(
    db: &Path,
    base_url: &str,
    eco: Ecosystem,
    timeout: Duration,
) -> Result<Updated, UpdateError> {
    let http = Http::new(timeout);
    let url = format!(
        "{}/{}/all.zip",
        base_url.trim_end_matches('/'),
        eco.osv_name()
    );
    let zip = zip_path(db, eco);
    let dir = zip.parent().unwrap_or(db);
    let ioerr = |p: &Path| {
        let p = p.to_path_buf();
        move |source| UpdateError::Db(DbError::Io { path: p, source })
    };
    std::fs::create_dir_all(dir).map_err(ioerr(dir))?;
    let (etag, modified) = read_meta(&zip);
    let mut headers = Vec::new();
    if let Some(e) = &etag {
        headers.push(("If-None-Match", e.as_str()));
    }
    if let Some(m) = &modified {
        headers.push(("If-Modified-Since", m.as_str()));
    }
    let mut resp = http
        .get(&url, &headers)
        .map_err(|e| UpdateError::Unreachable(e.to_string()))?;
    let status = resp.status().as_u16();
    if status == 304 {
        // Make sure the index exists (a previous run may have been cut short).
        Database::open(dir)?;
        return Ok(Updated::NotModified);
    }
    if status != 200 {
        return Err(UpdateError::Status { url, status });
    }
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (new_etag, new_modified) = (header("etag"), header("last-modified"));
    let part = PathBuf::from(format!("{}.part", zip.display()));
    let mut out = File::create(&part).map_err(ioerr(&part))?;
    let mut reader = resp.body_mut().with_config().limit(MAX_DOWNLOAD).reader();
    let bytes = std::io::copy(&mut (&mut reader).take(MAX_DOWNLOAD), &mut out).map_err(|e| {
        let _ = std::fs::remove_file(&part);
        UpdateError::Download {
            url: url.clone(),
            message: e.to_string(),
        }
    })?;
    out.flush().map_err(ioerr(&part))?;
    drop(out);
    if let Err(e) = File::open(&part).map_err(|e| e.to_string()).and_then(|f| {
        zip::ZipArchive::new(std::io::BufReader::new(f))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }) {
        let _ = std::fs::remove_file(&part);
        return Err(UpdateError::Download {
            url,
            message: format!("not a zip archive ({e})"),
        });
    }
    std::fs::rename(&part, &zip).map_err(ioerr(&zip))?;
    let meta = format!(
        "url: {url}\netag: {}\nlast-modified: {}\n",
        new_etag.unwrap_or_default(),
        new_modified.unwrap_or_default()
    );
    std::fs::write(meta_path(&zip), meta).map_err(ioerr(&zip))?;
    // Compile now, so the next audit only reads the index.
    Database::open(dir)?;
    Ok(Updated::Downloaded(bytes))
}
