//! Model controller: read (Sportsbooks, reported calibration) → decide rollout (pure) → build
//! (pure) → apply → status.

pub mod alerts;
pub mod build;
pub mod rollout;
pub mod status;
pub mod storage;

use super::apply::{self, ApplyError};
use super::conditions;
use super::context::Context;
use super::pod_policy;
use super::snapshot_store::StoreLocation;
use crate::crd::Sportsbook;
use crate::crd::model::{Model, RollbackRecord};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub const CONTROLLER: &str = "model";
const RESYNC: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the object cannot be read as a Model: {0}")]
    InvalidObject(String),
    #[error("invalid Model: {0}")]
    Build(#[from] build::BuildError),
    #[error("listing Sportsbooks: {0}")]
    Sportsbooks(#[source] kube::Error),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error("monitoring objects refused (the model was applied): {0}")]
    Monitoring(#[source] ApplyError),
}

impl Error {
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::InvalidObject(_) => "InvalidObject",
            Error::Build(e) => e.reason(),
            Error::Sportsbooks(_) => "ListFailed",
            Error::Apply(_) => "ApplyFailed",
            Error::Monitoring(_) => "MonitoringFailed",
        }
    }
}

fn key(m: &Model) -> String {
    format!("model:{}/{}", m.namespace().unwrap_or_default(), m.name_any())
}

pub async fn reconcile(obj: Arc<DeserializeGuard<Model>>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.start(CONTROLLER);
    let result = match &obj.0 {
        Ok(m) => reconcile_model(m, &ctx).await,
        Err(invalid) => {
            super::invalid::report::<Model>(&ctx, invalid).await;
            Err(Error::InvalidObject(invalid.error.clone()))
        }
    };
    match (&result, &obj.0) {
        (Ok(_), Ok(m)) => {
            ctx.metrics.success(CONTROLLER);
            ctx.backoff.reset(&key(m));
        }
        (Ok(_), Err(_)) => ctx.metrics.success(CONTROLLER),
        (Err(e), _) => ctx.metrics.failure(CONTROLLER, e.metric_label()),
    }
    result
}

/// The Sportsbooks the model prices (the listed names plus those matching the selector, sorted),
/// with where each writes its snapshots. A listed book that does not exist (yet) is priced as
/// soon as it does; until then where it writes is unknown.
async fn resolve_books(ctx: &Context, m: &Model) -> Result<Vec<storage::BookStore>, Error> {
    // Guarded: one unreadable Sportsbook must not stop the model; its store is just unknown.
    let api: Api<DeserializeGuard<Sportsbook>> =
        Api::namespaced(ctx.client.clone(), &m.namespace().unwrap_or_default());
    let writes = |b: &DeserializeGuard<Sportsbook>| {
        b.0.as_ref().ok().map(|sb| StoreLocation::of(sb.spec.storage.as_ref()))
    };
    let mut books = BTreeMap::new();
    if let Some(sel) = &m.spec.sportsbooks.selector {
        let labels: Vec<String> = sel.match_labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let list =
            api.list(&ListParams::default().labels(&labels.join(","))).await.map_err(Error::Sportsbooks)?;
        for b in &list.items {
            books.insert(b.name_any(), writes(b));
        }
    }
    let named: Vec<&String> = m.spec.sportsbooks.names.iter().filter(|n| !books.contains_key(*n)).collect();
    let found = futures::future::join_all(named.iter().map(|n| api.get_opt(n))).await;
    for (name, got) in named.into_iter().zip(found) {
        books.insert(name.clone(), got.map_err(Error::Sportsbooks)?.as_ref().and_then(writes));
    }
    Ok(books.into_iter().map(|(name, writes)| storage::BookStore { name, writes }).collect())
}

async fn reconcile_model(m: &Model, ctx: &Context) -> Result<Action, Error> {
    let ns = m.namespace().unwrap_or_default();
    let model = m.name_any();
    let caps = ctx.capabilities();
    let previous = m.status.clone().unwrap_or_default();
    let decision = rollout::decide(&m.spec, &previous);

    let books = resolve_books(ctx, m).await?;
    let storage = storage::check(m.spec.storage.as_ref(), &books);
    let books: Vec<String> = books.into_iter().map(|b| b.name).collect();

    if m.spec.suspend {
        let stable = apply::get::<Deployment>(&ctx.client, &ns, &build::child_name(&model)).await?;
        let candidate = apply::get::<Deployment>(&ctx.client, &ns, &build::candidate_name(&model)).await?;
        // While suspended the previous rollout state is reported as it is, not re-decided.
        let held = rollout::Decision { newly_rolled_back: false, ..decision };
        let obs = status::Observed {
            stable: stable.as_ref(),
            candidate: candidate.as_ref(),
            caps,
            apply_error: None,
            invalid: None,
            monitoring_refused: None,
            storage: Some(&storage),
        };
        write_status(m, ctx, &held, &obs).await?;
        return Ok(Action::requeue(RESYNC));
    }

    // Read step of the pod policy: the ServiceAccount the spec names, if any.
    let named = m.spec.workload.as_ref().and_then(|w| w.service_account_name.as_deref());
    let account = apply::named_service_account(&ctx.client, &ns, named).await?;
    let built = build::check_policy(m, &ctx.config, pod_policy::named_account(named, account.as_ref()))
        .and_then(|()| build::build(m, &books, &decision, &ctx.config, caps));
    let children = match built {
        Ok(c) => c,
        Err(e) => {
            // Nothing is applied: children made from an earlier spec stay as they are.
            let obs = status::Observed {
                caps,
                invalid: Some((e.reason(), e.to_string())),
                storage: Some(&storage),
                ..Default::default()
            };
            write_status(m, ctx, &decision, &obs).await?;
            ctx.publish(m, EventType::Warning, e.reason(), "Reconcile", e.to_string()).await;
            // Only a change of the spec, the ServiceAccount or the policy can fix this.
            return Err(e.into());
        }
    };
    let applied = apply_children(ctx, &ns, &model, children, caps).await;

    if decision.newly_rolled_back
        && let Some(rb) = &decision.rollback
        && ctx.first_time(format!("{}/rollback/{}", m.uid().unwrap_or_default(), rb.candidate_version))
    {
        let note = format!("candidate {} rolled back: {}", rb.candidate_version, rb.reason);
        ctx.publish(m, EventType::Warning, "RolledBack", "Rollback", note.clone()).await;
        ctx.notifier.notify_model(m, "ModelRolledBack", &note).await;
    }

    match applied {
        Ok(applied) => {
            let (stable, candidate) = &applied.workload;
            let refused = apply::refusal(&applied.monitoring);
            let obs = status::Observed {
                stable: Some(stable),
                candidate: candidate.as_ref(),
                caps,
                apply_error: None,
                invalid: None,
                monitoring_refused: refused.clone(),
                storage: Some(&storage),
            };
            write_status(m, ctx, &decision, &obs).await?;
            match (refused, applied.monitoring.into_iter().next()) {
                (Some(r), Some(first)) => {
                    ctx.publish(m, EventType::Warning, "MonitoringFailed", "Apply", r.message).await;
                    // The error policy retries with backoff until the monitoring objects go in.
                    Err(Error::Monitoring(first))
                }
                _ => Ok(Action::requeue(RESYNC)),
            }
        }
        Err(e) => {
            let obs = status::Observed {
                caps,
                apply_error: Some(e.to_string()),
                storage: Some(&storage),
                ..Default::default()
            };
            write_status(m, ctx, &decision, &obs).await?;
            ctx.publish(m, EventType::Warning, "ReconcileFailed", "Apply", e.to_string()).await;
            Err(e.into())
        }
    }
}

/// Apply every child and remove what must not exist (a rolled-back candidate, alerts of a
/// stopped model), in two concurrent rounds: first what others refer to, then the RoleBinding and
/// the Deployments (see the Sportsbook controller for why the order matters). A refused
/// monitoring object is reported in the result: the Deployments go in regardless.
async fn apply_children(
    ctx: &Context,
    ns: &str,
    model: &str,
    c: build::Children,
    caps: crate::monitoring::Capabilities,
) -> Result<apply::Applied<(Deployment, Option<Deployment>)>, ApplyError> {
    let client = &ctx.client;
    let name = build::child_name(model);
    let candidate_name = build::candidate_name(model);
    // `join!`, not `try_join!`: one failing child must not cancel the writes of the others.
    let first = futures::join!(
        apply::ensure(client, c.service_account.is_some(), ns, &name, c.service_account.as_ref()),
        apply::apply(client, &c.role),
        apply::apply(client, &c.service),
        apply::ensure(client, caps.service_monitors, ns, &name, c.service_monitor.as_ref()),
        apply::ensure(client, caps.prometheus_rules, ns, &name, c.prometheus_rule.as_ref()),
    );
    first.0?;
    first.1?;
    first.2?;
    let monitoring = apply::refused([first.3.map(drop), first.4.map(drop)]);
    let (stable, candidate, role_binding) = futures::join!(
        apply::apply(client, &c.stable),
        apply::ensure(client, true, ns, &candidate_name, c.candidate.as_ref()),
        apply::apply(client, &c.role_binding),
    );
    role_binding?;
    Ok(apply::Applied { workload: (stable?, candidate?), monitoring })
}

async fn write_status(
    m: &Model,
    ctx: &Context,
    decision: &rollout::Decision,
    obs: &status::Observed<'_>,
) -> Result<(), Error> {
    let previous = m.status.clone().unwrap_or_default();
    let desired = status::conditions(m, decision, obs);
    let merged = conditions::merge(&previous.conditions, &desired, m.metadata.generation, Timestamp::now());
    let rollback = decision.rollback.clone().map(|rb| RollbackRecord {
        // Keep the first time; stamp a new rollback now.
        time: rb
            .time
            .or_else(|| previous.rollback.as_ref().and_then(|p| p.time.clone()))
            .or(Some(Time(Timestamp::now()))),
        ..rb
    });
    let candidate_version = obs
        .candidate
        .and(m.spec.rollout.as_ref())
        .filter(|_| decision.run_candidate)
        .map(|r| r.candidate.version.clone());
    let phase = decision.phase.as_str().to_string();
    let unchanged = merged == previous.conditions
        && previous.observed_generation == m.metadata.generation
        && previous.current_version.as_deref() == Some(m.spec.version.as_str())
        && previous.candidate_version == candidate_version
        && previous.rollout_phase.as_deref() == Some(phase.as_str())
        && previous.rollback == rollback;
    if unchanged {
        return Ok(());
    }
    // Only the operator's fields: calibration and summary belong to the workloads.
    let mut status = json!({
        "observedGeneration": m.metadata.generation,
        "conditions": merged,
        "currentVersion": m.spec.version,
        "rolloutPhase": phase,
    });
    if let Some(v) = candidate_version {
        status["candidateVersion"] = json!(v);
    }
    if let Some(rb) = rollback {
        status["rollback"] = serde_json::to_value(rb).expect("serialisable");
    }
    apply::apply_status(&ctx.client, m, status).await?;
    Ok(())
}

pub fn error_policy(obj: Arc<DeserializeGuard<Model>>, err: &Error, ctx: Arc<Context>) -> Action {
    let Ok(m) = &obj.0 else { return Action::await_change() };
    let mut delay = ctx.backoff.next(&key(m));
    if let Error::Monitoring(_) = err {
        delay = delay.min(super::apply::MONITORING_RETRY_MAX);
    }
    tracing::warn!(controller = CONTROLLER, object = %key(m), error = %err, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}
