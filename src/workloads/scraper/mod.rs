//! `nflbet scrape`: the scraper workload of one Sportsbook.
//!
//! Polls one odds feed ([`crate::feed`] providers), writes one snapshot per successful poll,
//! exports metrics on `/metrics`, and reports a heartbeat into the Sportsbook's
//! `status.ingestion`. Use [`Scraper`] directly to drive polls from a test:
//! `Scraper::new(config)?.poll_once(&cancel)`.

mod args;
pub mod backoff;
pub mod config;
pub mod error;
pub mod fetch;
pub mod heartbeat;
pub mod metrics;
pub mod poll_loop;

pub use args::ScrapeArgs;
pub use config::{PollPolicy, ScrapeConfig};
pub use error::{ConfigError, ErrorType, FetchError, PollError};
pub use poll_loop::{PollReport, Scraper};

use tokio_util::sync::CancellationToken;

/// Run `nflbet scrape` with its parsed flags.
pub async fn run(args: ScrapeArgs) -> anyhow::Result<()> {
    let config = ScrapeConfig::from_args(&args)?;
    tracing::info!(config = ?config, "starting scraper");
    let mut scraper = Scraper::new(config)?;
    let cancel = CancellationToken::new();
    tokio::spawn(crate::shutdown::on_signal(cancel.clone()));

    let heartbeat = if scraper.config().heartbeat { connect_heartbeat(&scraper).await } else { None };

    if args.once {
        let result = scraper.poll_once(&cancel).await;
        if let Some(hb) = &heartbeat {
            heartbeat::write_logged(hb, scraper.status(), &scraper.metrics()).await;
        }
        let report = result?;
        println!("{report}");
        return Ok(());
    }

    let listener = tokio::net::TcpListener::bind(scraper.config().listen)
        .await
        .map_err(|source| ConfigError::Listen { addr: scraper.config().listen, source })?;
    let app = crate::http::router(scraper.metrics(), scraper.ready_flag(), "waiting for the first poll\n");
    let server = tokio::spawn(crate::http::serve(listener, app, cancel.clone()));
    let hb_task = heartbeat.map(|hb| {
        tokio::spawn(heartbeat::run(
            hb,
            scraper.subscribe(),
            scraper.config().heartbeat_interval,
            scraper.metrics(),
            cancel.clone(),
        ))
    });
    scraper.run(cancel.clone()).await;
    cancel.cancel();
    if let Some(t) = hb_task {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(15), t).await;
    }
    let _ = server.await;
    Ok(())
}

async fn connect_heartbeat(scraper: &Scraper) -> Option<heartbeat::Heartbeat> {
    let c = scraper.config();
    match heartbeat::Heartbeat::connect(&c.namespace, &c.sportsbook).await {
        Ok(hb) => Some(hb),
        Err(e) => {
            // Not fatal: ingestion matters more than its report.
            scraper.metrics().heartbeat_failed();
            tracing::warn!(error = %e, "no Kubernetes client; heartbeat disabled");
            None
        }
    }
}
