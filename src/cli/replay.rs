//! `nflbet replay`: the flags of `crate::replay`, plus where a Model to replay comes from: a
//! manifest (`--model-file`, read as kubectl reads it and checked as `validate-config` checks
//! it) or the cluster (`--model NAME -n NAMESPACE`, with the user's kubeconfig, its Sportsbook
//! selector resolved against the Sportsbooks there by the operator's own function).

use super::status::{ClusterArgs, ConnectError, connect};
use super::validate::{self, Level, kubectl_yaml};
use crate::controller::model::resolve_books;
use crate::crd::model::Model;
use crate::crd::{GROUP, Sportsbook};
use crate::replay::model::ReplayedModel;
use crate::replay::{self, ReplayArgs};
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kube::core::DeserializeGuard;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The flags the Model decides, refused next to --model-file and --model.
const MODEL_DECIDES: [&str; 7] =
    ["models", "margin", "min_edge", "kelly_fraction", "max_bet", "max_event", "sportsbooks"];

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  \
nflbet replay --from 2023 --to 2024 --models elo,marketConsensus --games games.csv\n  \
nflbet replay --from 2023 --to 2024 --model-file model.yaml --games games.csv\n  \
nflbet replay --from 2025-09-01 --to 2025-09-30 --model consensus -n betting \\\n      \
--store s3://odds/snapshots --games games.csv")]
pub struct ReplayCommand {
    #[command(flatten)]
    pub replay: ReplayArgs,

    /// Replay exactly the Model in this manifest (as you would `kubectl apply` it): its
    /// algorithm and parameters, markets, the books it names, staking and caps. Checked as
    /// `validate-config` checks it; a Sportsbook selector needs the cluster (use --model).
    #[arg(long, value_name = "FILE", conflicts_with_all = MODEL_DECIDES, conflicts_with = "model")]
    pub model_file: Option<PathBuf>,

    /// Replay exactly this Model, read from the cluster (with --namespace, --kubeconfig,
    /// --context), its Sportsbook names and selector resolved against the Sportsbooks there.
    #[arg(long, value_name = "NAME", conflicts_with_all = MODEL_DECIDES)]
    pub model: Option<String>,

    /// Namespace of --model. Default: the namespace of the kubeconfig context.
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,

    /// Kubeconfig file for --model. Default: $KUBECONFIG, then ~/.kube/config.
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// Kubeconfig context for --model instead of the current one.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
}

/// Why the Model to replay could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ModelSourceError {
    #[error("cannot read --model-file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("--model-file {path} is not valid:\n{findings}")]
    Invalid { path: String, findings: String },
    #[error("--model-file {path} holds no Model ({found})")]
    NoModel { path: String, found: String },
    #[error("--model-file {path} holds {count} Models ({names}): put the one to replay in a file of its own")]
    ManyModels { path: String, count: usize, names: String },
    #[error("--model-file {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error(
        "Model {name} selects Sportsbooks by label (spec.sportsbooks.selector), which only the cluster can resolve: replay it with --model {name}, or list its books in spec.sportsbooks.names"
    )]
    SelectorNeedsCluster { name: String },
    #[error("--namespace, --kubeconfig and --context say where --model NAME is read: give --model")]
    ClusterWithoutModel,
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("no Model {name} in namespace {namespace} at {server}")]
    NotFound { name: String, namespace: String, server: String },
    #[error("cannot read Model {name} in namespace {namespace}: {source}")]
    Get { name: String, namespace: String, source: kube::Error },
    #[error("cannot list the Sportsbooks of namespace {namespace}: {source}")]
    ListBooks { namespace: String, source: kube::Error },
}

/// Run `nflbet replay`: of a Model when one is named, else of the algorithms in --models.
pub fn run(cmd: &ReplayCommand) -> anyhow::Result<()> {
    if cmd.model.is_none() && (cmd.namespace.is_some() || cmd.kubeconfig.is_some() || cmd.context.is_some()) {
        return Err(ModelSourceError::ClusterWithoutModel.into());
    }
    let replayed = if let Some(path) = &cmd.model_file {
        let model = read_model_file(path)?;
        let books = file_books(&model)?;
        ReplayedModel { model, books }
    } else if let Some(name) = &cmd.model {
        let cluster = ClusterArgs {
            kubeconfig: cmd.kubeconfig.clone(),
            context: cmd.context.clone(),
            namespace: cmd.namespace.clone(),
            all_namespaces: false,
        };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(read_cluster_model(name, &cluster))?
    } else {
        return replay::run(&cmd.replay);
    };
    replay::model::run(&cmd.replay, &replayed)
}

/// The one Model in a manifest file, checked as `validate-config` checks it.
pub fn read_model_file(path: &Path) -> Result<Model, ModelSourceError> {
    let label = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|source| ModelSourceError::Read { path: label.clone(), source })?;
    model_from_manifest(&label, &text)
}

/// The one Model of a manifest's text (`label` names it in errors).
pub fn model_from_manifest(label: &str, text: &str) -> Result<Model, ModelSourceError> {
    let report =
        validate::validate_sources(&[validate::Source { label: label.into(), text: text.into() }], false);
    let errors: Vec<String> =
        report.findings.iter().filter(|f| f.level == Level::Error).map(|f| format!("  {f}")).collect();
    if !errors.is_empty() {
        return Err(ModelSourceError::Invalid { path: label.into(), findings: errors.join("\n") });
    }
    let mut models = Vec::new();
    let mut others = Vec::new();
    for doc in kubectl_yaml::documents(text).into_iter().flatten() {
        let value = doc.value;
        if value.is_null() {
            continue;
        }
        let field = |p: &str| value.pointer(p).and_then(|v| v.as_str()).unwrap_or_default().to_string();
        let (kind, name) = (field("/kind"), field("/metadata/name"));
        let ours = field("/apiVersion").rsplit_once('/').is_some_and(|(group, _)| group == GROUP);
        if ours && kind == "Model" {
            models.push(value);
        } else {
            others.push(format!("{kind} {name}").trim().to_string());
        }
    }
    match models.len() {
        0 => {
            let found = if others.is_empty() {
                "it is empty".into()
            } else {
                format!("it holds {}", others.join(", "))
            };
            Err(ModelSourceError::NoModel { path: label.into(), found })
        }
        1 => serde_json::from_value(models.remove(0))
            .map_err(|e| ModelSourceError::Unreadable { path: label.into(), reason: e.to_string() }),
        count => {
            let names: Vec<&str> =
                models.iter().filter_map(|m| m.pointer("/metadata/name").and_then(|v| v.as_str())).collect();
            Err(ModelSourceError::ManyModels { path: label.into(), count, names: names.join(", ") })
        }
    }
}

/// The books a Model from a file prices: its names (a selector needs the cluster).
pub fn file_books(model: &Model) -> Result<Vec<String>, ModelSourceError> {
    if model.spec.sportsbooks.selector.is_some() {
        return Err(ModelSourceError::SelectorNeedsCluster { name: model.name_any() });
    }
    Ok(resolve_books(model, &[]).into_iter().map(|b| b.name).collect())
}

/// The Model `name` from the cluster, with the Sportsbooks it selects there, resolved as the
/// operator resolves them.
async fn read_cluster_model(name: &str, args: &ClusterArgs) -> Result<ReplayedModel, ModelSourceError> {
    let cluster = connect(args).await?;
    let namespace = cluster.scope.namespace().unwrap_or("default").to_string();
    let models: Api<Model> = Api::namespaced(cluster.client.clone(), &namespace);
    let model = match models.get(name).await {
        Ok(m) => m,
        Err(kube::Error::Api(s)) if s.code == 404 => {
            return Err(ModelSourceError::NotFound {
                name: name.into(),
                namespace,
                server: cluster.server.clone(),
            });
        }
        Err(source) => return Err(ModelSourceError::Get { name: name.into(), namespace, source }),
    };
    let books: Api<DeserializeGuard<Sportsbook>> = Api::namespaced(cluster.client.clone(), &namespace);
    let listed = books
        .list(&ListParams::default())
        .await
        .map_err(|source| ModelSourceError::ListBooks { namespace: namespace.clone(), source })?;
    let listed: Vec<Arc<DeserializeGuard<Sportsbook>>> = listed.items.into_iter().map(Arc::new).collect();
    let books = resolve_books(&model, &listed).into_iter().map(|b| b.name).collect();
    Ok(ReplayedModel { model, books })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODEL: &str = "apiVersion: betting.nflbet.dev/v1alpha1\nkind: Model\nmetadata: {name: consensus}\nspec:\n  algorithm: marketConsensus\n  version: 1.0.0\n  sportsbooks: {names: [retail, sharp]}\n  staking: {bankroll: 1000, kellyFraction: 0.25}\n";

    #[test]
    fn one_model_is_read_with_its_books_whatever_else_the_file_holds() {
        let text = format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: key}}\nstringData: {{k: hunter2}}\n---\n{MODEL}"
        );
        let m = model_from_manifest("m.yaml", &text).unwrap();
        assert_eq!(m.name_any(), "consensus");
        assert_eq!(file_books(&m).unwrap(), ["retail", "sharp"]);
    }

    #[test]
    fn what_is_not_one_valid_model_is_refused_clearly() {
        let book = "apiVersion: betting.nflbet.dev/v1alpha1\nkind: Sportsbook\nmetadata: {name: fanduel}\nspec:\n  provider: genericJson\n  endpoint: https://feed.example/odds\n  markets: [{name: moneyline}]\n";
        let err = |text: &str| model_from_manifest("m.yaml", text).unwrap_err().to_string();
        assert_eq!(err(book), "--model-file m.yaml holds no Model (it holds Sportsbook fanduel)");
        assert_eq!(err(""), "--model-file m.yaml holds no Model (it is empty)");
        let two = format!("{MODEL}---\n{}", MODEL.replace("name: consensus", "name: other"));
        assert_eq!(
            err(&two),
            "--model-file m.yaml holds 2 Models (consensus, other): put the one to replay in a file of its own"
        );
        // validate-config's findings, the schema's and the CEL rules'.
        let bad = MODEL.replace("kellyFraction: 0.25", "kellyFraction: 0.25}\n  elo: {kFactor: 20");
        let e = err(&bad);
        assert!(
            e.starts_with("--model-file m.yaml is not valid:\n  error: m.yaml: document 1 (Model consensus)"),
            "{e}"
        );
        assert!(e.contains("spec.elo only applies to algorithm elo"), "{e}");
    }

    #[test]
    fn a_selector_needs_the_cluster() {
        let m = model_from_manifest(
            "m.yaml",
            &MODEL.replace("{names: [retail, sharp]}", "{selector: {matchLabels: {tier: sharp}}}"),
        )
        .unwrap();
        assert_eq!(
            file_books(&m).unwrap_err().to_string(),
            "Model consensus selects Sportsbooks by label (spec.sportsbooks.selector), which only the cluster can resolve: replay it with --model consensus, or list its books in spec.sportsbooks.names"
        );
    }
}
