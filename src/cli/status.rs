//! `nflbet status`: every Sportsbook, Model and AlertRoute with its health, as a table for
//! people or JSON/YAML for scripts; the exit status says whether all is well.
//!
//! Exit codes: 0 all healthy; 1 something unhealthy (Ready not True, or a Sportsbook's data
//! older than its stale threshold); 2 usage or connection error.

mod connect;
mod render;
pub mod report;
mod watch;

pub use connect::{ClusterArgs, ConnectError, Scope, connect};

use crate::crd::{AlertRoute, Model, Sportsbook};
use clap::Args;
use k8s_openapi::jiff::Timestamp;
use kube::api::ListParams;
use kube::core::DeserializeGuard;
use report::{BookRow, ModelRow, RouteRow, StatusReport};
use std::io::IsTerminal;
use std::process::ExitCode;

#[derive(Args, Debug)]
#[command(after_help = "Exit status: 0 all healthy; 1 something unhealthy (Ready not True, or odds older \
than the book's stale threshold); 2 usage or connection error. Stopped resources (spec.disabled) count \
as healthy; suspended ones (spec.suspend) are listed with their problems but not counted.\n\n\
With --watch the report is drawn again on every change of a Sportsbook, Model or AlertRoute \
(and a table also when ages move), until Ctrl-C; JSON and YAML print one document per change; the exit \
status is that of the last report.\n\n\
Examples:\n  nflbet status --output table\n  nflbet status -A --watch\n  nflbet status -A -o json | jq '.sportsbooks[] | select(.stale)'")]
pub struct StatusArgs {
    /// Output format: `table` for people, `json` or `yaml` for scripts (stable schema,
    /// `schemaVersion: 1`).
    #[arg(long, short = 'o', value_enum, default_value = "table")]
    pub output: StatusOutput,

    /// Keep running and draw the report again whenever a Sportsbook, Model or AlertRoute
    /// changes (like `kubectl get -w`); stop with Ctrl-C.
    #[arg(long, short = 'w')]
    pub watch: bool,

    #[command(flatten)]
    pub cluster: ClusterArgs,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusOutput {
    Table,
    Json,
    Yaml,
}

/// Reading the resources failed after the connection worked.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error(
        "the nflbet CRDs are not installed on {server} (install them with `nflbet crds | kubectl apply -f -` or the Helm chart)"
    )]
    CrdsMissing { server: String },
    #[error("cannot list {kind}s: {source}")]
    List { kind: &'static str, source: kube::Error },
    #[error("cannot encode the report: {0}")]
    Encode(String),
}

async fn list<K>(
    cluster: &connect::Cluster,
    kind: &'static str,
) -> Result<Vec<DeserializeGuard<K>>, StatusError>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    <K as kube::Resource>::DynamicType: Default,
{
    let api = cluster.scope.api::<DeserializeGuard<K>>(&cluster.client);
    match api.list(&ListParams::default()).await {
        Ok(list) => Ok(list.items),
        Err(kube::Error::Api(s)) if s.code == 404 => {
            Err(StatusError::CrdsMissing { server: cluster.server.clone() })
        }
        Err(source) => Err(StatusError::List { kind, source }),
    }
}

/// Rows sorted by namespace and name, so the output is stable.
fn sort_rows<T>(rows: &mut [T], common: impl Fn(&T) -> &report::Common) {
    rows.sort_by(|a, b| {
        let (a, b) = (common(a), common(b));
        (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name))
    });
}

/// Read everything and judge it.
pub async fn collect(cluster: &connect::Cluster, now: Timestamp) -> Result<StatusReport, StatusError> {
    let books = list::<Sportsbook>(cluster, "Sportsbook").await?;
    let models = list::<Model>(cluster, "Model").await?;
    let routes = list::<AlertRoute>(cluster, "AlertRoute").await?;

    let mut book_rows: Vec<BookRow> = books
        .into_iter()
        .map(|g| match g.0 {
            Ok(sb) => report::book(&sb, now),
            Err(e) => unreadable_book(&e),
        })
        .collect();
    let mut model_rows: Vec<ModelRow> = models
        .into_iter()
        .map(|g| match g.0 {
            Ok(m) => report::model(&m),
            Err(e) => unreadable_model(&e),
        })
        .collect();
    let mut route_rows: Vec<RouteRow> = routes
        .into_iter()
        .map(|g| match g.0 {
            Ok(r) => report::route(&r),
            Err(e) => RouteRow {
                common: report::unreadable(&e.metadata, &e.error),
                min_severity: None,
                receivers: None,
            },
        })
        .collect();
    sort_rows(&mut book_rows, |r| &r.common);
    sort_rows(&mut model_rows, |r| &r.common);
    sort_rows(&mut route_rows, |r| &r.common);
    let ns = cluster.scope.namespace().map(str::to_string);
    Ok(StatusReport::new(ns, now, book_rows, model_rows, route_rows))
}

fn unreadable_model(e: &kube::core::error_boundary::InvalidObject) -> ModelRow {
    ModelRow {
        common: report::unreadable(&e.metadata, &e.error),
        algorithm: None,
        version: None,
        candidate_version: None,
        rollout_phase: None,
        top_edge: None,
        total_stake: None,
        bankroll: None,
        markets_priced: None,
        last_run_time: None,
        calibration: None,
    }
}

fn unreadable_book(e: &kube::core::error_boundary::InvalidObject) -> BookRow {
    BookRow {
        common: report::unreadable(&e.metadata, &e.error),
        provider: None,
        last_snapshot_time: None,
        last_snapshot_age_seconds: None,
        stale_after_seconds: 0,
        stale: false,
        quotes: None,
        consecutive_failures: 0,
        last_error: None,
        last_error_time: None,
        ready_replicas: None,
    }
}

/// Colour on a terminal only, and never when NO_COLOR is set (https://no-color.org).
pub fn use_colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Block characters for the freshness bar on a UTF-8 terminal only.
pub fn use_unicode() -> bool {
    let var = |name: &str| std::env::var(name).ok();
    std::io::stdout().is_terminal()
        && render::utf8_locale(var("LC_ALL").as_deref(), var("LC_CTYPE").as_deref(), var("LANG").as_deref())
}

/// The report as text in the chosen format.
fn format(report: &StatusReport, output: StatusOutput) -> Result<String, StatusError> {
    Ok(match output {
        StatusOutput::Table => {
            let style = render::Style {
                colour: use_colour(),
                namespaces: report.namespace.is_none(),
                unicode: use_unicode(),
            };
            render::render(report, &style)
        }
        StatusOutput::Json => {
            serde_json::to_string_pretty(report).map_err(|e| StatusError::Encode(e.to_string()))? + "\n"
        }
        StatusOutput::Yaml => {
            serde_saphyr::to_string(report).map_err(|e| StatusError::Encode(e.to_string()))?
        }
    })
}

pub async fn run(args: StatusArgs) -> ExitCode {
    let cluster = match connect(&args.cluster).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if args.watch {
        return watch::run(cluster, &args).await;
    }
    let report = match collect(&cluster, Timestamp::now()).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match format(&report, args.output) {
        Ok(text) => print!("{text}"),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    if report.healthy { ExitCode::SUCCESS } else { ExitCode::from(1) }
}
