//! `yarn.lock`: classic (v1, `version "x"`) and berry (YAML, `version: x`, `resolution:`).
//! Read line by line: both formats keep one entry per block with its version indented under it.

use super::{Package, ParseError};
use crate::audit::Ecosystem;

pub(super) fn parse(text: &str) -> Result<(String, Vec<Package>), ParseError> {
    let berry = text.lines().any(|l| l.starts_with("__metadata:"));
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    let mut resolution_name: Option<String> = None;
    let mut version: Option<String> = None;
    let flush = |name: Option<(usize, String)>,
                 res: Option<String>,
                 v: Option<String>,
                 out: &mut Vec<Package>| {
        if let (Some((line, n)), Some(v)) = (name, v) {
            out.push(Package {
                ecosystem: Ecosystem::Npm,
                name: res.unwrap_or(n),
                version: v,
                direct: false,
                line: Some(line),
            });
        }
    };
    for (i, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if !line.starts_with(' ') {
            flush(
                current.take(),
                resolution_name.take(),
                version.take(),
                &mut out,
            );
            let Some(head) = line.strip_suffix(':') else {
                return Err((
                    (i + 1).to_string(),
                    "expected a package header ending in ':'".to_string(),
                ));
            };
            if head == "__metadata" {
                continue;
            }
            let first = head.split(", ").next().unwrap_or(head).trim_matches('"');
            let Some(name) = spec_name(first) else {
                return Err((
                    (i + 1).to_string(),
                    format!(
                        "cannot read a package name from {:?}",
                        rampart_core::redact::cap(first, 80)
                    ),
                ));
            };
            // Berry: only registry packages (`name@npm:range`); workspaces, patches and links are local.
            if berry && !first.contains("@npm:") {
                continue;
            }
            // An alias (`alias@npm:real@range`) installs the real package.
            let name = match first.split_once("@npm:").map(|(_, t)| (t, spec_name(t))) {
                Some((_, Some(real))) => real,
                _ => name,
            };
            current = Some((i + 1, name.to_string()));
            continue;
        }
        if current.is_none() {
            continue;
        }
        let t = line.trim_start();
        if line.len() - t.len() != 2 {
            continue;
        }
        if let Some(v) = t.strip_prefix("version") {
            let v = v.trim_start_matches(':').trim().trim_matches('"');
            if v.is_empty() {
                return Err(((i + 1).to_string(), "empty version".to_string()));
            }
            version = Some(v.to_string());
        } else if let Some(r) = t.strip_prefix("resolution:") {
            // `"lodash@npm:4.17.11"` names the real package, also for aliases
            // (`"alias@npm:lodash@4.17.4"` resolves to `lodash@npm:4.17.4`).
            let r = r.trim().trim_matches('"');
            if let Some((real, _)) = r.split_once("@npm:")
                && !real.is_empty()
            {
                resolution_name = Some(real.to_string());
            }
        }
    }
    flush(
        current.take(),
        resolution_name.take(),
        version.take(),
        &mut out,
    );
    let kind = if berry {
        "yarn.lock (berry)"
    } else {
        "yarn.lock (classic)"
    };
    Ok((kind.to_string(), out))
}

/// The package name of `name@range` (`@scope/name@range` keeps its scope).
fn spec_name(spec: &str) -> Option<&str> {
    let (at, _) = spec.char_indices().skip(1).find(|&(_, c)| c == '@')?;
    let name = &spec[..at];
    (!name.is_empty()).then_some(name)
}
