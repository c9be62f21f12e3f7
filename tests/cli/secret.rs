use crate::harness::Rampart;

fn decode(s: &str) -> Vec<u8> {
    // base64url, unpadded, decoded by hand to keep the test independent of the encoder.
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes() {
        let v = alphabet
            .iter()
            .position(|&a| a == c)
            .expect("base64url character") as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}

#[test]
fn default_secret_is_32_bytes() {
    let run = Rampart::new().run(&["secret"]);
    run.code(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].len(), 43);
    assert_eq!(decode(lines[0]).len(), 32);
}

#[test]
fn count_and_bytes() {
    let run = Rampart::new().run(&["secret", "--bytes", "16", "--count", "5"]);
    run.code(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 5);
    for l in &lines {
        assert_eq!(decode(l).len(), 16);
    }
    let unique: std::collections::HashSet<_> = lines.iter().collect();
    assert_eq!(unique.len(), 5);
}

#[test]
fn absurd_sizes_are_usage_errors() {
    for args in [
        &["secret", "--bytes", "0"][..],
        &["secret", "--bytes", "100000000"],
        &["secret", "--bytes", "-1"],
        &["secret", "--count", "0"],
        &["secret", "--bytes", "many"],
    ] {
        let run = Rampart::new().run(args);
        run.code(2);
        assert!(run.stdout.is_empty(), "{args:?} printed {}", run.stdout);
        assert!(run.stderr.contains("--"), "{args:?}: {}", run.stderr);
    }
}
