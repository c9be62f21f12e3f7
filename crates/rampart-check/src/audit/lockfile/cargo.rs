//! `Cargo.lock` (v1-v4): registry packages; packages without a `source` are the workspace's own.

use serde::Deserialize;

use super::{Package, ParseError, toml_error};
use crate::audit::Ecosystem;

#[derive(Deserialize)]
struct Lock {
    version: Option<u32>,
    #[serde(default)]
    package: Vec<Pkg>,
}

#[derive(Deserialize)]
struct Pkg {
    name: String,
    version: String,
    source: Option<String>,
    #[serde(default)]
    dependencies: Vec<String>,
}

pub(super) fn parse(text: &str) -> Result<(String, Vec<Package>), ParseError> {
    let lock: Lock = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
    // Dependencies of workspace members are direct: "name" or "name version (source)".
    let direct: Vec<&str> = lock
        .package
        .iter()
        .filter(|p| p.source.is_none())
        .flat_map(|p| {
            p.dependencies
                .iter()
                .map(|d| d.split(' ').next().unwrap_or(d))
        })
        .collect();
    let lines = super::toml_package_lines(text);
    let packages = lock
        .package
        .iter()
        .filter(|p| {
            p.source
                .as_deref()
                .is_some_and(|s| s.starts_with("registry+") || s.starts_with("sparse+"))
        })
        .map(|p| Package {
            ecosystem: Ecosystem::CratesIo,
            name: p.name.clone(),
            version: p.version.clone(),
            direct: direct.contains(&p.name.as_str()),
            line: lines.get(&(p.name.as_str(), p.version.as_str())).copied(),
        })
        .collect();
    Ok((
        format!("Cargo.lock v{}", lock.version.unwrap_or(1)),
        packages,
    ))
}
