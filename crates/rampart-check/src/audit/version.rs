//! Version ordering per ecosystem: SemVer 2.0 precedence for npm and crates.io (lenient about
//! missing components such as `1.0`, a leading `v`, and build metadata), PEP 440 for PyPI.

use std::cmp::Ordering;
use std::fmt;

/// A package ecosystem, named as OSV names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ecosystem {
    /// npm (package-lock, yarn, pnpm).
    Npm,
    /// crates.io (Cargo.lock).
    CratesIo,
    /// PyPI (poetry.lock, requirements.txt).
    PyPi,
}

impl Ecosystem {
    /// Every ecosystem.
    pub const ALL: [Ecosystem; 3] = [Ecosystem::Npm, Ecosystem::CratesIo, Ecosystem::PyPi];

    /// The OSV ecosystem name (also the directory of its export).
    pub fn osv_name(self) -> &'static str {
        match self {
            Ecosystem::Npm => "npm",
            Ecosystem::CratesIo => "crates.io",
            Ecosystem::PyPi => "PyPI",
        }
    }

    /// The ecosystem of an OSV `affected[].package.ecosystem` (suffixes like `:3.12` ignored).
    pub fn from_osv(name: &str) -> Option<Ecosystem> {
        let base = name.split(':').next().unwrap_or(name);
        Ecosystem::ALL.into_iter().find(|e| e.osv_name() == base)
    }

    /// The name as the registry compares it: PyPI names are case- and separator-insensitive
    /// (PEP 503); npm and crates.io names are kept.
    pub fn normalize(self, name: &str) -> String {
        match self {
            Ecosystem::PyPi => {
                let mut out = String::with_capacity(name.len());
                let mut sep = false;
                for c in name.chars() {
                    if matches!(c, '-' | '_' | '.') {
                        sep = true;
                    } else {
                        if sep && !out.is_empty() {
                            out.push('-');
                        }
                        sep = false;
                        out.push(c.to_ascii_lowercase());
                    }
                }
                out
            }
            _ => name.to_string(),
        }
    }

    /// Orders two versions; `None` when either does not parse.
    pub fn compare(self, a: &str, b: &str) -> Option<Ordering> {
        match self {
            Ecosystem::Npm | Ecosystem::CratesIo => Some(SemVer::parse(a)?.cmp(&SemVer::parse(b)?)),
            Ecosystem::PyPi => Some(Pep440::parse(a)?.cmp(&Pep440::parse(b)?)),
        }
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.osv_name())
    }
}

/// A SemVer version, leniently parsed: `1`, `1.0` and `v1.0.0` are `1.0.0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SemVer {
    release: Vec<u64>,
    pre: Vec<Ident>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Ident {
    // Numeric identifiers sort before alphanumeric ones (SemVer 11.4.3).
    Num(u64),
    Alpha(String),
}

impl SemVer {
    /// Parses a version; `None` for anything that is not one.
    pub fn parse(s: &str) -> Option<SemVer> {
        let s = s.trim();
        let s = s.strip_prefix(['v', '=']).unwrap_or(s);
        let s = s.split('+').next()?;
        let (core, pre) = match s.find('-') {
            Some(i) => (&s[..i], Some(&s[i + 1..])),
            None => (s, None),
        };
        let mut release = core
            .split('.')
            .map(|p| p.parse::<u64>().ok())
            .collect::<Option<Vec<_>>>()?;
        if release.is_empty() || release.len() > 4 {
            return None;
        }
        release.resize(3.max(release.len()), 0);
        let pre = match pre {
            None => Vec::new(),
            Some("") => return None,
            Some(p) => p
                .split('.')
                .map(|id| match id.parse::<u64>() {
                    Ok(n) if !id.is_empty() => Ident::Num(n),
                    _ => Ident::Alpha(id.to_string()),
                })
                .collect(),
        };
        Some(SemVer { release, pre })
    }

    /// Whether it has a prerelease part.
    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }
}

impl Ord for SemVer {
    fn cmp(&self, other: &Self) -> Ordering {
        self.release.cmp(&other.release).then_with(|| {
            match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                // A prerelease sorts before its release: 1.0.0-rc.1 < 1.0.0.
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => self.pre.cmp(&other.pre),
            }
        })
    }
}

impl PartialOrd for SemVer {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A PEP 440 version: `[N!]N(.N)*[{a|b|rc}N][.postN][.devN][+local]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pep440 {
    epoch: u64,
    release: Vec<u64>,
    /// (rank, n): dev-only releases -1, a 0, b 1, rc 2, final 3.
    pre: (i8, u64),
    /// (present, n): no post release sorts first.
    post: (i8, u64),
    /// (rank, n): a dev release sorts before the release without one.
    dev: (i8, u64),
    local: Vec<Local>,
}

/// A local-version segment: alphanumeric segments sort before numeric ones (PEP 440).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Local {
    Alpha(String),
    Num(u64),
}

impl Pep440 {
    /// Parses a version (normalising spellings such as `1.0-RC1`, `1.0.post-1`); `None` when
    /// it is not PEP 440.
    pub fn parse(s: &str) -> Option<Pep440> {
        let s = s.trim().to_ascii_lowercase();
        let s = s.strip_prefix('v').unwrap_or(&s);
        let (s, local) = match s.split_once('+') {
            Some((v, l)) => (v, Some(l)),
            None => (s, None),
        };
        let (epoch, s) = match s.split_once('!') {
            Some((e, rest)) => (e.parse().ok()?, rest),
            None => (0, s),
        };
        let b = s.as_bytes();
        let mut i = 0;
        let mut release = Vec::new();
        loop {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if start == i {
                return None;
            }
            release.push(s[start..i].parse().ok()?);
            if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
                i += 1;
            } else {
                break;
            }
        }
        while release.len() > 1 && release.last() == Some(&0) {
            release.pop();
        }
        let mut pre = None;
        let mut post = None;
        let mut dev = None;
        let rest = &s[i..];
        let mut r = rest;
        let take_sep = |r: &str| r.trim_start_matches(['.', '-', '_']).to_string();
        let num = |r: &str| -> (u64, usize) {
            let r2 = r.trim_start_matches(['.', '-', '_']);
            let skipped = r.len() - r2.len();
            let n = r2.bytes().take_while(u8::is_ascii_digit).count();
            (r2[..n].parse().unwrap_or(0), skipped + n)
        };
        let mut owned;
        while !r.is_empty() {
            owned = take_sep(r);
            let t = owned.as_str();
            let (kind, word) = [
                ("alpha", 0i8),
                ("a", 0),
                ("beta", 1),
                ("b", 1),
                ("preview", 2),
                ("pre", 2),
                ("rc", 2),
                ("c", 2),
                ("post", 10),
                ("rev", 10),
                ("r", 10),
                ("dev", 20),
            ]
            .into_iter()
            .find(|(w, _)| t.starts_with(w))
            .map(|(w, k)| (k, w.len()))
            .map_or((None, 0), |(k, l)| (Some(k), l));
            match kind {
                Some(k) if k < 10 && pre.is_none() && post.is_none() && dev.is_none() => {
                    let (n, used) = num(&t[word..]);
                    pre = Some((k, n));
                    r = &r[r.len() - t.len() + word + used..];
                }
                Some(10) if post.is_none() && dev.is_none() => {
                    let (n, used) = num(&t[word..]);
                    post = Some(n);
                    r = &r[r.len() - t.len() + word + used..];
                }
                Some(20) if dev.is_none() => {
                    let (n, used) = num(&t[word..]);
                    dev = Some(n);
                    r = &r[r.len() - t.len() + word + used..];
                }
                None if r.starts_with('-')
                    && t.bytes().next().is_some_and(|c| c.is_ascii_digit())
                    && post.is_none() =>
                {
                    // `1.0-1` is the implicit post release 1.
                    let (n, used) = num(r);
                    post = Some(n);
                    r = &r[used..];
                }
                _ => return None,
            }
        }
        let local = local
            .map(|l| {
                l.split(['.', '-', '_'])
                    .map(|p| match p.parse::<u64>() {
                        Ok(n) => Local::Num(n),
                        Err(_) => Local::Alpha(p.to_string()),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(Pep440 {
            epoch,
            release,
            pre: match (pre, post, dev) {
                (None, None, Some(_)) => (-1, 0),
                (None, _, _) => (3, 0),
                (Some(p), _, _) => p,
            },
            post: post.map_or((-1, 0), |n| (0, n)),
            dev: dev.map_or((1, 0), |n| (0, n)),
            local,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lt(e: Ecosystem, a: &str, b: &str) {
        assert_eq!(e.compare(a, b), Some(Ordering::Less), "{a} < {b}");
        assert_eq!(e.compare(b, a), Some(Ordering::Greater), "{b} > {a}");
    }

    #[test]
    fn semver_precedence() {
        let e = Ecosystem::Npm;
        for (a, b) in [
            ("1.0.0-alpha", "1.0.0-alpha.1"),
            ("1.0.0-alpha.1", "1.0.0-alpha.beta"),
            ("1.0.0-alpha.beta", "1.0.0-beta"),
            ("1.0.0-beta.2", "1.0.0-beta.11"),
            ("1.0.0-rc.1", "1.0.0"),
            ("4.17.11", "4.17.12"),
            ("4.17.12-pre", "4.17.12"),
            ("0.2.9", "0.2.23"),
            ("1.0", "1.0.1"),
        ] {
            lt(e, a, b);
        }
        assert_eq!(e.compare("1.0", "1.0.0"), Some(Ordering::Equal));
        assert_eq!(e.compare("v1.2.3+build", "1.2.3"), Some(Ordering::Equal));
        assert_eq!(e.compare("github:x/y", "1.0.0"), None);
        assert_eq!(e.compare("1.0.0-", "1.0.0"), None);
    }

    #[test]
    fn pep440_precedence() {
        let e = Ecosystem::PyPi;
        let order = [
            "1.0.dev456",
            "1.0a1",
            "1.0a2.dev456",
            "1.0a12.dev456",
            "1.0a12",
            "1.0b1.dev456",
            "1.0b2",
            "1.0b2.post345.dev456",
            "1.0b2.post345",
            "1.0rc1.dev456",
            "1.0rc1",
            "1.0",
            "1.0+abc.5",
            "1.0+5",
            "1.0.post456.dev34",
            "1.0.post456",
            "1.1.dev1",
            "2.20.0",
            "1!0.1",
        ];
        for w in order.windows(2) {
            lt(e, w[0], w[1]);
        }
        assert_eq!(e.compare("1.0", "1.0.0"), Some(Ordering::Equal));
        assert_eq!(e.compare("1.0-RC1", "1.0rc1"), Some(Ordering::Equal));
        assert_eq!(e.compare("1.0-1", "1.0.post1"), Some(Ordering::Equal));
        assert_eq!(e.compare("not a version", "1.0"), None);
    }

    proptest::proptest! {
        #[test]
        fn orders_are_antisymmetric_and_never_panic(
            a in "[0-9]{1,2}(\\.[0-9]{1,2}){0,3}(-[a-z0-9.]{1,6})?((a|b|rc|\\.post|\\.dev)[0-9])?",
            b in "[0-9]{1,2}(\\.[0-9]{1,2}){0,3}(-[a-z0-9.]{1,6})?((a|b|rc|\\.post|\\.dev)[0-9])?",
            junk in "\\PC{0,20}",
        ) {
            for e in Ecosystem::ALL {
                let ab = e.compare(&a, &b);
                let ba = e.compare(&b, &a);
                proptest::prop_assert_eq!(ab, ba.map(Ordering::reverse));
                let _ = e.compare(&junk, &a);
            }
        }
    }

    #[test]
    fn names_normalize_per_ecosystem() {
        assert_eq!(
            Ecosystem::PyPi.normalize("Django_Rest.Framework"),
            "django-rest-framework"
        );
        assert_eq!(Ecosystem::Npm.normalize("@Scope/Pkg"), "@Scope/Pkg");
        assert_eq!(Ecosystem::from_osv("PyPI"), Some(Ecosystem::PyPi));
        assert_eq!(Ecosystem::from_osv("Debian:12"), None);
    }
}
