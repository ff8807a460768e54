//! Connecting to a cluster the way kubectl does (`--kubeconfig`, `--context`, `-n`, `-A`),
//! with short timeouts and errors that say which server could not be reached.

use clap::Args;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use std::path::PathBuf;
use std::time::Duration;

/// Which cluster and namespaces a command reads.
#[derive(Args, Debug, Clone)]
pub struct ClusterArgs {
    /// Kubeconfig file. Default: $KUBECONFIG, then ~/.kube/config, then the in-cluster
    /// service account.
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// Kubeconfig context to use instead of the current one.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,

    /// Namespace to read. Default: the namespace of the kubeconfig context.
    #[arg(short = 'n', long, value_name = "NAMESPACE", conflicts_with = "all_namespaces")]
    pub namespace: Option<String>,

    /// Read every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
}

/// Where the resources are read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    Namespace(String),
    All,
}

impl Scope {
    pub fn namespace(&self) -> Option<&str> {
        match self {
            Scope::Namespace(ns) => Some(ns),
            Scope::All => None,
        }
    }

    /// A typed Api over this scope.
    pub fn api<K>(&self, client: &Client) -> kube::Api<K>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        match self {
            Scope::Namespace(ns) => kube::Api::namespaced(client.clone(), ns),
            Scope::All => kube::Api::all(client.clone()),
        }
    }
}

/// The cluster cannot be used. Every variant means exit status 2.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot read kubeconfig {path}: {source}")]
    Kubeconfig { path: String, source: kube::config::KubeconfigError },
    #[error("no usable cluster configuration ({0}); pass --kubeconfig or set KUBECONFIG")]
    Config(String),
    #[error("cannot create a client for {server}: {source}")]
    Client { server: String, source: kube::Error },
    #[error("cannot reach the cluster at {server}: {reason}")]
    Unreachable { server: String, reason: String },
}

/// A connected client: checked with a version request, so "no cluster" is reported once, here.
pub struct Cluster {
    pub client: Client,
    pub scope: Scope,
    pub server: String,
}

pub async fn connect(args: &ClusterArgs) -> Result<Cluster, ConnectError> {
    let options = KubeConfigOptions { context: args.context.clone(), ..KubeConfigOptions::default() };
    let mut config = match &args.kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path)
                .map_err(|source| ConnectError::Kubeconfig { path: path.display().to_string(), source })?;
            Config::from_custom_kubeconfig(kc, &options)
                .await
                .map_err(|e| ConnectError::Config(e.to_string()))?
        }
        None if args.context.is_some() => {
            Config::from_kubeconfig(&options).await.map_err(|e| ConnectError::Config(e.to_string()))?
        }
        None => Config::infer().await.map_err(|e| ConnectError::Config(e.to_string()))?,
    };
    // A status command must answer quickly when the cluster is gone, not hang for minutes.
    config.connect_timeout = Some(Duration::from_secs(5));
    config.read_timeout = Some(Duration::from_secs(30));
    let server = config.cluster_url.to_string();
    let scope = if args.all_namespaces {
        Scope::All
    } else {
        Scope::Namespace(args.namespace.clone().unwrap_or_else(|| config.default_namespace.clone()))
    };
    if config.proxy_url.is_none() {
        probe_tcp(&config.cluster_url)
            .await
            .map_err(|reason| ConnectError::Unreachable { server: server.clone(), reason })?;
    }
    let client =
        Client::try_from(config).map_err(|source| ConnectError::Client { server: server.clone(), source })?;
    client
        .apiserver_version()
        .await
        .map_err(|e| ConnectError::Unreachable { server: server.clone(), reason: chain(&e) })?;
    Ok(Cluster { client, scope, server })
}

/// Open (and drop) a TCP connection to the API server first: a closed port is then reported
/// plainly, without the client's own error logs, and within the connect timeout.
async fn probe_tcp(url: &axum::http::Uri) -> Result<(), String> {
    let Some(host) = url.host() else {
        return Ok(());
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = url.port_u16().unwrap_or(if url.scheme_str() == Some("http") { 80 } else { 443 });
    match tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect((host, port))).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer within 5s".into()),
    }
}

/// An error with its causes, `a: b: c`, so "client error (Connect)" says what really failed.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}
