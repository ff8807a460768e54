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

use super::json_str::JsonStr;
use super::loose::Loose;
use super::provider::{
    FeedError, FeedProvider, Quota, RawFeed, RawPrice, RawQuote, RawTime, SetupError, parse_endpoint,
};
use super::quote::Event;
use crate::domain::market::Market;
use serde::Deserialize;
use std::sync::Arc;
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

// The payload read in place: strings borrow from the body (see [`JsonStr`]), and fields nflbet
// does not use (`sport_key`, `title`, …) are skipped without being stored.
#[derive(Deserialize)]
struct ApiEvent<'a> {
    #[serde(borrow)]
    id: JsonStr<'a>,
    #[serde(borrow)]
    commence_time: JsonStr<'a>,
    #[serde(borrow)]
    home_team: JsonStr<'a>,
    #[serde(borrow)]
    away_team: JsonStr<'a>,
    #[serde(borrow)]
    bookmakers: Vec<ApiBook<'a>>,
}

#[derive(Deserialize)]
struct ApiBook<'a> {
    #[serde(borrow)]
    key: JsonStr<'a>,
    #[serde(default, borrow)]
    last_update: Option<JsonStr<'a>>,
    #[serde(borrow)]
    markets: Vec<ApiMarket<'a>>,
}

#[derive(Deserialize)]
struct ApiMarket<'a> {
    #[serde(borrow)]
    key: JsonStr<'a>,
    #[serde(default, borrow)]
    last_update: Option<JsonStr<'a>>,
    #[serde(borrow)]
    outcomes: Vec<ApiOutcome<'a>>,
}

#[derive(Deserialize)]
struct ApiOutcome<'a> {
    #[serde(default, borrow)]
    name: Option<JsonStr<'a>>,
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
        // JSON is UTF-8: one check of the whole body spares serde_json a check of every string.
        // A body that is not UTF-8 takes the byte path, which fails (or not) exactly as before.
        let events: Vec<ApiEvent> = match std::str::from_utf8(body) {
            Ok(text) => serde_json::from_str(text),
            Err(_) => serde_json::from_slice(body),
        }
        .map_err(|e| FeedError::from_json(NAME, e))?;
        parse_events(&events, &self.markets)
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

fn parse_events(events: &[ApiEvent], markets: &[Market]) -> Result<RawFeed, FeedError> {
    let quotes = events.iter().flat_map(|e| &e.bookmakers).flat_map(|b| &b.markets).map(|m| m.outcomes.len());
    let mut feed = RawFeed {
        events: Vec::with_capacity(events.len()),
        quotes: Vec::with_capacity(quotes.sum()),
        ..Default::default()
    };
    let mut times = Timestamps::default();
    let mut names = Names::default();
    for ev in events {
        names.0.clear();
        let kickoff = match times.parse(Some(&*ev.commence_time)) {
            RawTime::At(t) => Some(t),
            // An unreadable kickoff only costs the nflverse id; the quotes stay.
            _ => None,
        };
        let index = feed.events.len();
        feed.events.push(Event::new(&ev.id, &ev.home_team, &ev.away_team, kickoff));
        for book in &ev.bookmakers {
            let key: Arc<str> = Arc::from(&*book.key);
            let book_time = times.parse(book.last_update.as_deref());
            for m in &book.markets {
                let Some(market) = market_of(&m.key) else {
                    *feed.skipped.entry("unsupported_market").or_default() += m.outcomes.len() as u64;
                    continue;
                };
                if !markets.contains(&market) {
                    continue;
                }
                let at = times.parse(m.last_update.as_deref()).or(book_time);
                for o in &m.outcomes {
                    feed.quotes.push(RawQuote {
                        event: index,
                        book: key.clone(),
                        market,
                        name: o.name.as_deref().map(|n| names.get(n)),
                        line: o.point.clone(),
                        price: RawPrice::American(o.price.clone()),
                        observed_at: at,
                    });
                }
            }
        }
    }
    Ok(feed)
}

/// An event's outcome names, each allocated once: they repeat across its books and markets (the
/// two teams, Over, Under). Bounded, so an event with many distinct names costs no quadratic scan.
#[derive(Default)]
struct Names(Vec<Arc<str>>);

impl Names {
    const MAX: usize = 8;

    fn get(&mut self, name: &str) -> Arc<str> {
        if let Some(n) = self.0.iter().find(|n| ***n == *name) {
            return n.clone();
        }
        let n: Arc<str> = Arc::from(name);
        if self.0.len() < Self::MAX {
            self.0.push(n.clone());
        }
        n
    }
}

/// [`RawTime::parse`] remembering the last text it read: a payload repeats one update time across
/// a bookmaker and its markets, and most of those repeats are then a string comparison.
#[derive(Default)]
struct Timestamps<'a> {
    last: Option<(Option<&'a str>, RawTime)>,
}

impl<'a> Timestamps<'a> {
    fn parse(&mut self, s: Option<&'a str>) -> RawTime {
        match self.last {
            Some((text, t)) if text == s => t,
            _ => {
                let t = RawTime::parse(s);
                self.last = Some((s, t));
                t
            }
        }
    }
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

    fn all_markets() -> TheOddsApi {
        TheOddsApi::new(TheOddsApiConfig {
            endpoint: Some("http://127.0.0.1:9/".into()),
            api_key: "k3y".into(),
            sport: "americanfootball_nfl".into(),
            regions: vec!["us".into()],
            bookmaker: None,
            markets: vec![Market::Moneyline, Market::Spread, Market::Total],
        })
        .unwrap()
    }

    #[test]
    fn escaped_strings_are_unescaped() {
        // Every string escaped somewhere: team names (\u escapes, an escaped solidus), the book key,
        // timestamps and the market key. The names must still match the event's teams.
        let body = br#"[{"id":"e\"1\"","commence_time":"2024-09-06T00:20:00\u005a",
            "home_team":"Kansas\u0020City Chiefs","away_team":"Baltimore Ravens",
            "bookmakers":[{"key":"fan\/duel","last_update":"2024-09-05T17:58:12Z",
              "markets":[{"key":"h\u0032h","last_update":"2024-09-05T17:58:1\u0032Z","outcomes":[
                {"name":"Baltimore\u0020Ravens","price":124},
                {"name":"Kansas City Chiefs","price":-148}]}]}]}]"#;
        let feed = all_markets().parse(body).unwrap();
        let e = &feed.events[0];
        assert_eq!((&*e.id, e.home_name.as_str()), ("e\"1\"", "Kansas City Chiefs"));
        assert_eq!(e.game_id.as_deref(), Some("2024_01_BAL_KC"), "the escaped kickoff was read");
        assert_eq!(feed.quotes.len(), 2, "{:?}", feed.skipped);
        assert_eq!(&*feed.quotes[0].book, "fan/duel");
        assert_eq!(feed.quotes[0].name.as_deref(), Some("Baltimore Ravens"));
        assert_eq!(e.side_of(feed.quotes[0].name.as_deref().unwrap()), Some("BAL"));
        let at = chrono::DateTime::parse_from_rfc3339("2024-09-05T17:58:12Z").unwrap();
        assert_eq!(feed.quotes[1].observed_at, RawTime::At(at.with_timezone(&chrono::Utc)));
    }

    #[test]
    fn repeated_timestamps_are_read_each_in_their_place() {
        // The memo of the last timestamp must not carry one market's time or failure to another.
        let body = br#"[{"id":"e1","commence_time":"2024-09-06T00:20:00Z",
            "home_team":"Kansas City Chiefs","away_team":"Baltimore Ravens","bookmakers":[
              {"key":"a","last_update":"2024-09-05T17:58:12Z","markets":[
                {"key":"h2h","outcomes":[{"name":"Baltimore Ravens","price":124}]},
                {"key":"spreads","last_update":"yesterday","outcomes":[{"name":"Baltimore Ravens","price":-110,"point":3}]},
                {"key":"totals","last_update":"2024-09-05T17:58:12Z","outcomes":[{"name":"Over","price":-110,"point":45}]}]},
              {"key":"b","markets":[
                {"key":"h2h","outcomes":[{"name":"Baltimore Ravens","price":124}]},
                {"key":"totals","last_update":"2024-09-05T17:58:12Z","outcomes":[{"name":"Over","price":-110,"point":45}]}]}]}]"#;
        let feed = all_markets().parse(body).unwrap();
        let at = RawTime::At(chrono::DateTime::parse_from_rfc3339("2024-09-05T17:58:12Z").unwrap().into());
        let times: Vec<RawTime> = feed.quotes.iter().map(|q| q.observed_at).collect();
        assert_eq!(times, [at, RawTime::Invalid, at, RawTime::Missing, at]);
    }

    #[test]
    fn every_outcome_keeps_its_own_name_past_the_shared_ones() {
        // More distinct names in one event than are shared: each quote still carries its own.
        let outcomes: Vec<String> =
            (0..20).map(|i| format!(r#"{{"name":"Team {i}","price":-110}}"#)).chain(["{}".into()]).collect();
        let body = format!(
            r#"[{{"id":"e","commence_time":"x","home_team":"a","away_team":"b","bookmakers":[
                {{"key":"k","markets":[{{"key":"h2h","outcomes":[{}]}}]}},
                {{"key":"k","markets":[{{"key":"h2h","outcomes":[{}]}}]}}]}}]"#,
            outcomes.join(","),
            outcomes.join(",")
        );
        let feed = all_markets().parse(body.as_bytes()).unwrap();
        let names: Vec<Option<&str>> = feed.quotes.iter().map(|q| q.name.as_deref()).collect();
        let want: Vec<Option<String>> = (0..20).map(|i| Some(format!("Team {i}"))).chain([None]).collect();
        let want: Vec<Option<&str>> = want.iter().chain(&want).map(|n| n.as_deref()).collect();
        assert_eq!(names, want);
    }

    #[test]
    fn a_body_that_is_not_utf8_fails_as_before() {
        // Invalid UTF-8 inside a string serde_json reads: a parse error, as from the byte path.
        let mut body = br#"[{"id":"e","commence_time":"x","home_team":"a","away_team":"b","bookmakers":[
            {"key":"k","markets":[{"key":"h2h","outcomes":[{"name":"Bad \xff","price":100}]}]}]}]"#
            .to_vec();
        let at = body.windows(4).position(|w| w == b"\\xff").unwrap();
        body.splice(at..at + 4, [0xff]);
        let e = all_markets().parse(&body).unwrap_err();
        assert_eq!(e.error_type(), "parse", "{e}");
        assert_eq!(
            e,
            FeedError::from_json(NAME, serde_json::from_slice::<Vec<ApiEvent>>(&body).err().unwrap())
        );
        // In a field nflbet skips, as before, it does not fail the payload.
        let body = [
            &br#"[{"id":"e","sport_title":"NFL "#[..],
            &[0xff],
            br#"","commence_time":"x","home_team":"a","away_team":"b","bookmakers":[]}]"#,
        ]
        .concat();
        assert_eq!(all_markets().parse(&body).unwrap().events.len(), 1);
    }

    #[test]
    fn a_string_field_holding_a_number_is_a_schema_error() {
        for body in [
            &br#"[{"id":7,"commence_time":"x","home_team":"a","away_team":"b","bookmakers":[]}]"#[..],
            br#"[{"id":"e","commence_time":"x","home_team":"a","away_team":"b","bookmakers":[
                {"key":"k","markets":[{"key":"h2h","outcomes":[{"name":5,"price":100}]}]}]}]"#,
        ] {
            let e = all_markets().parse(body).unwrap_err();
            assert_eq!(e.error_type(), "schema", "{e}");
            assert!(e.to_string().contains("expected a string"), "{e}");
        }
    }

    #[test]
    fn needs_a_key() {
        let e = TheOddsApi::new(TheOddsApiConfig { markets: vec![Market::Total], ..Default::default() });
        assert!(matches!(e, Err(SetupError::MissingApiKey(_))));
    }
}
