//! The workloads the operator runs, one per subcommand of the binary:
//! - [`scraper`]: `nflbet scrape`, one Sportsbook's odds feed polled into snapshots;
//! - [`model`]: `nflbet model`, one Model (stable or candidate) priced over the latest snapshots.
//!
//! The operator builds their Deployments (`controller::workload_objects`); they report back only
//! into their own resource's status.

pub mod model;
pub mod scraper;

/// A workload's metrics registry that keeps the name of every family registered in it, with
/// series or not (`Registry::gather` leaves out a family without series), so a test can hold
/// them against the names other processes export (`cli::telemetry::families`).
#[derive(Default)]
struct Families {
    registry: prometheus::Registry,
    names: Vec<String>,
}

impl Families {
    fn register(&mut self, c: Box<dyn prometheus::core::Collector>) -> prometheus::Result<()> {
        let names: Vec<String> = c.desc().iter().map(|d| d.fq_name.clone()).collect();
        self.registry.register(c)?;
        self.names.extend(names);
        Ok(())
    }
}
