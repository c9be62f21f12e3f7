//! Text for people: findings grouped by file, worst first within the summary, colored on
//! request.

use std::collections::BTreeMap;
use std::io::{self, Write};

use rampart_core::Severity;

use crate::finding::{Finding, Report};

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";

fn severity_color(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "\x1b[1;31m",
        Severity::High => "\x1b[31m",
        Severity::Medium => "\x1b[33m",
        Severity::Low => "\x1b[36m",
    }
}

struct Paint {
    on: bool,
}

impl Paint {
    fn wrap(&self, style: &str, text: &str) -> String {
        if self.on {
            format!("{style}{text}{RESET}")
        } else {
            text.to_string()
        }
    }
}

pub(super) fn render(report: &Report, color: bool, out: &mut impl Write) -> io::Result<()> {
    let paint = Paint { on: color };
    // Group by file, keeping the report's order inside each group; findings without a file
    // (a variable, a package) come last under their own heading.
    let mut groups: BTreeMap<Option<&str>, Vec<&Finding>> = BTreeMap::new();
    for f in &report.findings {
        groups.entry(f.file.as_deref()).or_default().push(f);
    }
    let mut located: Vec<_> = groups.iter().filter(|(k, _)| k.is_some()).collect();
    located.extend(groups.iter().filter(|(k, _)| k.is_none()));
    for (file, findings) in located {
        let heading = file.unwrap_or("(not in a file)");
        writeln!(out, "{}", paint.wrap(BOLD, heading))?;
        for f in findings {
            let position = match (f.line, f.column) {
                (Some(l), Some(c)) => format!("{l}:{c}"),
                (Some(l), None) => l.to_string(),
                _ => String::new(),
            };
            let mut line = String::from("  ");
            if !position.is_empty() {
                line.push_str(&paint.wrap(DIM, &format!("{position:<8}")));
            }
            line.push_str(&paint.wrap(
                severity_color(f.severity),
                &format!("{:<8}", f.severity.as_str()),
            ));
            line.push_str(&format!(" {}  {}", f.rule, f.message));
            let mut details = Vec::new();
            if let Some(v) = &f.variable {
                details.push(v.clone());
            }
            if let (Some(p), v) = (&f.package, &f.version) {
                details.push(match v {
                    Some(v) => format!("{p}@{v}"),
                    None => p.clone(),
                });
            }
            if let Some(a) = &f.advisory {
                details.push(a.clone());
            }
            if let Some(e) = &f.evidence {
                details.push(e.clone());
            }
            // The commit of a history finding is in its message (and in JSON's `extra`).
            if let Some(serde_json::Value::String(c)) = f.extra.get("commit")
                && !f.message.contains(short_commit(c))
            {
                details.push(format!("commit {}", short_commit(c)));
            }
            if !details.is_empty() {
                line.push_str(&paint.wrap(DIM, &format!("  ({})", details.join(", "))));
            }
            writeln!(out, "{line}")?;
        }
        writeln!(out)?;
    }
    writeln!(out, "{}", summary_line(report, &paint))
}

fn short_commit(c: &str) -> &str {
    c.get(..12).unwrap_or(c)
}

fn summary_line(report: &Report, paint: &Paint) -> String {
    let n = report.findings.len();
    if n == 0 {
        return format!("rampart {}: no findings", report.command);
    }
    let parts: Vec<String> = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
    ]
    .into_iter()
    .filter_map(|s| {
        let k = report.findings.iter().filter(|f| f.severity == s).count();
        (k > 0).then(|| paint.wrap(severity_color(s), &format!("{k} {s}")))
    })
    .collect();
    format!(
        "rampart {}: {n} finding{} ({})",
        report.command,
        if n == 1 { "" } else { "s" },
        parts.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use crate::finding::Report;
    use crate::report::tests::rendered;
    use crate::report::{Format, render};

    #[test]
    fn text_groups_by_file_and_summarises() {
        let s = rendered(Format::Text, false);
        assert_eq!(s.matches("src/pay.ts\n").count(), 1, "{s}");
        assert!(s.contains("  12      critical stripe_secret_key"), "{s}");
        assert!(s.contains("(not in a file)\n"));
        assert!(s.find("src/pay.ts").unwrap() < s.find("(not in a file)").unwrap());
        assert!(
            s.trim_end()
                .ends_with("4 findings (1 critical, 1 high, 1 medium, 1 low)"),
            "{s}"
        );
        assert!(!s.contains('\u{1b}'));
    }

    #[test]
    fn text_colors_only_on_request() {
        assert!(rendered(Format::Text, true).contains("\u{1b}[1;31mcritical"));
    }

    #[test]
    fn empty_report_says_so() {
        let mut out = Vec::new();
        render(&Report::new("scan", vec![]), Format::Text, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "rampart scan: no findings\n"
        );
    }
}
