//! Python: `poetry.lock` and pinned `requirements*.txt` (`name==version`; unpinned lines are
//! not locked, so they are skipped).

use serde::Deserialize;

use super::{Package, ParseError, toml_error};
use crate::audit::Ecosystem;

#[derive(Deserialize)]
struct Lock {
    #[serde(default)]
    package: Vec<Pkg>,
}

#[derive(Deserialize)]
struct Pkg {
    name: String,
    version: String,
}

pub(super) fn parse_poetry(text: &str) -> Result<(String, Vec<Package>), ParseError> {
    let lock: Lock = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
    let lines = super::toml_package_lines(text);
    let packages = lock
        .package
        .into_iter()
        .map(|p| Package {
            ecosystem: Ecosystem::PyPi,
            line: lines.get(&(p.name.as_str(), p.version.as_str())).copied(),
            name: p.name,
            version: p.version,
            direct: false,
        })
        .collect();
    Ok(("poetry.lock".to_string(), packages))
}

pub(super) fn parse_requirements(text: &str) -> Result<(String, Vec<Package>), ParseError> {
    let mut out = Vec::new();
    let mut logical = String::new();
    let mut start = 0;
    for (i, raw) in text.lines().enumerate() {
        if logical.is_empty() {
            start = i + 1;
        }
        // Backslash continues a requirement onto the next line (hashes usually).
        if let Some(cont) = raw.strip_suffix('\\') {
            logical.push_str(cont);
            logical.push(' ');
            continue;
        }
        logical.push_str(raw);
        let line = std::mem::take(&mut logical);
        let line = match line.find(" #") {
            Some(i) => &line[..i],
            None => line.as_str(),
        };
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('-') {
            continue;
        }
        let spec = line
            .split(';')
            .next()
            .unwrap_or(line)
            .split_whitespace()
            .next()
            .unwrap_or("");
        let Some((name, version)) = spec.split_once("==") else {
            continue;
        };
        let name = name.split('[').next().unwrap_or(name).trim();
        let version = version.trim().trim_start_matches('=');
        if name.is_empty() || version.is_empty() || version.contains('*') {
            continue;
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err((
                start.to_string(),
                format!(
                    "invalid requirement {:?}",
                    rampart_core::redact::cap(spec, 60)
                ),
            ));
        }
        out.push(Package {
            ecosystem: Ecosystem::PyPi,
            name: name.to_string(),
            version: version.to_string(),
            direct: true,
            line: Some(start),
        });
    }
    Ok(("requirements.txt".to_string(), out))
}
