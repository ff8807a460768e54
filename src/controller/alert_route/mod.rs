//! AlertRoute controller: read → build (pure) → validate (pure) → apply → status.

pub mod build;
pub mod validate;

use super::apply::{self, ApplyError};
use super::conditions::{self, Desired, MONITORING, READY, STOPPED, Status};
use super::context::Context;
use crate::crd::alert_route::AlertRoute;
use crate::monitoring::AlertmanagerConfig;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

pub const CONTROLLER: &str = "alertroute";
pub const CONFIG_VALID: &str = "ConfigValid";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the object cannot be read as an AlertRoute: {0}")]
    InvalidObject(String),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error("AlertmanagerConfig refused: {0}")]
    Monitoring(#[source] ApplyError),
}

impl Error {
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::InvalidObject(_) => "InvalidObject",
            Error::Apply(_) => "ApplyFailed",
            Error::Monitoring(_) => "MonitoringFailed",
        }
    }
}

pub async fn reconcile(obj: Arc<DeserializeGuard<AlertRoute>>, ctx: Arc<Context>) -> Result<Action, Error> {
    let _timer = ctx.metrics.start(CONTROLLER);
    let result = match &obj.0 {
        Ok(ar) => reconcile_route(ar, &ctx).await,
        Err(invalid) => {
            super::invalid::report::<AlertRoute>(&ctx, invalid).await;
            Err(Error::InvalidObject(invalid.error.clone()))
        }
    };
    match &result {
        Ok(_) => {
            ctx.metrics.success(CONTROLLER);
            if let Ok(ar) = &obj.0 {
                ctx.backoff.reset(&format!(
                    "alertroute:{}/{}",
                    ar.namespace().unwrap_or_default(),
                    ar.name_any()
                ));
            }
        }
        Err(e) => ctx.metrics.failure(CONTROLLER, e.metric_label()),
    }
    result
}

async fn reconcile_route(ar: &AlertRoute, ctx: &Context) -> Result<Action, Error> {
    let ns = ar.namespace().unwrap_or_default();
    let caps = ctx.capabilities();
    let config_name = build::config_name(&ar.name_any());
    let mut desired = Vec::new();

    if !caps.alertmanager_configs {
        desired.push(Desired::new(
            MONITORING,
            Status::False,
            "MonitoringCRDsMissing",
            "alertmanagerconfigs.monitoring.coreos.com is not installed; nothing routes these alerts",
        ));
        desired.push(Desired::new(
            READY,
            Status::False,
            "MonitoringCRDsMissing",
            "cannot create the AlertmanagerConfig",
        ));
        desired.push(stopped(ar));
        write_status(ar, ctx, desired).await?;
        return Ok(Action::requeue(Duration::from_secs(60)));
    }
    desired.push(Desired::new(MONITORING, Status::True, "Succeeded", "AlertmanagerConfig CRD present"));
    desired.push(stopped(ar));

    let amc = build::build(ar);
    let problems = validate::validate(&amc);
    if ar.spec.disabled {
        apply::delete::<AlertmanagerConfig>(&ctx.client, &ns, &config_name).await?;
        desired.push(Desired::new(READY, Status::True, "Stopped", "routing removed by spec.disabled"));
    } else if !problems.is_empty() {
        let msg = problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; ");
        desired.push(Desired::new(CONFIG_VALID, Status::False, "InvalidConfig", msg.clone()));
        desired.push(Desired::new(
            READY,
            Status::False,
            "InvalidConfig",
            format!("not applied (the previous routing, if any, stays in effect): {msg}"),
        ));
        ctx.publish(ar, EventType::Warning, "InvalidConfig", "Validate", msg).await;
    } else if let Err(e) = apply::apply(&ctx.client, &amc).await {
        // The API server (or prometheus-operator's webhook) refused it: say so in its words.
        let refused = apply::refusal(std::slice::from_ref(&e)).expect("one refusal");
        desired.retain(|d| d.type_ != MONITORING);
        desired.push(refused.condition());
        desired.push(Desired::new(
            READY,
            Status::False,
            refused.reason,
            format!("not applied (the previous routing, if any, stays in effect): {}", refused.message),
        ));
        write_status(ar, ctx, desired).await?;
        ctx.publish(ar, EventType::Warning, "MonitoringFailed", "Apply", refused.message).await;
        return Err(Error::Monitoring(e));
    } else {
        desired.push(Desired::new(
            CONFIG_VALID,
            Status::True,
            "Succeeded",
            "generated routing passed validation",
        ));
        desired.push(Desired::new(
            READY,
            Status::True,
            "Succeeded",
            format!(
                "AlertmanagerConfig {config_name} routes severity {} and above to {}",
                ar.spec.min_severity().as_str(),
                ar.spec.receivers_label()
            ),
        ));
    }
    write_status(ar, ctx, desired).await?;
    Ok(Action::requeue(Duration::from_secs(300)))
}

fn stopped(ar: &AlertRoute) -> Desired {
    if ar.spec.disabled {
        Desired::new(STOPPED, Status::True, "Disabled", "stopped by spec.disabled")
    } else {
        Desired::new(STOPPED, Status::False, "Running", "routing enabled")
    }
}

async fn write_status(ar: &AlertRoute, ctx: &Context, desired: Vec<Desired>) -> Result<(), Error> {
    let previous = ar.status.clone().unwrap_or_default();
    let merged = conditions::merge(&previous.conditions, &desired, ar.metadata.generation, Timestamp::now());
    let receivers = ar.spec.receivers_label();
    if merged == previous.conditions
        && previous.observed_generation == ar.metadata.generation
        && previous.receivers.as_deref() == Some(receivers.as_str())
    {
        return Ok(());
    }
    let status = json!({
        "observedGeneration": ar.metadata.generation,
        "conditions": merged,
        "receivers": receivers,
    });
    apply::apply_status(&ctx.client, ar, status).await?;
    Ok(())
}

pub fn error_policy(obj: Arc<DeserializeGuard<AlertRoute>>, err: &Error, ctx: Arc<Context>) -> Action {
    let key = match &obj.0 {
        Ok(ar) => format!("{}/{}", ar.namespace().unwrap_or_default(), ar.name_any()),
        Err(i) => format!(
            "{}/{}",
            i.metadata.namespace.clone().unwrap_or_default(),
            i.metadata.name.clone().unwrap_or_default()
        ),
    };
    let mut delay = ctx.backoff.next(&format!("alertroute:{key}"));
    if let Error::Monitoring(_) = err {
        delay = delay.min(apply::MONITORING_RETRY_MAX);
    }
    tracing::warn!(controller = CONTROLLER, object = %key, error = %err, retry_in = ?delay, "reconcile failed");
    match err {
        Error::InvalidObject(_) => Action::await_change(),
        _ => Action::requeue(delay),
    }
}
