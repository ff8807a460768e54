//! nflbet: a Kubernetes operator for NFL betting operations.
//!
//! Layers, from the inside out:
//! - [`domain`]: odds maths, margin removal, Kelly, exposure, calibration and pricing models —
//!   no Kubernetes, no I/O;
//! - [`feed`]: normalised quotes, providers, the snapshot format and store;
//! - [`crd`]: the custom resources users write, and [`monitoring`]: the prometheus-operator
//!   objects nflbet generates;
//! - [`workloads`]: the [`workloads::scraper`] (one odds feed) and the [`workloads::model`] (one
//!   pricing model), plus
//!   [`replay`] over history, and [`store_backup`] of what they store;
//! - the operator's [`controller`]s and its [`notify`]-cations;
//! - [`egress`]: where workloads may connect and send credentials (the operator's policy);
//! - [`cli`]: the one binary's subcommands; [`http`] and [`shutdown`] are what every long-running
//!   subcommand shares.

pub mod cli;
pub mod controller;
pub mod crd;
pub mod domain;
pub mod egress;
pub mod feed;
pub mod http;
#[cfg(test)]
mod layers;
pub mod monitoring;
pub mod notify;
pub mod replay;
pub mod shutdown;
pub mod store_backup;
pub mod workloads;
