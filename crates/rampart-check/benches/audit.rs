//! Dependency audit speed (filled in below).
fn main() {}
