//! The children of a custom resource as one set: what the build step wants to exist (or not), the
//! cache of what exists, and the apply step that writes only what changed.
//!
//! Every controller's build step ends in a [`ChildSet`]; [`ChildSet::apply`] writes it with
//! server-side apply in two concurrent rounds (what others refer to first, then what refers to
//! them and every delete: the API server checks a new RoleBinding against its Role, which must
//! exist by then).
//!
//! **Writing only what changed.** A child is skipped when both hold:
//! - the desired object is byte-identical to the one this operator last applied (a hash is kept
//!   per child), and
//! - the child as the watch last saw it still carries exactly the fields this operator's field
//!   manager owned right after that apply (a hash of its `managedFields` entry).
//!
//! A `kubectl edit` or any other manager changing a field the operator set moves that field's
//! ownership away from the operator, so its entry changes and the next reconcile applies again
//! (drift correction); a deleted child is gone from the cache and is applied again. Changes by
//! others to fields the operator does not set (the Deployment controller's status and revision
//! annotation) leave the entry alone and cost nothing. The cache is written through with each
//! apply's response and ignores watch events older than it, so a reconcile that runs before the
//! watch caught up does not apply again. After a restart the memory is empty: everything is
//! applied once.
//!
//! **A Job whose template changed is replaced.** A Job's pod template (and a few other fields of
//! its spec) cannot change once it exists: the API server refuses the apply with 422 Invalid,
//! every cause saying `field is immutable`. The operator makes the Job under the same name again
//! when what it wants changes under the same name (an upgrade with another workload image, other
//! egress flags, another storage Secret), so for Jobs only ([`ChildKind::recreated_when_immutable`])
//! such a refusal deletes the Job with its pod (propagation `Background`) and applies it again
//! in the same write; [`Applied::recreated`] says so, and the driver publishes an Event.
//! `Background`, not `Foreground`: the Job object goes at once and the new one is created in the
//! same reconcile, while the garbage collector deletes the old pod (`Foreground` keeps the old Job,
//! under the same name, until its pod has gone: the re-apply would be refused again, for up to
//! its 30 s grace period). The old pod may still be listed for a moment under the same
//! `job-name` label, so whoever reads a Job's pods reads them by the Job's uid
//! (`super::apply::job_and_pods`). Other kinds are never deleted to be replaced: a Deployment's
//! selector is immutable too, but deleting a serving workload is no silent reaction; its
//! refusal is reported like any other.

use super::apply::ApplyError;
use super::config::FIELD_MANAGER;
use super::workload_objects::{WatchedDeployment, WorkloadState};
use crate::monitoring::{AlertmanagerConfig, PrometheusRule, ServiceMonitor};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PropagationPolicy};
use kube::core::{ApiResource, ObjectMeta};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

/// Every kind of child the operator makes. One list: the build steps name their children with
/// it, the apply step orders the writes by it, and the operator watches each kind it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::EnumIter)]
pub enum ChildKind {
    ServiceAccount,
    Role,
    RoleBinding,
    Service,
    Deployment,
    /// A Model's replay gate.
    Job,
    ServiceMonitor,
    PrometheusRule,
    AlertmanagerConfig,
}

impl ChildKind {
    /// The kind's name (`Deployment`, …), as in `kind:` and in metric labels.
    pub fn name(self) -> &'static str {
        self.into()
    }

    fn api_resource(self) -> ApiResource {
        match self {
            ChildKind::ServiceAccount => ApiResource::erase::<ServiceAccount>(&()),
            ChildKind::Role => ApiResource::erase::<Role>(&()),
            ChildKind::RoleBinding => ApiResource::erase::<RoleBinding>(&()),
            ChildKind::Service => ApiResource::erase::<Service>(&()),
            ChildKind::Deployment => ApiResource::erase::<Deployment>(&()),
            ChildKind::Job => ApiResource::erase::<Job>(&()),
            ChildKind::ServiceMonitor => ApiResource::erase::<ServiceMonitor>(&()),
            ChildKind::PrometheusRule => ApiResource::erase::<PrometheusRule>(&()),
            ChildKind::AlertmanagerConfig => ApiResource::erase::<AlertmanagerConfig>(&()),
        }
    }

    /// A prometheus-operator object: its refusal never holds the workload back.
    pub fn is_monitoring(self) -> bool {
        matches!(self, ChildKind::ServiceMonitor | ChildKind::PrometheusRule | ChildKind::AlertmanagerConfig)
    }

    /// Written in the second round: it refers to children of the first.
    fn refers_to_others(self) -> bool {
        matches!(self, ChildKind::RoleBinding | ChildKind::Deployment | ChildKind::Job)
    }

    /// Deleted and created again when the API server refuses to change it in place (module
    /// docs). Only the replay gate's Job: it runs to completion, and its owner reads a new one's
    /// pods by its uid.
    pub fn recreated_when_immutable(self) -> bool {
        matches!(self, ChildKind::Job)
    }
}

/// One child, by kind, namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ChildKey {
    pub kind: ChildKind,
    pub namespace: String,
    pub name: String,
}

impl ChildKey {
    pub fn new(kind: ChildKind, namespace: &str, name: &str) -> ChildKey {
        ChildKey { kind, namespace: namespace.into(), name: name.into() }
    }

    fn id(&self) -> ChildId {
        ChildId::new(self.kind, &self.namespace, &self.name)
    }
}

/// A child as the [`ChildStore`] knows it: a 64-bit hash of its kind, namespace and name, so the
/// store holds no strings (at 10,000 books it has 70,000 entries). Two children whose ids collide
/// (odds about 10⁻¹⁰ at that size) cost an extra write, never a skipped one: a skip also needs
/// the hash of the whole desired object, name included, to match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct ChildId(u64);

impl ChildId {
    fn new(kind: ChildKind, namespace: &str, name: &str) -> ChildId {
        use std::hash::BuildHasher;
        ChildId(ID_HASHER.hash_one((kind, namespace, name)))
    }
}

/// Fixed seed: ids only live in this process, but must agree between its tasks.
const ID_HASHER: foldhash::quality::FixedState = foldhash::quality::FixedState::with_seed(0x6e66_6c62_6574);

/// What the build step wants for one child: this object, or none of that name.
#[derive(Clone, Debug)]
struct Wanted {
    key: ChildKey,
    desired: Option<serde_json::Value>,
}

/// What the build step wants to exist and not to exist, in the order it was added.
#[derive(Clone, Debug, Default)]
pub struct ChildSet {
    wanted: Vec<Wanted>,
}

impl ChildSet {
    pub fn new() -> ChildSet {
        ChildSet::default()
    }

    /// `obj` must exist as it is.
    pub fn put<K: Resource<DynamicType = ()> + Serialize>(&mut self, kind: ChildKind, obj: &K) -> &mut Self {
        let key = ChildKey::new(kind, &obj.meta().namespace.clone().unwrap_or_default(), &obj.name_any());
        let desired = serde_json::to_value(obj).expect("children serialise");
        self.wanted.push(Wanted { key, desired: Some(desired) });
        self
    }

    /// Nothing named `name` of `kind` may exist.
    pub fn remove(&mut self, kind: ChildKind, namespace: &str, name: &str) -> &mut Self {
        self.wanted.push(Wanted { key: ChildKey::new(kind, namespace, name), desired: None });
        self
    }

    /// `obj` when it is `Some`, else nothing named `name`; neither when `served` is false (the
    /// kind's CRD is missing: nothing to write or delete).
    pub fn ensure<K: Resource<DynamicType = ()> + Serialize>(
        &mut self,
        kind: ChildKind,
        served: bool,
        namespace: &str,
        name: &str,
        obj: Option<&K>,
    ) -> &mut Self {
        match (served, obj) {
            (false, _) => self,
            (true, Some(obj)) => self.put(kind, obj),
            (true, None) => self.remove(kind, namespace, name),
        }
    }

    /// The children by key, as the build step wants them (`None`: must not exist).
    pub fn desired(&self) -> impl Iterator<Item = (&ChildKey, Option<&serde_json::Value>)> {
        self.wanted.iter().map(|w| (&w.key, w.desired.as_ref()))
    }

    /// Write the set: skip what is unchanged, apply the rest in two concurrent rounds (what
    /// others refer to, then the rest and every delete), delete what must not exist. A refused
    /// monitoring object is reported in the result, never an error: the workload goes in
    /// regardless. Writes through to `store`.
    pub async fn apply(self, client: &Client, store: &ChildStore) -> Result<Applied, ApplyError> {
        let mut applied = Applied::default();
        for round in self.rounds() {
            // `join_all`, not `try_join_all`: one failing child must not cancel its siblings.
            let results = futures::future::join_all(round.into_iter().map(|w| write(client, store, w))).await;
            for (kind, result) in results {
                match result {
                    Ok(Wrote { requests, recreated }) => {
                        applied.writes += requests;
                        applied.recreated.extend(recreated);
                    }
                    Err(e) if kind.is_monitoring() => applied.monitoring.push(e),
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(applied)
    }
}

impl ChildSet {
    /// The two rounds of [`ChildSet::apply`]. Only what others refer to must exist first; a
    /// delete waits for nothing, so it goes with the second round (a disable deletes the
    /// PrometheusRule and scales the Deployment in one round trip, not two).
    fn rounds(self) -> [Vec<Wanted>; 2] {
        let (first, second) =
            self.wanted.into_iter().partition(|w| w.desired.is_some() && !w.key.kind.refers_to_others());
        [first, second]
    }
}

/// What [`ChildSet::apply`] did: how many requests it sent, the monitoring objects the API
/// server refused, and the children it replaced because they could not change in place.
#[derive(Debug, Default)]
pub struct Applied {
    pub writes: usize,
    pub monitoring: Vec<ApplyError>,
    pub recreated: Vec<Recreated>,
}

/// A child deleted and created again because the API server refused to change it in place.
#[derive(Clone, Debug, PartialEq)]
pub struct Recreated {
    pub key: ChildKey,
    /// The fields the API server called immutable (`spec.template`).
    pub fields: Vec<String>,
}

impl Recreated {
    /// An Event's note.
    pub fn note(&self) -> String {
        format!(
            "{} {} was deleted (with its pods) and created again: {} cannot change in place (field is immutable)",
            self.key.kind.name(),
            self.key.name,
            self.fields.join(", ")
        )
    }
}

/// What writing one child cost.
#[derive(Debug, Default)]
struct Wrote {
    requests: usize,
    recreated: Option<Recreated>,
}

/// The fields the API server refused to change in place, when that is all it refused: 422
/// Invalid with at least one cause, every cause ending in `field is immutable`
/// (`apimachinery`'s `ValidateImmutableField`). A refusal for any other reason would refuse a
/// new object too, so it replaces nothing.
fn immutable_fields(e: &kube::Error) -> Option<Vec<String>> {
    let kube::Error::Api(s) = e else { return None };
    if s.code != 422 || s.reason != "Invalid" {
        return None;
    }
    let causes = &s.details.as_ref()?.causes;
    let only_immutable =
        !causes.is_empty() && causes.iter().all(|c| c.message.ends_with("field is immutable"));
    only_immutable.then(|| causes.iter().map(|c| c.field.clone()).collect())
}

/// Write one child unless the store says it is as wanted.
async fn write(client: &Client, store: &ChildStore, w: Wanted) -> (ChildKind, Result<Wrote, ApplyError>) {
    let kind = w.key.kind;
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &w.key.namespace, &kind.api_resource());
    let error = |verb: &'static str, source| ApplyError {
        verb,
        kind: kind.name().into(),
        name: w.key.name.clone(),
        source,
    };
    let result = match &w.desired {
        Some(desired) => {
            let hash = hash_json(desired);
            if store.unchanged(&w.key, hash) {
                return (kind, Ok(Wrote::default()));
            }
            let params = PatchParams::apply(FIELD_MANAGER).force();
            let mut wrote = Wrote { requests: 1, recreated: None };
            let mut result = api.patch(&w.key.name, &params, &Patch::Apply(desired)).await;
            if let Err(e) = &result
                && kind.recreated_when_immutable()
                && let Some(fields) = immutable_fields(e)
            {
                tracing::info!(kind = kind.name(), name = %w.key.name, ?fields, "cannot change in place: re-creating");
                wrote.requests += 2;
                result = match delete(&api, &w.key.name).await {
                    Ok(()) => api.patch(&w.key.name, &params, &Patch::Apply(desired)).await,
                    Err(e) => {
                        store.forget(&w.key);
                        return (kind, Err(error("delete", e)));
                    }
                };
                wrote.recreated = Some(Recreated { key: w.key.clone(), fields });
            }
            match result {
                Ok(obj) => {
                    store.applied(&w.key, hash, &obj);
                    Ok(wrote)
                }
                Err(e) => {
                    store.forget(&w.key);
                    Err(error("apply", e))
                }
            }
        }
        None => {
            if store.absent(&w.key) {
                return (kind, Ok(Wrote::default()));
            }
            match delete(&api, &w.key.name).await {
                Ok(()) => {
                    store.deleted(&w.key);
                    Ok(Wrote { requests: 1, recreated: None })
                }
                Err(e) => Err(error("delete", e)),
            }
        }
    };
    (kind, result)
}

/// Delete a child and, in the background, what it owns (a Job's pods; the API's default for a
/// Job would orphan them); one already gone is fine.
async fn delete(api: &Api<DynamicObject>, name: &str) -> Result<(), kube::Error> {
    let dp =
        DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..DeleteParams::default() };
    match api.delete(name, &dp).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// A stable 64-bit hash of a JSON value (serde_json keeps object keys sorted, so equal values
/// serialise to equal bytes).
fn hash_json(value: &serde_json::Value) -> Digest {
    let bytes = serde_json::to_vec(value).expect("JSON serialises");
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    Digest::new(h.finish()).unwrap_or(Digest::MIN)
}

/// A hash as the store keeps it: never 0, so an absent one costs no extra bytes.
type Digest = std::num::NonZeroU64;

/// Hash of what this operator's field manager owns in `meta` (`None`: it owns nothing there).
fn ours(meta: &ObjectMeta) -> Option<Digest> {
    let entry = meta.managed_fields.iter().flatten().find(|m| {
        m.manager.as_deref() == Some(FIELD_MANAGER)
            && m.operation.as_deref() == Some("Apply")
            && m.subresource.as_deref().unwrap_or("").is_empty()
    })?;
    let fields = serde_json::to_value(&entry.fields_v1).expect("fields serialise");
    Some(hash_json(&fields))
}

fn resource_version(meta: &ObjectMeta) -> Option<std::num::NonZeroU64> {
    meta.resource_version.as_deref().and_then(|rv| rv.parse().ok())
}

/// A child as the operator last saw it (watch event or its own write).
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    resource_version: Option<std::num::NonZeroU64>,
    ours: Option<Digest>,
    /// Boxed: only Deployments have one, and the store holds many more other children.
    workload: Option<Box<WorkloadState>>,
}

/// One child: 56 bytes (the store holds seven per Sportsbook, 70,000 at 10,000 books).
struct Entry {
    seen: Option<Seen>,
    /// Hash of the desired object last applied, and of the operator's fields right after.
    applied: Option<(Digest, Option<Digest>)>,
    /// Which list of its kind last saw it; older ones are gone when a relist completes.
    list: u32,
    kind: ChildKind,
    /// The operator deleted it and no watch event has shown it since.
    deleted: bool,
}

impl Entry {
    fn new(kind: ChildKind) -> Entry {
        Entry { kind, seen: None, applied: None, list: 0, deleted: false }
    }
}

#[derive(Default)]
struct Inner {
    /// A B-tree, not a hash table: about 97 bytes per child at any size (nodes two-thirds full),
    /// where a table doubles (122 bytes per child at 70,000, and the old and the new table at
    /// once while it grows).
    children: BTreeMap<ChildId, Entry>,
    /// Kinds whose watch has listed completely at least once.
    listed: HashSet<ChildKind>,
    /// Current list generation per kind (incremented when a relist starts).
    lists: HashMap<ChildKind, u32>,
}

/// What the operator knows about its children: fed by the child watches and by its own writes.
/// Compact on purpose: per child a few hashes and, for Deployments, the rollout state.
#[derive(Clone, Default)]
pub struct ChildStore {
    inner: Arc<Mutex<Inner>>,
}

impl ChildStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("child store lock")
    }

    /// The rollout state of a Deployment, as last seen.
    pub fn workload(&self, namespace: &str, name: &str) -> Option<WorkloadState> {
        let id = ChildId::new(ChildKind::Deployment, namespace, name);
        self.lock().children.get(&id)?.seen.as_ref()?.workload.as_deref().cloned()
    }

    /// True when applying `desired_hash` to `key` would change nothing (module docs).
    fn unchanged(&self, key: &ChildKey, desired_hash: Digest) -> bool {
        let inner = self.lock();
        let Some(entry) = inner.children.get(&key.id()) else { return false };
        match (&entry.applied, &entry.seen) {
            (Some((applied, fields)), Some(seen)) => *applied == desired_hash && seen.ours == *fields,
            _ => false,
        }
    }

    /// True when `key` surely does not exist: its kind has been listed and it is not there.
    fn absent(&self, key: &ChildKey) -> bool {
        let inner = self.lock();
        match inner.children.get(&key.id()) {
            Some(entry) => entry.deleted || (entry.seen.is_none() && inner.listed.contains(&key.kind)),
            None => inner.listed.contains(&key.kind),
        }
    }

    fn applied(&self, key: &ChildKey, desired_hash: Digest, obj: &DynamicObject) {
        let (seen, list) = self.seen_from(key.kind, &obj.metadata, workload_of(key.kind, obj));
        let mut inner = self.lock();
        let entry = inner.children.entry(key.id()).or_insert_with(|| Entry::new(key.kind));
        entry.applied = Some((desired_hash, seen.ours));
        if newer(entry.seen.as_ref(), &seen) {
            entry.seen = Some(seen);
            entry.list = list;
        }
    }

    fn forget(&self, key: &ChildKey) {
        if let Some(entry) = self.lock().children.get_mut(&key.id()) {
            entry.applied = None;
        }
    }

    fn deleted(&self, key: &ChildKey) {
        self.lock().children.insert(key.id(), Entry { deleted: true, ..Entry::new(key.kind) });
    }

    /// What `meta` shows, and the current list of its kind.
    fn seen_from(&self, kind: ChildKind, meta: &ObjectMeta, workload: Option<WorkloadState>) -> (Seen, u32) {
        let list = self.lock().lists.get(&kind).copied().unwrap_or(0);
        (
            Seen {
                resource_version: resource_version(meta),
                ours: ours(meta),
                workload: workload.map(Box::new),
            },
            list,
        )
    }

    /// Feed one watch event of a child kind into the store.
    pub fn observe<K>(&self, kind: ChildKind, event: &kube::runtime::watcher::Event<K>)
    where
        K: Resource + ChildView,
    {
        use kube::runtime::watcher::Event;
        match event {
            Event::Init => {
                *self.lock().lists.entry(kind).or_default() += 1;
            }
            Event::InitApply(obj) | Event::Apply(obj) => {
                let id = child_id(kind, obj);
                let (seen, list) = self.seen_from(kind, obj.meta(), obj.workload());
                let mut inner = self.lock();
                let entry = inner.children.entry(id).or_insert_with(|| Entry::new(kind));
                entry.deleted = false;
                // A write of ours newer than this event is kept, but the child is still there.
                if newer(entry.seen.as_ref(), &seen) {
                    entry.seen = Some(seen);
                }
                entry.list = list;
            }
            Event::Delete(obj) => {
                let id = child_id(kind, obj);
                let mut inner = self.lock();
                let stale = inner.children.get(&id).and_then(|e| e.seen.as_ref()).is_some_and(|known| {
                    let rv = resource_version(obj.meta());
                    matches!((known.resource_version, rv), (Some(k), Some(r)) if k > r)
                });
                if !stale {
                    inner.children.remove(&id);
                }
            }
            Event::InitDone => {
                let mut inner = self.lock();
                let list = inner.lists.get(&kind).copied().unwrap_or(0);
                inner.listed.insert(kind);
                for entry in inner.children.values_mut() {
                    if entry.kind == kind && entry.seen.is_some() && entry.list < list {
                        entry.seen = None;
                    }
                }
                // What is not there now is known from the list itself.
                inner
                    .children
                    .retain(|_, e| e.seen.is_some() || e.applied.is_some() || (e.deleted && e.kind != kind));
            }
        }
    }
}

fn child_id<K: Resource>(kind: ChildKind, obj: &K) -> ChildId {
    let meta = obj.meta();
    ChildId::new(
        kind,
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default(),
    )
}

/// True unless `known` is a later version than `seen` (resource versions compared as the etcd
/// revisions they are; when either is not a number, the newest event wins).
fn newer(known: Option<&Seen>, seen: &Seen) -> bool {
    match (known.and_then(|k| k.resource_version), seen.resource_version) {
        (Some(k), Some(s)) => s >= k,
        _ => true,
    }
}

fn workload_of(kind: ChildKind, obj: &DynamicObject) -> Option<WorkloadState> {
    if kind != ChildKind::Deployment {
        return None;
    }
    let value = serde_json::to_value(obj).ok()?;
    let deployment: WatchedDeployment = serde_json::from_value(value).ok()?;
    Some(WorkloadState::of(&deployment))
}

/// What the store keeps of a watched child.
pub trait ChildView: Resource {
    /// The rollout state, for Deployments.
    fn workload(&self) -> Option<WorkloadState> {
        None
    }
}

impl ChildView for WatchedDeployment {
    fn workload(&self) -> Option<WorkloadState> {
        Some(WorkloadState::of(self))
    }
}

impl<K: Resource> ChildView for kube::core::PartialObjectMeta<K> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referents_go_first_and_deletes_wait_for_nothing() {
        let mut set = ChildSet::new();
        let named = |name: &str| ObjectMeta {
            name: Some(name.into()),
            namespace: Some("ns".into()),
            ..ObjectMeta::default()
        };
        set.put(ChildKind::ServiceAccount, &ServiceAccount { metadata: named("sa"), ..Default::default() })
            .put(ChildKind::Deployment, &Deployment { metadata: named("d"), ..Default::default() })
            .remove(ChildKind::PrometheusRule, "ns", "rule")
            .remove(ChildKind::Role, "ns", "role");
        let names = |round: &[Wanted]| round.iter().map(|w| w.key.name.clone()).collect::<Vec<_>>();
        let [first, second] = set.rounds();
        assert_eq!(names(&first), ["sa"]);
        assert_eq!(names(&second), ["d", "rule", "role"], "a disable is one round trip");
    }
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry};
    use kube::core::PartialObjectMeta;
    use kube::runtime::watcher::Event;

    fn meta(name: &str, rv: u64, fields: &str, others: &[&str]) -> ObjectMeta {
        let entry = |manager: &str, f: &str| ManagedFieldsEntry {
            manager: Some(manager.into()),
            operation: Some(if manager == FIELD_MANAGER { "Apply" } else { "Update" }.into()),
            fields_v1: Some(FieldsV1(serde_json::json!({ f: {} }))),
            ..ManagedFieldsEntry::default()
        };
        let mut managed = vec![entry(FIELD_MANAGER, fields)];
        managed.extend(others.iter().map(|m| entry(m, "f:status")));
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some("ns".into()),
            resource_version: Some(rv.to_string()),
            managed_fields: Some(managed),
            ..ObjectMeta::default()
        }
    }

    fn service(m: ObjectMeta) -> PartialObjectMeta<Service> {
        PartialObjectMeta { metadata: m, ..Default::default() }
    }

    fn d(n: u64) -> Digest {
        Digest::new(n).unwrap()
    }

    fn dynamic(m: ObjectMeta) -> DynamicObject {
        DynamicObject { types: None, metadata: m, data: serde_json::json!({}) }
    }

    #[test]
    fn an_entry_stays_small() {
        // 70,000 of them at 10,000 books: every 8 bytes is 0.5 MB of the operator's memory.
        assert_eq!(std::mem::size_of::<Entry>(), 56);
    }

    #[test]
    fn unchanged_needs_the_same_desired_object_and_the_same_owned_fields() {
        let store = ChildStore::default();
        let key = ChildKey::new(ChildKind::Service, "ns", "svc");
        assert!(!store.unchanged(&key, d(1)), "never applied");
        store.applied(&key, d(1), &dynamic(meta("svc", 10, "f:spec", &[])));
        assert!(store.unchanged(&key, d(1)));
        assert!(!store.unchanged(&key, d(2)), "a different desired object is applied");

        // Another manager changes only what the operator does not own: still unchanged.
        store.observe(ChildKind::Service, &Event::Apply(service(meta("svc", 11, "f:spec", &["kcm"]))));
        assert!(store.unchanged(&key, d(1)));
        // Someone takes a field the operator set (kubectl edit): its entry changes.
        store
            .observe(ChildKind::Service, &Event::Apply(service(meta("svc", 12, "f:metadata", &["kubectl"]))));
        assert!(!store.unchanged(&key, d(1)), "drift is corrected");
        // Deleted by hand: applied again.
        store.applied(&key, d(1), &dynamic(meta("svc", 13, "f:spec", &[])));
        store.observe(ChildKind::Service, &Event::Delete(service(meta("svc", 14, "f:spec", &[]))));
        assert!(!store.unchanged(&key, d(1)));
    }

    #[test]
    fn a_watch_event_older_than_the_operators_write_is_ignored() {
        let store = ChildStore::default();
        let key = ChildKey::new(ChildKind::Service, "ns", "svc");
        store.applied(&key, d(7), &dynamic(meta("svc", 20, "f:spec", &[])));
        // The watch delivers the version from before the apply (someone else's fields).
        store.observe(ChildKind::Service, &Event::Apply(service(meta("svc", 19, "f:other", &[]))));
        assert!(store.unchanged(&key, d(7)), "the stale event does not undo the write");
        // A stale delete does not remove it either.
        store.observe(ChildKind::Service, &Event::Delete(service(meta("svc", 18, "f:spec", &[]))));
        assert!(store.unchanged(&key, d(7)));
    }

    #[test]
    fn a_relist_forgets_what_is_gone_and_absence_is_known_only_after_a_list() {
        let store = ChildStore::default();
        let gone = ChildKey::new(ChildKind::Service, "ns", "gone");
        let kept = ChildKey::new(ChildKind::Service, "ns", "kept");
        assert!(!store.absent(&gone), "nothing is known before the first list");
        store.observe(ChildKind::Service, &Event::<PartialObjectMeta<Service>>::Init);
        store.observe(ChildKind::Service, &Event::InitApply(service(meta("gone", 1, "f:spec", &[]))));
        store.observe(ChildKind::Service, &Event::InitApply(service(meta("kept", 2, "f:spec", &[]))));
        store.observe(ChildKind::Service, &Event::<PartialObjectMeta<Service>>::InitDone);
        assert!(!store.absent(&gone) && !store.absent(&kept));
        store.observe(ChildKind::Service, &Event::<PartialObjectMeta<Service>>::Init);
        store.observe(ChildKind::Service, &Event::InitApply(service(meta("kept", 2, "f:spec", &[]))));
        store.observe(ChildKind::Service, &Event::<PartialObjectMeta<Service>>::InitDone);
        assert!(store.absent(&gone), "not in the new list");
        assert!(!store.absent(&kept));
        assert!(!store.absent(&ChildKey::new(ChildKind::Role, "ns", "kept")), "Roles never listed");
    }

    fn status(code: u16, reason: &str, causes: serde_json::Value) -> kube::Error {
        let s = serde_json::json!({"status": "Failure", "code": code, "reason": reason, "message": "m", "details": {"causes": causes}});
        kube::Error::Api(Box::new(serde_json::from_value(s).unwrap()))
    }

    #[test]
    fn the_api_server_s_own_refusal_of_a_changed_job_template_is_recognised_and_the_fake_s_has_its_shape() {
        let real: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/api/job-template-immutable.json"))
                .unwrap();
        let error = |body: &serde_json::Value| {
            kube::Error::Api(Box::new(serde_json::from_value(body.clone()).unwrap()))
        };
        assert_eq!(immutable_fields(&error(&real)), Some(vec!["spec.template".to_string()]));
        let fake = crate::controller::fixtures::immutable(
            "Job",
            "batch",
            "probe",
            "spec.template",
            &serde_json::json!({"metadata": {"labels": {"job-name": "probe"}}, "spec": {}}),
        );
        assert_eq!(immutable_fields(&error(&fake)), Some(vec!["spec.template".to_string()]));
        let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&fake), keys(&real));
        assert_eq!(keys(&fake["details"]), keys(&real["details"]));
        assert_eq!(keys(&fake["details"]["causes"][0]), keys(&real["details"]["causes"][0]));
        let head =
            |v: &serde_json::Value| v["message"].as_str().unwrap().split(": {").next().unwrap().to_string();
        assert_eq!(head(&fake), head(&real));
    }

    #[test]
    fn only_a_refusal_of_nothing_but_immutable_fields_is_one_a_new_object_would_pass() {
        let immutable = |field: &str| serde_json::json!({"reason": "FieldValueInvalid", "field": field, "message": "Invalid value: {\"x\":1}: field is immutable"});
        assert_eq!(
            immutable_fields(&status(422, "Invalid", serde_json::json!([immutable("spec.template")]))),
            Some(vec!["spec.template".to_string()])
        );
        let other = serde_json::json!({"reason": "FieldValueRequired", "field": "spec.template.spec.containers[0].image", "message": "Required value"});
        assert_eq!(
            immutable_fields(&status(422, "Invalid", serde_json::json!([immutable("spec.template"), other]))),
            None,
            "the new object would be refused too"
        );
        assert_eq!(immutable_fields(&status(422, "Invalid", serde_json::json!([]))), None, "no causes given");
        assert_eq!(
            immutable_fields(&status(409, "Conflict", serde_json::json!([immutable("spec.template")]))),
            None
        );
    }

    /// Apply `set` against the fake API server holding what `seed` applied: the requests it saw.
    async fn apply_against(
        api: &crate::controller::fixtures::FakeApiServer,
        set: ChildSet,
    ) -> (Result<Applied, ApplyError>, Vec<crate::controller::fixtures::Seen>) {
        let ctx = api.context(crate::monitoring::Capabilities::ALL);
        let result = set.apply(&ctx.client, &ChildStore::default()).await;
        (result, api.take())
    }

    fn job(image: &str) -> Job {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "gate", "namespace": "ns"},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": image}]}}}
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn a_job_that_cannot_change_in_place_is_deleted_with_its_pods_and_created_again() {
        use crate::controller::fixtures::{FakeApiServer, child_writes};
        use http::Method;
        let api = FakeApiServer::default();
        let mut set = ChildSet::new();
        set.put(ChildKind::Job, &job("nflbet:1"));
        apply_against(&api, set).await.0.unwrap();
        let path = "/apis/batch/v1/namespaces/ns/jobs/gate";
        let uid = api.object(path).unwrap()["metadata"]["uid"].clone();

        let mut set = ChildSet::new();
        set.put(ChildKind::Job, &job("nflbet:2"));
        let (applied, seen) = apply_against(&api, set).await;
        let applied = applied.unwrap();
        let write = |m: Method| (m, "jobs".to_string(), "gate".to_string());
        assert_eq!(child_writes(&seen), [write(Method::PATCH), write(Method::DELETE), write(Method::PATCH)]);
        let delete = seen.iter().find(|s| s.method == Method::DELETE).unwrap();
        assert_eq!(
            delete.body["propagationPolicy"], "Background",
            "the pod goes too, and the name is free at once"
        );
        assert_eq!(applied.writes, 3);
        assert_eq!(
            applied.recreated,
            [Recreated {
                key: ChildKey::new(ChildKind::Job, "ns", "gate"),
                fields: vec!["spec.template".into()]
            }]
        );
        let now = api.object(path).unwrap();
        assert_ne!(now["metadata"]["uid"], uid, "a new Job");
        assert_eq!(now["spec"]["template"]["spec"]["containers"][0]["image"], "nflbet:2");
    }

    #[tokio::test]
    async fn a_deployment_that_cannot_change_in_place_is_refused_not_deleted() {
        use crate::controller::fixtures::{FakeApiServer, child_writes, immutable};
        use http::Method;
        let api = FakeApiServer::default();
        let path = "/apis/apps/v1/namespaces/ns/deployments/d";
        api.refuse_with(
            path,
            422,
            immutable("Deployment", "apps", "d", "spec.selector", &serde_json::json!({})),
        );
        let mut set = ChildSet::new();
        let d: Deployment =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "d", "namespace": "ns"}}))
                .unwrap();
        set.put(ChildKind::Deployment, &d);
        let (result, seen) = apply_against(&api, set).await;
        let e = result.unwrap_err();
        assert_eq!((e.verb, e.reason()), ("apply", "Invalid"));
        assert_eq!(child_writes(&seen), [(Method::PATCH, "deployments".into(), "d".into())], "never deleted");
    }

    #[test]
    fn ensure_writes_nothing_for_a_kind_that_is_not_served() {
        let mut set = ChildSet::new();
        let svc = Service {
            metadata: ObjectMeta {
                name: Some("a".into()),
                namespace: Some("ns".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        set.ensure(ChildKind::ServiceMonitor, false, "ns", "m", None::<&ServiceMonitor>);
        set.ensure(ChildKind::Service, true, "ns", "a", Some(&svc));
        set.ensure(ChildKind::PrometheusRule, true, "ns", "r", None::<&PrometheusRule>);
        let got: Vec<(ChildKind, &str, bool)> =
            set.desired().map(|(k, d)| (k.kind, k.name.as_str(), d.is_some())).collect();
        assert_eq!(got, [(ChildKind::Service, "a", true), (ChildKind::PrometheusRule, "r", false)]);
    }
}
