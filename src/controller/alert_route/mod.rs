//! The AlertRoute's steps of the reconcile pipeline (`super::driver`).
//!
//! - read: nothing (the route is self-contained);
//! - validate and build (`build`, `validate`, pure): the AlertmanagerConfig, checked the way
//!   Alertmanager will read it; none while the route is disabled;
//! - status (pure): whether the routing is valid and in effect.

pub mod build;
pub mod validate;

use super::apply::ApplyError;
use super::children::{ChildKind, ChildSet};
use super::conditions::{Desired, MONITORING, READY, STOPPED, Status};
use super::config::OperatorConfig;
use super::context::Context;
use super::driver::{Observed, Outcome, Reconciled, SpecError, StatusUpdate};
use crate::crd::alert_route::AlertRoute;
use crate::crd::condition::Condition;
use crate::monitoring::Capabilities;
use kube::ResourceExt;
use serde::Serialize;

pub const CONTROLLER: &str = "alertroute";
pub const CONFIG_VALID: &str = "ConfigValid";

/// The children the AlertRoute controller makes and watches.
pub const CHILDREN: &[ChildKind] = &[ChildKind::AlertmanagerConfig];

/// Status fields the operator owns besides `observedGeneration` and `conditions`.
#[derive(Debug, PartialEq, Serialize)]
pub struct Fields {
    #[serde(skip_serializing_if = "Option::is_none")]
    receivers: Option<String>,
}

impl Reconciled for AlertRoute {
    const CONTROLLER: &'static str = CONTROLLER;
    const CONDITIONS: &'static [&'static str] = &[READY, STOPPED, MONITORING, CONFIG_VALID];
    type Inputs = ();
    type Fields = Fields;

    async fn read(&self, _: &Context) -> Result<(), ApplyError> {
        Ok(())
    }

    fn suspended(&self) -> bool {
        false
    }

    fn build(&self, _: &(), _: &OperatorConfig, caps: Capabilities) -> Result<ChildSet, SpecError> {
        let mut set = ChildSet::new();
        if !caps.alertmanager_configs {
            return Ok(set);
        }
        let ns = self.namespace().unwrap_or_default();
        let name = build::config_name(&self.name_any());
        if self.spec.disabled {
            set.remove(ChildKind::AlertmanagerConfig, &ns, &name);
            return Ok(set);
        }
        let amc = build::build(self);
        let problems = validate::validate(&amc);
        if !problems.is_empty() {
            let msg = problems.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; ");
            return Err(SpecError::InvalidConfig(msg));
        }
        set.put(ChildKind::AlertmanagerConfig, &amc);
        Ok(set)
    }

    fn status(&self, _: &(), observed: &Observed<'_>) -> StatusUpdate<Fields> {
        StatusUpdate {
            conditions: conditions(self, observed.caps.alertmanager_configs, observed.outcome),
            fields: Fields { receivers: Some(self.spec.receivers_label()) },
        }
    }

    fn current_status(&self) -> (Option<i64>, &[Condition], Fields) {
        let s = self.status.as_ref();
        (
            s.and_then(|s| s.observed_generation),
            s.map(|s| s.conditions.as_slice()).unwrap_or_default(),
            Fields { receivers: s.and_then(|s| s.receivers.clone()) },
        )
    }
}

/// Desired conditions of a route, from whether the AlertmanagerConfig CRD is served and what
/// happened to the config. Pure.
pub fn conditions(ar: &AlertRoute, served: bool, outcome: &Outcome) -> Vec<Desired> {
    let not_applied = "not applied (the previous routing, if any, stays in effect)";
    let stopped = if ar.spec.disabled {
        Desired::new(STOPPED, Status::True, "Disabled", "stopped by spec.disabled")
    } else {
        Desired::new(STOPPED, Status::False, "Running", "routing enabled")
    };
    if !served {
        return vec![
            Desired::new(
                MONITORING,
                Status::False,
                "MonitoringCRDsMissing",
                "alertmanagerconfigs.monitoring.coreos.com is not installed; nothing routes these alerts",
            ),
            Desired::new(
                READY,
                Status::False,
                "MonitoringCRDsMissing",
                "cannot create the AlertmanagerConfig",
            ),
            stopped,
        ];
    }
    let present = Desired::new(MONITORING, Status::True, "Succeeded", "AlertmanagerConfig CRD present");
    match outcome {
        Outcome::Applied { refused: Some(r), .. } => vec![
            r.condition(),
            Desired::new(READY, Status::False, r.reason, format!("{not_applied}: {}", r.message)),
            stopped,
        ],
        Outcome::Invalid(e) => vec![
            present,
            Desired::new(CONFIG_VALID, Status::False, e.reason(), e.to_string()),
            Desired::new(READY, Status::False, e.reason(), format!("{not_applied}: {e}")),
            stopped,
        ],
        Outcome::ApplyFailed(e) => vec![
            present,
            Desired::new(READY, Status::False, "ReconcileFailed", format!("{not_applied}: {e}")),
            stopped,
        ],
        Outcome::Applied { .. } | Outcome::Suspended if ar.spec.disabled => vec![
            present,
            Desired::new(READY, Status::True, "Stopped", "routing removed by spec.disabled"),
            stopped,
        ],
        Outcome::Applied { .. } | Outcome::Suspended => vec![
            present,
            Desired::new(CONFIG_VALID, Status::True, "Succeeded", "generated routing passed validation"),
            Desired::new(
                READY,
                Status::True,
                "Succeeded",
                format!(
                    "AlertmanagerConfig {} routes severity {} and above to {}",
                    build::config_name(&ar.name_any()),
                    ar.spec.min_severity().as_str(),
                    ar.spec.receivers_label()
                ),
            ),
            stopped,
        ],
    }
}

#[cfg(test)]
mod tests {
    //! The pipeline for AlertRoutes against the fake API server (`super::super::fixtures`).
    use super::*;
    use crate::controller::driver;
    use crate::controller::fixtures::*;
    use http::Method;
    use kube::core::DeserializeGuard;
    use std::sync::Arc;

    const ROUTE: &str = "/apis/betting.nflbet.dev/v1alpha1/namespaces/betting/alertroutes/pages";
    const CONFIG: &str =
        "/apis/monitoring.coreos.com/v1alpha1/namespaces/betting/alertmanagerconfigs/nflbet-pages";

    fn route(spec: &str) -> AlertRoute {
        let mut ar: AlertRoute = serde_saphyr::from_str(&format!(
            "apiVersion: betting.nflbet.dev/v1alpha1\nkind: AlertRoute\nmetadata: {{name: pages, namespace: betting, uid: u-2, generation: 1}}\nspec:\n{spec}"
        ))
        .unwrap();
        ar.metadata.uid = Some("u-2".into());
        ar
    }

    const SLACK: &str =
        "  minSeverity: warning\n  slack: {channel: '#bets', apiURL: {name: slack, key: url}}\n";

    fn server(ar: &AlertRoute, caps: Capabilities) -> (FakeApiServer, Arc<Context>) {
        let api = FakeApiServer::default();
        api.insert(ROUTE, serde_json::to_value(ar).unwrap());
        let ctx = api.context(caps);
        (api, ctx)
    }

    async fn reconcile(
        ar: &AlertRoute,
        ctx: &Arc<Context>,
    ) -> Result<kube::runtime::controller::Action, driver::Error> {
        driver::reconcile(Arc::new(DeserializeGuard(Ok(ar.clone()))), ctx.clone()).await
    }

    fn held(api: &FakeApiServer) -> AlertRoute {
        serde_json::from_value(api.object(ROUTE).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn a_route_becomes_its_config_and_disabling_removes_it_and_its_stale_condition() {
        let ar = route(SLACK);
        let (api, ctx) = server(&ar, Capabilities::ALL);
        reconcile(&ar, &ctx).await.unwrap();
        let seen = api.take();
        assert_eq!(
            child_writes(&seen),
            [(Method::PATCH, "alertmanagerconfigs".into(), "nflbet-pages".into())]
        );
        assert_eq!(
            condition(status_writes(&seen)[0], CONFIG_VALID),
            Some(("True".into(), "Succeeded".into()))
        );
        reconcile(&held(&api), &ctx).await.unwrap();
        assert!(api.take().is_empty(), "unchanged");

        let mut off = held(&api);
        off.spec.disabled = true;
        off.metadata.generation = Some(2);
        api.insert(ROUTE, serde_json::to_value(&off).unwrap());
        reconcile(&off, &ctx).await.unwrap();
        let seen = api.take();
        assert_eq!(
            child_writes(&seen),
            [(Method::DELETE, "alertmanagerconfigs".into(), "nflbet-pages".into())]
        );
        assert!(api.object(CONFIG).is_none());
        let status = status_writes(&seen);
        assert_eq!(condition(status[0], READY), Some(("True".into(), "Stopped".into())));
        assert_eq!(condition(status[0], CONFIG_VALID), None, "no longer claimed, so not left stale");
    }

    #[tokio::test]
    async fn without_the_crd_nothing_is_written_and_status_says_why() {
        let ar = route(SLACK);
        let caps = Capabilities { alertmanager_configs: false, ..Capabilities::ALL };
        let (api, ctx) = server(&ar, caps);
        reconcile(&ar, &ctx).await.unwrap();
        let seen = api.take();
        assert!(child_writes(&seen).is_empty());
        assert_eq!(
            condition(status_writes(&seen)[0], READY),
            Some(("False".into(), "MonitoringCRDsMissing".into()))
        );
    }

    #[tokio::test]
    async fn a_refused_config_is_reported_in_the_api_servers_words() {
        let ar = route(SLACK);
        let (api, ctx) = server(&ar, Capabilities::ALL);
        api.refuse(CONFIG, 422, "Invalid", "webhook says no");
        let err = reconcile(&ar, &ctx).await.unwrap_err();
        assert_eq!(err.category(), "MonitoringFailed");
        let seen = api.take();
        let status = status_writes(&seen);
        assert_eq!(condition(status[0], MONITORING), Some(("False".into(), "Invalid".into())));
        assert_eq!(condition(status[0], READY), Some(("False".into(), "Invalid".into())));
        assert_eq!(event_reasons(&seen), ["MonitoringFailed"]);
    }
}
