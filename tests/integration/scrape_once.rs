//! `nflbet scrape --once` as the operator runs it: the binary, its flags and environment, a
//! generic JSON feed on 127.0.0.1, a file:// store. Success prints what was stored and exits 0;
//! a failed poll exits non-zero and writes nothing.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;

/// Serve `replies` (status line, content type, body), one per connection, then stop.
fn serve(replies: Vec<(&'static str, &'static str, String)>) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for (status, ctype, body) in replies {
            let Ok((mut sock, _)) = listener.accept() else {
                return;
            };
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf);
            let _ = write!(
                sock,
                "HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

fn feed() -> String {
    let now = chrono::Utc::now();
    let ts = now.format("%Y-%m-%dT%H:%M:%SZ");
    format!(
        r#"{{"version":1,"book":"desk","generatedAt":"{ts}","events":[{{"id":"e1","home":"KC","away":"BAL","quotes":[
{{"market":"moneyline","selection":"KC","american":-150}},{{"market":"moneyline","selection":"BAL","american":130}},
{{"market":"spread","selection":"KC","line":-3,"american":-110}},{{"market":"spread","selection":"BAL","american":-110}}]}}]}}"#
    )
}

fn scrape(endpoint: String, store: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nflbet"))
        .args(["scrape", "--once", "--sportsbook", "desk-a", "--provider", "genericJson"])
        .args(["--endpoint", &endpoint, "--markets", "moneyline,spread"])
        .args(["--timeout", "2s", "--max-retries", "1", "--backoff-base", "10ms", "--backoff-max", "50ms"])
        .args(["--store", store])
        // The feed is on 127.0.0.1 over plain http and gets the key: allowed explicitly.
        .args(["--feed-credential-hosts", "http://127.0.0.1", "--allow-addresses", "127.0.0.0/8"])
        .env("NFLBET_API_KEY", "once-secret-key")
        .env_remove("NFLBET_STORE")
        .output()
        .unwrap()
}

#[test]
fn once_prints_what_it_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("file://{}", dir.path().display());
    let addr = serve(vec![("200 OK", "application/json", feed())]);
    let out = scrape(format!("http://{addr}/feed"), &store);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("stored v1/desk-a/"), "{stdout}");
    assert!(stdout.contains("quotes 3 (moneyline 2, spread 1)"), "{stdout}");
    assert!(stdout.contains("rejected 1: missing_line=1"), "{stdout}");
    let key = stdout.lines().next().unwrap().trim_start_matches("stored ").to_string();
    assert!(dir.path().join(&key).is_file(), "{key}");
    assert!(!stdout.contains("once-secret-key") && !stderr.contains("once-secret-key"));
}

#[test]
fn once_exits_non_zero_on_a_failed_poll() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("file://{}", dir.path().display());
    let addr = serve(vec![
        ("500 Internal Server Error", "application/json", "{}".into()),
        ("502 Bad Gateway", "text/html", "<html>bad gateway</html>".into()),
    ]);
    let out = scrape(format!("http://{addr}/feed"), &store);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("HTTP 502"), "{stderr}");
    assert!(!stderr.contains("once-secret-key"));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing written");
}
