//! nflbet: a Kubernetes operator for NFL betting operations.
//!
//! Layers, from the inside out:
//! - [`crd`]: the custom resources (the API users write);
//! - domain code (odds maths, models, calibration), which knows nothing of Kubernetes;
//! - workloads ([`scrape`], model) and the operator's [`controller`]s, which depend on both;
//! - [`cli`]: the one binary's subcommands.

pub mod cli;
pub mod controller;
pub mod crd;
pub mod domain;
pub mod feed;
pub mod http;
pub mod model_workload;
pub mod monitoring;
pub mod notify;
pub mod replay;
pub mod scrape;
