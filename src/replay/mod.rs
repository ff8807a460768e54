//! `nflbet replay`: re-run pricing models over history, settle against results and report
//! calibration (Brier, log loss, reliability), betting results (ROI) and closing-line value.
//!
//! For historical seasons the prices are the closing lines of the nflverse games file (see
//! `docs/models.md`); the models are walked forward so no game is priced with its own result.

mod engine;
pub mod gate;
pub mod model;
mod output;
pub mod report;
mod snapshot_bets;
pub mod snapshots;
mod window;

pub use engine::{
    BetDay, MODEL_NAMES, ModelReport, ReplayReport, ReplaySettings, SeasonScore, model_by_name, replay,
    settled_games_in,
};
pub use output::render_table;
pub use window::{Bound, Window};

use crate::domain::games::{GamesError, load_games};
use crate::domain::kelly::{KellyError, KellyPolicy};
use crate::domain::margin::MarginMethod;
use std::io::IsTerminal;
use std::path::PathBuf;
use thiserror::Error;

impl ReplayError {
    fn unknown_model(name: &str, known: &[&str]) -> ReplayError {
        ReplayError::UnknownModel { name: name.to_string(), known: known.join(", ") }
    }
}

/// Why a replay could not run.
#[derive(Debug, Error)]
pub enum ReplayError {
    #[error("{flag} {value:?} is neither a date (YYYY-MM-DD) nor a season (e.g. 2019)")]
    InvalidBound { flag: &'static str, value: String },
    #[error("--from ({from}) is after --to ({to})")]
    FromAfterTo { from: String, to: String },
    #[error(
        "unknown model {name:?}: --models takes algorithm names ({known}); to replay a Model resource with its parameters, books and staking, use --model-file FILE or --model NAME"
    )]
    UnknownModel { name: String, known: String },
    #[error("no models given; known models: {0}")]
    NoModels(String),
    #[error("no settled games from {0} in the games file")]
    EmptyWindow(String),
    #[error(
        "no games file: pass --games PATH or set NFLBET_GAMES (download data/games.csv from the nflverse/nfldata repository on GitHub)"
    )]
    NoGamesFile,
    #[error(transparent)]
    Games(#[from] GamesError),
    #[error("invalid staking setting: {0}")]
    Kelly(#[from] KellyError),
    #[error("--min-edge {0} is invalid: it must be finite")]
    MinEdge(f64),
    #[error("cannot serialise the report: {0}")]
    Json(#[from] serde_json::Error),
    #[error("--sportsbooks needs --store: the snapshot store to replay")]
    NoStore,
    #[error(
        "--records is the snapshot store: the replay's records would mix with the live Model's; give another store"
    )]
    RecordsInStore,
    #[error("--store needs --sportsbooks: the books whose snapshots to replay")]
    NoSportsbooks,
    #[error("snapshot store: {0}")]
    Store(String),
    #[error("no stored snapshots of these books from {0}")]
    EmptySnapshotWindow(String),
    #[error("Model {name} cannot be replayed: {reason}")]
    InvalidModel { name: String, reason: String },
    #[error("cannot write the report to {path}: {error}")]
    Report { path: String, error: std::io::Error },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Json,
}

/// `--margin` takes the domain's method by the name it is known by everywhere else.
impl clap::ValueEnum for MarginMethod {
    fn value_variants<'a>() -> &'a [Self] {
        &MarginMethod::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

/// Arguments of `nflbet replay`.
#[derive(clap::Args, Debug, Clone)]
pub struct ReplayArgs {
    /// Start of the window: a date (YYYY-MM-DD) or a season (e.g. 2019 = its first game).
    #[arg(long)]
    pub from: String,
    /// End of the window, inclusive: a date (YYYY-MM-DD) or a season (e.g. 2024 = through its Super Bowl).
    #[arg(long)]
    pub to: String,
    /// Models to replay, comma-separated: closingLine (the margin-free closing line, the market
    /// baseline), elo, marketConsensus. Algorithms with default settings; to replay a Model
    /// resource, use --model-file or --model.
    #[arg(long, value_delimiter = ',', required_unless_present_any = ["model_file", "model"])]
    pub models: Vec<String>,
    /// The nflverse games file (data/games.csv of the nflverse/nfldata repository).
    #[arg(long, env = "NFLBET_GAMES")]
    pub games: Option<PathBuf>,
    /// Output: a table for people, JSON for tools.
    #[arg(long, value_enum, default_value = "table")]
    pub output: OutputFormat,
    /// Margin removal for the closing-line baseline and consensus models.
    #[arg(long, value_enum, default_value = "proportional")]
    pub margin: MarginMethod,
    /// Bet only selections with at least this expected value per unit staked.
    #[arg(long, default_value_t = 0.02)]
    pub min_edge: f64,
    /// Fraction of full Kelly to stake (applied once).
    #[arg(long, default_value_t = 0.25)]
    pub kelly_fraction: f64,
    /// Largest stake on one bet, as a fraction of bankroll.
    #[arg(long, default_value_t = 0.02)]
    pub max_bet: f64,
    /// Largest total stake on one game, as a fraction of bankroll.
    #[arg(long, default_value_t = 0.05)]
    pub max_event: f64,
    /// Replay over the snapshots in this store (file:///path or s3://bucket/prefix) instead of
    /// the closing lines in the games file; results still come from the games file. The books
    /// are --sportsbooks, or those of the Model of --model-file/--model.
    #[arg(long)]
    pub store: Option<String>,
    /// Keep the replay's recommendation records (one per run, in the model workload's format)
    /// in this store (file:///path or s3://bucket/prefix) instead of a scratch directory removed
    /// afterwards; with --store. Never the snapshot store itself: the replay's records would mix
    /// with the live Model's.
    #[arg(long, value_name = "URL", requires = "store")]
    pub records: Option<String>,
    /// Sportsbooks whose stored snapshots are replayed, comma separated (with --store).
    #[arg(long, value_delimiter = ',')]
    pub sportsbooks: Vec<String>,
    /// Also write the report as one self-contained HTML page with charts (reliability, Brier
    /// score and log loss by season, cumulative profit and CLV). Over closing lines, the
    /// closingLine baseline is replayed too when not among --models, for comparison.
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
}

/// Write the HTML report, when asked for.
fn write_report(
    path: Option<&std::path::Path>,
    page: impl FnOnce() -> report::Page,
) -> Result<(), ReplayError> {
    let Some(path) = path else {
        return Ok(());
    };
    std::fs::write(path, report::render_html(&page()))
        .map_err(|error| ReplayError::Report { path: path.display().to_string(), error })
}

/// Validate the arguments into settings and models, without touching the games file.
pub fn prepare(
    args: &ReplayArgs,
) -> Result<(ReplaySettings, Vec<Box<dyn crate::domain::pricing_model::PricingModel>>), ReplayError> {
    let window = Window::parse(&args.from, &args.to)?;
    if !args.min_edge.is_finite() {
        return Err(ReplayError::MinEdge(args.min_edge));
    }
    let policy = KellyPolicy::new(args.kelly_fraction, args.max_bet, args.max_event)?;
    let margin = args.margin;
    let names: Vec<&str> = args.models.iter().map(|m| m.trim()).filter(|m| !m.is_empty()).collect();
    if names.is_empty() {
        return Err(ReplayError::NoModels(MODEL_NAMES.join(", ")));
    }
    let models = names.iter().map(|name| model_by_name(name, margin)).collect::<Result<Vec<_>, _>>()?;
    Ok((ReplaySettings { window, margin, min_edge: args.min_edge, policy }, models))
}

/// Run `nflbet replay --models ...` and print its report to stdout.
pub fn run(args: &ReplayArgs) -> anyhow::Result<()> {
    if args.store.is_some() {
        return run_snapshots(args);
    }
    if !args.sportsbooks.is_empty() {
        return Err(ReplayError::NoStore.into());
    }
    let mut args = args.clone();
    if args.report.is_some() && !args.models.iter().any(|m| m.trim() == "closingLine") {
        args.models.push("closingLine".into());
    }
    let args = &args;
    let (settings, models) = prepare(args)?;
    let path = args.games.clone().ok_or(ReplayError::NoGamesFile)?;
    run_closing_lines(args, &path, &settings, models, |_| {})
}

/// Replay `models` over the closing lines of the games file at `path`, then print the report
/// (`name` may rename what the report shows) and write the HTML page when asked for.
fn run_closing_lines(
    args: &ReplayArgs,
    path: &std::path::Path,
    settings: &ReplaySettings,
    models: Vec<Box<dyn crate::domain::pricing_model::PricingModel>>,
    name: impl FnOnce(&mut ReplayReport),
) -> anyhow::Result<()> {
    let games = load_games(path).map_err(ReplayError::from)?;
    let total = settled_games_in(&games, &settings.window);
    let bar = if std::io::stderr().is_terminal() && total > 0 {
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} games {elapsed}") {
            bar.set_style(style);
        }
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut report = replay(&games, models, settings, |n| bar.inc(n))?;
    bar.finish_and_clear();
    name(&mut report);
    write_report(args.report.as_deref(), || report::closing_lines_page(&report))?;
    match args.output {
        OutputFormat::Table => print!("{}", render_table(&report)),
        OutputFormat::Json => {
            println!("{}", serde_json::to_string_pretty(&report).map_err(ReplayError::from)?)
        }
    }
    Ok(())
}

/// `nflbet replay --store ... --sportsbooks ...`: the model workload over stored snapshots.
fn run_snapshots(args: &ReplayArgs) -> anyhow::Result<()> {
    let window = Window::parse(&args.from, &args.to)?;
    let path = args.games.clone().ok_or(ReplayError::NoGamesFile)?;
    let games = load_games(&path).map_err(ReplayError::from)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let report = runtime.block_on(snapshots::replay_snapshots(args, &window, games))?;
    print_snapshots(args, &report)
}

/// Print a snapshot replay's report, and write the HTML page when asked for.
fn print_snapshots(args: &ReplayArgs, report: &snapshots::SnapshotReplayReport) -> anyhow::Result<()> {
    write_report(args.report.as_deref(), || report::snapshots_page(report))?;
    match args.output {
        OutputFormat::Table => print!("{}", snapshots::render_table(report)),
        OutputFormat::Json => {
            println!("{}", serde_json::to_string_pretty(report).map_err(ReplayError::from)?)
        }
    }
    Ok(())
}
