//! `nflbet model`: the model workload of one Model (stable or candidate).

mod args;

pub use args::ModelArgs;
