//! Domain code: odds maths, margin removal, staking, exposure, models and calibration.
//!
//! Nothing in here knows about Kubernetes; the workloads and the operator depend on it, never the
//! reverse.

pub mod calibration;
pub mod consensus;
pub mod duration;
pub mod elo;
pub mod ev;
pub mod exposure;
pub mod games;
pub mod kelly;
pub mod margin;
pub mod market;
pub mod odds;
pub mod pricing_model;
pub mod score_distribution;
