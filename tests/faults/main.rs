//! The fault suite (issue 11): each test breaks a real part the operator or a workload depends
//! on, and asserts recovery within a bound. Bounds are generous for a loaded two-core machine;
//! the times measured are printed (`--nocapture`) and reported in docs/benchmarks.md.
//!
//! | fault | test | recovery asserted |
//! |---|---|---|
//! | kube-apiserver killed (SIGKILL) and restarted, 3× | `control_plane` | `/readyz` false while down; a disable patch reaches 0 replicas |
//! | etcd killed and restarted, 2× | `control_plane` | the same |
//! | prometheus-operator CRDs removed, then installed again | `monitoring_crds` | scraper keeps running; rules and monitors back with no edit and no restart |
//! | the operator killed (SIGKILL) in the middle of a 300-book bulk apply | `operator_killed` | a new process converges all 300, one child of each kind per book |
//! | the S3 server killed in the middle of a poll, then back; an S3 server answering 500; a file store turned read-only | `object_store` | `error_type="storage"` and the failed-poll streak counted, the scraper alive, no partial object, snapshots resume |
//! | the leader cut off from the API server | `tests/integration/leader_election.rs` | the follower takes over within the lease; never two leaders |
//!
//! These tests kill or remove parts of the shared control plane, so they live in a binary of
//! their own (cargo runs test binaries one after another) and take [`serial`] so they never run
//! at the same time as each other.

#[path = "../support/mod.rs"]
mod support;

mod control_plane;
mod monitoring_crds;
mod object_store;
mod operator_killed;

/// One fault at a time.
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}
