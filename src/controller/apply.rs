//! The writes and reads at the ends of the pipeline besides the children's (`super::children`):
//! the status subresource, the ServiceAccount a spec names, a replay gate's Job and the pods it
//! owns (the child store keeps only a Job's identity, not its status or its pods' termination
//! messages), and how a refused write is reported.
//!
//! Every write is a server-side apply with the operator's field manager and `force`: whatever a
//! person changed in a field the operator owns is taken back on the next reconcile (drift
//! correction), and fields the operator does not set are left to their owners.

use super::conditions::Refusal;
use super::config::FIELD_MANAGER;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use kube::api::{Api, Patch, PatchParams};
use kube::core::NamespaceResourceScope;
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// A failed write to the API server, with the kind that failed for a useful message.
#[derive(Debug, thiserror::Error)]
#[error("{verb} {kind} {name}: {source}")]
pub struct ApplyError {
    pub verb: &'static str,
    pub kind: String,
    pub name: String,
    #[source]
    pub source: kube::Error,
}

impl ApplyError {
    /// Bounded label: the HTTP status class, or the transport failure.
    pub fn reason(&self) -> &'static str {
        match &self.source {
            kube::Error::Api(s) if s.code == 409 => "Conflict",
            kube::Error::Api(s) if s.code == 403 => "Forbidden",
            kube::Error::Api(s) if s.code == 404 => "NotFound",
            kube::Error::Api(s) if s.code == 422 => "Invalid",
            kube::Error::Api(_) => "ApiError",
            _ => "Transport",
        }
    }
}

/// The API server's reason for refusing a write, when it is one of the `metav1.StatusReason`s
/// (a condition reason must be a fixed, PascalCase word); `ApiError` or `Transport` otherwise.
fn status_reason(e: &kube::Error) -> &'static str {
    const KNOWN: [&str; 16] = [
        "Invalid",
        "Forbidden",
        "BadRequest",
        "Conflict",
        "NotFound",
        "AlreadyExists",
        "Unauthorized",
        "Timeout",
        "ServerTimeout",
        "TooManyRequests",
        "InternalError",
        "ServiceUnavailable",
        "MethodNotAllowed",
        "Gone",
        "Expired",
        "RequestEntityTooLarge",
    ];
    match e {
        kube::Error::Api(s) => KNOWN.into_iter().find(|k| *k == s.reason).unwrap_or("ApiError"),
        _ => "Transport",
    }
}

/// Longest wait before a refused monitoring object is tried again: the workload is fine and the
/// retry is cheap, so the alerts come back within a minute of the refusal ending (the usual
/// backoff grows to 5 minutes, and every failed reconcile in between counts).
pub const MONITORING_RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(60);

/// The monitoring objects the API server refused, as one condition's reason (that of the first
/// refusal) and message (what it said about each). `None` when nothing was refused.
pub fn refusal(errors: &[ApplyError]) -> Option<Refusal> {
    let first = errors.first()?;
    let message = errors
        .iter()
        .map(|e| {
            let said = match &e.source {
                kube::Error::Api(s) => s.message.clone(),
                other => other.to_string(),
            };
            format!("{} {} was refused ({verb}): {said}", e.kind, e.name, verb = e.verb)
        })
        .collect::<Vec<_>>()
        .join("; ");
    Some(Refusal {
        reason: status_reason(&first.source),
        message: format!("{message}; retrying with backoff"),
    })
}

/// The read step of the pod policy: the ServiceAccount a spec names in `ns`, if it names one
/// (`None` when it names none or the account does not exist).
pub async fn named_service_account(
    client: &Client,
    ns: &str,
    named: Option<&str>,
) -> Result<Option<ServiceAccount>, ApplyError> {
    let Some(name) = named else { return Ok(None) };
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    api.get_opt(name).await.map_err(|source| ApplyError {
        verb: "get",
        kind: "ServiceAccount".into(),
        name: name.into(),
        source,
    })
}

/// A Job and its pods, as the replay gate reads them; `None` when the Job does not exist (yet).
/// The pods are listed by the `batch.kubernetes.io/job-name` label and kept only when this Job,
/// by uid, owns them: a Job re-created under the same name (`super::children`, a template that
/// could not change in place) leaves the old one's pod behind for a moment with the same label,
/// killed by the delete, and its end is no result of the new Job.
pub async fn job_and_pods(
    client: &Client,
    ns: &str,
    job: &str,
) -> Result<Option<(Job, Vec<Pod>)>, ApplyError> {
    let error = |verb, kind: &str, source| ApplyError { verb, kind: kind.into(), name: job.into(), source };
    let jobs: Api<Job> = Api::namespaced(client.clone(), ns);
    let Some(found) = jobs.get_opt(job).await.map_err(|e| error("get", "Job", e))? else {
        return Ok(None);
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let listed = pods
        .list(&kube::api::ListParams::default().labels(&format!("batch.kubernetes.io/job-name={job}")))
        .await
        .map_err(|e| error("list", "Pod", e))?;
    let uid = found.metadata.uid.as_deref();
    let owned = listed
        .items
        .into_iter()
        .filter(|p| p.owner_references().iter().any(|o| Some(o.uid.as_str()) == uid))
        .collect();
    Ok(Some((found, owned)))
}

/// Server-side apply a custom resource's status subresource with only the fields in `status`,
/// so fields another manager owns (the workloads' heartbeats and calibration) are left alone.
/// Returns the resource version the write produced.
pub async fn apply_status<K>(
    client: &Client,
    obj: &K,
    status: serde_json::Value,
) -> Result<Option<u64>, ApplyError>
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned,
{
    let ns = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let api: Api<K> = Api::namespaced(client.clone(), &ns);
    let body = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(body))
        .await
        .map(|written| written.meta().resource_version.as_deref().and_then(|rv| rv.parse().ok()))
        .map_err(|source| ApplyError {
            verb: "apply status of",
            kind: K::kind(&()).into_owned(),
            name,
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(kind: &str, name: &str, code: u16, reason: &str, message: &str) -> ApplyError {
        let status: kube::core::Status = serde_json::from_value(serde_json::json!({
            "status": "Failure", "code": code, "reason": reason, "message": message
        }))
        .unwrap();
        ApplyError {
            verb: "apply",
            kind: kind.into(),
            name: name.into(),
            source: kube::Error::Api(Box::new(status)),
        }
    }

    #[test]
    fn a_refusal_keeps_the_api_servers_reason_and_words() {
        assert_eq!(refusal(&[]), None);
        let r = refusal(&[
            refused("ServiceMonitor", "nflbet-scraper-a", 422, "Invalid", "denied: policy says no"),
            refused("PrometheusRule", "nflbet-sportsbook-a", 400, "BadRequest", "webhook down"),
        ])
        .unwrap();
        assert_eq!(r.reason, "Invalid");
        assert_eq!(
            r.message,
            "ServiceMonitor nflbet-scraper-a was refused (apply): denied: policy says no; \
             PrometheusRule nflbet-sportsbook-a was refused (apply): webhook down; retrying with backoff"
        );
        // A reason that is not one of Kubernetes' own never becomes a condition reason.
        assert_eq!(
            refusal(&[refused("PrometheusRule", "x", 500, "made up!", "?")]).unwrap().reason,
            "ApiError"
        );
    }
}
