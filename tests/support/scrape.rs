//! `nflbet scrape` (the binary, as its Deployment runs it) against a generic feed on loopback.

use std::process::Command;

/// Arguments for book `book` reading the generic feed at `feed`: one market, no retries, a 30 s
/// timeout, and the loopback allowed explicitly (the feed and any local S3 server are on
/// 127.0.0.1 over plain http). Add the store, `--listen` and the mode.
pub fn args(book: &str, feed: &str) -> Vec<String> {
    [
        "scrape",
        "--sportsbook",
        book,
        "--provider",
        "genericJson",
        "--endpoint",
        feed,
        "--markets",
        "moneyline",
        "--timeout",
        "30s",
        "--max-retries",
        "0",
        "--allow-addresses",
        "127.0.0.0/8",
        "--s3-credential-hosts",
        "http://127.0.0.1",
    ]
    .map(String::from)
    .to_vec()
}

/// `nflbet scrape` with [`args`], the local S3 server's test credentials in its environment.
pub fn command(book: &str, feed: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nflbet"));
    c.args(args(book, feed)).env("AWS_ACCESS_KEY_ID", "testing").env("AWS_SECRET_ACCESS_KEY", "testing");
    c
}
