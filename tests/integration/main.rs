//! The integration tests, one module per behaviour, in one test binary.
//!
//! One binary instead of one per file: each binary links the whole crate and its dependencies,
//! and thirty of them cost minutes of linking and gigabytes of disk in a clean build. Tests that
//! change cluster-wide state other tests rely on (removing the prometheus-operator CRDs) or
//! start a control plane of their own (the demo) stay in binaries of their own, which cargo
//! runs one after another.

#[path = "../support/mod.rs"]
mod support;

mod alert_route;
mod alert_routing_amtool;
mod chart;
mod child_drift;
mod child_names;
mod cli_status;
mod cli_telemetry;
mod cli_validate;
mod crds_up_to_date;
mod dashboards;
mod doc_commands;
mod egress;
mod image;
mod kube_client_requests;
mod leader_election;
mod look_ahead;
mod model_alerts;
mod model_operator;
mod model_workload;
mod model_workload_once;
mod model_workload_status;
mod monitoring_refused;
mod notifications;
mod operator_alerts;
mod pod_policy;
mod quickstart;
mod replay_gate;
mod replay_model;
mod replay_real_data;
mod replay_report;
mod replay_snapshots;
mod scrape_e2e;
mod scrape_faults;
mod scrape_normalise;
mod scrape_once;
mod scrape_snapshots;
mod snapshot_atomicity;
mod sportsbook_admission;
mod sportsbook_alerts;
mod sportsbook_operator;
mod store_backup;
mod testenv;
mod validate_config_agrees;
