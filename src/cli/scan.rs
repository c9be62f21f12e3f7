//! `rampart scan`: hard-coded secrets in files (and git history).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use rampart_check::finding::Report;
use rampart_check::report::{Format, Options as RenderOptions, render_with};
use rampart_check::scan::{self, Baseline, Options, Progress, rules};
use rampart_core::Severity;

use super::{Context, Outcome};

/// The long help of `rampart scan`: what is scanned, skipped and allow-listed.
pub(crate) const LONG_ABOUT: &str = "Scan files for hard-coded secrets: Stripe, Clerk, AWS, GitHub, Slack, \
Google, OpenAI, Anthropic, SendGrid, Twilio, npm and PyPI credentials, webhook signing secrets \
(whsec_), private keys, JWTs, passwords in connection URLs and curl -u, and secret-looking \
assignments (gated by entropy). Publishable keys (pk_live_), documented examples, placeholders \
and references such as process.env.X are not reported. Evidence is always redacted.\n\n\
What is scanned: every file under PATH (default: the current directory), dotfiles included \
(.env.local, .npmrc, .github/). Skipped: the .git directory, files ignored by .gitignore/.ignore \
(unless --no-ignore), [scan] exclude globs, binary files (a NUL byte in the first 8 KiB) and \
files above [scan] max_file_size (default 32 MiB). Env and credentials files (.env*, .npmrc, \
.pypirc, .netrc) are scanned even when git ignores them, because they hold real secrets on \
disk: their findings are low severity and do not fail the scan by default.\n\n\
Allow-listing: a `rampart:allow` comment on the line (or `rampart:allow-next-line` on the line \
above), [scan] exclude and disable in rampart.toml, and a baseline of accepted findings \
(--write-baseline FILE, then --baseline FILE or [scan] baseline).\n\n\
Exit codes: 0 nothing at or above --fail-on; 1 findings; 2 could not run.";

/// Secret scanning.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Files and directories to scan (default: the current directory).
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, default_value = "text", value_parser = ["text", "json", "sarif", "markdown"])]
    format: String,
    /// Also scan every blob reachable in git history; findings name the commit.
    #[arg(long)]
    history: bool,
    /// Leave out findings recorded in this baseline file (default: [scan] baseline).
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// Write every current finding to FILE as a baseline, then exit 0.
    #[arg(long, value_name = "FILE")]
    write_baseline: Option<PathBuf>,
    /// Scan files that .gitignore/.ignore files ignore, too.
    #[arg(long)]
    no_ignore: bool,
    /// Exit 1 when a finding is at or above this severity.
    #[arg(long, default_value = "medium", value_name = "SEVERITY",
          value_parser = ["low", "medium", "high", "critical"])]
    fail_on: String,
    /// Never show the progress line (shown on a terminal for large trees).
    #[arg(long)]
    no_progress: bool,
    /// Colors in text output.
    #[arg(long, default_value = "auto", value_parser = ["auto", "always", "never"])]
    color: String,
    /// Worker threads (default: one per CPU).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Print the rules (id, severity, what they find) and exit.
    #[arg(long)]
    list_rules: bool,
    /// Print the rules' literal keywords, one per line, and exit (for benchmarks).
    #[arg(long, hide = true)]
    print_literals: bool,
}

pub(crate) fn run(ctx: &Context, args: Args) -> anyhow::Result<Outcome> {
    let mut out = std::io::stdout().lock();
    if args.list_rules {
        for r in rules::RULES {
            writeln!(
                out,
                "{:<28} {:<9} {}",
                r.id,
                r.severity.as_str(),
                r.description
            )?;
        }
        return Ok(Outcome::Clean);
    }
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    for p in &paths {
        if !p.exists() {
            anyhow::bail!("{}: no such file or directory", p.display());
        }
    }
    // One directory: findings and config are relative to it. Otherwise: the current one.
    let base = match paths.as_slice() {
        [one] if one.is_dir() => one.clone(),
        _ => PathBuf::from("."),
    };
    let config = ctx.load_config(Some(&base))?;
    let sc = &config.scan;
    let config_dir = config
        .source()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| base.clone());
    let format: Format = args.format.parse()?;
    let threshold: Severity = args.fail_on.parse()?;
    let progress = Arc::new(Progress::default());
    let options = Options {
        roots: paths,
        base: base.clone(),
        exclude: sc.exclude.clone(),
        disable: sc.disable.clone(),
        max_file_size: sc
            .max_file_size
            .map_or(scan::DEFAULT_MAX_FILE_SIZE, |b| b.0),
        respect_ignore: !args.no_ignore,
        history: args.history,
        threads: args.threads.unwrap_or(0),
        progress: Some(progress.clone()),
    };
    if args.print_literals {
        for l in scan::Scanner::new(&options)?.literals() {
            writeln!(out, "{l}")?;
        }
        return Ok(Outcome::Clean);
    }
    let baseline_path = args
        .baseline
        .clone()
        .or_else(|| sc.baseline.as_ref().map(|b| config_dir.join(b)));
    let baseline = match &baseline_path {
        Some(p) if args.write_baseline.is_none() => Some(Baseline::load(p)?),
        _ => None,
    };

    let stderr_tty = std::io::stderr().is_terminal();
    let done = Arc::new(AtomicBool::new(false));
    let ticker = (stderr_tty && !args.no_progress).then(|| spawn_progress(progress, done.clone()));
    let outcome = scan::scan(&options);
    done.store(true, Ordering::Relaxed);
    if let Some(t) = ticker {
        let _ = t.join();
    }
    let outcome = outcome.context("secret scan")?;
    for e in &outcome.errors {
        eprintln!("rampart: warning: {e}");
    }

    if let Some(path) = &args.write_baseline {
        scan::baseline::write(path, &outcome.findings)?;
        eprintln!(
            "rampart scan: wrote {} finding(s) to baseline {}",
            outcome.findings.len(),
            path.display()
        );
        return Ok(Outcome::Clean);
    }

    let mut baselined = 0usize;
    let findings: Vec<_> = outcome
        .findings
        .into_iter()
        .filter(|f| {
            let known = baseline.as_ref().is_some_and(|b| b.contains(f));
            baselined += usize::from(known);
            !known
        })
        .map(|f| f.finding)
        .collect();
    let mut report = Report::new("scan", findings);
    let s = &mut report.summary;
    s.insert("files".into(), outcome.files.into());
    s.insert("bytes".into(), outcome.bytes.into());
    if args.history {
        s.insert("blobs".into(), outcome.blobs.into());
    }
    s.insert("baselined".into(), baselined.into());
    s.insert("skipped_binary".into(), outcome.skipped_binary.into());
    s.insert("skipped_large".into(), outcome.skipped_large.into());
    s.insert("rules_version".into(), rules::RULES_VERSION.into());

    let env = rampart_core::config::process_env();
    let color = match args.color.as_str() {
        "always" => true,
        "never" => false,
        _ => std::io::stdout().is_terminal() && !env.contains_key("NO_COLOR"),
    };
    let render = RenderOptions {
        color: color && format == Format::Text,
        ..RenderOptions::default()
    };
    render_with(&report, format, &render, &mut out)?;
    out.flush()?;
    if format != Format::Text {
        // For people reading the terminal while the document goes to a file or a pipe.
        eprintln!(
            "rampart scan: {} finding(s) in {} file(s), {} bytes{}",
            report.findings.len(),
            outcome.files,
            outcome.bytes,
            if baselined > 0 {
                format!(", {baselined} in the baseline")
            } else {
                String::new()
            }
        );
    }
    Ok(if report.fails(threshold) {
        Outcome::Findings
    } else {
        Outcome::Clean
    })
}

/// A progress line on stderr, redrawn every 200 ms once the scan has run for a second.
fn spawn_progress(p: Arc<Progress>, done: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut ticks = 0u32;
        let mut shown = false;
        while !done.load(Ordering::Relaxed) {
            std::thread::sleep(std::time::Duration::from_millis(200));
            ticks += 1;
            if ticks < 5 || done.load(Ordering::Relaxed) {
                continue;
            }
            let files = p.files.load(Ordering::Relaxed);
            let mb = p.bytes.load(Ordering::Relaxed) as f64 / 1e6;
            let rate = mb / (f64::from(ticks) * 0.2);
            eprint!("\r\x1b[2Kscanning: {files} files, {mb:.1} MB ({rate:.0} MB/s)");
            shown = true;
        }
        if shown {
            eprint!("\r\x1b[2K");
        }
    })
}
