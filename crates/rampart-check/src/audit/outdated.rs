//! Newer releases of direct dependencies, from the registries: the npm registry (abbreviated
//! metadata), the crates.io sparse index, PyPI's JSON API. The first unreachable registry
//! turns the check into "skipped: offline" rather than an error.

use std::cmp::Ordering;
use std::time::Duration;

use super::Ecosystem;
use super::http::Http;
use super::lockfile::Package;

/// Where the registries are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registries {
    /// npm registry base URL.
    pub npm: String,
    /// crates.io sparse index base URL.
    pub crates: String,
    /// PyPI base URL.
    pub pypi: String,
}

impl Default for Registries {
    fn default() -> Self {
        Registries {
            npm: "https://registry.npmjs.org".into(),
            crates: "https://index.crates.io".into(),
            pypi: "https://pypi.org".into(),
        }
    }
}

/// The most packages looked up in one run (direct dependencies only).
pub const MAX_LOOKUPS: usize = 300;

/// The outcome of the outdated check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outdated {
    /// Checked: (package, latest) for each package behind its latest release.
    Checked(Vec<(Package, String)>),
    /// Not checked, and why (`offline`, ...).
    Skipped(String),
}

/// Looks up the latest release of each package (8 at a time).
pub fn check(packages: &[Package], reg: &Registries, timeout: Duration) -> Outdated {
    let packages: Vec<&Package> = packages.iter().take(MAX_LOOKUPS).collect();
    if packages.is_empty() {
        return Outdated::Checked(Vec::new());
    }
    let http = Http::new(timeout);
    let offline = std::sync::atomic::AtomicBool::new(false);
    let reason = std::sync::Mutex::new(String::new());
    let results = std::sync::Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..8.min(packages.len()) {
            s.spawn(|| {
                loop {
                    if offline.load(std::sync::atomic::Ordering::Relaxed) {
                        return;
                    }
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(p) = packages.get(i) else { return };
                    match latest(&http, reg, p) {
                        Ok(Some(l)) => {
                            if p.ecosystem.compare(&p.version, &l) == Some(Ordering::Less)
                                && let Ok(mut r) = results.lock()
                            {
                                r.push(((*p).clone(), l));
                            }
                        }
                        Ok(None) => {}
                        Err(e) => {
                            offline.store(true, std::sync::atomic::Ordering::Relaxed);
                            if let Ok(mut r) = reason.lock() {
                                *r = e;
                            }
                        }
                    }
                }
            });
        }
    });
    if offline.into_inner() {
        return Outdated::Skipped(format!(
            "offline ({})",
            reason.into_inner().unwrap_or_default()
        ));
    }
    let mut r = results.into_inner().unwrap_or_default();
    r.sort();
    Outdated::Checked(r)
}

/// The latest stable release; `Ok(None)` when the registry does not know the package;
/// `Err` when the registry is unreachable.
fn latest(http: &Http, reg: &Registries, p: &Package) -> Result<Option<String>, String> {
    let limit = 32 << 20;
    match p.ecosystem {
        Ecosystem::Npm => {
            let url = format!(
                "{}/{}",
                reg.npm.trim_end_matches('/'),
                p.name.replace('/', "%2F")
            );
            let (status, body) = http
                .get_small(
                    &url,
                    &[("Accept", "application/vnd.npm.install-v1+json")],
                    limit,
                )
                .map_err(|e| e.to_string())?;
            if status != 200 {
                return Ok(None);
            }
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            Ok(v["dist-tags"]["latest"].as_str().map(str::to_string))
        }
        Ecosystem::CratesIo => {
            let name = p.name.to_ascii_lowercase();
            let path = match name.len() {
                1 => format!("1/{name}"),
                2 => format!("2/{name}"),
                3 => format!("3/{}/{name}", &name[..1]),
                _ => format!("{}/{}/{name}", &name[..2], &name[2..4]),
            };
            let url = format!("{}/{path}", reg.crates.trim_end_matches('/'));
            let (status, body) = http
                .get_small(&url, &[], limit)
                .map_err(|e| e.to_string())?;
            if status != 200 {
                return Ok(None);
            }
            let text = String::from_utf8_lossy(&body);
            let best = text
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter(|v| v["yanked"].as_bool() != Some(true))
                .filter_map(|v| v["vers"].as_str().map(str::to_string))
                .filter(|v| super::version::SemVer::parse(v).is_some_and(|s| !s.is_prerelease()))
                .max_by(|a, b| Ecosystem::CratesIo.compare(a, b).unwrap_or(Ordering::Equal));
            Ok(best)
        }
        Ecosystem::PyPi => {
            let url = format!("{}/pypi/{}/json", reg.pypi.trim_end_matches('/'), p.name);
            let (status, body) = http
                .get_small(&url, &[], limit)
                .map_err(|e| e.to_string())?;
            if status != 200 {
                return Ok(None);
            }
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            Ok(v["info"]["version"].as_str().map(str::to_string))
        }
    }
}
