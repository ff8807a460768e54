//! `nflbet model`: the model workload of one Model (stable or candidate).
//!
//! Every `--interval` it reads the latest snapshot of each sportsbook, prices every market with
//! the chosen algorithm, sizes stakes (Kelly once, caps, exposure, traffic share, shadow),
//! exports metrics on `/metrics`, stores its predictions and recommendations for later
//! settlement, scores the stored predictions against results, and reports calibration (and, as
//! the stable role, a pricing summary) into the Model's status. Drive it from a test with
//! [`Workload`]: `Workload::new(config)?.run_at(now)`. Format and metrics in
//! `docs/model-workload.md`.

mod args;
pub mod config;
pub mod error;
pub mod games_source;
pub mod gate;
pub mod inputs;
pub mod metrics;
pub mod pricing;
pub mod record;
pub mod settle;
pub mod spec;
pub mod staking;
pub mod status;
pub mod store;
pub mod table;
pub mod workload;

pub use args::ModelArgs;
pub use config::{ModelConfig, Role};
pub use error::{ConfigError, ErrorType, RunError};
pub use workload::{RunReport, Workload};

use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;

/// Run `nflbet model` with its parsed flags.
pub async fn run(args: ModelArgs) -> anyhow::Result<()> {
    let config = ModelConfig::from_args(&args)?;
    tracing::info!(config = ?config, "starting model workload");
    let mut workload = Workload::new(config)?;
    let cancel = CancellationToken::new();
    tokio::spawn(crate::shutdown::on_signal(cancel.clone()));

    let reporter = if workload.config().report_status { connect_status(&workload).await } else { None };

    if args.once {
        let report = workload.run_once().await;
        if let (Some(r), Some(s)) = (&reporter, workload.status_report()) {
            status::write_logged(r, &s, &workload.metrics()).await;
        }
        print!("{}", table::render(&report));
        return Ok(());
    }

    let running = start(workload, reporter, cancel.clone()).await?;
    running.join().await;
    Ok(())
}

/// A workload serving `/metrics` and pricing in the background.
pub struct RunningWorkload {
    pub addr: SocketAddr,
    pub metrics: std::sync::Arc<metrics::Metrics>,
    cancel: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningWorkload {
    /// Stop pricing and serving, and wait for the last status write.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        self.join().await;
    }

    /// Wait until the workload stops (cancelled elsewhere).
    pub async fn join(self) {
        for t in self.tasks {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(15), t).await;
        }
    }
}

/// Bind `--listen`, serve the endpoints, price every `--interval` and, with a reporter, write
/// the status at the bounded rate, until `cancel`.
pub async fn start(
    workload: Workload,
    reporter: Option<status::StatusReporter>,
    cancel: CancellationToken,
) -> Result<RunningWorkload, ConfigError> {
    let listen = workload.config().listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| ConfigError::Listen { addr: listen, source })?;
    let addr = listener.local_addr().map_err(|source| ConfigError::Listen { addr: listen, source })?;
    let metrics = workload.metrics();
    let app =
        crate::http::router(metrics.clone(), workload.ready_flag(), "waiting for the first pricing run\n");
    let mut tasks = vec![tokio::spawn(crate::http::serve(listener, app, cancel.clone()))];
    if let Some(r) = reporter {
        tasks.push(tokio::spawn(status::run(
            r,
            workload.subscribe(),
            workload.config().status_interval,
            metrics.clone(),
            cancel.clone(),
        )));
    }
    let c = cancel.clone();
    tasks.push(tokio::spawn(async move {
        workload.run(c.clone()).await;
        c.cancel();
    }));
    Ok(RunningWorkload { addr, metrics, cancel, tasks })
}

async fn connect_status(workload: &Workload) -> Option<status::StatusReporter> {
    let c = workload.config();
    match status::StatusReporter::connect(&c.namespace, &c.model, c.role).await {
        Ok(r) => Some(r),
        Err(e) => {
            // Not fatal: pricing matters more than its report.
            workload.metrics().status_failed();
            tracing::warn!(error = %e, "no Kubernetes client; status reports disabled");
            None
        }
    }
}
