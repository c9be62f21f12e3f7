//! Which `.env*` files a profile reads, in which order (Next.js and dotenv conventions).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use rampart_core::env::{EnvFile, parse};

use super::Error;

/// A mode whose files are layered together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Profile {
    /// `.env` < `.env.development` < `.env.local` < `.env.development.local`.
    Development,
    /// `.env` < `.env.production` < `.env.production.local`.
    Production,
    /// `.env` alone, when no mode has a file of its own.
    Default,
}

impl Profile {
    /// The files read, lowest precedence first.
    pub fn files(self) -> &'static [&'static str] {
        match self {
            Profile::Development => &[
                ".env",
                ".env.development",
                ".env.local",
                ".env.development.local",
            ],
            Profile::Production => &[".env", ".env.production", ".env.production.local"],
            Profile::Default => &[".env"],
        }
    }

    /// The files that belong to this mode only (not `.env`).
    pub fn own_files(self) -> &'static [&'static str] {
        &self.files()[1..]
    }

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Development => "development",
            Profile::Production => "production",
            Profile::Default => "default",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "development" | "dev" => Ok(Profile::Development),
            "production" | "prod" => Ok(Profile::Production),
            _ => Err(format!(
                "unknown profile {s:?}, expected development or production"
            )),
        }
    }
}

/// Templates: documented, never checked.
pub const TEMPLATE_SUFFIXES: &[&str] = &[".example", ".sample", ".template"];

/// The largest `.env` file read (a bigger one is certainly not a dotenv file).
pub const MAX_ENV_FILE: u64 = 4 << 20;

/// Every env file the profiles can read, parsed, by name.
pub(crate) fn read_all(dir: &Path) -> Result<BTreeMap<&'static str, EnvFile>, Error> {
    let mut out = BTreeMap::new();
    let names = Profile::Development
        .files()
        .iter()
        .chain(Profile::Production.own_files());
    for &name in names {
        let path = dir.join(name);
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(Error::Read { path, source }),
        };
        if !meta.is_file() {
            continue;
        }
        if meta.len() > MAX_ENV_FILE {
            return Err(Error::TooLarge {
                path,
                size: meta.len(),
            });
        }
        let bytes = std::fs::read(&path).map_err(|source| Error::Read {
            path: path.clone(),
            source,
        })?;
        out.insert(name, parse(&String::from_utf8_lossy(&bytes)));
    }
    Ok(out)
}

/// The profiles to check: the one asked for, else each mode with a file of its own, else
/// `default`.
pub(crate) fn profiles_to_check(
    asked: Option<Profile>,
    present: &BTreeMap<&'static str, EnvFile>,
) -> Vec<Profile> {
    if let Some(p) = asked {
        return vec![p];
    }
    let modes: Vec<Profile> = [Profile::Development, Profile::Production]
        .into_iter()
        .filter(|p| p.own_files().iter().any(|f| present.contains_key(f)))
        .collect();
    if modes.is_empty() {
        vec![Profile::Default]
    } else {
        modes
    }
}

/// The local env files in `dir` that must be git-ignored: `.env.local` and `.env.*.local`
/// (templates excluded).
pub(crate) fn local_files(dir: &Path) -> Result<Vec<String>, Error> {
    let rd = std::fs::read_dir(dir).map_err(|source| Error::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut out: Vec<String> = rd
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n == ".env.local" || (n.starts_with(".env.") && n.ends_with(".local")))
        .filter(|n| !TEMPLATE_SUFFIXES.iter().any(|s| n.contains(s)))
        .collect();
    out.sort();
    Ok(out)
}
