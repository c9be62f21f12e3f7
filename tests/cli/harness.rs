//! A small builder over the real binary: arguments, directory, environment → status,
//! stdout, stderr.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `rampart` with arguments in a temporary directory.
pub struct Rampart {
    cmd: Command,
    dir: tempfile::TempDir,
}

/// What a run printed and returned.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Rampart {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rampart"));
        cmd.current_dir(dir.path());
        // Keep the caller's RAMPART_* settings out of the tests.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("RAMPART_") {
                cmd.env_remove(k);
            }
        }
        Rampart { cmd, dir }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, contents: &str) -> &Self {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(p, contents).unwrap();
        self
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap()
    }

    pub fn env(&mut self, k: &str, v: &str) -> &mut Self {
        self.cmd.env(k, v);
        self
    }

    pub fn run(&mut self, args: &[&str]) -> Run {
        let Output {
            status,
            stdout,
            stderr,
        } = self.cmd.args(args).output().expect("run rampart");
        // Reset the arguments for the next run in the same directory.
        let mut next = Command::new(self.cmd.get_program());
        next.current_dir(self.dir.path());
        for (k, v) in self.cmd.get_envs() {
            match v {
                Some(v) => next.env(k, v),
                None => next.env_remove(k),
            };
        }
        self.cmd = next;
        Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }
}

impl Run {
    /// Asserts the exit code, showing the output when it differs.
    #[track_caller]
    pub fn code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code, expected,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}
