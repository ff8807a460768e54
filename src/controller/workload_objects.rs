//! Building blocks shared by the workloads the operator runs (scrapers and models): a hardened
//! Deployment, its metrics Service and ServiceMonitor, and the narrow RBAC a workload needs to
//! report into its own resource's status. Pure functions.

use crate::controller::children::{ChildKind, ChildSet};
use crate::crd::common::{SecretKeyRef, WorkloadSettings};
use crate::crd::sportsbook::StorageSettings;
use crate::domain::duration::format_duration;
use crate::monitoring::{
    Capabilities, Endpoint, LabelSelector, PrometheusRule, ServiceMonitor, ServiceMonitorSpec,
};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStatus, DeploymentStrategy};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Capabilities as LinuxCapabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource,
    HTTPGetAction, LocalObjectReference, PersistentVolumeClaimVolumeSource, PodSecurityContext, PodSpec,
    PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile, SecretKeySelector, SecurityContext,
    Service, ServiceAccount, ServicePort, ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector as MetaLabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;
use std::time::Duration;

/// What every workload resource (Sportsbook, Model) owns besides its Deployments.
#[derive(Clone, Debug)]
pub struct WorkloadChildren {
    /// `None` when the user names their own ServiceAccount.
    pub service_account: Option<ServiceAccount>,
    pub role: Role,
    pub role_binding: RoleBinding,
    pub service: Service,
    /// `None` means: make sure it does not exist (feature off) — or cannot (CRD missing).
    pub service_monitor: Option<ServiceMonitor>,
    /// `None` means: make sure it does not exist (disabled, alerts off) — or cannot.
    pub prometheus_rule: Option<PrometheusRule>,
}

impl WorkloadChildren {
    /// Into a [`ChildSet`] in `namespace`, each under `name` but the rule (`rule_name`); a
    /// monitoring object that is `None` must not exist. A ServiceAccount the user replaced with
    /// their own is left alone: it may still exist from before and goes with its owner.
    pub fn into_set(self, namespace: &str, name: &str, rule_name: &str, caps: Capabilities) -> ChildSet {
        let mut set = ChildSet::new();
        let ours = self.service_account.is_some();
        set.ensure(ChildKind::ServiceAccount, ours, namespace, name, self.service_account.as_ref())
            .put(ChildKind::Role, &self.role)
            .put(ChildKind::RoleBinding, &self.role_binding)
            .put(ChildKind::Service, &self.service)
            .ensure(
                ChildKind::ServiceMonitor,
                caps.service_monitors,
                namespace,
                name,
                self.service_monitor.as_ref(),
            )
            .ensure(
                ChildKind::PrometheusRule,
                caps.prometheus_rules,
                namespace,
                rule_name,
                self.prometheus_rule.as_ref(),
            );
        set
    }
}

/// Port of every workload's /metrics, /healthz and /readyz.
pub const METRICS_PORT: i32 = 9100;
/// Mount point of a workload's data volume (the file:// snapshot store by default).
pub const DATA_DIR: &str = "/var/lib/nflbet";
/// `sizeLimit` of the data emptyDir (when no PersistentVolumeClaim is named). A book's snapshots
/// over the emptyDir's default 24 h retention take a few MB to ~60 MB (a compressed snapshot is
/// 3–40 KiB, one a minute), a model's records over theirs a few hundred MB at most; past the
/// limit the kubelet evicts the pod instead of filling the node's disk.
pub const DATA_VOLUME_SIZE_LIMIT: &str = "1Gi";
/// `sizeLimit` of a Job's scratch emptyDir at `/tmp` (the root filesystem is read-only): the
/// replay gate keeps the records of its replays there, a few MB per week replayed.
pub const SCRATCH_VOLUME_SIZE_LIMIT: &str = "256Mi";
/// Default ephemeral-storage request and limit of a workload container. The limit covers the
/// data emptyDir (counted against the pod's ephemeral storage) plus logs.
pub const EPHEMERAL_STORAGE_REQUEST: &str = "64Mi";
pub const EPHEMERAL_STORAGE_LIMIT: &str = "2Gi";

pub fn secret_env(name: &str, secret: &SecretKeyRef) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.name.clone(),
                key: secret.key.clone(),
                optional: Some(false),
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

pub fn plain_env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar { name: name.into(), value: Some(value.into()), ..EnvVar::default() }
}

/// Object store URL of a workload: the explicit one, else files on the data volume.
pub fn store_url(storage: Option<&StorageSettings>) -> String {
    storage.and_then(|s| s.url.clone()).unwrap_or_else(|| format!("file://{DATA_DIR}/snapshots"))
}

/// Environment for an S3-compatible store: endpoint, region, and the credentials as Secret
/// references (never literal values).
pub fn storage_env(storage: Option<&StorageSettings>) -> Vec<EnvVar> {
    let mut env = Vec::new();
    let Some(s3) = storage.and_then(|s| s.s3.as_ref()) else { return env };
    if let Some(endpoint) = &s3.endpoint {
        env.push(plain_env("AWS_ENDPOINT", endpoint.clone()));
        if endpoint.starts_with("http://") {
            env.push(plain_env("AWS_ALLOW_HTTP", "true"));
        }
    }
    env.push(plain_env("AWS_REGION", s3.region.clone().unwrap_or_else(|| "us-east-1".into())));
    if let Some(id) = &s3.access_key_id {
        env.push(secret_env("AWS_ACCESS_KEY_ID", id));
    }
    if let Some(key) = &s3.secret_access_key {
        env.push(secret_env("AWS_SECRET_ACCESS_KEY", key));
    }
    env
}

/// The store's S3 endpoint under the egress policy: S3 credentials only to an allowed endpoint
/// (or AWS itself), over http only where allowed, and no refused address written in it.
pub fn storage_egress(
    storage: Option<&StorageSettings>,
    egress: &crate::egress::Egress,
) -> Result<(), crate::egress::EgressError> {
    let Some(s) = storage.filter(|s| s.url.as_deref().is_some_and(|u| u.starts_with("s3://"))) else {
        return Ok(());
    };
    egress.check_s3_endpoint(s.s3.as_ref().and_then(|s3| s3.endpoint.as_deref())).map(|_| ())
}

/// Everything that varies between workload Deployments.
pub struct PodParams<'a> {
    pub meta: ObjectMeta,
    pub selector: BTreeMap<String, String>,
    pub pod_labels: BTreeMap<String, String>,
    pub replicas: i32,
    pub container: &'a str,
    pub image: String,
    pub pull_policy: String,
    /// Image pull Secrets of the pod (the operator's `--workload-image-pull-secret`).
    pub pull_secrets: &'a [String],
    pub args: Vec<String>,
    pub env: Vec<EnvVar>,
    pub settings: WorkloadSettings,
    pub service_account: String,
    /// Mount an API token only when the workload reports into its resource's status.
    pub api_access: bool,
    /// PersistentVolumeClaim for the data volume; an emptyDir otherwise.
    pub data_claim: Option<String>,
}

fn probe(path: &str, period: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("metrics".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(2),
        failure_threshold: Some(3),
        ..Probe::default()
    }
}

fn default_resources() -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".into(), Quantity("50m".into())),
            ("memory".into(), Quantity("64Mi".into())),
            ("ephemeral-storage".into(), Quantity(EPHEMERAL_STORAGE_REQUEST.into())),
        ])),
        limits: Some(BTreeMap::from([
            ("memory".into(), Quantity("256Mi".into())),
            ("ephemeral-storage".into(), Quantity(EPHEMERAL_STORAGE_LIMIT.into())),
        ])),
        ..ResourceRequirements::default()
    }
}

/// The workload container of `p`: the restricted Pod Security Standard applied (non-root, no
/// privilege escalation, no capabilities, read-only root filesystem), the data volume mounted,
/// metrics port and probes.
fn workload_container(p: &PodParams<'_>) -> Container {
    let s = &p.settings;
    Container {
        name: p.container.into(),
        image: Some(s.image.clone().unwrap_or_else(|| p.image.clone())),
        image_pull_policy: Some(s.image_pull_policy.clone().unwrap_or_else(|| p.pull_policy.clone())),
        args: Some(p.args.clone()),
        env: Some(p.env.clone()),
        ports: Some(vec![ContainerPort {
            name: Some("metrics".into()),
            container_port: METRICS_PORT,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        readiness_probe: Some(probe("/readyz", 10)),
        liveness_probe: Some(probe("/healthz", 20)),
        resources: Some(s.resources.clone().unwrap_or_else(default_resources)),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(LinuxCapabilities {
                drop: Some(vec!["ALL".into()]),
                ..LinuxCapabilities::default()
            }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![VolumeMount {
            name: "data".into(),
            mount_path: DATA_DIR.into(),
            ..VolumeMount::default()
        }]),
        ..Container::default()
    }
}

/// The pod of a workload, as every workload Deployment (and the replay gate's Job) runs it: one
/// container (see [`workload_container`]), the data volume (the claim, or a size-limited
/// emptyDir), the ServiceAccount, pull Secrets, placement, and a non-root pod security context
/// with RuntimeDefault seccomp.
pub fn pod_template(p: &PodParams<'_>) -> PodTemplateSpec {
    let s = &p.settings;
    let data = match &p.data_claim {
        Some(claim) => Volume {
            name: "data".into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim.clone(),
                read_only: Some(false),
            }),
            ..Volume::default()
        },
        None => Volume {
            name: "data".into(),
            empty_dir: Some(EmptyDirVolumeSource {
                size_limit: Some(Quantity(DATA_VOLUME_SIZE_LIMIT.into())),
                ..EmptyDirVolumeSource::default()
            }),
            ..Volume::default()
        },
    };
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(p.pod_labels.clone()),
            annotations: (!s.pod_annotations.is_empty()).then(|| s.pod_annotations.clone()),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            service_account_name: Some(p.service_account.clone()),
            image_pull_secrets: (!p.pull_secrets.is_empty()).then(|| {
                p.pull_secrets.iter().map(|name| LocalObjectReference { name: name.clone() }).collect()
            }),
            automount_service_account_token: Some(p.api_access),
            containers: vec![workload_container(p)],
            volumes: Some(vec![data]),
            node_selector: (!s.node_selector.is_empty()).then(|| s.node_selector.clone()),
            tolerations: (!s.tolerations.is_empty()).then(|| s.tolerations.clone()),
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(65532),
                run_as_group: Some(65532),
                fs_group: Some(65532),
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".into(),
                    ..SeccompProfile::default()
                }),
                ..PodSecurityContext::default()
            }),
            termination_grace_period_seconds: Some(30),
            ..PodSpec::default()
        }),
    }
}

/// A single-container Deployment of [`pod_template`].
pub fn deployment(p: PodParams<'_>) -> Deployment {
    let template = pod_template(&p);
    Deployment {
        metadata: p.meta,
        spec: Some(DeploymentSpec {
            replicas: Some(p.replicas),
            selector: MetaLabelSelector { match_labels: Some(p.selector), ..MetaLabelSelector::default() },
            // One instance at a time: two pollers would double the provider quota, two pricers
            // would double stakes.
            strategy: Some(DeploymentStrategy {
                type_: Some("Recreate".into()),
                ..DeploymentStrategy::default()
            }),
            revision_history_limit: Some(3),
            template,
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

/// How long a run-to-completion workload (the replay gate) may run, and how long its finished
/// Job stays for inspection.
pub struct JobLimits {
    pub active_deadline: Duration,
    pub ttl_after_finished: Duration,
}

/// A Job of one pod of [`pod_template`]s, one container per entry of `containers` (name, image,
/// args), each the workload container of `p` with that name, image and args, no port and no
/// probes (it runs to completion), a scratch emptyDir at `/tmp` (the root filesystem
/// stays read-only), and its termination message read back from the file it writes, else from
/// its log when it fails. Never retried (`backoffLimit: 0`, `restartPolicy: Never`): its owner
/// decides whether to run it again.
pub fn job(p: PodParams<'_>, containers: Vec<(String, String, Vec<String>)>, limits: JobLimits) -> Job {
    let mut template = pod_template(&p);
    let pod = template.spec.as_mut().expect("the template has a pod spec");
    let base = pod.containers.remove(0);
    pod.containers = containers
        .into_iter()
        .map(|(name, image, args)| {
            let scratch =
                VolumeMount { name: "tmp".into(), mount_path: "/tmp".into(), ..VolumeMount::default() };
            let mounts = base.volume_mounts.iter().flatten().cloned().chain([scratch]).collect();
            Container {
                image: Some(image),
                args: Some(args),
                ports: None,
                readiness_probe: None,
                liveness_probe: None,
                termination_message_policy: Some("FallbackToLogsOnError".into()),
                volume_mounts: Some(mounts),
                name,
                ..base.clone()
            }
        })
        .collect();
    pod.volumes.get_or_insert_with(Vec::new).push(Volume {
        name: "tmp".into(),
        empty_dir: Some(EmptyDirVolumeSource {
            size_limit: Some(Quantity(SCRATCH_VOLUME_SIZE_LIMIT.into())),
            ..EmptyDirVolumeSource::default()
        }),
        ..Volume::default()
    });
    pod.restart_policy = Some("Never".into());
    Job {
        metadata: p.meta,
        spec: Some(JobSpec {
            backoff_limit: Some(0),
            active_deadline_seconds: Some(limits.active_deadline.as_secs() as i64),
            ttl_seconds_after_finished: Some(limits.ttl_after_finished.as_secs() as i32),
            template,
            ..JobSpec::default()
        }),
        ..Job::default()
    }
}

/// The Service that exposes a workload's `/metrics`. Headless: Prometheus scrapes the pods'
/// endpoints, not a virtual IP, so a thousand books do not use up the cluster's service range.
pub fn metrics_service(meta: ObjectMeta, selector: BTreeMap<String, String>) -> Service {
    Service {
        metadata: meta,
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            selector: Some(selector),
            ports: Some(vec![ServicePort {
                name: Some("metrics".into()),
                port: METRICS_PORT,
                target_port: Some(IntOrString::String("metrics".into())),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// `meta` with the operator's configured `extra` labels (`--rule-label`, `--monitor-label`)
/// added. The operator's own labels win: its watches and selectors depend on them.
pub fn with_extra_labels(mut meta: ObjectMeta, extra: &BTreeMap<String, String>) -> ObjectMeta {
    let labels = meta.labels.get_or_insert_with(BTreeMap::new);
    for (k, v) in extra {
        labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    meta
}

/// The ServiceMonitor of a workload's metrics Service, with the operator's `--monitor-label`s
/// (kube-prometheus-stack selects ServiceMonitors by its `release` label). `scrape_interval` is
/// the spec's `workload.scrapeInterval`: unset, every 30s with Prometheus's timeout (10s); set,
/// that interval and a timeout of the shorter of it and 10s, which prometheus-operator requires
/// to be no longer than the interval.
pub fn service_monitor(
    meta: ObjectMeta,
    selector: BTreeMap<String, String>,
    extra_labels: &BTreeMap<String, String>,
    scrape_interval: Option<Duration>,
) -> ServiceMonitor {
    let (interval, scrape_timeout) = match scrape_interval {
        None => ("30s".to_string(), None),
        Some(every) => (format_duration(every), Some(format_duration(every.min(SCRAPE_TIMEOUT)))),
    };
    ServiceMonitor {
        metadata: with_extra_labels(meta, extra_labels),
        spec: ServiceMonitorSpec {
            selector: LabelSelector { match_labels: selector },
            endpoints: vec![Endpoint {
                port: "metrics".into(),
                path: "/metrics".into(),
                interval: Some(interval),
                scrape_timeout,
                honor_labels: false,
            }],
        },
    }
}

/// Prometheus's default scrape timeout, the longest a generated ServiceMonitor asks for.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);

/// A Role allowing one verb set on one resource's status, by name: all a workload needs to
/// report its heartbeat or calibration.
pub fn status_role(meta: ObjectMeta, plural: &str, resource_name: &str) -> Role {
    Role {
        metadata: meta,
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec![crate::crd::GROUP.into()]),
            resources: Some(vec![format!("{plural}/status")]),
            resource_names: Some(vec![resource_name.into()]),
            verbs: vec!["get".into(), "patch".into()],
            ..PolicyRule::default()
        }]),
    }
}

pub fn role_binding(meta: ObjectMeta, role: &str, service_account: &str) -> RoleBinding {
    let namespace = meta.namespace.clone();
    RoleBinding {
        metadata: meta,
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "Role".into(),
            name: role.into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: service_account.into(),
            namespace,
            ..Subject::default()
        }]),
    }
}

/// Rollout state of a workload Deployment, read the way `kubectl rollout status` does.
#[derive(Debug, PartialEq)]
pub enum Rollout {
    Missing,
    Progressing(String),
    Failed(String),
    Complete { ready: i32 },
    Stopped,
}

/// A workload Deployment as the operator's watch decodes it: metadata, `spec.replicas` and the
/// status. The pod template, most of a Deployment's bytes, is skipped by the decoder and never
/// allocated: every scale and every rollout step of thousands of workloads arrives as a watch
/// event, and the status step reads none of it.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct WatchedDeployment {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: Option<WatchedDeploymentSpec>,
    #[serde(default)]
    pub status: Option<DeploymentStatus>,
}

/// The one field of a Deployment's spec the status step reads.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct WatchedDeploymentSpec {
    #[serde(default)]
    pub replicas: Option<i32>,
}

impl k8s_openapi::Resource for WatchedDeployment {
    const API_VERSION: &'static str = <Deployment as k8s_openapi::Resource>::API_VERSION;
    const GROUP: &'static str = <Deployment as k8s_openapi::Resource>::GROUP;
    const KIND: &'static str = <Deployment as k8s_openapi::Resource>::KIND;
    const VERSION: &'static str = <Deployment as k8s_openapi::Resource>::VERSION;
    const URL_PATH_SEGMENT: &'static str = <Deployment as k8s_openapi::Resource>::URL_PATH_SEGMENT;
    type Scope = <Deployment as k8s_openapi::Resource>::Scope;
}

impl k8s_openapi::Metadata for WatchedDeployment {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// What the status step needs of a workload Deployment: the numbers `kubectl rollout status`
/// reads. Kept instead of the Deployment itself, so the operator's cache of thousands of
/// workloads stays small.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkloadState {
    /// `spec.replicas` (1 when unset).
    pub want: i32,
    pub generation: i64,
    /// `None`: the Deployment controller has not written a status yet.
    pub observed_generation: Option<i64>,
    pub replicas: i32,
    pub updated: i32,
    pub ready: i32,
    pub available: i32,
    /// The `Progressing` condition's message when its reason is `ProgressDeadlineExceeded`.
    pub deadline_exceeded: Option<String>,
}

impl WorkloadState {
    pub fn of(d: &WatchedDeployment) -> WorkloadState {
        let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let generation = d.metadata.generation.unwrap_or(0);
        let Some(st) = d.status.as_ref() else {
            return WorkloadState { want, generation, ..WorkloadState::default() };
        };
        let deadline_exceeded = st
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded"))
            .map(|c| c.message.clone().unwrap_or_default());
        WorkloadState {
            want,
            generation,
            observed_generation: Some(st.observed_generation.unwrap_or(0)),
            replicas: st.replicas.unwrap_or(0),
            updated: st.updated_replicas.unwrap_or(0),
            ready: st.ready_replicas.unwrap_or(0),
            available: st.available_replicas.unwrap_or(0),
            deadline_exceeded,
        }
    }
}

pub fn rollout(d: &WorkloadState, what: &str) -> Rollout {
    let want = d.want;
    let Some(observed) = d.observed_generation else {
        return Rollout::Progressing("Deployment has no status yet".into());
    };
    if observed < d.generation {
        return Rollout::Progressing("Deployment controller has not observed the latest spec yet".into());
    }
    if let Some(message) = &d.deadline_exceeded {
        return Rollout::Failed(format!("{what} rollout exceeded its progress deadline: {message}"));
    }
    let (total, updated, ready, available) = (d.replicas, d.updated, d.ready, d.available);
    if want == 0 {
        return if total == 0 {
            Rollout::Stopped
        } else {
            Rollout::Progressing(format!("scaling the {what} down: {total} pod(s) left"))
        };
    }
    if updated < want {
        return Rollout::Progressing(format!("{updated}/{want} {what} pods updated"));
    }
    if total > updated {
        return Rollout::Progressing(format!("{} old {what} pod(s) terminating", total - updated));
    }
    if available < want || ready < want {
        return Rollout::Progressing(format!("{available}/{want} {what} pods available"));
    }
    Rollout::Complete { ready }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watched_deployment_is_the_rollout_state_of_a_whole_one_at_the_deployments_url() {
        use kube::Resource;
        assert_eq!(WatchedDeployment::url_path(&(), Some("ns")), "/apis/apps/v1/namespaces/ns/deployments");
        assert_eq!(WatchedDeployment::kind(&()), "Deployment");
        let whole = serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "d", "namespace": "ns", "generation": 3},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "d"}},
                "template": {"spec": {"containers": [{"name": "c", "image": "i", "args": ["scrape"]}]}},
            },
            "status": {
                "observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 1,
                "availableReplicas": 1,
                "conditions": [{"type": "Progressing", "status": "False",
                                "reason": "ProgressDeadlineExceeded", "message": "stuck"}],
            },
        });
        let watched: WatchedDeployment = serde_json::from_value(whole).unwrap();
        assert_eq!(watched.metadata.name.as_deref(), Some("d"));
        assert_eq!(
            WorkloadState::of(&watched),
            WorkloadState {
                want: 2,
                generation: 3,
                observed_generation: Some(3),
                replicas: 2,
                updated: 2,
                ready: 1,
                available: 1,
                deadline_exceeded: Some("stuck".into()),
            }
        );
        let fresh: WatchedDeployment =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "d"}, "spec": {}})).unwrap();
        assert_eq!(WorkloadState::of(&fresh).want, 1, "spec.replicas defaults to 1");
        assert_eq!(WorkloadState::of(&fresh).observed_generation, None, "no status yet");
    }

    fn endpoint(scrape_interval: Option<&str>) -> Endpoint {
        let settings =
            WorkloadSettings { scrape_interval: scrape_interval.map(String::from), ..Default::default() };
        let monitor = service_monitor(
            ObjectMeta::default(),
            BTreeMap::new(),
            &BTreeMap::new(),
            settings.scrape_interval(),
        );
        monitor.spec.endpoints.into_iter().next().unwrap()
    }

    #[test]
    fn the_scrape_interval_sets_the_interval_and_a_timeout_no_longer() {
        // Unset: as before the setting existed, so no ServiceMonitor changes on upgrade.
        let e = endpoint(None);
        assert_eq!((e.interval.as_deref(), e.scrape_timeout.as_deref()), (Some("30s"), None));
        for (every, interval, timeout) in [
            ("15s", "15s", "10s"),
            ("5s", "5s", "5s"),
            ("2m", "2m", "10s"),
            // The resources' syntax allows fractions; prometheus-operator's does not.
            ("1.5m", "1m30s", "10s"),
            ("7500ms", "7500ms", "7500ms"),
        ] {
            let e = endpoint(Some(every));
            assert_eq!(e.interval.as_deref(), Some(interval), "{every}");
            assert_eq!(e.scrape_timeout.as_deref(), Some(timeout), "{every}");
        }
        let e = serde_json::to_value(endpoint(Some("15s"))).unwrap();
        assert_eq!(e["scrapeTimeout"], "10s", "{e}");
    }
}
