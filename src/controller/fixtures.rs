//! A fake API server for reconcile tests, in the manner of kube-rs/controller-rs's
//! `fixtures.rs`: the reconcile runs against a `Client` whose requests reach this process, which
//! checks each one (server-side apply with the operator's field manager, an object whose name and
//! namespace match its URL, the status subresource for status) and answers as an API server
//! would, keeping the objects it holds. A test then asserts on the requests seen, in
//! milliseconds and without a cluster. The integration tests on the real control plane stay.
//!
//! Like the API server it gives each object it creates a uid (kept by later applies), and
//! refuses to change a Job's pod template with the API server's own 422 ([`immutable`]).

use super::config::{FIELD_MANAGER, OperatorConfig};
use super::context::{Caches, Context};
use super::metrics::Metrics;
use crate::monitoring::Capabilities;
use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// One request the fake API server answered.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: Method,
    /// Path without the query.
    pub path: String,
    pub query: String,
    pub body: Value,
}

impl Seen {
    /// The resource path's kind segment (`deployments`, `events`, …) and the object's name.
    pub fn resource(&self) -> (&str, &str) {
        let parts: Vec<&str> = self.path.trim_end_matches("/status").rsplitn(3, '/').collect();
        match parts.as_slice() {
            [name, plural, _] if self.method != Method::POST => (plural, name),
            [plural, ..] => (plural, ""),
            _ => ("", ""),
        }
    }

    pub fn is_status(&self) -> bool {
        self.path.ends_with("/status")
    }
}

#[derive(Default)]
struct State {
    objects: BTreeMap<String, Value>,
    seen: Vec<Seen>,
    version: u64,
    /// Paths whose writes answer with an error: (code, Status body).
    refuse: BTreeMap<String, (u16, Value)>,
}

/// Handle of the fake API server: what it holds and what it saw.
#[derive(Clone, Default)]
pub struct FakeApiServer {
    state: Arc<Mutex<State>>,
}

impl FakeApiServer {
    /// A client whose requests this server answers, and a context around it (no watches run:
    /// the test feeds the caches itself).
    pub fn context(&self, caps: Capabilities) -> Arc<Context> {
        self.context_with(caps, OperatorConfig::default())
    }

    /// [`FakeApiServer::context`] for an operator started with `config`: another operator
    /// process (its child store starts empty) against the same objects.
    pub fn context_with(&self, caps: Capabilities, config: OperatorConfig) -> Arc<Context> {
        // The notifier's HTTP client needs a TLS provider, as the binary installs at start.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let client = kube::Client::new(service, "default");
        let server = self.clone();
        tokio::spawn(async move {
            while let Some((request, respond)) = handle.next_request().await {
                let response = server.answer(request).await;
                respond.send_response(response);
            }
        });
        let ctx = Context::new(
            client,
            config,
            Arc::new(Metrics::new()),
            Some("test".into()),
            crate::notify::NotifierSettings::default(),
        );
        ctx.set_capabilities(caps);
        ctx.set_caches(Caches::default());
        Arc::new(ctx)
    }

    /// Hold `obj` at `path` (e.g. a ServiceAccount a spec names).
    pub fn insert(&self, path: &str, obj: Value) {
        self.state.lock().unwrap().objects.insert(path.into(), obj);
    }

    /// Answer writes to `path` with an error status.
    pub fn refuse(&self, path: &str, code: u16, reason: &str, message: &str) {
        let body = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason, "message": message});
        self.refuse_with(path, code, body);
    }

    /// Answer writes to `path` with `code` and this Status body.
    pub fn refuse_with(&self, path: &str, code: u16, body: Value) {
        self.state.lock().unwrap().refuse.insert(path.into(), (code, body));
    }

    /// The object held at `path`.
    pub fn object(&self, path: &str) -> Option<Value> {
        self.state.lock().unwrap().objects.get(path).cloned()
    }

    /// Every request so far, in order; and forget them.
    pub fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut self.state.lock().unwrap().seen)
    }

    async fn answer(&self, request: Request<Body>) -> Response<Body> {
        let (parts, body) = request.into_parts();
        let bytes = body.collect_bytes().await.expect("request body");
        let body: Value =
            if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).expect("JSON body") };
        let path = parts.uri.path().to_string();
        let query = parts.uri.query().unwrap_or("").to_string();
        let mut state = self.state.lock().unwrap();
        state.seen.push(Seen {
            method: parts.method.clone(),
            path: path.clone(),
            query: query.clone(),
            body: body.clone(),
        });
        let object_path = path.trim_end_matches("/status").to_string();
        if parts.method != Method::GET
            && let Some((code, body)) = state.refuse.get(&object_path).cloned()
        {
            return reply(code, body);
        }
        match parts.method {
            Method::GET => match state.objects.get(&object_path) {
                Some(obj) => reply(200, obj.clone()),
                None => not_found(&object_path),
            },
            Method::DELETE => match state.objects.remove(&object_path) {
                Some(obj) => reply(200, obj),
                None => not_found(&object_path),
            },
            Method::PATCH => {
                assert!(
                    query.contains(&format!("fieldManager={FIELD_MANAGER}")) && query.contains("force=true"),
                    "every write is a forced server-side apply by the operator's field manager: {path}?{query}"
                );
                let name = path.trim_end_matches("/status").rsplit('/').next().unwrap().to_string();
                assert_eq!(
                    body["metadata"]["name"].as_str().unwrap_or(&name),
                    name,
                    "object named as its URL"
                );
                let held = state.objects.get(&object_path).cloned();
                if let Some(held) = &held
                    && !path.ends_with("/status")
                    && path.contains("/jobs/")
                    && held["spec"]["template"] != body["spec"]["template"]
                {
                    return reply(
                        422,
                        immutable("Job", "batch", &name, "spec.template", &body["spec"]["template"]),
                    );
                }
                state.version += 1;
                let version = state.version;
                let mut obj = held.unwrap_or_else(|| {
                    json!({"apiVersion": body["apiVersion"], "kind": body["kind"], "metadata": {"name": name, "uid": format!("uid-{version}")}})
                });
                if path.ends_with("/status") {
                    obj["status"] = body["status"].clone();
                } else {
                    let status = obj.get("status").cloned();
                    let uid = obj["metadata"]["uid"].clone();
                    obj = body.clone();
                    if let Some(status) = status {
                        obj["status"] = status;
                    }
                    if !uid.is_null() {
                        obj["metadata"]["uid"] = uid;
                    }
                    // What the API server records for the apply: the operator owns what it sent.
                    obj["metadata"]["managedFields"] = json!([{
                        "manager": FIELD_MANAGER, "operation": "Apply", "apiVersion": body["apiVersion"],
                        "fieldsType": "FieldsV1", "fieldsV1": fields_of(&body),
                    }]);
                }
                obj["metadata"]["resourceVersion"] = json!(version.to_string());
                state.objects.insert(object_path, obj.clone());
                reply(200, obj)
            }
            Method::POST => {
                // Events.
                let mut obj = body.clone();
                obj["metadata"]["resourceVersion"] = json!("1");
                reply(201, obj)
            }
            other => panic!("unexpected {other} {path}"),
        }
    }
}

/// A stand-in for the API server's `fieldsV1`: the set of paths in `obj`, as nested keys.
fn fields_of(obj: &Value) -> Value {
    match obj {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "apiVersion" | "kind"))
                .map(|(k, v)| (format!("f:{k}"), fields_of(v)))
                .collect(),
        ),
        _ => json!({}),
    }
}

/// The API server's answer to a write that would change an immutable field (`field` of `kind`
/// `name`, to `value`): `apimachinery`'s `NewInvalid` of one `ValidateImmutableField` error, in
/// the shape kube-apiserver 1.36 sends (`tests/fixtures/api/job-template-immutable.json`, captured
/// from the test control plane). The value is the internal type's JSON: for a pod template, the
/// metadata's fields at the top and the spec under `Spec`.
pub fn immutable(kind: &str, group: &str, name: &str, field: &str, value: &Value) -> Value {
    let mut shown = value["metadata"].as_object().cloned().unwrap_or_default();
    shown.insert("Spec".into(), value["spec"].clone());
    let cause = format!("Invalid value: {}: field is immutable", Value::Object(shown));
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("{kind}.{group} {name:?} is invalid: {field}: {cause}"),
        "reason": "Invalid",
        "details": {"name": name, "group": group, "kind": kind, "causes": [
            {"reason": "FieldValueInvalid", "message": cause, "field": field}
        ]},
        "code": 422
    })
}

fn reply(code: u16, body: Value) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap())
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap()
}

fn not_found(path: &str) -> Response<Body> {
    reply(
        404,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404, "reason": "NotFound", "message": format!("{path} not found")}),
    )
}

/// The requests that wrote children (not status, not Events), as `(method, plural, name)`.
pub fn child_writes(seen: &[Seen]) -> Vec<(Method, String, String)> {
    seen.iter()
        .filter(|s| s.method != Method::GET && !s.is_status() && !s.path.contains("/events"))
        .map(|s| {
            let (plural, name) = s.resource();
            (s.method.clone(), plural.to_string(), name.to_string())
        })
        .collect()
}

/// The status writes.
pub fn status_writes(seen: &[Seen]) -> Vec<&Seen> {
    seen.iter().filter(|s| s.is_status()).collect()
}

/// The reasons of the Events published.
pub fn event_reasons(seen: &[Seen]) -> Vec<String> {
    seen.iter()
        .filter(|s| s.method == Method::POST && s.path.contains("/events"))
        .map(|s| s.body["reason"].as_str().unwrap_or("").to_string())
        .collect()
}

/// The condition of `type_` in a status write, as (status, reason).
pub fn condition(write: &Seen, type_: &str) -> Option<(String, String)> {
    write.body["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == type_).map(|c| {
        (c["status"].as_str().unwrap_or("").to_string(), c["reason"].as_str().unwrap_or("").to_string())
    })
}
