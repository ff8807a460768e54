//! The scraper's settings, parsed and checked once at start: `nflbet scrape` flags in, typed
//! configuration out. Tests build a [`ScrapeConfig`] directly.

use super::args::ScrapeArgs;
use super::error::ConfigError;
use crate::domain::duration::parse_duration;
use crate::domain::market::Market;
use crate::egress::Egress;
use crate::feed::generic::GenericJson;
use crate::feed::provider::SetupError;
use crate::feed::snapshot::{S3Options, SnapshotStore};
use crate::feed::the_odds_api::{TheOddsApi, TheOddsApiConfig};
use crate::feed::{FeedProvider, ValidationPolicy};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Environment variable holding the feed's API key. Read here and nowhere else; never a flag,
/// so it cannot show up in a process list or in the Deployment's args.
pub const API_KEY_ENV: &str = "NFLBET_API_KEY";

/// Schedule and HTTP behaviour of the polling loop.
#[derive(Clone, Debug, PartialEq)]
pub struct PollPolicy {
    pub interval: Duration,
    /// Up to this much is added at random to each interval.
    pub jitter: Duration,
    /// Limit of one request, body included.
    pub timeout: Duration,
    /// Retries of a failed request within one poll.
    pub max_retries: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Least time between two request starts (from `--max-requests-per-minute`).
    pub min_request_gap: Option<Duration>,
    pub max_response_bytes: u64,
}

impl Default for PollPolicy {
    fn default() -> Self {
        PollPolicy {
            interval: Duration::from_secs(60),
            jitter: Duration::ZERO,
            timeout: Duration::from_secs(10),
            max_retries: 3,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            min_request_gap: None,
            max_response_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Everything a [`super::Scraper`] needs.
#[derive(Clone)]
pub struct ScrapeConfig {
    /// Sportsbook resource name: the `sportsbook` label and the snapshot path segment.
    pub sportsbook: String,
    pub namespace: String,
    pub provider: Arc<dyn FeedProvider>,
    /// Markets ingested, in a stable order.
    pub markets: Vec<Market>,
    pub poll: PollPolicy,
    pub validation: ValidationPolicy,
    pub store: SnapshotStore,
    /// Own snapshots older than this are deleted (None: kept forever).
    pub retention: Option<Duration>,
    pub metrics_prefix: String,
    pub listen: SocketAddr,
    pub heartbeat: bool,
    pub heartbeat_interval: Duration,
    /// Where the API key may go and which addresses the feed may not be at.
    pub egress: Egress,
}

impl std::fmt::Debug for ScrapeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScrapeConfig")
            .field("sportsbook", &self.sportsbook)
            .field("namespace", &self.namespace)
            .field("provider", &self.provider.kind())
            .field("url", &self.provider.redacted_url())
            .field("markets", &self.markets)
            .field("poll", &self.poll)
            .field("store", &self.store.url())
            .field("retention", &self.retention)
            .field("egress", &self.egress)
            .finish_non_exhaustive()
    }
}

fn duration(flag: &'static str, value: &str) -> Result<Duration, ConfigError> {
    parse_duration(value).ok_or_else(|| ConfigError::Duration { flag, value: value.into() })
}

impl ScrapeConfig {
    /// From the command line and the API key in [`API_KEY_ENV`].
    pub fn from_args(args: &ScrapeArgs) -> Result<ScrapeConfig, ConfigError> {
        ScrapeConfig::from_args_with_key(args, std::env::var(API_KEY_ENV).ok())
    }

    pub fn from_args_with_key(
        args: &ScrapeArgs,
        api_key: Option<String>,
    ) -> Result<ScrapeConfig, ConfigError> {
        let egress = args.egress.workload_policy(&args.api_server_dns_name)?;
        let mut markets = Vec::new();
        for m in &args.markets {
            let m = m.trim();
            if m.is_empty() {
                continue;
            }
            markets.push(Market::parse(m).ok_or_else(|| ConfigError::Market(m.into()))?);
        }
        markets.sort();
        markets.dedup();
        let provider: Arc<dyn FeedProvider> = match args.provider.as_str() {
            "theOddsApi" => Arc::new(TheOddsApi::new(TheOddsApiConfig {
                endpoint: args.endpoint.clone(),
                api_key: api_key.unwrap_or_default(),
                sport: args.sport.clone(),
                regions: args.regions.clone(),
                bookmaker: args.bookmaker.clone(),
                markets: markets.clone(),
            })?),
            "genericJson" => {
                let endpoint = args.endpoint.as_deref().ok_or(SetupError::MissingEndpoint("genericJson"))?;
                Arc::new(GenericJson::new(endpoint, api_key, markets.clone())?)
            }
            other => return Err(SetupError::UnknownProvider(other.into()).into()),
        };
        check_feed(provider.as_ref(), &egress)?;
        let rpm = args.max_requests_per_minute.filter(|n| *n > 0);
        let poll = PollPolicy {
            interval: duration("poll-interval", &args.poll_interval)?,
            jitter: duration("jitter", &args.jitter)?,
            timeout: duration("timeout", &args.timeout)?,
            max_retries: args.max_retries,
            backoff_base: duration("backoff-base", &args.backoff_base)?,
            backoff_max: duration("backoff-max", &args.backoff_max)?,
            min_request_gap: rpm.map(|n| Duration::from_secs(60) / n),
            max_response_bytes: args.max_response_bytes,
        };
        let validation = ValidationPolicy {
            max_quote_age: duration("max-quote-age", &args.max_quote_age)?,
            max_future_skew: duration("max-future-skew", &args.max_future_skew)?,
        };
        let s3 = S3Options {
            endpoint: args.s3_endpoint.clone(),
            region: args.s3_region.clone(),
            credentials: None,
            egress: egress.clone(),
        };
        let store = SnapshotStore::open(&args.store, &s3)?;
        Ok(ScrapeConfig {
            sportsbook: args.sportsbook.clone(),
            namespace: args.namespace.clone(),
            provider,
            markets,
            poll,
            validation,
            store,
            retention: args.retention.as_deref().map(|r| duration("retention", r)).transpose()?,
            metrics_prefix: args.metrics_namespace.clone(),
            listen: args.listen,
            heartbeat: args.heartbeat,
            heartbeat_interval: duration("heartbeat-interval", &args.heartbeat_interval)?,
            egress,
        })
    }
}

/// The feed's URL under the policy: its key only to an allowed host (over https unless allowed),
/// and no refused address written in it. Checked at start and again before every request.
pub fn check_feed(provider: &dyn FeedProvider, egress: &Egress) -> Result<(), crate::egress::EgressError> {
    if provider.has_credentials() {
        egress.check_feed_credentials(provider.url())?;
    }
    egress.check_destination(provider.url())
}
