//! `package-lock.json` / `npm-shrinkwrap.json`: v1 (`dependencies` tree) and v2/v3
//! (`packages` keyed by install path, nested copies under `node_modules/a/node_modules/b`).

use serde_json::{Map, Value};

use super::{Package, ParseError};
use crate::audit::Ecosystem;

pub(super) fn parse(text: &str) -> Result<(String, Vec<Package>), ParseError> {
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| (format!("{}:{}", e.line(), e.column()), e.to_string()))?;
    let root = doc
        .as_object()
        .ok_or_else(|| ("$".to_string(), "expected a JSON object".to_string()))?;
    let version = match root.get("lockfileVersion") {
        None => 1,
        Some(v) => v.as_u64().ok_or_else(|| {
            (
                "lockfileVersion".to_string(),
                format!("expected a number, found {}", kind(v)),
            )
        })?,
    };
    let mut out = Vec::new();
    let lines = key_lines(text);
    if let Some(packages) = root.get("packages") {
        let packages = obj(packages, "packages")?;
        let direct = direct_names(packages.get(""));
        for (path, entry) in packages {
            if path.is_empty() {
                continue;
            }
            let at = format!("packages[{path:?}]");
            let entry = obj(entry, &at)?;
            if entry.get("link").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            // A path outside node_modules is a workspace member's own directory, not a
            // registry package.
            let Some(i) = path.rfind("node_modules/") else {
                continue;
            };
            let name = match entry.get("name") {
                // Aliases (`"x": "npm:lodash@…"`) install under one name and carry the real one.
                Some(n) => string(n, &format!("{at}.name"))?.to_string(),
                None => path[i + "node_modules/".len()..].to_string(),
            };
            let Some(v) = entry.get("version") else {
                continue;
            };
            let v = string(v, &format!("{at}.version"))?;
            let top = path == &format!("node_modules/{name}");
            out.push(Package {
                ecosystem: Ecosystem::Npm,
                direct: top && direct.iter().any(|d| d == &name),
                name,
                version: v.to_string(),
                line: lines.get(path.as_str()).copied(),
            });
        }
    } else if let Some(deps) = root.get("dependencies") {
        let direct: Vec<String> = obj(deps, "dependencies")?.keys().cloned().collect();
        walk_v1(deps, "dependencies", &direct, 0, &mut out)?;
    }
    Ok((format!("package-lock.json v{version}"), out))
}

/// The line of each `"node_modules/…": {` key (first occurrence), for locating packages.
fn key_lines(text: &str) -> std::collections::HashMap<&str, usize> {
    let mut out = std::collections::HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("\"node_modules/")
            && let Some(end) = rest.find('"')
        {
            out.entry(&t[1..end + "node_modules/".len() + 1])
                .or_insert(i + 1);
        }
    }
    out
}

fn direct_names(root: Option<&Value>) -> Vec<String> {
    let Some(Value::Object(root)) = root else {
        return Vec::new();
    };
    [
        "dependencies",
        "devDependencies",
        "optionalDependencies",
        "peerDependencies",
    ]
    .iter()
    .filter_map(|k| root.get(*k).and_then(Value::as_object))
    .flat_map(|m| m.keys().cloned())
    .collect()
}

fn walk_v1(
    deps: &Value,
    at: &str,
    direct: &[String],
    depth: usize,
    out: &mut Vec<Package>,
) -> Result<(), ParseError> {
    if depth > 256 {
        return Err((at.to_string(), "dependencies nested too deeply".to_string()));
    }
    for (name, entry) in obj(deps, at)? {
        let here = format!("{at}[{name:?}]");
        let entry = obj(entry, &here)?;
        if let Some(v) = entry.get("version") {
            let v = string(v, &format!("{here}.version"))?;
            // `file:`/`github:` versions are not registry releases.
            if !v.contains(':') {
                out.push(Package {
                    ecosystem: Ecosystem::Npm,
                    name: name.clone(),
                    version: v.to_string(),
                    direct: depth == 0 && direct.contains(name),
                    line: None,
                });
            }
        }
        if let Some(nested) = entry.get("dependencies") {
            walk_v1(
                nested,
                &format!("{here}.dependencies"),
                direct,
                depth + 1,
                out,
            )?;
        }
    }
    Ok(())
}

fn obj<'a>(v: &'a Value, at: &str) -> Result<&'a Map<String, Value>, ParseError> {
    v.as_object().ok_or_else(|| {
        (
            at.to_string(),
            format!("expected an object, found {}", kind(v)),
        )
    })
}

fn string<'a>(v: &'a Value, at: &str) -> Result<&'a str, ParseError> {
    v.as_str().ok_or_else(|| {
        (
            at.to_string(),
            format!("expected a string, found {}", kind(v)),
        )
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
