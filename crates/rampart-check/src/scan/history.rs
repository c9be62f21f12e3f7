//! `--history`: every blob reachable from any ref, each finding naming the commit that
//! introduced it.

use super::{Error, Options, Outcome, Scanner, tick};
use crate::git;

pub(super) fn scan_history(
    scanner: &Scanner,
    options: &Options,
    outcome: &mut Outcome,
) -> Result<(), Error> {
    let dir = if options.base.is_dir() {
        options.base.clone()
    } else {
        options.roots[0].clone()
    };
    let git_err = |e: git::Error| Error::Git {
        path: dir.clone(),
        message: e.to_string(),
    };
    if !git::is_repo(&dir) {
        return Err(Error::Git {
            path: dir.clone(),
            message: "not a git repository (--history needs one)".into(),
        });
    }
    let blobs: Vec<_> = git::history_blobs(&dir, &[])
        .map_err(git_err)?
        .into_iter()
        .filter(|b| !scanner.is_excluded(&b.path, false))
        .collect();
    let mut found = Vec::new();
    let mut scanned = 0u64;
    let mut bytes = 0u64;
    git::read_blobs(&dir, &blobs, options.max_file_size, |b, data| {
        let Some(data) = data else { return };
        scanned += 1;
        bytes += data.len() as u64;
        tick(options.progress.as_ref(), data.len());
        for mut f in scanner.scan_bytes(&b.path, data) {
            f.finding.message.push_str(&format!(
                " (in git history, commit {})",
                &b.commit[..b.commit.len().min(12)]
            ));
            f.finding
                .extra
                .insert("commit".into(), b.commit.clone().into());
            found.push(f);
        }
    })
    .map_err(git_err)?;
    outcome.blobs = scanned;
    outcome.bytes += bytes;
    outcome.findings.extend(found);
    Ok(())
}
