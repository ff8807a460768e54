//! Credentials go only where they belong, and workloads do not connect to the node's or the
//! cluster's own services (issue 11, item 6). Each refusal is proven on loopback: the operator
//! refuses such specs on the real API server, and the workloads refuse the requests themselves
//! (the real `nflbet scrape` binary, the model workload's games loader, the S3 client) against
//! real HTTP servers on 127.0.0.x that count the connections they receive.

use crate::support;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams, PostParams};
use nflbet::crd::{Model, Sportsbook};
use nflbet::egress::{Egress, EgressArgs};
use serde_json::json;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const TOKEN: &str = "tok_FAKE_9f8e7d6c5b4a";

/// An HTTP server on `ip` answering every connection with the next reply (the last one
/// repeats), counting connections.
struct Server {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
}

impl Server {
    fn start(ip: &str, replies: Vec<String>) -> Server {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        std::thread::spawn(move || {
            for (i, sock) in listener.incoming().enumerate() {
                let Ok(mut sock) = sock else { return };
                count.fetch_add(1, Ordering::SeqCst);
                let mut buf = [0u8; 8192];
                let _ = sock.read(&mut buf);
                let reply = &replies[i.min(replies.len() - 1)];
                let _ = sock.write_all(reply.as_bytes());
            }
        });
        Server { addr, connections }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

fn reply(status: &str, content_type: &str, extra_headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n{extra_headers}connection: close\r\n\r\n{body}",
        body.len()
    )
}

fn generic_feed() -> String {
    let ts = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
    format!(
        r#"{{"version":1,"book":"desk","generatedAt":"{ts}","events":[{{"id":"e1","home":"KC","away":"BAL","quotes":[
{{"market":"moneyline","selection":"KC","american":-150}},{{"market":"moneyline","selection":"BAL","american":130}}]}}]}}"#
    )
}

fn ok_feed() -> String {
    reply("200 OK", "application/json", "", &generic_feed())
}

/// `nflbet scrape --once` for a generic feed with an API key, plus `extra` flags and env.
fn scrape(endpoint: &str, extra: &[&str], env: &[(&str, &str)]) -> (Output, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_nflbet"))
        .args(["scrape", "--once", "--sportsbook", "desk", "--provider", "genericJson"])
        .args(["--endpoint", endpoint, "--markets", "moneyline"])
        .args(["--timeout", "3s", "--max-retries", "0", "--api-server-dns-name", ""])
        .args(["--store", &format!("file://{}", dir.path().display())])
        .args(extra)
        .env("NFLBET_API_KEY", TOKEN)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!text.contains(TOKEN), "the key leaked into the output:\n{text}");
    (out, text)
}

#[test]
fn the_scraper_sends_its_key_only_to_an_allowed_host_and_over_https_unless_allowed() {
    let feed = Server::start("127.0.0.1", vec![ok_feed()]);
    let loopback = ["--allow-addresses", "127.0.0.0/8"];

    // Default policy: the key may go only to The Odds API.
    let (out, text) = scrape(&feed.url(), &loopback, &[]);
    assert!(!out.status.success());
    assert!(
        text.contains("which the operator does not allow") && text.contains("api.the-odds-api.com"),
        "{text}"
    );

    // Listed, but https only: refused over plain http.
    let (out, text) =
        scrape(&feed.url(), &[&loopback[..], &["--feed-credential-hosts", "127.0.0.1"]].concat(), &[]);
    assert!(!out.status.success());
    assert!(text.contains("over plain http to 127.0.0.1"), "{text}");
    assert_eq!(feed.connections(), 0, "refused before any connection");

    // Allowed over http, explicitly: the poll goes through.
    let (out, text) =
        scrape(&feed.url(), &[&loopback[..], &["--feed-credential-hosts", "http://127.0.0.1"]].concat(), &[]);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("stored v1/desk/"), "{text}");
    assert_eq!(feed.connections(), 1);
}

#[test]
fn loopback_is_refused_without_an_allowance_by_address_and_by_name() {
    let feed = Server::start("127.0.0.1", vec![ok_feed()]);
    let creds = ["--feed-credential-hosts", "http://127.0.0.1,http://localhost"];
    let port = feed.addr.port();

    let (out, text) = scrape(&feed.url(), &creds, &[]);
    assert!(!out.status.success());
    assert!(text.contains("refused to connect to 127.0.0.1: a loopback address"), "{text}");
    // A name is checked on what it resolves to, when connecting.
    let (out, text) = scrape(&format!("http://localhost:{port}"), &creds, &[]);
    assert!(!out.status.success());
    assert!(text.contains("a loopback address") && text.contains("request refused"), "{text}");
    assert_eq!(feed.connections(), 0, "neither reached the server");

    let (out, text) = scrape(
        &format!("http://localhost:{port}"),
        &[&creds[..], &["--allow-addresses", "127.0.0.1/32,::1/128"]].concat(),
        &[],
    );
    assert!(out.status.success(), "{text}");
    assert_eq!(feed.connections(), 1);
}

#[test]
fn the_api_servers_address_is_refused_even_inside_an_allowed_range() {
    let api = Server::start("127.0.0.2", vec![ok_feed()]);
    let creds = ["--feed-credential-hosts", "http://127.0.0.2"];
    let in_cluster = [("KUBERNETES_SERVICE_HOST", "127.0.0.2")];

    let (out, text) =
        scrape(&api.url(), &[&creds[..], &["--allow-addresses", "127.0.0.0/8"]].concat(), &in_cluster);
    assert!(!out.status.success());
    assert!(text.contains("127.0.0.2: an address of the Kubernetes API server"), "{text}");
    assert_eq!(api.connections(), 0);

    // Allowed as specifically as it is refused: explicit, per address.
    let allow = ["--allow-addresses", "127.0.0.0/8,127.0.0.2/32"];
    let (out, text) = scrape(&api.url(), &[&creds[..], &allow[..]].concat(), &in_cluster);
    assert!(out.status.success(), "{text}");
    assert_eq!(api.connections(), 1);
}

#[tokio::test]
async fn link_local_metadata_addresses_are_refused_before_any_connection() {
    nflbet::cli::install_crypto_provider();
    let egress = Egress::default();
    let metadata = url::Url::parse("http://169.254.169.254/latest/meta-data/iam/").unwrap();
    // The pure check first: if it did not refuse, nothing below may try to connect.
    assert!(egress.check_destination(&metadata).is_err(), "refused before connecting");

    let dir = tempfile::tempdir().unwrap();
    let args = ModelArgsFor::games(metadata.as_str(), &dir);
    let err = nflbet::workloads::model::ModelConfig::from_args(&args).expect_err("refused at start");
    assert!(err.to_string().contains("refused to connect to 169.254.169.254: a link-local address"), "{err}");

    let loaded = nflbet::workloads::model::games_source::load(metadata.as_str(), &egress).await;
    let err = loaded.expect_err("refused").to_string();
    assert!(err.starts_with("games file request refused") && err.contains("link-local"), "{err}");

    // An IPv4-mapped IPv6 spelling of the same address is the same address.
    let mapped = url::Url::parse("http://[::ffff:169.254.169.254]/latest/").unwrap();
    assert!(egress.check_destination(&mapped).is_err());
}

#[tokio::test]
async fn redirects_to_forbidden_addresses_are_not_followed() {
    nflbet::cli::install_crypto_provider();
    let games = csv_fixture();
    let target = Server::start("127.0.0.3", vec![reply("200 OK", "text/csv", "", &games)]);
    let to_target = Server::start(
        "127.0.0.1",
        vec![reply("302 Found", "text/plain", &format!("location: {}/games.csv\r\n", target.url()), "")],
    );
    let to_metadata = Server::start(
        "127.0.0.1",
        vec![reply("302 Found", "text/plain", "location: http://169.254.169.254/latest/meta-data/\r\n", "")],
    );
    let only_first = policy(&["127.0.0.1/32"]);

    let err =
        nflbet::workloads::model::games_source::load(&to_metadata.url(), &only_first).await.err().unwrap();
    assert!(err.to_string().contains("169.254.169.254: a link-local address"), "{err}");
    let err =
        nflbet::workloads::model::games_source::load(&to_target.url(), &only_first).await.err().unwrap();
    assert!(err.to_string().contains("127.0.0.3: a loopback address"), "{err}");
    assert_eq!(target.connections(), 0, "the refused redirect target was never contacted");

    let both = policy(&["127.0.0.1/32", "127.0.0.3/32"]);
    let loaded = nflbet::workloads::model::games_source::load(&to_target.url(), &both).await.unwrap();
    assert_eq!(loaded.len(), 2);
    assert_eq!(target.connections(), 1);

    // The scraper follows no redirect at all: the key never travels to a second host.
    let (out, text) = scrape(
        &to_target.url(),
        &["--feed-credential-hosts", "http://127.0.0.1,http://127.0.0.3", "--allow-addresses", "127.0.0.0/8"],
        &[],
    );
    assert!(!out.status.success());
    assert!(text.contains("HTTP 302"), "{text}");
    assert_eq!(target.connections(), 1, "not contacted by the scraper");
}

#[tokio::test]
async fn feed_and_store_answers_never_reach_status_events_or_logs() {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    let ns = support::namespace(&client, "egress-token").await;
    let books: Api<Sportsbook> = Api::namespaced(client.clone(), &ns);
    let book: Sportsbook = serde_json::from_value(json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Sportsbook",
        "metadata": {"name": "desk"},
        "spec": {"provider": "genericJson", "endpoint": "http://127.0.0.1:9/feed", "markets": [{"name": "moneyline"}]}
    }))
    .unwrap();
    books.create(&PostParams::default(), &book).await.unwrap();
    let operator = support::start_operator(&client, &ns).await;

    // Bodies and headers that quote the token back in every way a feed could fail.
    let t = TOKEN;
    let answers = [
        ("malformed JSON", reply("200 OK", "application/json", "", &format!(r#"{{"version":1,"book":"{t}"#))),
        (
            "wrong type",
            reply(
                "200 OK",
                "application/json",
                "",
                &format!(
                    r#"{{"version":1,"book":"d","events":[{{"id":"e","home":"KC","away":"BAL","quotes":"{t}"}}]}}"#
                ),
            ),
        ),
        (
            "bad version",
            reply(
                "200 OK",
                "application/json",
                "",
                &format!(r#"{{"version":"{t}","book":"d","events":[]}}"#),
            ),
        ),
        ("content type", reply("200 OK", &format!("application/x-{t}"), "", "{}")),
        ("error page", reply("401 Unauthorized", "text/html", "", &format!("<html>bad key {t}</html>"))),
    ];
    let kubeconfig = support::kubeconfig_path();
    for (what, answer) in answers {
        let feed = Server::start("127.0.0.1", vec![answer]);
        let (out, text) = scrape(
            &feed.url(),
            &[
                "--namespace",
                &ns,
                "--heartbeat",
                "--feed-credential-hosts",
                "http://127.0.0.1",
                "--allow-addresses",
                "127.0.0.0/8",
            ],
            &[("KUBECONFIG", kubeconfig.to_str().unwrap()), ("NFLBET_LOG_FORMAT", "json")],
        );
        assert!(!out.status.success(), "{what}: {text}");
        assert!(text.contains("poll failed"), "{what}: logged\n{text}");
        let status =
            support::wait_for(&format!("{what}: the heartbeat"), Duration::from_secs(20), || async {
                let sb = books.get("desk").await.map_err(|e| e.to_string())?;
                let ing = sb.status.and_then(|s| s.ingestion).ok_or("no ingestion status")?;
                let last = ing.last_error.clone().ok_or("no lastError")?;
                Ok::<_, String>(last)
            })
            .await;
        assert!(!status.contains(TOKEN), "{what}: the feed's text reached status: {status}");
        assert!(!status.contains("tok_"), "{what}: {status}");
    }
    let sb = books.get("desk").await.unwrap();
    let last = sb.status.unwrap().ingestion.unwrap().last_error.unwrap();
    assert!(last.contains("HTTP 401"), "the category and status are kept: {last}");

    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    let all = serde_json::to_string(&events.list(&ListParams::default()).await.unwrap().items).unwrap();
    assert!(!all.contains(TOKEN), "an Event carries the feed's text");
    operator.stop().await.unwrap();

    // An S3-compatible server whose error body quotes the token: the store error keeps the
    // operation and the HTTP status, not the body.
    let s3 = Server::start(
        "127.0.0.1",
        vec![reply(
            "403 Forbidden",
            "application/xml",
            "",
            &format!("<Error><Code>AccessDenied</Code><Message>denied {t}</Message></Error>"),
        )],
    );
    let opts = nflbet::feed::snapshot::S3Options {
        endpoint: Some(s3.url()),
        region: Some("us-east-1".into()),
        credentials: Some(("id".into(), "secret".into())),
        egress: support::loopback_egress(),
    };
    let store = nflbet::feed::snapshot::SnapshotStore::open("s3://bucket/p", &opts).unwrap();
    let snap = nflbet::feed::snapshot::Snapshot::new("desk", "genericJson", chrono::Utc::now());
    let err = store.write(&snap).await.unwrap_err().to_string();
    assert!(!err.contains(TOKEN), "{err}");
    assert!(err.contains("HTTP 403"), "{err}");
    support::delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn the_operator_refuses_specs_that_break_the_policy_and_runs_those_it_allows() {
    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    let ns = support::namespace(&client, "egress-operator").await;
    let books: Api<Sportsbook> = Api::namespaced(client.clone(), &ns);
    let models: Api<Model> = Api::namespaced(client.clone(), &ns);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    // The test operator's policy: the default, plus loopback allowed (test servers) and the
    // cluster's own services allowed to receive feed keys over http.
    let operator = support::start_operator_with(&client, &ns, |a| {
        a.egress.feed_credential_hosts =
            vec!["api.the-odds-api.com".into(), "http://*.svc.cluster.local".into()];
    })
    .await;

    let odds = |name: &str, endpoint: &str| {
        json!({"apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Sportsbook", "metadata": {"name": name},
            "spec": {"provider": "theOddsApi", "endpoint": endpoint, "theOddsApi": {"bookmaker": "fanduel"},
                "credentials": {"name": "odds-api", "key": "api-key"}, "markets": [{"name": "moneyline"}]}})
    };
    let refused = [
        (
            odds("plain-http", "http://api.the-odds-api.com"),
            "spec.credentials: the feed's API key would be sent over plain http to api.the-odds-api.com",
        ),
        (
            odds("other-host", "https://odds.example.test/v4"),
            "spec.credentials: the feed's API key would be sent to odds.example.test, which the operator does not allow",
        ),
        (
            json!({"apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Sportsbook", "metadata": {"name": "metadata"},
                "spec": {"provider": "genericJson", "endpoint": "http://169.254.169.254/latest/meta-data/", "markets": [{"name": "moneyline"}]}}),
            "spec.endpoint: refused to connect to 169.254.169.254: a link-local address",
        ),
        (
            json!({"apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Sportsbook", "metadata": {"name": "s3"},
                "spec": {"provider": "genericJson", "endpoint": "https://feeds.example.test/odds", "markets": [{"name": "moneyline"}],
                    "storage": {"url": "s3://snapshots/nfl", "s3": {"endpoint": "http://minio.example.test:9000"}}}}),
            "spec.storage.s3.endpoint: S3 credentials would be sent to minio.example.test",
        ),
    ];
    for (book, _) in &refused {
        let sb: Sportsbook = serde_json::from_value(book.clone()).unwrap();
        books.create(&PostParams::default(), &sb).await.unwrap();
    }
    for (book, message) in &refused {
        let name = book["metadata"]["name"].as_str().unwrap();
        let sb = support::wait_condition(&books, name, "Ready", "False", Some("InvalidSpec")).await;
        let ready = sb.status.unwrap().conditions.into_iter().find(|c| c.type_ == "Ready").unwrap();
        assert!(ready.message.contains(message), "{name}: {}", ready.message);
        assert!(
            deployments.get_opt(&format!("nflbet-scraper-{name}")).await.unwrap().is_none(),
            "{name}: no scraper may run"
        );
    }
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    support::wait_for("a Warning Event per refused book", Duration::from_secs(20), || async {
        let list = events.list(&ListParams::default()).await.map_err(|e| e.to_string())?;
        for (book, message) in &refused {
            let name = book["metadata"]["name"].as_str().unwrap();
            let found = list.items.iter().any(|e| {
                e.involved_object.name.as_deref() == Some(name)
                    && e.type_.as_deref() == Some("Warning")
                    && e.reason.as_deref() == Some("InvalidSpec")
                    && e.message.as_deref().is_some_and(|m| m.contains(message))
            });
            if !found {
                return Err(format!("no InvalidSpec Event for {name}"));
            }
        }
        Ok(())
    })
    .await;

    // A model whose games URL points at the metadata service is refused the same way.
    let model: Model = serde_json::from_value(json!({
        "apiVersion": "betting.nflbet.dev/v1alpha1", "kind": "Model", "metadata": {"name": "elo"},
        "spec": {"algorithm": "elo", "version": "1.0.0", "sportsbooks": {"names": ["desk"]},
            "games": "http://169.254.169.254/latest/user-data", "staking": {"bankroll": 1000, "kellyFraction": 0.25}}
    }))
    .unwrap();
    models.create(&PostParams::default(), &model).await.unwrap();
    let m = support::wait_condition(&models, "elo", "Ready", "False", Some("InvalidSpec")).await;
    let ready = m.status.unwrap().conditions.into_iter().find(|c| c.type_ == "Ready").unwrap();
    assert!(ready.message.contains("spec.games: refused to connect to 169.254.169.254"), "{}", ready.message);
    assert!(deployments.get_opt("nflbet-model-elo").await.unwrap().is_none());

    // Allowed by the policy: a cluster-local feed with a key over http runs, and its scraper
    // gets the policy as flags.
    let sb: Sportsbook =
        serde_json::from_value(odds("in-cluster", "http://odds-feed.trading.svc.cluster.local:8080"))
            .unwrap();
    books.create(&PostParams::default(), &sb).await.unwrap();
    let d = support::wait_for("the allowed book's scraper", Duration::from_secs(30), || async {
        deployments
            .get_opt("nflbet-scraper-in-cluster")
            .await
            .map_err(|e| e.to_string())?
            .ok_or("not yet".to_string())
    })
    .await;
    let args = d.spec.unwrap().template.spec.unwrap().containers[0].args.clone().unwrap();
    assert!(
        args.contains(&"--feed-credential-hosts=api.the-odds-api.com,http://*.svc.cluster.local".to_string()),
        "{args:?}"
    );
    assert!(args.contains(&"--allow-addresses=127.0.0.0/8".to_string()), "{args:?}");
    operator.stop().await.unwrap();
    support::delete_namespace(&client, &ns).await;
}

fn policy(allow: &[&str]) -> Egress {
    EgressArgs { allow_addresses: allow.iter().map(|s| s.to_string()).collect(), ..EgressArgs::default() }
        .policy(vec![])
        .unwrap()
}

/// The first two games of the shared nflverse file, as a games file served over HTTP.
fn csv_fixture() -> String {
    let text = std::fs::read_to_string(support::games_file()).unwrap();
    text.lines().take(3).map(|l| format!("{l}\n")).collect()
}

struct ModelArgsFor;

impl ModelArgsFor {
    /// `nflbet model` flags of an Elo model reading `games`, with the default egress policy.
    fn games(games: &str, dir: &tempfile::TempDir) -> nflbet::workloads::model::ModelArgs {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: nflbet::workloads::model::ModelArgs,
        }
        let store = format!("file://{}", dir.path().display());
        Cli::parse_from([
            "model",
            "--model",
            "elo",
            "--algorithm",
            "elo",
            "--version",
            "1.0.0",
            "--bankroll",
            "1000",
            "--kelly-fraction",
            "0.25",
            "--games",
            games,
            "--store",
            &store,
            "--api-server-dns-name",
            "",
        ])
        .args
    }
}
