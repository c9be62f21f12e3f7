//! The matcher: one Aho-Corasick pass over a file finds every rule keyword; each rule's regex
//! then runs only on a window around its keywords (the line, or a slice of it for minified
//! code). String literals joined with `+` are glued back together and searched again, so a
//! key split across a concatenation is still found.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, Input, MatchKind};
use regex::bytes::Regex;

use super::rules::{Candidate, Reach, Rule};

/// Lines longer than this are searched in windows around each keyword, not whole.
const LONG_LINE: usize = 4096;
/// A window reaches this far before a keyword on a long line ...
const WINDOW_BEFORE: usize = 256;
/// ... and this far after it.
const WINDOW_AFTER: usize = 1024;
/// The largest region glued back together around a concatenation.
const CONCAT_REGION: usize = 4096;

/// Markers of string concatenation (`"a" + "b"`), searched in the same pass as keywords.
/// Implicit concatenation (`("sk_live_" "…")` in Python, C) across lines counts too.
const CONCAT_MARKERS: &[&str] = &[
    "\" +", "' +", "\"+", "'+", "+ \"", "+ '", "+\"", "+'", "\"\n", "'\n", "\" \"", "' '",
];

/// A rule with its compiled regex.
#[derive(Debug)]
struct Compiled {
    rule: &'static Rule,
    re: Regex,
}

/// One keyword of the automaton: its text and the rules it triggers.
#[derive(Debug)]
struct Keyword {
    text: Vec<u8>,
    case_sensitive: bool,
    /// Rule indices; empty for a concatenation marker.
    rules: Vec<usize>,
    /// Rules of the other keywords this one contains (the search reports one keyword per
    /// position, the longest): their regexes check case themselves.
    implied: Vec<usize>,
}

/// A match before locating and allow-listing: byte offsets of the secret in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hit {
    /// Index into the engine's rules.
    pub(crate) rule: usize,
    /// Start of the secret, in bytes from the start of the file.
    pub(crate) start: usize,
    /// End of the secret.
    pub(crate) end: usize,
    /// The secret itself; never printed, only redacted and hashed.
    pub(crate) secret: String,
}

/// The compiled rule set.
#[derive(Debug)]
pub(crate) struct Engine {
    ac: AhoCorasick,
    keywords: Vec<Keyword>,
    rules: Vec<Compiled>,
    joiner: Regex,
}

impl Engine {
    /// Compiles `rules` (in priority order).
    pub(crate) fn new(rules: &[&'static Rule]) -> Result<Engine, String> {
        let mut keywords: Vec<Keyword> = Vec::new();
        let mut compiled = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            let re = Regex::new(rule.pattern).map_err(|e| format!("rule {}: {e}", rule.id))?;
            compiled.push(Compiled { rule, re });
            for kw in rule.keywords {
                let text = kw.as_bytes().to_vec();
                match keywords
                    .iter_mut()
                    .find(|k| k.text.eq_ignore_ascii_case(&text))
                {
                    Some(k) => {
                        k.rules.push(i);
                        // Shared keyword: case-insensitive if any rule wants it so; the
                        // case-sensitive rules still verify their own regex.
                        k.case_sensitive &= rule.case_sensitive && k.text == text;
                    }
                    None => keywords.push(Keyword {
                        text,
                        case_sensitive: rule.case_sensitive,
                        rules: vec![i],
                        implied: Vec::new(),
                    }),
                }
            }
        }
        // A keyword containing another (`secret_access_key` holds `secret`) stands for both.
        let lower: Vec<Vec<u8>> = keywords
            .iter()
            .map(|k| k.text.to_ascii_lowercase())
            .collect();
        for i in 0..keywords.len() {
            let mut implied = Vec::new();
            for j in 0..keywords.len() {
                if i != j
                    && lower[i].len() > lower[j].len()
                    && memchr::memmem::find(&lower[i], &lower[j]).is_some()
                {
                    implied.extend(keywords[j].rules.iter().copied());
                }
            }
            implied.retain(|r| !keywords[i].rules.contains(r));
            implied.sort_unstable();
            implied.dedup();
            keywords[i].implied = implied;
        }
        for m in CONCAT_MARKERS {
            keywords.push(Keyword {
                text: m.as_bytes().to_vec(),
                case_sensitive: true,
                rules: Vec::new(),
                implied: Vec::new(),
            });
        }
        // Leftmost-longest, non-overlapping, as a DFA: one linear pass at memory speed.
        let ac = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::DFA))
            .build(keywords.iter().map(|k| &k.text))
            .map_err(|e| e.to_string())?;
        let joiner = Regex::new(r#"["'`]\s*\+\s*["'`]|"\s+"|'\s+'"#).map_err(|e| e.to_string())?;
        Ok(Engine {
            ac,
            keywords,
            rules: compiled,
            joiner,
        })
    }

    /// The rule behind a hit.
    pub(crate) fn rule(&self, index: usize) -> &'static Rule {
        self.rules[index].rule
    }

    /// Every literal the engine searches for (what `rg` would need to find the same places).
    pub(crate) fn literals(&self) -> impl Iterator<Item = &[u8]> {
        self.keywords
            .iter()
            .filter(|k| !k.rules.is_empty())
            .map(|k| k.text.as_slice())
    }

    /// Every secret in `buf`, overlaps resolved in favour of the more specific rule.
    pub(crate) fn scan(&self, buf: &[u8], config_file: bool) -> Vec<Hit> {
        let mut hits = Vec::new();
        self.scan_into(buf, config_file, true, &mut hits);
        resolve_overlaps(hits)
    }

    fn scan_into(&self, buf: &[u8], config_file: bool, concat: bool, hits: &mut Vec<Hit>) {
        // Per rule, the last window searched: a keyword inside it needs no second search.
        let mut searched: Vec<(usize, usize)> = vec![(usize::MAX, 0); self.rules.len()];
        let mut concat_done = 0usize;
        // Restart one byte after each match (not after its end): a keyword that begins inside
        // another (`RE_KEY` holds `re_` and `_key`) is still seen.
        let mut at = 0;
        while let Some(m) = self.ac.find(Input::new(buf).span(at..buf.len())) {
            at = m.start() + 1;
            let kw = &self.keywords[m.pattern().as_usize()];
            let (start, end) = (m.start(), m.end());
            if kw.rules.is_empty() {
                if concat && start >= concat_done && buf[start..end] == kw.text[..] {
                    concat_done = self.search_joined(buf, start, config_file, hits);
                }
                continue;
            }
            let exact = !kw.case_sensitive || buf[start..end] == kw.text[..];
            let own = kw.rules.iter().filter(|_| exact);
            for &ri in own.chain(kw.implied.iter()) {
                let (ws, we) = window(buf, start, end, self.rules[ri].rule.reach);
                let prev = searched[ri];
                if prev.0 <= ws && we <= prev.1 {
                    continue;
                }
                searched[ri] = (ws, we);
                self.run_rule(ri, buf, ws, we, config_file, hits);
            }
        }
    }

    fn run_rule(
        &self,
        ri: usize,
        buf: &[u8],
        ws: usize,
        we: usize,
        config_file: bool,
        hits: &mut Vec<Hit>,
    ) {
        let c = &self.rules[ri];
        for caps in c.re.captures_iter(&buf[ws..we]) {
            let (m, quoted) = match (caps.name("s"), caps.name("u")) {
                (Some(m), _) => (m, true),
                (None, Some(m)) => (m, false),
                (None, None) => continue,
            };
            let Ok(secret) = std::str::from_utf8(m.as_bytes()) else {
                continue;
            };
            let key = caps
                .name("k")
                .or_else(|| caps.name("k2"))
                .and_then(|k| std::str::from_utf8(k.as_bytes()).ok());
            let separator = caps
                .name("sep")
                .and_then(|k| std::str::from_utf8(k.as_bytes()).ok());
            let cand = Candidate {
                secret,
                key,
                quoted,
                separator,
                key_quoted: caps.name("q").is_some(),
                config_file,
                inline: caps.name("pre").is_some(),
                assigned_to: assigned_name(&buf[ws..ws + m.start()]),
            };
            if (c.rule.check)(&cand) {
                hits.push(Hit {
                    rule: ri,
                    start: ws + m.start(),
                    end: ws + m.end(),
                    secret: secret.to_string(),
                });
            }
        }
    }

    /// Glues string literals joined by `+` around `at` (this line and up to two on either
    /// side), searches the result, and keeps the secrets that span a join. Returns the end of
    /// the region searched.
    fn search_joined(
        &self,
        buf: &[u8],
        at: usize,
        config_file: bool,
        hits: &mut Vec<Hit>,
    ) -> usize {
        let mut rs = line_start(buf, at);
        for _ in 0..2 {
            if rs == 0 {
                break;
            }
            rs = line_start(buf, rs - 1);
        }
        let mut re = line_end(buf, at);
        for _ in 0..2 {
            if re >= buf.len() {
                break;
            }
            re = line_end(buf, re + 1);
        }
        let rs = rs.max(at.saturating_sub(CONCAT_REGION / 2));
        let re = re.min(at + CONCAT_REGION / 2).min(buf.len());
        let region = &buf[rs..re];
        // joined[i] came from region[map[i]].
        let mut joined = Vec::with_capacity(region.len());
        let mut map = Vec::with_capacity(region.len());
        let mut last = 0;
        for j in self.joiner.find_iter(region) {
            joined.extend_from_slice(&region[last..j.start()]);
            map.extend(last..j.start());
            last = j.end();
        }
        if last == 0 {
            return re;
        }
        joined.extend_from_slice(&region[last..]);
        map.extend(last..region.len());
        let mut found = Vec::new();
        self.scan_into(&joined, config_file, false, &mut found);
        for h in found {
            let (os, oe) = (map[h.start], map[h.end - 1] + 1);
            // Only secrets that really span a join: the rest are found where they are.
            if oe - os != h.end - h.start {
                hits.push(Hit {
                    start: rs + os,
                    end: rs + oe,
                    ..h
                });
            }
        }
        re
    }
}

/// The identifier a value is assigned to, read backwards from just before it on its line:
/// `NAME=`, `NAME: "`, `"name": "`, `name = '`.
fn assigned_name(before: &[u8]) -> Option<&str> {
    let line = &before[memchr::memrchr(b'\n', before).map_or(0, |i| i + 1)..];
    let tail = &line[line.len().saturating_sub(96)..];
    let mut end = tail.len();
    while end > 0
        && matches!(
            tail[end - 1],
            b' ' | b'\t' | b'"' | b'\'' | b'`' | b'=' | b':'
        )
    {
        end -= 1;
    }
    let mut start = end;
    while start > 0
        && (tail[start - 1].is_ascii_alphanumeric()
            || matches!(tail[start - 1], b'_' | b'-' | b'.'))
    {
        start -= 1;
    }
    (start < end)
        .then(|| std::str::from_utf8(&tail[start..end]).ok())
        .flatten()
}

fn line_start(buf: &[u8], at: usize) -> usize {
    memchr::memrchr(b'\n', &buf[..at]).map_or(0, |i| i + 1)
}

fn line_end(buf: &[u8], at: usize) -> usize {
    memchr::memchr(b'\n', &buf[at..]).map_or(buf.len(), |i| at + i)
}

/// The bytes a rule's regex sees for a keyword at `start..end`.
fn window(buf: &[u8], start: usize, end: usize, reach: Reach) -> (usize, usize) {
    match reach {
        Reach::Following(n) => (start, (end + n).min(buf.len())),
        Reach::LineAndFollowing(n) => (
            line_start(buf, start).max(start.saturating_sub(WINDOW_BEFORE)),
            (end + n).min(buf.len()),
        ),
        Reach::Line => {
            let ls = line_start(buf, start);
            let le = line_end(buf, end);
            if le - ls <= LONG_LINE {
                (ls, le)
            } else {
                (
                    ls.max(start.saturating_sub(WINDOW_BEFORE)),
                    le.min(end + WINDOW_AFTER),
                )
            }
        }
    }
}

/// Where secrets overlap, the earlier rule (the more specific) wins; duplicates go.
fn resolve_overlaps(mut hits: Vec<Hit>) -> Vec<Hit> {
    hits.sort_by_key(|h| (h.rule, h.start));
    hits.dedup_by(|a, b| a.rule == b.rule && a.start == b.start);
    let mut kept: Vec<Hit> = Vec::with_capacity(hits.len());
    for h in hits {
        if !kept.iter().any(|k| k.start < h.end && h.start < k.end) {
            kept.push(h);
        }
    }
    kept.sort_by_key(|h| h.start);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::rules::RULES;

    fn engine() -> Engine {
        Engine::new(&RULES.iter().collect::<Vec<_>>()).unwrap()
    }

    fn ids(text: &str) -> Vec<&'static str> {
        let e = engine();
        e.scan(text.as_bytes(), false)
            .into_iter()
            .map(|h| e.rule(h.rule).id)
            .collect()
    }

    #[test]
    fn a_key_split_by_concatenation_is_found() {
        let key = format!("{}{}", "sk_live_", "4Xq9Lm2Zt7Rb1Nc8Vw3Ky6Pd");
        let (a, b) = key.split_at(14);
        assert_eq!(
            ids(&format!("const k = \"{a}\" + \"{b}\";\n")),
            ["stripe_secret_key"]
        );
        assert_eq!(
            ids(&format!("const k = '{a}' +\n    '{b}';\n")),
            ["stripe_secret_key"]
        );
    }

    #[test]
    fn a_key_inside_a_long_minified_line_is_found() {
        let key = format!("{}{}", "sk_live_", "4Xq9Lm2Zt7Rb1Nc8Vw3Ky6Pd");
        let filler = "function(a){return a+1};var b=c(d);".repeat(3000);
        let text = format!("{filler}var s=\"{key}\";{filler}");
        let e = engine();
        let hits = e.scan(text.as_bytes(), false);
        assert_eq!(hits.len(), 1);
        assert_eq!(&text[hits[0].start..hits[0].end], key);
    }

    #[test]
    fn the_specific_rule_wins_over_the_generic_one() {
        let key = format!("{}{}", "sk_live_", "4Xq9Lm2Zt7Rb1Nc8Vw3Ky6Pd");
        assert_eq!(
            ids(&format!("STRIPE_SECRET_KEY={key}\n")),
            ["stripe_secret_key"]
        );
        assert_eq!(
            ids(&format!("CLERK_SECRET_KEY={key}\n")),
            ["clerk_secret_key"]
        );
    }
}
