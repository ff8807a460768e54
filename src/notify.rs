//! The operator's own notifications (a model rolled back, a sportsbook stopped by spec), sent to
//! the AlertRoutes of the resource's namespace that take them.
//!
//! - Secrets are resolved at send time, never cached and never logged: the operator needs `get`
//!   on exactly the Secrets AlertRoutes reference (the chart grants them by name).
//! - Delivery runs in a background task with a per-request timeout and bounded retries, so a
//!   receiver that fails or hangs never blocks a reconcile.
//! - Errors are logged without URLs (reqwest's `without_url`), because a Slack webhook URL is a
//!   credential.

use crate::crd::alert_route::AlertRoute;
use crate::crd::common::{SecretKeyRef, Severity};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// PagerDuty Events API v2 endpoint.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

#[derive(Clone, Debug)]
pub struct NotifierSettings {
    pub pagerduty_url: String,
    pub timeout: Duration,
    pub attempts: u32,
    pub backoff: Duration,
}

impl Default for NotifierSettings {
    fn default() -> Self {
        NotifierSettings {
            pagerduty_url: PAGERDUTY_EVENTS_URL.into(),
            timeout: Duration::from_secs(5),
            attempts: 3,
            backoff: Duration::from_millis(500),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("cannot read Secret {secret} (grant the operator `get` on it by name): {reason}")]
    Secret { secret: String, reason: String },
    #[error("Secret {secret} has no key {key}")]
    MissingKey { secret: String, key: String },
    #[error("{receiver}: {reason}")]
    Delivery { receiver: &'static str, reason: String },
}

/// What happened, independent of the receiver format.
#[derive(Clone, Debug)]
pub struct Notice {
    pub namespace: String,
    /// `Model` or `Sportsbook`.
    pub kind: &'static str,
    pub name: String,
    /// PascalCase, e.g. `ModelRolledBack`.
    pub reason: String,
    pub message: String,
    pub severity: Severity,
}

impl Notice {
    fn label(&self) -> &'static str {
        match self.kind {
            "Model" => "model",
            _ => "sportsbook",
        }
    }

    pub fn slack_payload(&self, channel: Option<&str>) -> Value {
        let mut v = json!({
            "text": format!(
                "[nflbet] {} {}/{}: {}",
                self.reason, self.namespace, self.name, self.message
            ),
        });
        if let Some(c) = channel {
            v["channel"] = json!(c);
        }
        v
    }

    /// PagerDuty Events API v2 `trigger` event.
    pub fn pagerduty_payload(&self, routing_key: &str) -> Value {
        json!({
            "routing_key": routing_key,
            "event_action": "trigger",
            "dedup_key": format!("nflbet/{}/{}/{}/{}", self.namespace, self.label(), self.name, self.reason),
            "payload": {
                "summary": format!("{} {}/{}: {}", self.reason, self.namespace, self.name, self.message),
                "source": "nflbet-operator",
                "severity": self.severity.as_str(),
                "component": format!("{}/{}", self.label(), self.name),
                "group": self.namespace,
                "class": self.reason,
                "custom_details": { "kind": self.kind, "name": self.name, "namespace": self.namespace },
            },
        })
    }
}

/// Does this AlertRoute take this notice?
pub fn route_takes(ar: &AlertRoute, n: &Notice) -> bool {
    let s = &ar.spec;
    if s.disabled || !s.operator_events.unwrap_or(true) || n.severity < s.min_severity() {
        return false;
    }
    if s.sportsbooks.is_empty() && s.models.is_empty() {
        return true;
    }
    match n.kind {
        "Model" => s.models.contains(&n.name),
        _ => s.sportsbooks.contains(&n.name),
    }
}

#[derive(Clone)]
pub struct Notifier {
    client: Client,
    http: reqwest::Client,
    settings: NotifierSettings,
    inflight: Arc<Semaphore>,
}

impl Notifier {
    pub fn new(client: Client, settings: NotifierSettings) -> Notifier {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("HTTP client builds");
        Notifier { client, http, settings, inflight: Arc::new(Semaphore::new(16)) }
    }

    pub async fn notify_model(&self, m: &crate::crd::Model, reason: &str, message: &str) {
        self.spawn(Notice {
            namespace: m.namespace().unwrap_or_default(),
            kind: "Model",
            name: m.name_any(),
            reason: reason.into(),
            message: message.into(),
            severity: Severity::Warning,
        });
    }

    pub async fn notify_sportsbook(&self, sb: &crate::crd::Sportsbook, reason: &str, message: &str) {
        self.spawn(Notice {
            namespace: sb.namespace().unwrap_or_default(),
            kind: "Sportsbook",
            name: sb.name_any(),
            reason: reason.into(),
            message: message.into(),
            severity: Severity::Warning,
        });
    }

    /// Deliver in the background; at most 16 deliveries at once, further ones are dropped with a
    /// log line rather than queued without bound.
    fn spawn(&self, notice: Notice) {
        let Ok(permit) = self.inflight.clone().try_acquire_owned() else {
            tracing::warn!(reason = %notice.reason, "too many notifications in flight; dropping one");
            return;
        };
        let this = self.clone();
        tokio::spawn(async move {
            let _permit = permit;
            this.deliver(&notice).await;
        });
    }

    /// Send `notice` to every AlertRoute that takes it. Returns the number of successful sends.
    pub async fn deliver(&self, notice: &Notice) -> usize {
        let routes: Api<AlertRoute> = Api::namespaced(self.client.clone(), &notice.namespace);
        let list = match routes.list(&ListParams::default()).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list AlertRoutes for a notification");
                return 0;
            }
        };
        let mut sent = 0;
        for ar in list.items.iter().filter(|ar| route_takes(ar, notice)) {
            if let Some(slack) = &ar.spec.slack {
                match self
                    .send_slack(&notice.namespace, &slack.api_url, slack.channel.as_deref(), notice)
                    .await
                {
                    Ok(()) => sent += 1,
                    Err(e) => {
                        tracing::warn!(alertroute = %ar.name_any(), error = %e, "notification not delivered")
                    }
                }
            }
            if let Some(pd) = &ar.spec.pager_duty {
                match self.send_pagerduty(&notice.namespace, &pd.routing_key, notice).await {
                    Ok(()) => sent += 1,
                    Err(e) => {
                        tracing::warn!(alertroute = %ar.name_any(), error = %e, "notification not delivered")
                    }
                }
            }
        }
        sent
    }

    async fn secret(&self, ns: &str, r: &SecretKeyRef) -> Result<String, NotifyError> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), ns);
        let secret = api.get(&r.name).await.map_err(|e| NotifyError::Secret {
            secret: r.name.clone(),
            reason: match e {
                kube::Error::Api(s) => s.reason,
                _ => "API server unreachable".into(),
            },
        })?;
        let bytes = secret
            .data
            .and_then(|mut d| d.remove(&r.key))
            .ok_or_else(|| NotifyError::MissingKey { secret: r.name.clone(), key: r.key.clone() })?;
        Ok(String::from_utf8_lossy(&bytes.0).trim().to_string())
    }

    async fn send_slack(
        &self,
        ns: &str,
        url: &SecretKeyRef,
        channel: Option<&str>,
        n: &Notice,
    ) -> Result<(), NotifyError> {
        let url = self.secret(ns, url).await?;
        self.post("slack", &url, &n.slack_payload(channel)).await
    }

    async fn send_pagerduty(&self, ns: &str, key: &SecretKeyRef, n: &Notice) -> Result<(), NotifyError> {
        let key = self.secret(ns, key).await?;
        self.post("pagerduty", &self.settings.pagerduty_url, &n.pagerduty_payload(&key)).await
    }

    /// POST with bounded retries: 5xx, 429 and transport errors are retried; other 4xx are not.
    async fn post(&self, receiver: &'static str, url: &str, body: &Value) -> Result<(), NotifyError> {
        let mut last = String::new();
        for attempt in 0..self.settings.attempts.max(1) {
            if attempt > 0 {
                tokio::time::sleep(self.settings.backoff * 2u32.pow(attempt - 1)).await;
            }
            match self.http.post(url).json(body).send().await {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => {
                    last = format!("HTTP {}", r.status().as_u16());
                    if r.status().is_client_error() && r.status().as_u16() != 429 {
                        break;
                    }
                }
                Err(e) => last = e.without_url().to_string(),
            }
        }
        Err(NotifyError::Delivery { receiver, reason: last })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(yaml: &str) -> AlertRoute {
        serde_saphyr::from_str(&format!(
            "apiVersion: betting.nflbet.dev/v1alpha1\nkind: AlertRoute\nmetadata: {{name: r}}\nspec:\n  slack: {{apiURL: {{name: s, key: u}}}}\n{yaml}"
        ))
        .unwrap()
    }

    fn notice(kind: &'static str, name: &str) -> Notice {
        Notice {
            namespace: "betting".into(),
            kind,
            name: name.into(),
            reason: "ModelRolledBack".into(),
            message: "m".into(),
            severity: Severity::Warning,
        }
    }

    #[test]
    fn routes_take_notices_by_selection_and_severity() {
        assert!(route_takes(&route(""), &notice("Model", "elo")));
        assert!(route_takes(&route("  models: [elo]\n"), &notice("Model", "elo")));
        assert!(!route_takes(&route("  models: [other]\n"), &notice("Model", "elo")));
        assert!(!route_takes(&route("  sportsbooks: [fanduel]\n"), &notice("Model", "elo")));
        assert!(route_takes(&route("  sportsbooks: [fanduel]\n"), &notice("Sportsbook", "fanduel")));
        assert!(!route_takes(&route("  minSeverity: critical\n"), &notice("Model", "elo")));
        assert!(!route_takes(&route("  operatorEvents: false\n"), &notice("Model", "elo")));
        assert!(!route_takes(&route("  disabled: true\n"), &notice("Model", "elo")));
    }

    #[test]
    fn pagerduty_payload_has_the_events_v2_shape() {
        let p = notice("Model", "elo").pagerduty_payload("KEY");
        assert_eq!(p["routing_key"], "KEY");
        assert_eq!(p["event_action"], "trigger");
        assert_eq!(p["dedup_key"], "nflbet/betting/model/elo/ModelRolledBack");
        for field in ["summary", "source", "severity"] {
            assert!(p["payload"][field].is_string(), "{field}");
        }
        assert_eq!(p["payload"]["severity"], "warning");
    }
}
