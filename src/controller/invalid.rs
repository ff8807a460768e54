//! Objects the operator cannot read as their Rust type (written under an older schema, or
//! changed behind the API server's validation). Watching through `DeserializeGuard` keeps one
//! such object from stopping the watch of all the others; this module reports it where a person
//! looks: a Warning Event and `Ready=False` with reason `InvalidObject`. The error metric is
//! counted by the caller. Nothing is retried until the object changes.

use super::FIELD_MANAGER;
use super::context::Context;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::jiff::Timestamp;
use kube::Resource;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::ApiResource;
use kube::core::error_boundary::InvalidObject;
use kube::runtime::events::EventType;
use serde_json::json;

pub async fn report<K: Resource<DynamicType = ()>>(ctx: &Context, invalid: &InvalidObject) {
    let meta = &invalid.metadata;
    let (Some(ns), Some(name)) = (meta.namespace.clone(), meta.name.clone()) else { return };
    let key = format!("invalid/{}/{:?}", meta.uid.clone().unwrap_or_default(), meta.generation);
    if !ctx.first_time(key) {
        return;
    }
    let message = format!(
        "cannot read this {} ({}); fix the object to resume reconciling",
        K::kind(&()),
        invalid.error
    );
    let reference = ObjectReference {
        api_version: Some(K::api_version(&()).into_owned()),
        kind: Some(K::kind(&()).into_owned()),
        name: Some(name.clone()),
        namespace: Some(ns.clone()),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        ..ObjectReference::default()
    };
    ctx.publish_ref(&reference, EventType::Warning, "InvalidObject", "Reconcile", message.clone()).await;

    let api: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), &ns, &ApiResource::erase::<K>(&()));
    let body = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": {
            "observedGeneration": meta.generation,
            "conditions": [{
                "type": "Ready", "status": "False", "reason": "InvalidObject", "message": message,
                "observedGeneration": meta.generation, "lastTransitionTime": Timestamp::now().to_string(),
            }],
        }
    });
    if let Err(e) =
        api.patch_status(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(body)).await
    {
        tracing::warn!(error = %e, object = %name, "could not report an invalid object in its status");
    }
}
