//! `nflbet replay --model-file FILE` and `--model NAME`: replay exactly what a Model runs.
//!
//! The Model's spec becomes the workload's flags by the operator's own translation
//! ([`spec::flags`]: algorithm and parameters, books, markets, staking and caps, for its stable
//! version with the whole bankroll), read by the workload's own parser and checks
//! ([`spec::parse`], [`ModelConfig::from_args`]). Only where it runs is the replay's: the
//! snapshot store and games file given on the command line, recommendations kept in a scratch
//! store, no metrics server, no status reports, no egress restriction (a person runs the replay
//! against a store they chose).
//!
//! Over stored snapshots that is the workload itself, run as of each snapshot time. Over the
//! closing lines of the games file the replay engine prices each game alone at its kickoff, so
//! two settings have no meaning there and are said so on stderr: a consensus's reference books
//! (the games file has one book, the closing line; the consensus is that line with the Model's
//! margin method and, like the workload, never bets against its own reference) and the team,
//! market and book exposure caps (a slate's totals; the per-bet and per-event caps apply).

use super::engine::{ReplaySettings, model_by_name};
use super::snapshots::{SnapshotModel, replay_models};
use super::{ReplayArgs, ReplayError, Window};
use crate::crd::model::Model;
use crate::domain::consensus::{MarketConsensus, Reference};
use crate::domain::elo::Elo;
use crate::domain::games::{Game, load_games};
use crate::domain::margin::MarginMethod;
use crate::domain::market::{BookPrice, FairPrice, Market};
use crate::domain::pricing_model::{Fixture, ModelError, PricingModel};
use crate::workloads::model::ModelArgs;
use crate::workloads::model::config::{AlgorithmConfig, ModelConfig};
use crate::workloads::model::spec::{self, Deployed};
use kube::ResourceExt;

/// A Model to replay, and the Sportsbooks its `spec.sportsbooks` selects (resolved by the
/// caller: names from a file, names and selector from the cluster).
#[derive(Clone, Debug)]
pub struct ReplayedModel {
    pub model: Model,
    pub books: Vec<String>,
}

impl ReplayedModel {
    fn name(&self) -> String {
        self.model.name_any()
    }

    fn invalid(&self, reason: impl std::fmt::Display) -> ReplayError {
        ReplayError::InvalidModel { name: self.name(), reason: reason.to_string() }
    }
}

/// The `nflbet model` settings the replay runs `replayed` with: its stable workload's flags, as
/// the operator renders them, then the replay's store, games file and local settings.
pub fn model_args(
    replayed: &ReplayedModel,
    store: &str,
    games: Option<&std::path::Path>,
) -> Result<ModelArgs, ReplayError> {
    let mut flags = spec::flags(&replayed.model, &replayed.books, Deployed::stable(&replayed.model));
    flags.extend([format!("--store={store}"), "--listen=127.0.0.1:0".into()]);
    if let Some(games) = games {
        flags.push(format!("--games={}", games.display()));
    }
    // A person runs the replay with their own credentials against a store they chose: no egress
    // restriction (the policy guards workloads steered by resource specs).
    flags.extend([
        "--s3-credential-hosts=http://*".into(),
        "--allow-addresses=0.0.0.0/0,::/0".into(),
        "--api-server-dns-name=".into(),
    ]);
    let args = spec::parse(&flags).map_err(|e| {
        let message = e.to_string();
        replayed.invalid(message.lines().next().unwrap_or_default().trim_start_matches("error: "))
    })?;
    ModelConfig::from_args(&args).map_err(|e| replayed.invalid(e))?;
    Ok(args)
}

/// A model that sees only the Model's markets, as the workload's snapshot reader keeps only them.
struct OnlyMarkets {
    inner: Box<dyn PricingModel>,
    markets: Vec<Market>,
}

impl PricingModel for OnlyMarkets {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn version(&self) -> &str {
        self.inner.version()
    }

    fn price(&self, fixture: &Fixture, quotes: &[BookPrice]) -> Result<Vec<FairPrice>, ModelError> {
        let quotes: Vec<BookPrice> =
            quotes.iter().filter(|q| self.markets.contains(&q.market)).cloned().collect();
        self.inner.price(fixture, &quotes)
    }

    fn observe(&mut self, game: &Game) {
        self.inner.observe(game);
    }
}

/// Replay `replayed` over the closing lines of the games file, or over stored snapshots with
/// `--store`, and print the report.
pub fn run(args: &ReplayArgs, replayed: &ReplayedModel) -> anyhow::Result<()> {
    let window = Window::parse(&args.from, &args.to)?;
    let path = args.games.clone().ok_or(ReplayError::NoGamesFile)?;
    match &args.store {
        Some(store) => {
            if replayed.books.is_empty() {
                return Err(replayed.invalid("it selects no Sportsbooks, so no snapshots to replay").into());
            }
            let margs = model_args(replayed, store, Some(&path))?;
            let clv_margin = MarginMethod::parse(&margs.margin_method).unwrap_or(MarginMethod::Shin);
            let games = load_games(&path).map_err(ReplayError::from)?;
            let model = SnapshotModel { name: replayed.name(), args: margs, clv_margin };
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let report = runtime.block_on(replay_models(
                store,
                args.records.as_deref(),
                &replayed.books,
                &window,
                games,
                vec![model],
            ))?;
            super::print_snapshots(args, &report)
        }
        None => {
            // The workload's checks need a store; nothing is read from or written to it.
            let scratch = tempfile::tempdir()?;
            let margs = model_args(replayed, &format!("file://{}", scratch.path().display()), Some(&path))?;
            let config = ModelConfig::from_args(&margs).map_err(|e| replayed.invalid(e))?;
            let (model, margin): (Box<dyn PricingModel>, MarginMethod) = match &config.algorithm {
                AlgorithmConfig::MarketConsensus { reference_books, margin } => {
                    if !reference_books.is_empty() {
                        eprintln!(
                            "note: over closing lines the consensus of Model {} is the closing line with its margin method ({}): its reference books ({}) are not in the games file",
                            replayed.name(),
                            margin.as_str(),
                            reference_books.join(", ")
                        );
                    }
                    (Box::new(MarketConsensus::new(Reference::Median(Vec::new()), *margin)), *margin)
                }
                AlgorithmConfig::Elo(params) => (
                    Box::new(Elo::new(*params)),
                    MarginMethod::parse(&margs.margin_method).unwrap_or(MarginMethod::Shin),
                ),
            };
            let s = &config.staking;
            if [s.cap_team, s.cap_market, s.cap_book].iter().any(|c| *c < 1.0) {
                eprintln!(
                    "note: over closing lines each game is priced alone: the team, market and book exposure caps of Model {} (a slate's totals) do not apply; the per-bet and per-event caps do",
                    replayed.name()
                );
            }
            let mut models: Vec<Box<dyn PricingModel>> =
                vec![Box::new(OnlyMarkets { inner: model, markets: config.markets.clone() })];
            if args.report.is_some() {
                models.push(model_by_name("closingLine", margin)?);
            }
            let settings = ReplaySettings { window, margin, min_edge: s.value_threshold, policy: s.policy };
            let (name, version) = (replayed.name(), config.version.clone());
            super::run_closing_lines(args, &path, &settings, models, |report| {
                if let Some(m) = report.models.first_mut() {
                    m.name = name;
                    m.version = version;
                }
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replayed(spec: &str, books: &[&str]) -> ReplayedModel {
        let model = serde_saphyr::from_str(&format!(
            "apiVersion: betting.nflbet.dev/v1alpha1\nkind: Model\nmetadata: {{name: consensus, namespace: betting}}\nspec:\n{spec}"
        ))
        .expect("a Model");
        ReplayedModel { model, books: books.iter().map(|b| b.to_string()).collect() }
    }

    #[test]
    fn the_replay_runs_the_models_settings_and_its_own_store() {
        let r = replayed(
            "  algorithm: marketConsensus\n  version: 1.2.0\n  sportsbooks: {names: [a]}\n  consensus: {referenceBooks: [pinnacle]}\n  staking: {bankroll: 5000, kellyFraction: 0.3, exposureCaps: {team: 0.1}}\n  storage: {url: 'file:///var/lib/nflbet/snapshots'}\n",
            &["a", "b"],
        );
        let a = model_args(&r, "file:///tmp/replay-store", Some("/data/games.csv".as_ref())).unwrap();
        assert_eq!((a.model.as_str(), a.version.as_str(), a.role.as_str()), ("consensus", "1.2.0", "stable"));
        assert_eq!(a.sportsbooks, ["a", "b"]);
        assert_eq!(a.reference_books, ["pinnacle"]);
        assert_eq!(a.margin_method, "shin", "the Model's default, not replay's --margin");
        assert_eq!((a.bankroll, a.kelly_fraction, a.cap_team), (5000.0, 0.3, Some(0.1)));
        assert_eq!(a.store, "file:///tmp/replay-store");
        assert_eq!(a.games.as_deref(), Some("/data/games.csv"));
        assert!(!a.report_status && !a.shadow && a.retention.is_none());
    }

    #[test]
    fn a_model_the_workload_refuses_is_refused_by_name() {
        // Elo prices from results: the workload needs a games file.
        let r = replayed(
            "  algorithm: elo\n  version: 1.0.0\n  sportsbooks: {names: [a]}\n  staking: {bankroll: 100, kellyFraction: 0.25}\n",
            &["a"],
        );
        let err = model_args(&r, "file:///tmp/x", None).unwrap_err().to_string();
        assert!(err.starts_with("Model consensus cannot be replayed: "), "{err}");
        assert!(err.contains("--games"), "{err}");
    }
}
