use crate::harness::Rampart;

#[test]
fn help_lists_commands_and_exit_codes() {
    let run = Rampart::new().run(&["--help"]);
    run.code(0);
    for word in ["init", "secret", "completions", "Exit codes"] {
        assert!(
            run.stdout.contains(word),
            "--help lacks {word}:\n{}",
            run.stdout
        );
    }
}

#[test]
fn version_prints_the_package_version() {
    let run = Rampart::new().run(&["--version"]);
    run.code(0);
    assert_eq!(
        run.stdout.trim(),
        format!("rampart {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn unknown_subcommand_is_exit_2_with_suggestion() {
    let run = Rampart::new().run(&["secrte"]);
    run.code(2);
    assert!(run.stderr.contains("secret"), "{}", run.stderr);
}

#[test]
fn completions_for_bash() {
    let run = Rampart::new().run(&["completions", "bash"]);
    run.code(0);
    assert!(
        run.stdout.contains("_rampart"),
        "{}",
        &run.stdout[..200.min(run.stdout.len())]
    );
    Rampart::new().run(&["completions", "tcsh"]).code(2);
}
