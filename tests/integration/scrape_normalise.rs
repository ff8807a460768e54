//! Normalisation of each provider's recorded fixtures: team and game identity, odd values
//! (pick'em lines, +100/−100, missing points, EVEN, ½), and every reject reason counted.

use chrono::{DateTime, TimeZone, Utc};
use nflbet::domain::market::Market;
use nflbet::feed::generic::GenericJson;
use nflbet::feed::the_odds_api::{TheOddsApi, TheOddsApiConfig};
use nflbet::feed::{FeedProvider, Normalised, Quota, Selection, ValidationPolicy, normalise};
use std::collections::BTreeMap;

const ALL: [Market; 3] = [Market::Moneyline, Market::Spread, Market::Total];

fn fixture(path: &str) -> Vec<u8> {
    let p = format!("{}/tests/fixtures/feeds/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 9, 5, 18, 0, 0).unwrap()
}

fn odds_api(markets: &[Market]) -> TheOddsApi {
    TheOddsApi::new(TheOddsApiConfig {
        endpoint: Some("http://127.0.0.1:1".into()),
        api_key: "fixture-key".into(),
        sport: "americanfootball_nfl".into(),
        regions: vec!["us".into()],
        bookmaker: None,
        markets: markets.to_vec(),
    })
    .unwrap()
}

fn run(p: &dyn FeedProvider, file: &str) -> Normalised {
    let raw = p.parse(&fixture(file)).unwrap();
    normalise(raw, &ValidationPolicy::default(), now())
}

fn reasons(n: &Normalised) -> BTreeMap<&'static str, u64> {
    n.rejected.clone()
}

#[test]
fn the_odds_api_week_one() {
    let n = run(&odds_api(&ALL), "the_odds_api/nfl_week1_2024.json");
    let ids: Vec<Option<&str>> = n.events.iter().map(|e| e.game_id.as_deref()).collect();
    assert_eq!(ids, [Some("2024_01_BAL_KC"), Some("2024_01_PIT_ATL"), Some("2024_01_NYJ_SF")]);
    assert_eq!(n.events[0].home.as_deref(), Some("KC"));
    assert_eq!(n.events[0].away.as_deref(), Some("BAL"));
    assert_eq!(n.events[2].season, Some(2024));
    assert_eq!(n.events[2].week, Some(1), "Monday night 00:15 UTC Tuesday is still week 1");

    assert_eq!(n.quotes.len(), 17, "{:?}", n.rejected);
    assert_eq!(reasons(&n), BTreeMap::from([("missing_line", 1), ("stale", 2), ("unsupported_market", 2)]));

    let find = |book: &str, event: &str, market: Market, sel: &str| {
        n.quotes
            .iter()
            .find(|q| {
                &*q.book == book && &*q.event_id == event && q.market == market && q.selection.as_str() == sel
            })
            .unwrap_or_else(|| panic!("no {book} {market} {sel}"))
    };
    let kc = find("fanduel", "4b25562a3a1e5d3c6ad9e1b7e5f0a9d1", Market::Spread, "KC");
    assert_eq!((kc.line, kc.american), (Some(-3.0), -110));
    assert_eq!(kc.game_id.as_deref(), Some("2024_01_BAL_KC"));
    assert_eq!(kc.observed_at, Utc.with_ymd_and_hms(2024, 9, 5, 17, 58, 12).unwrap());

    // Pick'em: a 0 line is a line, not a missing one.
    let pit = find("fanduel", "9d1f0cc8e2b44f6a8f3ab6b1d2c4e5f6", Market::Spread, "PIT");
    assert_eq!(pit.line, Some(0.0));
    // +100 and −100 are both even money.
    let atl_ml = find("fanduel", "9d1f0cc8e2b44f6a8f3ab6b1d2c4e5f6", Market::Moneyline, "ATL");
    let pit_ml = find("fanduel", "9d1f0cc8e2b44f6a8f3ab6b1d2c4e5f6", Market::Moneyline, "PIT");
    assert_eq!((atl_ml.american, atl_ml.decimal, atl_ml.line), (100, 2.0, None));
    assert_eq!((pit_ml.american, pit_ml.decimal), (-100, 2.0));
    // A totals outcome without its point is dropped; its twin stays.
    let under = find("fanduel", "9d1f0cc8e2b44f6a8f3ab6b1d2c4e5f6", Market::Total, "under");
    assert_eq!(under.line, Some(42.5));
    assert!(n.quotes.iter().all(|q| q.selection != Selection::Over || q.line.is_some()));
    // Market-level last_update missing: the bookmaker's is used.
    let dk = find("draftkings", "4b25562a3a1e5d3c6ad9e1b7e5f0a9d1", Market::Moneyline, "BAL");
    assert_eq!(dk.observed_at, Utc.with_ymd_and_hms(2024, 9, 5, 17, 59, 1).unwrap());
    assert!((dk.decimal - 2.22).abs() < 1e-12);
}

#[test]
fn the_odds_api_markets_filter() {
    let n = run(&odds_api(&[Market::Total]), "the_odds_api/nfl_week1_2024.json");
    assert!(n.quotes.iter().all(|q| q.market == Market::Total));
    assert_eq!(n.quotes.len(), 3);
}

#[test]
fn the_odds_api_error_object_is_a_schema_error() {
    let e = odds_api(&ALL).parse(&fixture("the_odds_api/error_out_of_credits.json")).unwrap_err();
    assert_eq!(e.error_type(), "schema", "{e}");
    let n = run(&odds_api(&ALL), "the_odds_api/empty_offseason.json");
    assert!(n.quotes.is_empty() && n.rejected.is_empty());
}

#[test]
fn the_odds_api_quota_headers() {
    let p = odds_api(&ALL);
    let headers = |name: &str| match name {
        "x-requests-remaining" => Some("497".to_string()),
        "x-requests-used" => Some("3".to_string()),
        "x-requests-last" => Some("3".to_string()),
        _ => None,
    };
    assert_eq!(p.quota(&headers), Some(Quota { remaining: Some(497), used: Some(3), last: Some(3) }));
    assert_eq!(p.quota(&|_| None), None);
}

#[test]
fn generic_v1_desk_feed() {
    let p = GenericJson::new("http://127.0.0.1:1/feed", None, ALL.to_vec()).unwrap();
    let n = run(&p, "generic/v1_desk.json");
    assert_eq!(n.quotes.len(), 9, "{:?}", n.rejected);
    assert_eq!(
        reasons(&n),
        BTreeMap::from([
            ("future_timestamp", 1),
            ("invalid_price", 1),
            ("missing_line", 1),
            ("missing_selection", 1),
            ("non_finite_line", 1),
            ("stale", 1),
            ("unknown_selection", 1),
            ("unsupported_market", 1),
        ])
    );
    assert_eq!(n.events[0].game_id.as_deref(), Some("2024_01_BAL_KC"), "abbreviation and full name mix");
    assert_eq!(n.events[2].game_id, None, "a non-NFL team keeps only the provider id");
    assert_eq!(&*n.events[2].id, "desk-preseason-friendly");
    let by = |event: &str, sel: &str, market: Market| {
        n.quotes
            .iter()
            .find(|q| &*q.event_id == event && q.selection.as_str() == sel && q.market == market)
            .unwrap()
    };
    let over = by("desk-2024-w1-bal-kc", "over", Market::Total);
    assert_eq!((over.american, over.decimal, over.line), (100, 2.0, Some(46.5)), "EVEN and ½");
    let bal = by("desk-2024-w1-bal-kc", "BAL", Market::Spread);
    assert_eq!(
        (bal.american, bal.decimal, bal.line),
        (-110, 1.909, Some(3.0)),
        "decimal price kept, American derived"
    );
    assert_eq!(bal.observed_at, Utc.with_ymd_and_hms(2024, 9, 5, 17, 59, 0).unwrap(), "generatedAt fallback");
    let atl = by("desk-2024-w1-pit-atl", "ATL", Market::Spread);
    assert_eq!((atl.line, atl.american), (Some(0.0), -100), "PK is a pick'em line");
    assert!(n.quotes.iter().all(|q| &*q.book == "desk_a"));
}

#[test]
fn generic_unknown_version_is_refused() {
    let p = GenericJson::new("http://127.0.0.1:1/feed", None, ALL.to_vec()).unwrap();
    let e = p.parse(&fixture("generic/v2_unsupported.json")).unwrap_err();
    assert_eq!(e.error_type(), "schema");
    assert!(e.to_string().contains("version"), "{e}");
    assert_eq!(p.parse(b"{\"version\": 1, \"book\": ").unwrap_err().error_type(), "parse");
}

#[test]
fn generic_bearer_key_is_a_header_not_a_query() {
    let p = GenericJson::new("http://127.0.0.1:1/feed", Some("tok".into()), ALL.to_vec()).unwrap();
    assert_eq!(p.headers(), vec![("authorization", "Bearer tok".to_string())]);
    assert!(!p.url().as_str().contains("tok"));
}
