//! Command line of `nflbet model`. The contract between the operator (which renders these flags
//! into the model Deployments, see `controller::model::build`) and the model workload: add
//! flags freely, never rename one.

use clap::Args;
use std::net::SocketAddr;

#[derive(Args, Clone, Debug)]
pub struct ModelArgs {
    /// Name of the Model resource; the `model` metric label.
    #[arg(long, env = "NFLBET_MODEL")]
    pub model: String,

    /// Namespace of the Model, for the status report.
    #[arg(long, env = "NFLBET_NAMESPACE", default_value = "default")]
    pub namespace: String,

    /// Pricing algorithm: marketConsensus or elo.
    #[arg(long)]
    pub algorithm: String,

    /// Version of this model build (the `version` metric label).
    #[arg(long)]
    pub version: String,

    /// stable or candidate (the `role` metric label; also which status entry is written).
    #[arg(long, default_value = "stable")]
    pub role: String,

    /// Share of the bankroll this workload stakes (the candidate's share during a rollout; the
    /// stable version gets the rest).
    #[arg(long, default_value_t = 1.0)]
    pub traffic_share: f64,

    /// Price and score, but stake nothing.
    #[arg(long)]
    pub shadow: bool,

    /// Fingerprint of the parameters this workload runs (the operator renders the Model's
    /// `status.currentParameters` or `status.candidateParameters`). Labels the records and the
    /// reported calibration; calibration scores only records of these parameters (or of none).
    #[arg(long)]
    pub parameters: Option<String>,

    /// Sportsbooks whose snapshots are priced, comma separated.
    #[arg(long, value_delimiter = ',')]
    pub sportsbooks: Vec<String>,

    /// Markets to price, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "moneyline,spread,total")]
    pub markets: Vec<String>,

    /// marketConsensus: reference books (empty: median of all books).
    #[arg(long, value_delimiter = ',')]
    pub reference_books: Vec<String>,

    /// marketConsensus: margin removal method (proportional, additive, power, shin).
    #[arg(long, default_value = "shin")]
    pub margin_method: String,

    /// elo: K factor.
    #[arg(long, default_value_t = 20.0)]
    pub elo_k_factor: f64,

    /// elo: home-field advantage in rating points.
    #[arg(long, default_value_t = 48.0)]
    pub elo_home_field_advantage: f64,

    /// elo: share of the distance to the mean removed between seasons.
    #[arg(long, default_value_t = 0.5)]
    pub elo_season_regression: f64,

    /// elo: rating points lost by a side whose starting quarterback is not its usual starter.
    #[arg(long, default_value_t = 70.0)]
    pub elo_quarterback_change_penalty: f64,

    /// elo: rating points per day of rest more than the opponent (at most 7 days counted).
    #[arg(long, default_value_t = 3.0)]
    pub elo_rest_day_value: f64,

    /// elo: centre spreads and totals on the market's line, moved toward Elo's number by the
    /// share of its disagreement that has come true (false: Elo's own number).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub elo_anchor_to_market: bool,

    /// Bankroll in currency units.
    #[arg(long)]
    pub bankroll: f64,

    /// Fraction of full Kelly, applied once.
    #[arg(long)]
    pub kelly_fraction: f64,

    /// Largest stake on one bet, as a fraction of the bankroll.
    #[arg(long, default_value_t = 0.02)]
    pub max_stake_per_bet: f64,

    /// Largest total stake on one event, as a fraction of the bankroll.
    #[arg(long, default_value_t = 0.05)]
    pub max_event_exposure: f64,

    /// Exposure cap per team (fraction of bankroll).
    #[arg(long)]
    pub cap_team: Option<f64>,

    /// Exposure cap per market type (fraction of bankroll).
    #[arg(long)]
    pub cap_market: Option<f64>,

    /// Exposure cap per book (fraction of bankroll).
    #[arg(long)]
    pub cap_book: Option<f64>,

    /// Smallest expected value per unit stake worth a bet.
    #[arg(long, default_value_t = 0.02)]
    pub value_threshold: f64,

    /// Window of settled games the calibration is computed over (Go duration).
    #[arg(long, default_value = "672h")]
    pub calibration_window: String,

    /// Time between pricing runs.
    #[arg(long, default_value = "60s")]
    pub interval: String,

    /// Snapshot store URL (file:///path or s3://bucket/prefix).
    #[arg(long, env = "NFLBET_STORE", default_value = "file:///var/lib/nflbet/snapshots")]
    pub store: String,

    /// Delete this model's own recommendation records (of this role) older than this (Go
    /// duration; a bounded batch every 10 minutes). At least --calibration-window plus 14 days
    /// (336h), which calibration reads. Without it nothing is deleted.
    #[arg(long)]
    pub retention: Option<String>,

    /// Games file in the nflverse format (path or http(s) URL), for results.
    #[arg(long, env = "NFLBET_GAMES")]
    pub games: Option<String>,

    /// Address of the /metrics, /healthz and /readyz server.
    #[arg(long, default_value = "0.0.0.0:9100")]
    pub listen: SocketAddr,

    /// Prefix of the metric names.
    #[arg(long, default_value = "nflreadpy")]
    pub metrics_namespace: String,

    /// Write calibration (and, for the stable role, the pricing summary) into the Model's status.
    #[arg(long)]
    pub report_status: bool,

    /// Price once, print the result, and exit.
    #[arg(long)]
    pub once: bool,

    /// Instead of serving: replay these flags over the last N weeks (1 to 52) of the store's
    /// snapshots, ending at the newest, as of each snapshot time; settle the forecasts with the
    /// games file; print a JSON report (`workloads::model::gate::GateReport`) and write it to
    /// the pod's termination log. The operator's replay gate runs it, once per side.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=52), conflicts_with = "once")]
    pub replay_gate_weeks: Option<u32>,

    /// Oldest snapshot worth pricing (Go duration): an older one means the scraper is behind, and
    /// stale prices make fake edges, so that book is skipped.
    #[arg(long, default_value = "10m")]
    pub snapshot_max_age: String,

    /// How often the games file is read again (Go duration); results arrive weekly.
    #[arg(long, default_value = "1h")]
    pub games_refresh: String,

    /// Least time between two status reports (Go duration).
    #[arg(long, default_value = "30s")]
    pub status_interval: String,

    /// Endpoint of an S3-compatible store for s3:// URLs (as `nflbet scrape --s3-endpoint`).
    #[arg(long, env = "NFLBET_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// Region for s3:// URLs (as `nflbet scrape --s3-region`).
    #[arg(long, env = "NFLBET_S3_REGION")]
    pub s3_region: Option<String>,

    /// Where S3 credentials may go, and which addresses the store and the games URL may not be
    /// at (`crate::egress`; the operator renders its own policy here).
    #[command(flatten)]
    pub egress: crate::egress::EgressArgs,

    /// Also refuse what this name resolves to, as an address of the API server (as
    /// `nflbet scrape --api-server-dns-name`).
    #[arg(long, default_value = "kubernetes.default.svc")]
    pub api_server_dns_name: String,
}
