//! `pnpm-lock.yaml` v5-v9: the keys of the top-level `packages:` map name each package
//! (`/name/1.0.0` in v5, `/name@1.0.0` in v6, `name@1.0.0` in v9; peer suffixes dropped).
//! Read line by line rather than with a YAML parser: only those keys matter.

use super::{Package, ParseError};
use crate::audit::Ecosystem;

pub(super) fn parse(text: &str) -> Result<(String, Vec<Package>), ParseError> {
    let mut version = String::from("?");
    let mut in_packages = false;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some(v) = line.strip_prefix("lockfileVersion:") {
            version = v.trim().trim_matches(['\'', '"']).to_string();
            continue;
        }
        if !line.starts_with(' ') && !line.trim().is_empty() {
            in_packages = line.trim_end() == "packages:";
            continue;
        }
        if !in_packages || !line.starts_with("  ") || line.as_bytes().get(2) == Some(&b' ') {
            continue;
        }
        let key = line.trim().trim_end_matches([':', ' ', '{', '}']);
        let key = key.trim_end_matches(':').trim_matches(['\'', '"']);
        if key.is_empty() || key.starts_with('#') {
            continue;
        }
        let (name, ver) = split_key(key, version.starts_with('5')).ok_or_else(|| {
            (
                (i + 1).to_string(),
                format!(
                    "cannot read a package from key {:?}",
                    rampart_core::redact::cap(key, 80)
                ),
            )
        })?;
        // Tarball, git and link dependencies are not registry releases.
        if ver.contains(':') || ver.contains('/') {
            continue;
        }
        out.push(Package {
            ecosystem: Ecosystem::Npm,
            name: name.to_string(),
            version: ver.to_string(),
            line: Some(i + 1),
            direct: false,
        });
    }
    Ok((format!("pnpm-lock.yaml v{version}"), out))
}

fn split_key(key: &str, v5: bool) -> Option<(&str, &str)> {
    let key = key.split('(').next()?;
    let key = key.strip_prefix('/').unwrap_or(key);
    if v5 {
        return split_v5(key);
    }
    if let Some(at) = key.get(1..).and_then(|k| k.rfind('@')).map(|i| i + 1) {
        let (name, ver) = (&key[..at], &key[at + 1..]);
        if !name.is_empty() && !ver.is_empty() && !name.ends_with('/') {
            return Some((name, ver));
        }
    }
    None
}

/// v5: `name/1.0.0` or `@scope/name/1.0.0_peer@x`.
fn split_v5(key: &str) -> Option<(&str, &str)> {
    // Peer suffixes encode `/` as `+`, so the last `/` ends the name.
    let slash = key.rfind('/')?;
    let (name, ver) = (&key[..slash], key[slash + 1..].split('_').next()?);
    (!name.is_empty() && !ver.is_empty()).then_some((name, ver))
}
