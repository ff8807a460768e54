//! The `nflbet` command line: one binary, one subcommand per role.

pub mod completions;
pub mod crds;
pub mod replay;
pub mod status;
pub mod store;
pub mod telemetry;
pub mod validate;

use clap::{Parser, Subcommand};

/// nflbet runs an NFL betting operation on Kubernetes: odds scrapers, pricing models and alert
/// routing, declared as Sportsbook, Model and AlertRoute resources.
#[derive(Parser, Debug)]
#[command(name = "nflbet", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Log format: text for people, json for log pipelines.
    #[arg(long, global = true, env = "NFLBET_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the operator: reconcile Sportsbooks, Models and AlertRoutes.
    Operator(crate::controller::OperatorArgs),
    /// Run a scraper: poll one odds feed, write snapshots, export metrics.
    Scrape(crate::workloads::scraper::ScrapeArgs),
    /// Print the CustomResourceDefinitions, or write them into a directory.
    Crds(crds::CrdsArgs),
    /// Re-run pricing models over past games and closing lines, settle them and report calibration,
    /// ROI and closing-line value.
    Replay(replay::ReplayCommand),
    /// Run a pricing model workload: price the latest snapshots, size stakes, export metrics,
    /// store recommendations and report calibration into the Model's status.
    // `--version` is the model's version (the operator's contract): no version flag of its own.
    #[command(disable_version_flag = true)]
    Model(crate::workloads::model::ModelArgs),
    /// Show the health of every Sportsbook, Model and AlertRoute
    ///
    /// For each resource: Ready, stopped or suspended, age of the last odds snapshot, recent
    /// ingestion errors, a model's top edge, total stake, calibration and rollout phase. Exits 1
    /// when something is unhealthy, so scripts and cron jobs can act on it.
    Status(status::StatusArgs),
    /// Check manifests offline, for pre-commit hooks and GitOps CI
    ///
    /// Checks Sportsbook, Model and AlertRoute manifests before they reach a cluster: against
    /// the CRD schemas, the same CEL rules the API server runs, and across the set (duplicate
    /// names, references to books and models that are not there, alert routes that can never
    /// match). No cluster needed.
    #[command(name = "validate-config")]
    ValidateConfig(validate::ValidateArgs),
    /// Serve the guide's nflreadpy_* metrics from resource statuses on one endpoint
    ///
    /// For setups that scrape a single target: watches Sportsbooks, Models and AlertRoutes and
    /// serves snapshot freshness, ingestion failures, edges, exposure, calibration and
    /// conditions on /metrics, plus /healthz and /readyz.
    Telemetry(telemetry::TelemetryArgs),
    /// Back up, restore and verify the object stores (snapshots, recommendation records)
    ///
    /// `backup` and `restore` copy between file:// and s3:// stores: only objects missing or
    /// different at the target, each verified by SHA-256 after writing, resumable after an
    /// interruption. `verify` checks that every object decodes as what its key says.
    Store(store::StoreArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish)
    Completions(completions::CompletionsArgs),
}

/// Install the process-wide rustls crypto provider (ring) once, before any TLS client exists.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Structured logs to stderr; `RUST_LOG` filters (default `info`).
pub fn init_tracing(format: LogFormat) {
    use tracing_subscriber::{EnvFilter, fmt};
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
