//! The README's first install, `kubectl apply -f examples/quickstart/`, works as written on a
//! cluster with nothing but the CRDs and the operator: every object is accepted, and every
//! nflbet resource becomes Ready without an error condition (no Secret, PersistentVolumeClaim
//! or monitoring CRD missing). `nflbet validate-config --strict` passes on it too.

use crate::support;

use kube::api::{Api, DynamicObject, GroupVersionKind};
use kube::discovery::ApiResource;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn quickstart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart")
}

/// (kind, name) of every document under examples/quickstart.
fn objects() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(quickstart())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for v in serde_saphyr::from_multiple::<serde_json::Value>(&text).unwrap() {
            if v.is_null() {
                continue;
            }
            out.push((
                v["kind"].as_str().unwrap().to_string(),
                v["metadata"]["name"].as_str().unwrap().to_string(),
            ));
        }
    }
    out
}

#[test]
fn the_quickstart_passes_validate_config_strict() {
    let out = Command::new(env!("CARGO_BIN_EXE_nflbet"))
        .args(["validate-config", "--strict"])
        .arg(quickstart())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
}

#[tokio::test]
async fn the_quickstart_is_applied_as_written_and_every_resource_is_healthy() {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    let ns = support::namespace(&client, "quickstart").await;
    let objects = objects();
    assert!(objects.iter().any(|(k, _)| k == "Sportsbook"), "the quickstart runs a book: {objects:?}");

    // Exactly the README's command (with the test's namespace).
    let out = Command::new(support::testenv_bin("kubectl"))
        .arg("--kubeconfig")
        .arg(support::kubeconfig_path())
        .args(["-n", &ns, "apply", "-f"])
        .arg(quickstart())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kubectl apply refused the quickstart:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (kind, name) in &objects {
        // `sportsbook.betting.nflbet.dev/quickstart created`, `secret/x created`
        let (resource, done) = (kind.to_lowercase(), format!("/{name} created"));
        let created = stdout.lines().any(|l| {
            l.ends_with(&done)
                && (l.starts_with(&format!("{resource}/")) || l.starts_with(&format!("{resource}.")))
        });
        assert!(created, "{kind} {name} not created:\n{stdout}");
    }

    let _op = support::start_operator(&client, &ns).await;
    for (kind, name) in
        objects.iter().filter(|(k, _)| ["Sportsbook", "Model", "AlertRoute"].contains(&k.as_str()))
    {
        let gvk = GroupVersionKind::gvk(nflbet::crd::GROUP, "v1alpha1", kind);
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ApiResource::from_gvk(&gvk));
        // Ready, and every other condition as a healthy resource has it: nothing False but
        // the off switches (Stopped, Suspended), nothing Unknown.
        let healthy =
            support::wait_for(&format!("{kind} {name} healthy"), Duration::from_secs(90), || async {
                let obj = api.get(name).await.map_err(|e| e.to_string())?;
                let status = &obj.data["status"];
                let conditions = status["conditions"].as_array().cloned().unwrap_or_default();
                let generation = obj.metadata.generation;
                let ready = conditions.iter().any(|c| {
                    c["type"] == "Ready"
                        && c["status"] == "True"
                        && c["observedGeneration"].as_i64() == generation
                });
                if !ready {
                    return Err(format!("not Ready yet: {conditions:?}"));
                }
                Ok(conditions)
            })
            .await;
        for c in &healthy {
            let off_switch = c["type"] == "Stopped" || c["type"] == "Suspended";
            let expected = if off_switch { "False" } else { "True" };
            assert_eq!(c["status"], expected, "{kind} {name}: condition {c}");
        }
        let types: Vec<&str> = healthy.iter().filter_map(|c| c["type"].as_str()).collect();
        assert!(types.contains(&"MonitoringAvailable"), "{kind} {name} reports monitoring: {types:?}");
    }
    support::delete_namespace(&client, &ns).await;
}
