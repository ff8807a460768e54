//! Sportsbook controller: read → build (pure) → apply → status.
//!
//! - `build`: Sportsbook → desired children (ServiceAccount, Role, RoleBinding, Deployment,
//!   Service, ServiceMonitor, PrometheusRule). Pure.
//! - `alerts`: the PrometheusRule group. Pure.
//! - `status`: observed children → conditions. Pure.
//! - this module: the only part that talks to the API server.

pub mod alerts;
pub mod build;
pub mod status;

use super::apply::{self, ApplyError};
use super::conditions::{self, STOPPED};
use super::context::Context;
use super::pod_policy;
use crate::crd::sportsbook::{Sportsbook, SportsbookStatus};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// Name of this controller in metrics and logs.
pub const CONTROLLER: &str = "sportsbook";

/// How often a healthy Sportsbook is reconciled anyway, to correct drift in children the
/// operator does not watch (e.g. PrometheusRules when their CRD appeared after start-up).
const RESYNC: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the object cannot be read as a Sportsbook: {0}")]
    InvalidObject(String),
    #[error("invalid spec: {0}")]
    InvalidSpec(#[from] build::BuildError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error("monitoring objects refused (the scraper was applied): {0}")]
    Monitoring(#[source] ApplyError),
    #[error("writing status: {0}")]
    Status(#[source] kube::Error),
}

impl Error {
    /// Bounded label for `controller_runtime_reconcile_errors_total{error}` and Event reasons.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::InvalidObject(_) => "InvalidObject",
            Error::InvalidSpec(e) => e.reason(),
            Error::Apply(_) => "ApplyFailed",
            Error::Monitoring(_) => "MonitoringFailed",
            Error::Status(_) => "StatusFailed",
        }
    }
}

pub async fn reconcile(obj: Arc<DeserializeGuard<Sportsbook>>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.start(CONTROLLER);
    let result = match &obj.0 {
        Ok(sb) => reconcile_book(sb, &ctx).await,
        Err(invalid) => {
            super::invalid::report::<Sportsbook>(&ctx, invalid).await;
            Err(Error::InvalidObject(invalid.error.clone()))
        }
    };
    match &result {
        Ok(_) => {
            ctx.metrics.success(CONTROLLER);
            if let Ok(sb) = &obj.0 {
                ctx.backoff.reset(&format!("{}/{}", sb.namespace().unwrap_or_default(), sb.name_any()));
            }
        }
        Err(e) => ctx.metrics.failure(CONTROLLER, e.metric_label()),
    }
    result
}

async fn reconcile_book(sb: &Sportsbook, ctx: &Context) -> Result<Action, Error> {
    let ns = sb.namespace().unwrap_or_default();
    let book = sb.name_any();
    let caps = ctx.capabilities();
    let name = build::child_name(&book);

    if sb.spec.suspend {
        // Write nothing to the children; only observe them to keep status true.
        let deployment = apply::get::<Deployment>(&ctx.client, &ns, &name).await?;
        let obs = status::Observed { deployment: deployment.as_ref(), caps, ..Default::default() };
        write_status(sb, ctx, &obs).await?;
        return Ok(Action::requeue(RESYNC));
    }

    // Read step of the pod policy: the ServiceAccount the spec names, if any.
    let named = sb.spec.workload.as_ref().and_then(|w| w.service_account_name.as_deref());
    let account = apply::named_service_account(&ctx.client, &ns, named).await?;
    let built = build::check_policy(sb, &ctx.config, pod_policy::named_account(named, account.as_ref()))
        .and_then(|()| build::build(sb, &ctx.config, caps));
    let children = match built {
        Ok(c) => c,
        Err(e) => {
            // Nothing is applied: children made from an earlier spec stay as they are.
            let obs =
                status::Observed { caps, invalid: Some((e.reason(), e.to_string())), ..Default::default() };
            write_status(sb, ctx, &obs).await?;
            ctx.publish(sb, EventType::Warning, e.reason(), "Reconcile", e.to_string()).await;
            // Only a spec change can fix this; the watch brings it.
            return Err(e.into());
        }
    };

    match apply_children(ctx, &ns, &book, children, caps).await {
        Ok(applied) => {
            let refused = apply::refusal(&applied.monitoring);
            let obs = status::Observed {
                deployment: Some(&applied.workload),
                caps,
                monitoring_refused: refused.clone(),
                ..Default::default()
            };
            write_status(sb, ctx, &obs).await?;
            match (refused, applied.monitoring.into_iter().next()) {
                (Some(r), Some(first)) => {
                    ctx.publish(sb, EventType::Warning, "MonitoringFailed", "Apply", r.message).await;
                    // The error policy retries with backoff until the monitoring objects go in.
                    Err(Error::Monitoring(first))
                }
                _ => Ok(Action::requeue(RESYNC)),
            }
        }
        Err(e) => {
            let obs = status::Observed { caps, apply_error: Some(e.to_string()), ..Default::default() };
            write_status(sb, ctx, &obs).await?;
            ctx.publish(sb, EventType::Warning, "ReconcileFailed", "Apply", e.to_string()).await;
            Err(e.into())
        }
    }
}

/// Apply every child and remove the optional ones that should not exist, in two concurrent
/// rounds: first what others refer to (ServiceAccount, Role, Service, monitoring objects), then
/// what refers to them (RoleBinding, Deployment). The order matters under least-privilege RBAC:
/// the API server checks a new RoleBinding against its Role, which must exist by then. A refused
/// monitoring object is reported in the result, not an error: the workload goes in regardless.
async fn apply_children(
    ctx: &Context,
    ns: &str,
    book: &str,
    children: build::Children,
    caps: crate::monitoring::Capabilities,
) -> Result<apply::Applied<Deployment>, ApplyError> {
    let client = &ctx.client;
    let name = build::child_name(book);
    let rule_name = build::rule_name(book);
    // `join!`, not `try_join!`: one failing child must not cancel the writes of the others.
    // A user-named ServiceAccount replaces ours; the generated one is then left alone (it may
    // still exist from before and is garbage-collected with the book).
    let first = futures::join!(
        apply::ensure(
            client,
            children.service_account.is_some(),
            ns,
            &name,
            children.service_account.as_ref()
        ),
        apply::apply(client, &children.role),
        apply::apply(client, &children.service),
        apply::ensure(client, caps.service_monitors, ns, &name, children.service_monitor.as_ref()),
        apply::ensure(client, caps.prometheus_rules, ns, &rule_name, children.prometheus_rule.as_ref()),
    );
    first.0?;
    first.1?;
    first.2?;
    let monitoring = apply::refused([first.3.map(drop), first.4.map(drop)]);
    let (deployment, role_binding) = futures::join!(
        apply::apply(client, &children.deployment),
        apply::apply(client, &children.role_binding),
    );
    role_binding?;
    Ok(apply::Applied { workload: deployment?, monitoring })
}

/// Compute conditions and write them with server-side apply on the status subresource, only
/// when something changed. Publishes an Event when the book stops or starts.
async fn write_status(sb: &Sportsbook, ctx: &Context, obs: &status::Observed<'_>) -> Result<(), Error> {
    let previous = sb.status.clone().unwrap_or_default();
    let desired = status::conditions(sb, obs);
    let merged = conditions::merge(&previous.conditions, &desired, sb.metadata.generation, Timestamp::now());
    let ready_replicas = obs.deployment.and_then(|d| d.status.as_ref()).and_then(|s| s.ready_replicas);
    let next = SportsbookStatus {
        observed_generation: sb.metadata.generation,
        conditions: merged,
        ready_replicas: ready_replicas.or(obs.deployment.map(|_| 0)),
        markets: Some(sb.spec.enabled_markets().iter().map(|m| m.as_str()).collect::<Vec<_>>().join(",")),
        ingestion: previous.ingestion.clone(),
    };
    if next == previous {
        return Ok(());
    }

    let was_stopped = conditions_status(&previous, STOPPED);
    let is_stopped = conditions_status(&next, STOPPED);
    let transition = format!("{}/{:?}/", sb.uid().unwrap_or_default(), sb.metadata.generation);
    if was_stopped != is_stopped {
        match is_stopped.as_deref() {
            Some("True") if ctx.first_time(format!("{transition}Stopped")) => {
                let note = "scraper scaled to 0 and alerts removed (spec.disabled)";
                ctx.publish(sb, EventType::Normal, "Stopped", "Disable", note.into()).await;
                ctx.notifier.notify_sportsbook(sb, "SportsbookStopped", note).await;
            }
            Some("False")
                if was_stopped.as_deref() == Some("True")
                    && ctx.first_time(format!("{transition}Started")) =>
            {
                ctx.publish(
                    sb,
                    EventType::Normal,
                    "Started",
                    "Enable",
                    "scraper and alerts restored (spec.disabled is false)".into(),
                )
                .await
            }
            _ => {}
        }
    }

    // Only the operator's fields: `ingestion` belongs to the scraper's field manager.
    let body = json!({
        "apiVersion": Sportsbook::api_version(&()),
        "kind": Sportsbook::kind(&()),
        "status": {
            "observedGeneration": next.observed_generation,
            "conditions": next.conditions,
            "readyReplicas": next.ready_replicas,
            "markets": next.markets,
        }
    });
    let api: Api<Sportsbook> = Api::namespaced(ctx.client.clone(), &sb.namespace().unwrap_or_default());
    api.patch_status(
        &sb.name_any(),
        &PatchParams::apply(super::config::FIELD_MANAGER).force(),
        &Patch::Apply(body),
    )
    .await
    .map_err(Error::Status)?;
    Ok(())
}

fn conditions_status(status: &SportsbookStatus, type_: &str) -> Option<String> {
    crate::crd::common::find_condition(&status.conditions, type_).map(|c| c.status.clone())
}

/// Requeue with exponential backoff per object: 5s, 10s, 20s … capped at 5 minutes (at one
/// minute while only monitoring objects are refused).
pub fn error_policy(obj: Arc<DeserializeGuard<Sportsbook>>, err: &Error, ctx: Arc<Context>) -> Action {
    let key = match &obj.0 {
        Ok(sb) => format!("{}/{}", sb.namespace().unwrap_or_default(), sb.name_any()),
        Err(invalid) => format!(
            "{}/{}",
            invalid.metadata.namespace.clone().unwrap_or_default(),
            invalid.metadata.name.clone().unwrap_or_default()
        ),
    };
    let mut delay = ctx.backoff.next(&key);
    if let Error::Monitoring(_) = err {
        delay = delay.min(super::apply::MONITORING_RETRY_MAX);
    }
    tracing::warn!(controller = CONTROLLER, object = %key, error = %err, retry_in = ?delay, "reconcile failed");
    match err {
        // Nothing changes until the object does.
        Error::InvalidObject(_) => Action::await_change(),
        _ => Action::requeue(delay),
    }
}
