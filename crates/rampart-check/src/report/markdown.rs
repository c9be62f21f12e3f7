//! Markdown: a summary line and one table row per finding.

use std::io::{self, Write};

use crate::finding::Report;

/// Escapes what would break a table cell.
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('\n', " ")
        .replace('`', "'")
}

pub(super) fn render(report: &Report, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "## rampart {}", report.command)?;
    writeln!(out)?;
    if report.findings.is_empty() {
        return writeln!(out, "No findings.");
    }
    writeln!(out, "{} finding(s).", report.findings.len())?;
    writeln!(out)?;
    writeln!(out, "| severity | rule | where | message | evidence |")?;
    writeln!(out, "|---|---|---|---|---|")?;
    for f in &report.findings {
        let place = match (&f.file, f.line, &f.variable, &f.package) {
            (Some(file), Some(l), _, _) => format!("{file}:{l}"),
            (Some(file), None, _, _) => file.clone(),
            (None, _, Some(v), _) => v.clone(),
            (None, _, None, Some(p)) => p.clone(),
            _ => String::new(),
        };
        let evidence = f
            .evidence
            .as_deref()
            .map(|e| format!("`{}`", cell(e)))
            .unwrap_or_default();
        writeln!(
            out,
            "| {} | `{}` | {} | {} | {} |",
            f.severity,
            cell(&f.rule),
            cell(&place),
            cell(&f.message),
            evidence
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::report::Format;
    use crate::report::tests::rendered;

    #[test]
    fn markdown_is_a_table_with_escaped_cells() {
        let s = rendered(Format::Markdown, true);
        assert!(s.starts_with("## rampart scan\n"));
        assert!(
            s.contains("| critical | `stripe_secret_key` | src/pay.ts:12 |"),
            "{s}"
        );
        assert!(s.contains("docs/a\\|b.md:3"), "{s}");
        assert!(
            s.contains("| high | `missing_required` | CSRF_SECRET |"),
            "{s}"
        );
    }
}
