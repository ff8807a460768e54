//! The Sportsbook's steps of the reconcile pipeline (`super::driver`).
//!
//! - read: the ServiceAccount the spec names, if any;
//! - validate and build (`build`, pure): the pod policy, then ServiceAccount, Role, RoleBinding,
//!   Deployment, Service, ServiceMonitor and PrometheusRule (`alerts`);
//! - status (`status`, pure): the scraper's rollout and what happened, as conditions; an Event
//!   and a notification when the book stops or starts.

pub mod alerts;
pub mod build;
pub mod status;

use super::apply::{self, ApplyError};
use super::children::{ChildKind, ChildSet};
use super::conditions::{MONITORING, READY, STOPPED, SUSPENDED};
use super::config::OperatorConfig;
use super::context::Context;
use super::driver::{Observed, Outcome, Reconciled, SpecError, StatusUpdate};
use super::pod_policy;
use crate::crd::sportsbook::Sportsbook;
use crate::monitoring::Capabilities;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::ResourceExt;
use kube::runtime::events::EventType;
use serde::Serialize;

/// Name of this controller in metrics and logs.
pub const CONTROLLER: &str = "sportsbook";

/// The children the Sportsbook controller makes and watches.
pub const CHILDREN: &[ChildKind] = &[
    ChildKind::Deployment,
    ChildKind::Service,
    ChildKind::ServiceAccount,
    ChildKind::Role,
    ChildKind::RoleBinding,
    ChildKind::PrometheusRule,
    ChildKind::ServiceMonitor,
];

/// Status fields the operator owns besides `observedGeneration` and `conditions` (`ingestion`
/// belongs to the scraper).
#[derive(Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fields {
    #[serde(skip_serializing_if = "Option::is_none")]
    ready_replicas: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    markets: Option<String>,
}

impl Reconciled for Sportsbook {
    const CONTROLLER: &'static str = CONTROLLER;
    const CONDITIONS: &'static [&'static str] = &[READY, STOPPED, SUSPENDED, MONITORING];
    /// The ServiceAccount the spec names, when it names one and it exists.
    type Inputs = Option<ServiceAccount>;
    type Fields = Fields;

    async fn read(&self, ctx: &Context) -> Result<Self::Inputs, ApplyError> {
        let named = self.spec.workload.as_ref().and_then(|w| w.service_account_name.as_deref());
        apply::named_service_account(&ctx.client, &self.namespace().unwrap_or_default(), named).await
    }

    fn suspended(&self) -> bool {
        self.spec.suspend
    }

    fn build(
        &self,
        account: &Self::Inputs,
        cfg: &OperatorConfig,
        caps: Capabilities,
    ) -> Result<ChildSet, SpecError> {
        let named = self.spec.workload.as_ref().and_then(|w| w.service_account_name.as_deref());
        build::check_policy(self, cfg, pod_policy::named_account(named, account.as_ref()))?;
        let c = build::build(self, cfg, caps)?;
        let ns = self.namespace().unwrap_or_default();
        let name = build::child_name(&self.name_any());
        let mut set = ChildSet::new();
        // A user-named ServiceAccount replaces ours; the generated one is then left alone (it
        // may still exist from before and is garbage-collected with the book).
        set.ensure(
            ChildKind::ServiceAccount,
            c.service_account.is_some(),
            &ns,
            &name,
            c.service_account.as_ref(),
        )
        .put(ChildKind::Role, &c.role)
        .put(ChildKind::Service, &c.service)
        .ensure(ChildKind::ServiceMonitor, caps.service_monitors, &ns, &name, c.service_monitor.as_ref())
        .ensure(
            ChildKind::PrometheusRule,
            caps.prometheus_rules,
            &ns,
            &build::rule_name(&self.name_any()),
            c.prometheus_rule.as_ref(),
        )
        .put(ChildKind::Deployment, &c.deployment)
        .put(ChildKind::RoleBinding, &c.role_binding);
        Ok(set)
    }

    fn status(&self, _: &Self::Inputs, observed: &Observed<'_>) -> StatusUpdate<Fields> {
        let workload = observed
            .children
            .workload(&self.namespace().unwrap_or_default(), &build::child_name(&self.name_any()));
        let mut obs =
            status::Observed { deployment: workload.as_ref(), caps: observed.caps, ..Default::default() };
        match observed.outcome {
            Outcome::Invalid(e) => obs.invalid = Some((e.reason(), e.to_string())),
            Outcome::ApplyFailed(e) => obs.apply_error = Some(e.to_string()),
            Outcome::Applied { refused, .. } => obs.monitoring_refused = refused.clone(),
            Outcome::Suspended => {}
        }
        StatusUpdate {
            conditions: status::conditions(self, &obs),
            fields: Fields {
                ready_replicas: workload.as_ref().map(|w| w.ready),
                markets: Some(
                    self.spec.enabled_markets().iter().map(|m| m.as_str()).collect::<Vec<_>>().join(","),
                ),
            },
        }
    }

    fn current_status(&self) -> (Option<i64>, &[Condition], Fields) {
        let status = self.status.as_ref();
        (
            status.and_then(|s| s.observed_generation),
            status.map(|s| s.conditions.as_slice()).unwrap_or_default(),
            Fields {
                ready_replicas: status.and_then(|s| s.ready_replicas),
                markets: status.and_then(|s| s.markets.clone()),
            },
        )
    }

    /// An Event (and a notification) when the book stops or starts.
    async fn announce(&self, ctx: &Context, _: &Self::Inputs, before: &[Condition], after: &[Condition]) {
        let stopped =
            |c: &[Condition]| crate::crd::common::find_condition(c, STOPPED).map(|c| c.status.clone());
        let (was, is) = (stopped(before), stopped(after));
        if was == is {
            return;
        }
        let transition = format!("{}/{:?}/", self.uid().unwrap_or_default(), self.metadata.generation);
        match is.as_deref() {
            Some("True") if ctx.first_time(format!("{transition}Stopped")) => {
                let note = "scraper scaled to 0 and alerts removed (spec.disabled)";
                ctx.publish(self, EventType::Normal, "Stopped", "Disable", note.into()).await;
                ctx.notifier.notify_sportsbook(self, "SportsbookStopped", note).await;
            }
            Some("False")
                if was.as_deref() == Some("True") && ctx.first_time(format!("{transition}Started")) =>
            {
                let note = "scraper and alerts restored (spec.disabled is false)";
                ctx.publish(self, EventType::Normal, "Started", "Enable", note.into()).await
            }
            _ => {}
        }
    }
}
