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
use crate::crd::condition::Condition;
use crate::crd::sportsbook::Sportsbook;
use crate::monitoring::Capabilities;
use k8s_openapi::api::core::v1::ServiceAccount;
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
        let book = self.name_any();
        let mut set = c.shared.into_set(&ns, &build::child_name(&book), &build::rule_name(&book), caps);
        set.put(ChildKind::Deployment, &c.deployment);
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

#[cfg(test)]
mod tests {
    //! The pipeline for Sportsbooks against the fake API server (`super::super::fixtures`).
    use super::*;
    use crate::controller::children::ChildKind;
    use crate::controller::driver::{self, Error};
    use crate::controller::fixtures::*;
    use crate::controller::workload_objects::WatchedDeployment;
    use http::Method;
    use kube::core::DeserializeGuard;
    use kube::runtime::controller::Action;
    use kube::runtime::watcher::Event;
    use serde_json::json;
    use std::sync::Arc;

    const BOOK: &str = "/apis/betting.nflbet.dev/v1alpha1/namespaces/betting/sportsbooks/fanduel";
    const DEPLOYMENT: &str = "/apis/apps/v1/namespaces/betting/deployments/nflbet-scraper-fanduel";
    const RULE: &str =
        "/apis/monitoring.coreos.com/v1/namespaces/betting/prometheusrules/nflbet-sportsbook-fanduel";

    /// The fake API server holding `sb`, and a context on it.
    fn server(sb: &Sportsbook) -> (FakeApiServer, Arc<Context>) {
        let api = FakeApiServer::default();
        api.insert(BOOK, serde_json::to_value(sb).unwrap());
        let ctx = api.context(Capabilities::ALL);
        (api, ctx)
    }

    async fn reconcile(sb: &Sportsbook, ctx: &Arc<Context>) -> Result<Action, Error> {
        driver::reconcile(Arc::new(DeserializeGuard(Ok(sb.clone()))), ctx.clone()).await
    }

    /// The book as the fake API server holds it now.
    fn held(api: &FakeApiServer) -> Sportsbook {
        serde_json::from_value(api.object(BOOK).unwrap()).unwrap()
    }

    fn plurals(writes: &[(Method, String, String)]) -> Vec<&str> {
        let mut p: Vec<&str> = writes.iter().map(|(_, p, _)| p.as_str()).collect();
        p.sort();
        p
    }

    #[tokio::test]
    async fn a_new_book_gets_each_child_once_referents_first_and_then_nothing_is_written() {
        let sb = build::fixtures::book("fanduel").build();
        let (api, ctx) = server(&sb);
        assert_eq!(
            reconcile(&sb, &ctx).await.unwrap(),
            Action::await_change(),
            "the resync pass comes back to it"
        );
        let seen = api.take();
        let writes = child_writes(&seen);
        assert!(writes.iter().all(|(m, _, _)| *m == Method::PATCH), "{writes:?}");
        assert_eq!(
            plurals(&writes[..5]),
            ["prometheusrules", "roles", "serviceaccounts", "servicemonitors", "services"],
            "what others refer to goes first"
        );
        assert_eq!(plurals(&writes[5..]), ["deployments", "rolebindings"]);
        let status = status_writes(&seen);
        assert_eq!(status.len(), 1, "one status write");
        assert_eq!(condition(status[0], READY), Some(("False".into(), "Progressing".into())));
        assert_eq!(status[0].body["status"]["markets"], "moneyline,spread");
        assert!(event_reasons(&seen).is_empty(), "nothing to tell anyone: {seen:?}");

        // Reconciled again (its children's events, its own status change): nothing is sent.
        reconcile(&held(&api), &ctx).await.unwrap();
        let again = api.take();
        assert!(again.is_empty(), "an unchanged book costs no request: {again:?}");
    }

    #[tokio::test]
    async fn a_child_edited_by_someone_else_is_applied_again_and_only_it() {
        let sb = build::fixtures::book("fanduel").build();
        let (api, ctx) = server(&sb);
        reconcile(&sb, &ctx).await.unwrap();
        api.take();
        // The watch reports the Deployment after a `kubectl edit` took a field from the operator.
        let mut edited: WatchedDeployment = serde_json::from_value(api.object(DEPLOYMENT).unwrap()).unwrap();
        edited.metadata.resource_version = Some("1000".into());
        let fields = &mut edited.metadata.managed_fields.as_mut().unwrap()[0];
        fields.fields_v1 =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::FieldsV1(json!({"f:metadata": {}})));
        ctx.caches().children.observe(ChildKind::Deployment, &Event::Apply(edited));
        reconcile(&held(&api), &ctx).await.unwrap();
        let writes = child_writes(&api.take());
        assert_eq!(writes, [(Method::PATCH, "deployments".into(), "nflbet-scraper-fanduel".into())]);
    }

    #[tokio::test]
    async fn disabling_scales_to_zero_removes_the_alerts_and_says_stopped_once() {
        let sb = build::fixtures::book("fanduel").build();
        let (api, ctx) = server(&sb);
        reconcile(&sb, &ctx).await.unwrap();
        api.take();
        let mut disabled = held(&api);
        disabled.spec.disabled = true;
        disabled.metadata.generation = Some(4);
        api.insert(BOOK, serde_json::to_value(&disabled).unwrap());

        reconcile(&disabled, &ctx).await.unwrap();
        let seen = api.take();
        let writes = child_writes(&seen);
        assert!(writes.contains(&(
            Method::DELETE,
            "prometheusrules".into(),
            "nflbet-sportsbook-fanduel".into()
        )));
        let deployment = seen.iter().find(|s| s.path == DEPLOYMENT && s.method == Method::PATCH).unwrap();
        assert_eq!(deployment.body["spec"]["replicas"], 0);
        assert!(api.object(RULE).is_none(), "the alerts are gone");
        let status = status_writes(&seen);
        assert_eq!(condition(status[0], STOPPED), Some(("True".into(), "Disabled".into())));
        assert_eq!(
            condition(status[0], READY).unwrap().1,
            "Progressing",
            "the cache has not seen 0 replicas yet"
        );
        assert_eq!(event_reasons(&seen), ["Stopped"]);

        // The watch brings the Deployment scaled down: Ready=True, Stopped; no second Event.
        let mut d = api.object(DEPLOYMENT).unwrap();
        d["status"] = json!({"observedGeneration": 0, "replicas": 0});
        d["metadata"]["resourceVersion"] = json!("1000");
        let scaled: WatchedDeployment = serde_json::from_value(d).unwrap();
        ctx.caches().children.observe(ChildKind::Deployment, &Event::Apply(scaled));
        reconcile(&held(&api), &ctx).await.unwrap();
        let seen = api.take();
        assert!(child_writes(&seen).is_empty(), "{seen:?}");
        assert_eq!(condition(status_writes(&seen)[0], READY), Some(("True".into(), "Stopped".into())));
        assert!(event_reasons(&seen).is_empty());
    }

    #[tokio::test]
    async fn an_invalid_spec_writes_no_child_says_why_and_waits_for_a_change() {
        let mut sb = build::fixtures::book("inhouse").generic("http://127.0.0.1:1/feed").build();
        sb.spec.endpoint = None;
        sb.metadata.name = Some("fanduel".into());
        let (api, ctx) = server(&sb);
        let err = reconcile(&sb, &ctx).await.unwrap_err();
        assert!(matches!(err, Error::Spec(SpecError::InvalidSpec(_))), "{err}");
        assert_eq!(err.category(), "InvalidSpec");
        let seen = api.take();
        assert!(child_writes(&seen).is_empty(), "{seen:?}");
        assert_eq!(condition(status_writes(&seen)[0], READY), Some(("False".into(), "InvalidSpec".into())));
        assert_eq!(event_reasons(&seen), ["InvalidSpec"]);
        let obj = Arc::new(DeserializeGuard(Ok(sb)));
        assert_eq!(driver::error_policy(obj.clone(), &err, ctx.clone()), Action::await_change());
        assert_eq!(
            driver::error_policy(obj, &err, ctx),
            Action::await_change(),
            "no backoff: only a change (or the resync pass) helps"
        );
    }

    #[tokio::test]
    async fn a_refused_rule_leaves_the_scraper_applied_and_is_retried_within_a_minute() {
        let sb = build::fixtures::book("fanduel").build();
        let (api, ctx) = server(&sb);
        api.refuse(RULE, 422, "Invalid", "denied by policy");
        let err = reconcile(&sb, &ctx).await.unwrap_err();
        assert_eq!(err.category(), "MonitoringFailed");
        let seen = api.take();
        assert!(api.object(DEPLOYMENT).is_some(), "the scraper went in");
        let status = status_writes(&seen);
        assert_eq!(condition(status[0], MONITORING), Some(("False".into(), "Invalid".into())));
        assert_eq!(event_reasons(&seen), ["MonitoringFailed"]);
        let obj = Arc::new(DeserializeGuard(Ok(sb)));
        for _ in 0..8 {
            let Action { .. } = driver::error_policy(obj.clone(), &err, ctx.clone());
        }
        assert_eq!(driver::error_policy(obj, &err, ctx), Action::requeue(apply::MONITORING_RETRY_MAX));
    }

    #[tokio::test]
    async fn a_suspended_book_only_reports() {
        let sb = build::fixtures::book("fanduel").spec(|s| s.suspend = true).build();
        let (api, ctx) = server(&sb);
        reconcile(&sb, &ctx).await.unwrap();
        let seen = api.take();
        assert!(child_writes(&seen).is_empty(), "{seen:?}");
        let status = status_writes(&seen);
        assert_eq!(condition(status[0], SUSPENDED), Some(("True".into(), "Suspended".into())));
        assert_eq!(condition(status[0], READY), Some(("False".into(), "Suspended".into())));
    }

    #[tokio::test]
    async fn an_unreadable_book_is_reported_and_left_until_it_changes() {
        let (api, ctx) = server(&build::fixtures::book("fanduel").build());
        let invalid = kube::core::error_boundary::InvalidObject {
            error: "spec.markets: invalid type: string \"all\", expected a sequence".into(),
            metadata: kube::api::ObjectMeta {
                name: Some("fanduel".into()),
                namespace: Some("betting".into()),
                uid: Some("u".into()),
                ..Default::default()
            },
        };
        let obj = Arc::new(DeserializeGuard::<Sportsbook>(Err(invalid)));
        let err = driver::reconcile(obj.clone(), ctx.clone()).await.unwrap_err();
        assert_eq!(err.category(), "InvalidObject");
        let seen = api.take();
        assert_eq!(event_reasons(&seen), ["InvalidObject"]);
        assert_eq!(condition(status_writes(&seen)[0], READY), Some(("False".into(), "InvalidObject".into())));
        assert_eq!(driver::error_policy(obj, &err, ctx), Action::await_change());
    }
}
