//! `nflbet status --watch`: draw the report, then draw it again whenever a Sportsbook, Model or
//! AlertRoute changes (like `kubectl get -w`), until Ctrl-C or SIGTERM.
//!
//! A table is also redrawn when time alone changes it (ages and freshness bars), checked every
//! [`REFRESH`]; a frame identical to the last one is not drawn again. On a terminal each frame
//! replaces the screen; otherwise frames follow each other, separated by a blank line. JSON and
//! YAML print one document per change (YAML documents start with `---`), like
//! `kubectl get -o json -w`. The exit status is that of the last report drawn.

use super::connect::Cluster;
use super::report::StatusReport;
use super::{StatusArgs, StatusOutput, collect, format};
use crate::crd::{AlertRoute, Model, Sportsbook};
use futures::{FutureExt, Stream, StreamExt};
use k8s_openapi::jiff::Timestamp;
use kube::core::DeserializeGuard;
use kube::runtime::{WatchStreamExt, watcher};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often a table is checked for changes that come from time passing.
pub const REFRESH: Duration = Duration::from_secs(15);

/// One item per change of an object of kind `K` (or per relist, which may hide changes).
fn changes<K>(cluster: &Cluster) -> impl Stream<Item = Result<(), watcher::Error>> + Send + 'static
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    <K as kube::Resource>::DynamicType: Default,
{
    let api = cluster.scope.api::<DeserializeGuard<K>>(&cluster.client);
    watcher(api, watcher::Config::default()).default_backoff().filter_map(|event| async move {
        match event {
            Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_) | watcher::Event::InitDone) => {
                Some(Ok(()))
            }
            Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => None,
            Err(e) => Some(Err(e)),
        }
    })
}

/// What makes a frame new. A table is new when its text is (ages move it); a JSON or YAML
/// document only when the resources changed, not the clock: the report time and the ages of the
/// last snapshots are left out of the comparison.
pub fn change_key(report: &StatusReport, output: StatusOutput, text: &str) -> String {
    if output == StatusOutput::Table {
        return text.to_string();
    }
    let mut report = report.clone();
    report.generated_at.clear();
    for book in &mut report.sportsbooks {
        book.last_snapshot_age_seconds = None;
    }
    serde_json::to_string(&report).unwrap_or_else(|_| text.to_string())
}

/// What to write before a frame: clear the screen on a terminal, else separate it from the last.
pub fn frame_prefix(output: StatusOutput, terminal: bool, first: bool) -> &'static str {
    match output {
        StatusOutput::Table if terminal => "\x1b[H\x1b[2J",
        StatusOutput::Table if !first => "\n",
        StatusOutput::Yaml => "---\n",
        _ => "",
    }
}

pub async fn run(cluster: Cluster, args: &StatusArgs) -> ExitCode {
    let cancel = CancellationToken::new();
    tokio::spawn(crate::shutdown::on_signal(cancel.clone()));
    let mut changes = futures::stream::select_all([
        changes::<Sportsbook>(&cluster).boxed(),
        changes::<Model>(&cluster).boxed(),
        changes::<AlertRoute>(&cluster).boxed(),
    ]);
    let terminal = std::io::stdout().is_terminal();
    let mut refresh = tokio::time::interval_at(tokio::time::Instant::now() + REFRESH, REFRESH);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let (mut last, mut healthy) = (None::<String>, None::<bool>);
    loop {
        match collect(&cluster, Timestamp::now()).await.and_then(|r| Ok((format(&r, args.output)?, r))) {
            Ok((text, report)) => {
                healthy = Some(report.healthy);
                let key = change_key(&report, args.output, &text);
                if last.as_ref() != Some(&key) {
                    let mut out = std::io::stdout().lock();
                    let _ = write!(out, "{}{text}", frame_prefix(args.output, terminal, last.is_none()));
                    let _ = out.flush();
                    last = Some(key);
                }
            }
            // Nothing drawn yet: the same failure as without --watch.
            Err(e) if healthy.is_none() => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
            Err(e) => eprintln!("error: {e} (watching on)"),
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = refresh.tick(), if args.output == StatusOutput::Table => {}
            change = changes.next() => match change {
                Some(Err(e)) => eprintln!("watch error, retrying: {e}"),
                Some(Ok(())) => {}
                None => break,
            },
        }
        // A burst of changes is one redraw.
        while let Some(Some(_)) = changes.next().now_or_never() {}
    }
    if healthy == Some(true) { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

#[cfg(test)]
mod tests {
    use super::super::report;
    use super::*;

    #[test]
    fn frames_clear_a_terminal_and_are_separated_elsewhere() {
        assert_eq!(frame_prefix(StatusOutput::Table, true, true), "\x1b[H\x1b[2J");
        assert_eq!(frame_prefix(StatusOutput::Table, false, true), "");
        assert_eq!(frame_prefix(StatusOutput::Table, false, false), "\n");
        assert_eq!(frame_prefix(StatusOutput::Yaml, false, true), "---\n");
        assert_eq!(frame_prefix(StatusOutput::Json, true, false), "");
    }

    #[test]
    fn documents_change_with_the_resources_not_the_clock() {
        let at = |secs: i64| Timestamp::from_second(1_700_000_000 + secs).unwrap();
        let book = |age: i64, failures: i64| report::BookRow {
            common: report::Common {
                namespace: "ns".into(),
                name: "b".into(),
                ready: report::Ready { status: "True".into(), reason: String::new(), message: String::new() },
                state: report::State::Running,
                healthy: true,
                problems: vec![],
            },
            provider: None,
            last_snapshot_time: None,
            last_snapshot_age_seconds: Some(age),
            stale_after_seconds: 600,
            stale: false,
            quotes: None,
            consecutive_failures: failures,
            last_error: None,
            last_error_time: None,
            ready_replicas: None,
        };
        let doc = |now: i64, age: i64, failures: i64| {
            let r = StatusReport::new(None, at(now), vec![book(age, failures)], vec![], vec![]);
            change_key(&r, StatusOutput::Json, "")
        };
        assert_eq!(doc(0, 30, 0), doc(15, 45, 0));
        assert_ne!(doc(0, 30, 0), doc(0, 30, 1));
        let table = |text: &str| {
            change_key(&StatusReport::new(None, at(0), vec![], vec![], vec![]), StatusOutput::Table, text)
        };
        assert_ne!(table("b 30s ago"), table("b 45s ago"));
    }
}
