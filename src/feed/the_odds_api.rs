//! The Odds API v4: `GET /v4/sports/{sport}/odds`.
//!
//! Request: `apiKey`, `regions`, `markets` (h2h, spreads, totals), `oddsFormat=american`,
//! `dateFormat=iso`, and `bookmakers` when one is configured. The key travels in the query string
//! (the API has no header auth), so the URL is a secret: use [`FeedProvider::redacted_url`] for
//! anything a person may see.
//!
//! Response: a JSON array of events `{id, sport_key, commence_time, home_team, away_team,
//! bookmakers: [{key, title, last_update, markets: [{key, last_update, outcomes: [{name, price,
//! point}]}]}]}`. h2h outcomes are named by team and carry no point; spreads are named by team
//! with the point from that team's view; totals are named `Over`/`Under`. The structural fields
//! are required (a payload missing them has changed schema and fails the poll as `schema`);
//! everything inside an outcome is optional and judged per quote by validation.
//!
//! Quota headers: `x-requests-remaining`, `x-requests-used`, `x-requests-last`.

use super::loose::Loose;
use super::provider::{
    FeedError, FeedProvider, Quota, RawFeed, RawPrice, RawQuote, RawTime, SetupError, parse_endpoint,
};
use super::quote::Event;
use crate::domain::market::Market;
use serde::Deserialize;
use url::Url;

pub const DEFAULT_ENDPOINT: &str = "https://api.the-odds-api.com";
const NAME: &str = "theOddsApi";

/// The Odds API market key of a market.
pub fn market_key(m: Market) -> &'static str {
    match m {
        Market::Moneyline => "h2h",
        Market::Spread => "spreads",
        Market::Total => "totals",
    }
}

fn market_of(key: &str) -> Option<Market> {
    match key {
        "h2h" => Some(Market::Moneyline),
        "spreads" => Some(Market::Spread),
        "totals" => Some(Market::Total),
        _ => None,
    }
}

/// Settings of the provider.
#[derive(Clone, Debug, Default)]
pub struct TheOddsApiConfig {
    /// Base URL; default [`DEFAULT_ENDPOINT`].
    pub endpoint: Option<String>,
    pub api_key: String,
    pub sport: String,
    pub regions: Vec<String>,
    pub bookmaker: Option<String>,
    pub markets: Vec<Market>,
}

/// The Odds API v4 provider.
#[derive(Clone, Debug)]
pub struct TheOddsApi {
    url: Url,
    markets: Vec<Market>,
}

impl TheOddsApi {
    pub fn new(c: TheOddsApiConfig) -> Result<TheOddsApi, SetupError> {
        if c.api_key.trim().is_empty() {
            return Err(SetupError::MissingApiKey(NAME));
        }
        if c.markets.is_empty() {
            return Err(SetupError::NoMarkets);
        }
        let base = c.endpoint.as_deref().unwrap_or(DEFAULT_ENDPOINT);
        let mut url = parse_endpoint(base)?;
        {
            let mut segs = url.path_segments_mut().map_err(|_| SetupError::Endpoint(base.into()))?;
            segs.pop_if_empty().extend(["v4", "sports", c.sport.as_str(), "odds"]);
        }
        let markets: Vec<&str> = c.markets.iter().map(|m| market_key(*m)).collect();
        {
            let mut q = url.query_pairs_mut();
            q.clear();
            q.append_pair("apiKey", c.api_key.trim());
            q.append_pair("regions", &c.regions.join(","));
            q.append_pair("markets", &markets.join(","));
            q.append_pair("oddsFormat", "american");
            q.append_pair("dateFormat", "iso");
            if let Some(b) = c.bookmaker.as_deref().filter(|b| !b.is_empty()) {
                q.append_pair("bookmakers", b);
            }
        }
        Ok(TheOddsApi { url, markets: c.markets })
    }
}

#[derive(Deserialize)]
struct ApiEvent {
    id: String,
    commence_time: String,
    home_team: String,
    away_team: String,
    bookmakers: Vec<ApiBook>,
}

#[derive(Deserialize)]
struct ApiBook {
    key: String,
    #[serde(default)]
    last_update: Option<String>,
    markets: Vec<ApiMarket>,
}

#[derive(Deserialize)]
struct ApiMarket {
    key: String,
    #[serde(default)]
    last_update: Option<String>,
    outcomes: Vec<ApiOutcome>,
}

#[derive(Deserialize)]
struct ApiOutcome {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    price: Option<Loose>,
    #[serde(default)]
    point: Option<Loose>,
}

impl FeedProvider for TheOddsApi {
    fn kind(&self) -> &'static str {
        NAME
    }

    fn url(&self) -> &Url {
        &self.url
    }

    fn has_credentials(&self) -> bool {
        true
    }

    fn parse(&self, body: &[u8]) -> Result<RawFeed, FeedError> {
        let events: Vec<ApiEvent> =
            serde_json::from_slice(body).map_err(|e| FeedError::from_json(NAME, e))?;
        parse_events(events, &self.markets)
    }

    fn quota(&self, header: &dyn Fn(&str) -> Option<String>) -> Option<Quota> {
        let num = |name: &str| {
            header(name)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|x| x.is_finite())
                .map(|x| x as i64)
        };
        let q = Quota {
            remaining: num("x-requests-remaining"),
            used: num("x-requests-used"),
            last: num("x-requests-last"),
        };
        (q != Quota::default()).then_some(q)
    }
}

fn parse_events(events: Vec<ApiEvent>, markets: &[Market]) -> Result<RawFeed, FeedError> {
    let mut feed = RawFeed { events: Vec::with_capacity(events.len()), ..Default::default() };
    for ev in events {
        let kickoff = match RawTime::parse(Some(&ev.commence_time)) {
            RawTime::At(t) => Some(t),
            // An unreadable kickoff only costs the nflverse id; the quotes stay.
            _ => None,
        };
        let index = feed.events.len();
        feed.events.push(Event::new(&ev.id, &ev.home_team, &ev.away_team, kickoff));
        for book in ev.bookmakers {
            let book_time = RawTime::parse(book.last_update.as_deref());
            for m in book.markets {
                let Some(market) = market_of(&m.key) else {
                    *feed.skipped.entry("unsupported_market").or_default() += m.outcomes.len() as u64;
                    continue;
                };
                if !markets.contains(&market) {
                    continue;
                }
                let at = RawTime::parse(m.last_update.as_deref()).or(book_time);
                for o in m.outcomes {
                    feed.quotes.push(RawQuote {
                        event: index,
                        book: book.key.clone(),
                        market,
                        name: o.name,
                        line: o.point,
                        price: RawPrice::American(o.price),
                        observed_at: at,
                    });
                }
            }
        }
    }
    Ok(feed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_url_shape() {
        let p = TheOddsApi::new(TheOddsApiConfig {
            endpoint: Some("http://127.0.0.1:9/".into()),
            api_key: "k3y".into(),
            sport: "americanfootball_nfl".into(),
            regions: vec!["us".into()],
            bookmaker: Some("fanduel".into()),
            markets: vec![Market::Moneyline, Market::Spread, Market::Total],
        })
        .unwrap();
        assert_eq!(
            p.url().as_str(),
            "http://127.0.0.1:9/v4/sports/americanfootball_nfl/odds?apiKey=k3y&regions=us&markets=h2h%2Cspreads%2Ctotals&oddsFormat=american&dateFormat=iso&bookmakers=fanduel"
        );
        assert!(!p.redacted_url().contains("k3y"));
    }

    #[test]
    fn needs_a_key() {
        let e = TheOddsApi::new(TheOddsApiConfig { markets: vec![Market::Total], ..Default::default() });
        assert!(matches!(e, Err(SetupError::MissingApiKey(_))));
    }
}
