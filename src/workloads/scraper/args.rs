//! Command line of `nflbet scrape`. This is the contract between the operator (which renders
//! these flags into the scraper Deployment, see `controller::sportsbook::build`) and the
//! scraper: add flags freely, never rename one.

use clap::Args;
use std::net::SocketAddr;

#[derive(Args, Clone, Debug)]
pub struct ScrapeArgs {
    /// Name of the Sportsbook this scraper serves; the `sportsbook` metric label.
    #[arg(long, env = "NFLBET_SPORTSBOOK")]
    pub sportsbook: String,

    /// Namespace of the Sportsbook, for the heartbeat.
    #[arg(long, env = "NFLBET_NAMESPACE", default_value = "default")]
    pub namespace: String,

    /// Feed provider: theOddsApi or genericJson.
    #[arg(long, default_value = "theOddsApi")]
    pub provider: String,

    /// Base URL of the feed (required for genericJson; overrides The Odds API's host).
    #[arg(long)]
    pub endpoint: Option<String>,

    /// The Odds API: bookmaker key (e.g. fanduel).
    #[arg(long)]
    pub bookmaker: Option<String>,

    /// The Odds API: sport key.
    #[arg(long, default_value = "americanfootball_nfl")]
    pub sport: String,

    /// The Odds API: regions, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "us")]
    pub regions: Vec<String>,

    /// Markets to ingest, comma separated (moneyline,spread,total).
    #[arg(long, value_delimiter = ',', default_value = "moneyline,spread,total")]
    pub markets: Vec<String>,

    /// Time between polls (Go duration syntax).
    #[arg(long, default_value = "60s")]
    pub poll_interval: String,

    /// Random delay added to each interval.
    #[arg(long, default_value = "0s")]
    pub jitter: String,

    /// Timeout of one HTTP request.
    #[arg(long, default_value = "10s")]
    pub timeout: String,

    /// Retries of a failed request within one poll.
    #[arg(long, default_value_t = 3)]
    pub max_retries: u32,

    /// First retry delay; doubles per retry, with full jitter.
    #[arg(long, default_value = "1s")]
    pub backoff_base: String,

    /// Longest retry delay.
    #[arg(long, default_value = "30s")]
    pub backoff_max: String,

    /// Upper bound on requests per minute.
    #[arg(long)]
    pub max_requests_per_minute: Option<u32>,

    /// Largest response body accepted, in bytes.
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    pub max_response_bytes: u64,

    /// Quotes observed longer ago than this are dropped as stale.
    #[arg(long, default_value = "10m")]
    pub max_quote_age: String,

    /// Snapshot store URL (file:///path or s3://bucket/prefix).
    #[arg(long, env = "NFLBET_STORE", default_value = "file:///var/lib/nflbet/snapshots")]
    pub store: String,

    /// Delete this book's own snapshots older than this (Go duration; a bounded batch every
    /// 10 minutes). Without it nothing is deleted.
    #[arg(long)]
    pub retention: Option<String>,

    /// Address of the /metrics, /healthz and /readyz server.
    #[arg(long, default_value = "0.0.0.0:9100")]
    pub listen: SocketAddr,

    /// Prefix of the metric names.
    #[arg(long, default_value = "nflreadpy")]
    pub metrics_namespace: String,

    /// Write the heartbeat into the Sportsbook's status.ingestion (needs in-cluster credentials
    /// or KUBECONFIG).
    #[arg(long, default_value_t = false)]
    pub heartbeat: bool,

    /// Shortest time between two heartbeat writes.
    #[arg(long, default_value = "30s")]
    pub heartbeat_interval: String,

    /// Poll once, print what was stored, and exit (non-zero when the poll failed).
    #[arg(long)]
    pub once: bool,

    /// Quotes updated further than this in the future are dropped (clock skew allowance).
    #[arg(long, default_value = "5m")]
    pub max_future_skew: String,

    /// Endpoint of an S3-compatible store for s3:// URLs (e.g. http://minio:9000). The standard
    /// AWS_* variables (AWS_ENDPOINT, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    /// AWS_ALLOW_HTTP) are read as well; this flag wins over AWS_ENDPOINT.
    #[arg(long, env = "NFLBET_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// Region for s3:// URLs (default: AWS_REGION, else us-east-1).
    #[arg(long, env = "NFLBET_S3_REGION")]
    pub s3_region: Option<String>,

    /// Where the API key and S3 credentials may go, and which addresses are refused
    /// (`crate::egress`; the operator renders its own policy here).
    #[command(flatten)]
    pub egress: crate::egress::EgressArgs,

    /// Also refuse what this name resolves to, as an address of the API server (besides
    /// KUBERNETES_SERVICE_HOST); resolved only inside a cluster. Empty: nothing to resolve.
    #[arg(long, default_value = "kubernetes.default.svc")]
    pub api_server_dns_name: String,
}
