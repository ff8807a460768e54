//! The nflbet generic JSON feed, version 1: the format for in-house sources.
//!
//! Specified in `docs/feeds.md`. In short: `{version: 1, book, generatedAt?, events: [{id, home,
//! away, kickoff?, quotes: [{market, selection, line?, american | decimal, observedAt?, book?}]}]}`.
//! Teams may be nflverse abbreviations or full names. A quote without `observedAt` takes the
//! payload's `generatedAt`; one with neither is rejected (`missing_timestamp`). An unknown
//! `version` fails the whole payload as a `schema` error: never guess at a format.

use super::loose::Loose;
use super::provider::{
    FeedError, FeedProvider, RawFeed, RawPrice, RawQuote, RawTime, SetupError, parse_endpoint,
};
use super::quote::Event;
use crate::domain::market::Market;
use serde::Deserialize;
use url::Url;

/// The version this build reads.
pub const VERSION: u32 = 1;
const NAME: &str = "genericJson";

/// Generic JSON feed provider. An API key, when configured, is sent as `Authorization: Bearer`.
#[derive(Clone, Debug)]
pub struct GenericJson {
    url: Url,
    api_key: Option<String>,
    markets: Vec<Market>,
}

impl GenericJson {
    pub fn new(endpoint: &str, api_key: Option<String>, markets: Vec<Market>) -> Result<Self, SetupError> {
        if markets.is_empty() {
            return Err(SetupError::NoMarkets);
        }
        let url = parse_endpoint(endpoint)?;
        Ok(GenericJson { url, api_key: api_key.filter(|k| !k.trim().is_empty()), markets })
    }
}

#[derive(Deserialize)]
struct Peek {
    version: Option<Loose>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Feed {
    book: String,
    #[serde(default)]
    generated_at: Option<String>,
    events: Vec<FeedEvent>,
}

#[derive(Deserialize)]
struct FeedEvent {
    id: String,
    home: String,
    away: String,
    #[serde(default)]
    kickoff: Option<String>,
    quotes: Vec<FeedQuote>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FeedQuote {
    market: String,
    #[serde(default)]
    selection: Option<String>,
    #[serde(default)]
    line: Option<Loose>,
    #[serde(default)]
    american: Option<Loose>,
    #[serde(default)]
    decimal: Option<Loose>,
    #[serde(default)]
    observed_at: Option<String>,
    #[serde(default)]
    book: Option<String>,
}

impl FeedProvider for GenericJson {
    fn kind(&self) -> &'static str {
        NAME
    }

    fn url(&self) -> &Url {
        &self.url
    }

    fn has_credentials(&self) -> bool {
        self.api_key.is_some()
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        self.api_key.iter().map(|k| ("authorization", format!("Bearer {}", k.trim()))).collect()
    }

    fn parse(&self, body: &[u8]) -> Result<RawFeed, FeedError> {
        let peek: Peek = serde_json::from_slice(body).map_err(|e| FeedError::from_json(NAME, e))?;
        match peek.version {
            Some(Loose::Number(v)) if v == f64::from(VERSION) => {}
            Some(v) => {
                return Err(FeedError::Schema {
                    provider: NAME,
                    // Only a number is echoed: a feed's text must not reach status or logs.
                    detail: match v {
                        Loose::Number(n) => {
                            format!("unsupported version {n}; this build reads version {VERSION}")
                        }
                        _ => format!("`version` is not a number; this build reads version {VERSION}"),
                    },
                });
            }
            None => {
                return Err(FeedError::Schema { provider: NAME, detail: "missing field `version`".into() });
            }
        }
        let feed: Feed = serde_json::from_slice(body).map_err(|e| FeedError::from_json(NAME, e))?;
        let generated = RawTime::parse(feed.generated_at.as_deref());
        let mut out = RawFeed::default();
        for ev in feed.events {
            let kickoff = match RawTime::parse(ev.kickoff.as_deref()) {
                RawTime::At(t) => Some(t),
                _ => None,
            };
            let index = out.events.len();
            out.events.push(Event::new(&ev.id, &ev.home, &ev.away, kickoff));
            for q in ev.quotes {
                let Some(market) = Market::parse(q.market.trim()) else {
                    *out.skipped.entry("unsupported_market").or_default() += 1;
                    continue;
                };
                if !self.markets.contains(&market) {
                    continue;
                }
                // American wins when both are given: it is the notation books quote in.
                let price = match (q.american, q.decimal) {
                    (Some(a), _) => RawPrice::American(Some(a)),
                    (None, Some(d)) => RawPrice::Decimal(Some(d)),
                    (None, None) => RawPrice::American(None),
                };
                out.quotes.push(RawQuote {
                    event: index,
                    book: q.book.unwrap_or_else(|| feed.book.clone()).into(),
                    market,
                    name: q.selection.map(Into::into),
                    line: q.line,
                    price,
                    observed_at: RawTime::parse(q.observed_at.as_deref()).or(generated),
                });
            }
        }
        Ok(out)
    }
}
