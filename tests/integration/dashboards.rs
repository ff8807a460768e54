//! The chart's Grafana dashboards: every panel's and variable's PromQL parses (the promql-parser
//! crate and Prometheus' own `promtool`), selects only metric families the scraper, the model
//! workload or the operator register (asked of their real registries, so renaming a metric in the
//! code breaks this test), and every dashboard is portable (no datasource UID, `${datasource}`
//! everywhere) with units, thresholds and the namespace/sportsbook/model variables.

use crate::chart::KillOnDrop;
use crate::support::{self, dashboards};
use promql_parser::parser::{self, Expr};
use promql_parser::util::{ExprVisitor, walk_expr};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The registries the project's processes serve on `/metrics`, as they build them.
struct Exported {
    registries: Vec<(&'static str, prometheus::Registry)>,
}

impl Exported {
    fn new() -> Exported {
        let scraper = nflbet::workloads::scraper::metrics::Metrics::new(dashboards::PREFIX, "book").unwrap();
        let model =
            nflbet::workloads::model::metrics::Metrics::new(dashboards::PREFIX, "model", "stable").unwrap();
        let operator = nflbet::controller::metrics::Metrics::new();
        // What the operator adds once it runs: its per-Sportsbook gauges and the watch health.
        let (store, _writer) = kube::runtime::reflector::store();
        operator.register_sportsbooks(store, dashboards::PREFIX);
        nflbet::controller::watch::Health::new(&operator.registry);
        // One poll, one pricing run and one reconcile, so their histograms have series and
        // `gather()` tells their type.
        let market = serde_json::from_str("\"moneyline\"").unwrap();
        scraper.success(1.7e9, 0.5, &[(market, 10)]);
        model.record_run(&[], &Default::default(), 0, 1.7e9, 0.5);
        drop(operator.start("sportsbook"));
        Exported {
            registries: vec![
                ("scraper", scraper.registry().clone()),
                ("model workload", model.registry().clone()),
                ("operator", operator.registry.clone()),
            ],
        }
    }

    /// Which process registers the family `name`. A registry holds a family with no series yet
    /// (a label set never used), which `gather()` would leave out, so it is asked directly:
    /// registering another collector of that name is refused exactly when one is registered.
    fn family(&self, name: &str) -> Option<&'static str> {
        self.registries.iter().find_map(|(process, registry)| {
            let probe = prometheus::Gauge::with_opts(prometheus::Opts::new(name, "probe")).unwrap();
            match registry.register(Box::new(probe.clone())) {
                Ok(()) => {
                    registry.unregister(Box::new(probe)).unwrap();
                    None
                }
                // AlreadyReg: same name; Msg: same name with other label names or help.
                Err(prometheus::Error::AlreadyReg) | Err(prometheus::Error::Msg(_)) => Some(*process),
                Err(e) => panic!("probing {name}: {e}"),
            }
        })
    }

    /// Whether the family `name` is a histogram (of the families with series).
    fn is_histogram(&self, name: &str) -> bool {
        self.registries
            .iter()
            .flat_map(|(_, r)| r.gather())
            .any(|f| f.name() == name && f.get_field_type() == prometheus::proto::MetricType::HISTOGRAM)
    }

    /// Which process exports the series name `name` selects: a family, or a histogram's
    /// `_bucket`, `_sum` or `_count` series.
    fn exporter(&self, name: &str) -> Option<&'static str> {
        self.family(name).or_else(|| {
            ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
                let base = name.strip_suffix(suffix)?;
                self.family(base).filter(|_| self.is_histogram(base))
            })
        })
    }
}

/// The metric names an expression selects (by name; a selector without one is reported).
#[derive(Default)]
struct Names(Vec<Option<String>>);

impl ExprVisitor for Names {
    type Error = ();
    fn pre_visit(&mut self, expr: &Expr) -> Result<bool, ()> {
        match expr {
            Expr::VectorSelector(vs) => self.0.push(vs.name.clone()),
            Expr::MatrixSelector(ms) => self.0.push(ms.vs.name.clone()),
            _ => {}
        }
        Ok(true)
    }
}

fn all_queries() -> Vec<dashboards::Query> {
    let mut out = Vec::new();
    for (file, d) in dashboards::load() {
        out.extend(dashboards::queries(&file, &d).unwrap_or_else(|e| panic!("{e}")));
    }
    out
}

#[test]
fn the_probe_tells_exported_families_from_others() {
    let exported = Exported::new();
    assert_eq!(exported.exporter("nflreadpy_ingestion_latency_seconds_bucket"), Some("scraper"));
    assert_eq!(exported.exporter("nflreadpy_model_brier_score"), Some("model workload"));
    assert_eq!(exported.exporter("controller_runtime_reconcile_time_seconds_count"), Some("operator"));
    assert_eq!(exported.exporter("nflbet_watch_synced"), Some("operator"));
    assert_eq!(exported.exporter("nflreadpy_sportsbook_last_snapshot_timestamp_seconds"), Some("operator"));
    assert_eq!(exported.exporter("leader_election_master_status"), Some("operator"));
    for absent in
        ["nflreadpy_ingestion_latency_secs", "nflreadpy_model_edge_bucket", "up_bucket", "nflbet_up"]
    {
        assert_eq!(exported.exporter(absent), None, "{absent}");
    }
    // Probing leaves the registries as they were.
    assert_eq!(exported.exporter("nflreadpy_ingestion_latency_secs"), None);
}

#[test]
fn every_dashboard_query_parses_and_selects_only_exported_metrics() {
    let exported = Exported::new();
    let queries = all_queries();
    let mut problems = Vec::new();
    let mut used: BTreeMap<&'static str, BTreeSet<String>> = BTreeMap::new();
    for q in &queries {
        let at = format!("{} / {} / {}", q.dashboard, q.panel, q.ref_id);
        let expr = match parser::parse(&q.expr) {
            Ok(e) => e,
            Err(e) => {
                problems.push(format!("{at}: does not parse: {e}\n    {}", q.expr));
                continue;
            }
        };
        let mut names = Names::default();
        walk_expr(&mut names, &expr).unwrap();
        for name in names.0 {
            match name {
                None => problems.push(format!("{at}: a selector without a metric name: {}", q.expr)),
                Some(n) => match exported.exporter(&n) {
                    Some(process) => {
                        used.entry(process).or_default().insert(n);
                    }
                    None => problems.push(format!(
                        "{at}: {n} is exported by neither the scraper, the model workload nor the operator"
                    )),
                },
            }
        }
    }
    assert!(problems.is_empty(), "dashboard queries:\n  {}", problems.join("\n  "));
    // Each process's metrics are on a dashboard.
    for process in ["scraper", "model workload", "operator"] {
        assert!(
            used.get(process).is_some_and(|n| n.len() >= 3),
            "few {process} metrics on the dashboards: {used:?}"
        );
    }
}

#[test]
fn every_panel_shows_a_metric_of_the_project() {
    for (file, d) in dashboards::load() {
        let queries = dashboards::queries(&file, &d).unwrap();
        for p in dashboards::panels(&d) {
            let title = p["title"].as_str().unwrap();
            let selects = queries.iter().filter(|q| q.panel == title).any(|q| {
                let mut names = Names::default();
                walk_expr(&mut names, &parser::parse(&q.expr).unwrap()).unwrap();
                !names.0.is_empty()
            });
            assert!(selects, "{file}: panel {title:?} selects no metric");
        }
    }
}

#[test]
fn promtool_accepts_every_dashboard_query() {
    let queries = all_queries();
    let rules: Vec<Value> = queries
        .iter()
        .enumerate()
        .map(|(i, q)| serde_json::json!({"record": format!("nflbet_dashboard:query_{i}"), "expr": q.expr}))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    support::write_rule_file(dir.path(), &serde_json::json!({"name": "dashboards", "rules": rules}));
    let (ok, out) = support::prometheus_tool("promtool", dir.path(), &["check", "rules", "rules.yaml"]);
    assert!(ok, "promtool check rules refused a dashboard query:\n{out}");
    assert!(out.contains(&format!("SUCCESS: {} rules found", queries.len())), "{out}");
}

#[test]
fn dashboards_are_portable_with_units_thresholds_and_variables() {
    let loaded = dashboards::load();
    assert_eq!(
        loaded.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>(),
        ["ingestion.json", "models.json", "operator.json"],
        "one dashboard per concern"
    );
    let mut uids = BTreeSet::new();
    let mut variables = BTreeSet::new();
    for (file, d) in &loaded {
        assert!(uids.insert(d["uid"].as_str().unwrap().to_string()), "{file}: uid not unique");
        assert!(d["title"].as_str().is_some_and(|t| t.starts_with("nflbet / ")), "{file}: title");
        assert!(d["id"].is_null(), "{file}: an instance id makes Grafana refuse the import elsewhere");
        let vars = d["templating"]["list"].as_array().unwrap();
        let ds = vars.iter().find(|v| v["name"] == "datasource").expect("a datasource variable");
        assert_eq!(
            (ds["type"].as_str(), ds["query"].as_str()),
            (Some("datasource"), Some("prometheus")),
            "{file}"
        );
        for v in vars {
            variables.insert(v["name"].as_str().unwrap().to_string());
            if v["type"] == "query" {
                assert_eq!(v["datasource"]["uid"], "${datasource}", "{file}: variable {}", v["name"]);
                assert_eq!(
                    (v["multi"].as_bool(), v["includeAll"].as_bool()),
                    (Some(true), Some(true)),
                    "{file}"
                );
            }
        }
        assert!(vars.iter().any(|v| v["name"] == "namespace"), "{file}: a namespace variable");
        // No datasource UID but the variable, anywhere in the file.
        let mut uids_in_datasources = Vec::new();
        collect_datasource_uids(d, &mut uids_in_datasources);
        assert!(!uids_in_datasources.is_empty(), "{file}: panels name their datasource");
        for uid in uids_in_datasources {
            assert_eq!(uid, "${datasource}", "{file}: a hard-coded datasource UID");
        }
        let mut ids = BTreeSet::new();
        let mut cells = BTreeSet::new();
        for p in dashboards::panels(d) {
            let title = p["title"].as_str().unwrap_or_default();
            assert!(ids.insert(p["id"].as_i64().unwrap()), "{file}: panel id of {title:?} repeated");
            assert!(
                !p["description"].as_str().unwrap_or_default().is_empty(),
                "{file}: {title:?} has no description"
            );
            let defaults = &p["fieldConfig"]["defaults"];
            assert!(
                defaults["unit"].as_str().is_some_and(|u| !u.is_empty()),
                "{file}: {title:?} has no unit"
            );
            let steps = defaults["thresholds"]["steps"].as_array();
            assert!(steps.is_some_and(|s| !s.is_empty()), "{file}: {title:?} has no thresholds");
            assert!(!p["targets"].as_array().unwrap().is_empty(), "{file}: {title:?} has no query");
            // Panels do not overlap on the grid.
            let g = &p["gridPos"];
            let (x, y, w, h) = (
                g["x"].as_i64().unwrap(),
                g["y"].as_i64().unwrap(),
                g["w"].as_i64().unwrap(),
                g["h"].as_i64().unwrap(),
            );
            assert!(x + w <= 24, "{file}: {title:?} wider than the grid");
            for cx in x..x + w {
                for cy in y..y + h {
                    assert!(cells.insert((cx, cy)), "{file}: {title:?} overlaps another panel");
                }
            }
        }
    }
    for v in ["namespace", "sportsbook", "model"] {
        assert!(variables.contains(v), "no dashboard has a {v} variable");
    }
}

fn collect_datasource_uids(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, child) in o {
                if k == "datasource" && child.is_object() {
                    out.push(child["uid"].as_str().unwrap_or("<none>").to_string());
                }
                collect_datasource_uids(child, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|c| collect_datasource_uids(c, out)),
        _ => {}
    }
}

#[test]
fn substitution_replaces_every_variable_and_refuses_unknown_ones() {
    let (file, d) = dashboards::load().into_iter().find(|(f, _)| f == "ingestion.json").unwrap();
    let out = dashboards::substitute(
        &d,
        r#"rate(x{namespace=~"$namespace", sportsbook=~"${sportsbook}"}[$__rate_interval]) > $stale_after"#,
    )
    .unwrap();
    assert_eq!(
        out,
        format!(r#"rate(x{{namespace=~".*", sportsbook=~".*"}}[{}]) > 300"#, dashboards::RATE_INTERVAL),
        "{file}"
    );
    let err = dashboards::substitute(&d, "x > $nope").unwrap_err();
    assert!(err.contains("$nope"), "{err}");
}

#[test]
fn the_panels_the_end_to_end_story_requires_data_of_exist() {
    let queries = all_queries();
    for (dashboard, panel) in dashboards::PANELS_WITH_DATA_IN_E2E {
        assert!(
            queries.iter().any(|q| q.dashboard == dashboard && q.panel == panel),
            "tests/e2e expects data in {dashboard} / {panel:?}, which does not exist"
        );
    }
}

fn free_loopback_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `nflbet scrape` of `book` polling `feed` every second into the file store under `dir`, its
/// `/metrics` on a loopback port; stderr in `dir/<book>.log`.
fn start_scraper(book: &str, feed: &str, dir: &Path) -> (KillOnDrop, u16) {
    let port = free_loopback_port();
    let mut scrape = support::scrape::command(book, feed);
    scrape
        .args(["--poll-interval", "1s", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--store")
        .arg(format!("file://{}", dir.join("snapshots").display()))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(format!("{book}.log"))).unwrap());
    (KillOnDrop(scrape.spawn().expect("spawn nflbet scrape")), port)
}

/// A real Prometheus on loopback scraping `targets` every second, each labelled with
/// `namespace` and `pod` as prometheus-operator labels a pod's target.
struct LocalPrometheus {
    _process: KillOnDrop,
    base: String,
    http: reqwest::Client,
    dir: PathBuf,
}

/// One scrape target: job name, address, and whether its labels are honoured (as the chart's
/// ServiceMonitor does for the operator).
struct Target {
    job: &'static str,
    address: String,
    honor_labels: bool,
}

impl LocalPrometheus {
    fn start(dir: &Path, namespace: &str, targets: &[Target]) -> LocalPrometheus {
        let mut config =
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n".to_string();
        for t in targets {
            config.push_str(&format!(
                "- job_name: {job}\n  honor_labels: {honor}\n  static_configs:\n  - targets: ['{address}']\n    \
                 labels: {{namespace: {namespace}, pod: {job}-0}}\n",
                job = t.job,
                honor = t.honor_labels,
                address = t.address,
            ));
        }
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let port = free_loopback_port();
        let mut c = Command::new(support::testenv_bin("prometheus"));
        c.arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap());
        support::install_crypto();
        LocalPrometheus {
            _process: KillOnDrop(c.spawn().expect("spawn prometheus")),
            base: format!("http://127.0.0.1:{port}"),
            // Plain HTTP to the Prometheus on loopback only.
            http: reqwest::Client::builder().timeout(Duration::from_secs(5)).no_proxy().build().unwrap(),
            dir: dir.to_path_buf(),
        }
    }

    /// One instant query's series; an error while Prometheus is not answering yet.
    async fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let r = self
            .http
            .get(format!("{}/api/v1/query", self.base))
            .query(&[("query", expr)])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let v: Value = r.json().await.map_err(|e| e.to_string())?;
        if v["status"] != "success" {
            return Err(format!("Prometheus refused {expr}: {v}"));
        }
        Ok(v["data"]["result"].as_array().cloned().unwrap_or_default())
    }

    /// Wait until every query returns a series, each by `deadline`; the series of each, whose
    /// `namespace` and `sportsbook` (or `model`) labels must be the test's.
    async fn wait_for_data(
        &self,
        queries: &[dashboards::Query],
        deadline: Instant,
        namespace: &str,
        names: &[&str],
    ) {
        for q in queries {
            let what = format!("{} / {} / {}", q.dashboard, q.panel, q.ref_id);
            let series = loop {
                let last = match self.query(&q.expr).await {
                    Ok(series) if !series.is_empty() => break series,
                    Ok(_) => format!("no series from {}", q.expr),
                    Err(e) => e,
                };
                if Instant::now() >= deadline {
                    let logs: Vec<String> = std::fs::read_dir(&self.dir)
                        .unwrap()
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.extension().is_some_and(|x| x == "log"))
                        .map(|p| {
                            format!("{}:\n{}", p.display(), std::fs::read_to_string(&p).unwrap_or_default())
                        })
                        .collect();
                    panic!("{what}: no data in time ({last}); logs:\n{}", logs.join("\n---\n"));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            };
            for s in &series {
                let m = &s["metric"];
                assert!(m["namespace"].as_str().is_none_or(|n| n == namespace), "{what}: {s}");
                for label in ["sportsbook", "model"] {
                    assert!(m[label].as_str().is_none_or(|v| names.contains(&v)), "{what}: {s}");
                }
            }
        }
    }
}

fn dashboard_queries(file: &str) -> Vec<dashboards::Query> {
    let (file, d) = dashboards::load().into_iter().find(|(f, _)| f == file).unwrap();
    dashboards::queries(&file, &d).unwrap()
}

/// Queries of the Ingestion and Operator dashboards that may be empty below: no provider quota
/// (only The Odds API reports one), no reconcile error, every book Ready or not.
const MAY_BE_EMPTY: [&str; 3] =
    ["API quota remaining", "Reconcile errors by kind and error", "Sportsbooks not Ready"];

/// A real Prometheus scrapes, every second, a real `nflbet scrape` polling a feed on loopback and
/// the operator (leader elected) reconciling that Sportsbook on the local control plane, labelled
/// as prometheus-operator labels their targets (the operator's with honorLabels, as the chart's
/// ServiceMonitor): every query of the Ingestion and Operator dashboards, variables included,
/// returns data, but for [`MAY_BE_EMPTY`].
#[tokio::test]
async fn a_real_prometheus_fills_the_ingestion_and_operator_panels() {
    let mut queries = dashboard_queries("ingestion.json");
    queries.extend(dashboard_queries("operator.json"));
    queries.retain(|q| !MAY_BE_EMPTY.contains(&q.panel.as_str()));
    assert!(queries.len() >= 20, "{queries:?}");

    let client = support::client().await;
    support::install_nflbet_crds(&client).await;
    support::install_monitoring_crds(&client).await;
    let ns = support::namespace(&client, "dashboards").await;
    let operator = support::start_operator_with(&client, &ns, |a| a.leader_elect = true).await;
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/sportsbook-inhouse-feed.yaml"
    ))
    .unwrap();
    let mut book: nflbet::crd::Sportsbook = serde_saphyr::from_str(&text).unwrap();
    book.metadata.name = Some("desk".into());
    book.spec.storage = None;
    let books: kube::Api<nflbet::crd::Sportsbook> = kube::Api::namespaced(client.clone(), &ns);
    books.create(&Default::default(), &book).await.unwrap();

    let feed = support::feed::Feed::start("desk", 3).await;
    let dir = tempfile::tempdir().unwrap();
    let (_scraper, scraper_port) = start_scraper("desk", &feed.url, dir.path());
    let prometheus = LocalPrometheus::start(
        dir.path(),
        &ns,
        &[
            Target {
                job: "nflbet-scraper-desk",
                address: format!("127.0.0.1:{scraper_port}"),
                honor_labels: false,
            },
            Target { job: "nflbet-operator", address: operator.listen.to_string(), honor_labels: true },
        ],
    );
    prometheus.wait_for_data(&queries, Instant::now() + Duration::from_secs(90), &ns, &["desk"]).await;
    assert!(feed.requests() >= 2, "the scraper polled the feed");

    operator.shutdown.cancel();
    books.delete("desk", &Default::default()).await.unwrap();
    support::delete_namespace(&client, &ns).await;
}

/// Queries of the Models dashboard that may be empty below: no bet at the feeds' equal prices
/// (stakes and exposure), no games file (no Brier or log loss without settled games), no
/// operator (the sportsbook variable reads its last-snapshot series).
const MODELS_MAY_BE_EMPTY: [(&str, &str); 7] = [
    ("Stake by market and book", "A"),
    ("Exposure by team against its cap", "A"),
    ("Exposure by market against its cap", "A"),
    ("Exposure by book against its cap", "A"),
    ("Brier score against baseline + tolerance", "A"),
    ("Log loss against baseline + tolerance", "A"),
    ("variable sportsbook", "sportsbook"),
];

/// Two real scrapers (a reference book and a retail book) write snapshots that a real
/// `nflbet model` prices every second; a real Prometheus scrapes all three: the Models dashboard's
/// queries return data, but for [`MODELS_MAY_BE_EMPTY`].
#[tokio::test]
async fn a_real_prometheus_fills_the_models_panels() {
    let mut queries = dashboard_queries("models.json");
    queries.retain(|q| !MODELS_MAY_BE_EMPTY.contains(&(q.panel.as_str(), q.ref_id.as_str())));
    assert!(queries.len() >= 12, "{queries:?}");
    let dir = tempfile::tempdir().unwrap();
    let sharp = support::feed::Feed::start("pinnacle", 3).await;
    let retail = support::feed::Feed::start("desk", 3).await;
    let (_sharp, sharp_port) = start_scraper("sharp", &sharp.url, dir.path());
    let (_retail, retail_port) = start_scraper("retail", &retail.url, dir.path());
    let model_port = free_loopback_port();
    let mut model = Command::new(env!("CARGO_BIN_EXE_nflbet"));
    model
        .args(["model", "--model", "consensus", "--algorithm", "marketConsensus", "--version", "1.0.0"])
        .args(["--sportsbooks", "sharp,retail", "--reference-books", "pinnacle"])
        .args(["--bankroll", "10000", "--kelly-fraction", "0.25", "--interval", "1s"])
        .arg(format!("--store=file://{}", dir.path().join("snapshots").display()))
        .arg(format!("--listen=127.0.0.1:{model_port}"))
        .env_remove("NFLBET_STORE")
        .env_remove("NFLBET_GAMES")
        .env_remove("NFLBET_MODEL")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("model.log")).unwrap());
    let _model = KillOnDrop(model.spawn().expect("spawn nflbet model"));
    let prometheus = LocalPrometheus::start(
        dir.path(),
        "betting",
        &[
            Target {
                job: "nflbet-scraper-sharp",
                address: format!("127.0.0.1:{sharp_port}"),
                honor_labels: false,
            },
            Target {
                job: "nflbet-scraper-retail",
                address: format!("127.0.0.1:{retail_port}"),
                honor_labels: false,
            },
            Target {
                job: "nflbet-model-consensus",
                address: format!("127.0.0.1:{model_port}"),
                honor_labels: false,
            },
        ],
    );
    prometheus
        .wait_for_data(
            &queries,
            Instant::now() + Duration::from_secs(90),
            "betting",
            &["sharp", "retail", "consensus"],
        )
        .await;
}
