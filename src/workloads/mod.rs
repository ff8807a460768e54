//! The workloads the operator runs, one per subcommand of the binary:
//! - [`scraper`]: `nflbet scrape`, one Sportsbook's odds feed polled into snapshots;
//! - [`model`]: `nflbet model`, one Model (stable or candidate) priced over the latest snapshots.
//!
//! The operator builds their Deployments (`controller::workload_objects`); they report back only
//! into their own resource's status.

pub mod model;
pub mod scraper;
