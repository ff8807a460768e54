//! Validation: every raw quote becomes a [`Quote`] or is dropped with a [`RejectReason`].
//!
//! The Python toolkit accepted a missing timestamp as "now", lost pick'em lines (a 0 line read as
//! missing), and let an impossible −80 moneyline through. Here every rule is explicit, a 0 line is
//! a line, a missing timestamp is a rejection, and every rejection is counted by reason so the
//! metrics show what a feed is doing wrong.

use super::price::{self, Price};
use super::provider::{RawFeed, RawPrice, RawQuote, RawTime};
use super::quote::{Event, Normalised, Quote, Selection};
use crate::domain::market::Market;
use chrono::{DateTime, Duration, Utc};
use std::collections::HashSet;

/// Why a quote was dropped. `as_str` is the `reason` metric label and the snapshot's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// No price, or not a number.
    MissingPrice,
    /// A price that cannot exist: between −100 and +100, fractional American, beyond ±100000,
    /// or decimal ≤ 1.
    InvalidPrice,
    /// No team or side named.
    MissingSelection,
    /// A name that is neither of the event's teams (or Over/Under for totals).
    UnknownSelection,
    /// A spread or total without its point.
    MissingLine,
    /// A point that is not a number, not a multiple of 0.25, or implausible (|spread| > 60,
    /// total outside (0, 150]).
    InvalidLine,
    /// NaN or infinite point.
    NonFiniteLine,
    /// No update time for the quote (the Python scraper assumed "now": never again).
    MissingTimestamp,
    /// An update time that is not RFC 3339 with an offset.
    InvalidTimestamp,
    /// Updated longer ago than the maximum quote age.
    Stale,
    /// Updated more than the allowed skew in the future.
    FutureTimestamp,
    /// The same book, event, market, selection and line twice in one payload; the first is kept.
    Duplicate,
    /// A market key nflbet does not ingest (counted by the provider, before validation).
    UnsupportedMarket,
}

impl RejectReason {
    pub const ALL: [RejectReason; 13] = [
        RejectReason::MissingPrice,
        RejectReason::InvalidPrice,
        RejectReason::MissingSelection,
        RejectReason::UnknownSelection,
        RejectReason::MissingLine,
        RejectReason::InvalidLine,
        RejectReason::NonFiniteLine,
        RejectReason::MissingTimestamp,
        RejectReason::InvalidTimestamp,
        RejectReason::Stale,
        RejectReason::FutureTimestamp,
        RejectReason::Duplicate,
        RejectReason::UnsupportedMarket,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::MissingPrice => "missing_price",
            RejectReason::InvalidPrice => "invalid_price",
            RejectReason::MissingSelection => "missing_selection",
            RejectReason::UnknownSelection => "unknown_selection",
            RejectReason::MissingLine => "missing_line",
            RejectReason::InvalidLine => "invalid_line",
            RejectReason::NonFiniteLine => "non_finite_line",
            RejectReason::MissingTimestamp => "missing_timestamp",
            RejectReason::InvalidTimestamp => "invalid_timestamp",
            RejectReason::Stale => "stale",
            RejectReason::FutureTimestamp => "future_timestamp",
            RejectReason::Duplicate => "duplicate",
            RejectReason::UnsupportedMarket => "unsupported_market",
        }
    }
}

/// What validation accepts.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidationPolicy {
    /// Quotes updated longer ago than this are stale.
    pub max_quote_age: std::time::Duration,
    /// Quotes updated further than this in the future are refused (clock skew allowance).
    pub max_future_skew: std::time::Duration,
}

impl Default for ValidationPolicy {
    fn default() -> Self {
        ValidationPolicy {
            max_quote_age: std::time::Duration::from_secs(600),
            max_future_skew: std::time::Duration::from_secs(300),
        }
    }
}

/// Validate a provider's raw feed at time `now`.
pub fn normalise(raw: RawFeed, policy: &ValidationPolicy, now: DateTime<Utc>) -> Normalised {
    // Saturating arithmetic: an absurd configured age must not panic.
    let oldest = Duration::from_std(policy.max_quote_age)
        .ok()
        .and_then(|age| now.checked_sub_signed(age))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let newest = Duration::from_std(policy.max_future_skew)
        .ok()
        .and_then(|skew| now.checked_add_signed(skew))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let mut out = Normalised { quotes: Vec::with_capacity(raw.quotes.len()), ..Default::default() };
    for (reason, n) in raw.skipped {
        *out.rejected.entry(reason).or_default() += n;
    }
    // The dedup key borrows from `raw` (book, and the selection in its snapshot spelling): no
    // copies, and room for every quote up front.
    let mut seen: HashSet<(usize, &str, Market, &str, Option<i64>), foldhash::fast::RandomState> =
        HashSet::with_capacity_and_hasher(raw.quotes.len(), Default::default());
    for q in &raw.quotes {
        let Some(event) = raw.events.get(q.event) else {
            // A provider bug, not a feed fault; never panic on it.
            *out.rejected.entry(RejectReason::UnknownSelection.as_str()).or_default() += 1;
            continue;
        };
        match check(q, event, oldest, newest) {
            Ok((selection, line, price, at)) => {
                let key = (q.event, &*q.book, q.market, selection, line.map(|l| (l * 4.0) as i64));
                if !seen.insert(key) {
                    *out.rejected.entry(RejectReason::Duplicate.as_str()).or_default() += 1;
                    continue;
                }
                out.quotes.push(Quote {
                    event_id: event.id.clone(),
                    game_id: event.game_id.clone(),
                    book: q.book.clone(),
                    market: q.market,
                    selection: Selection::from(selection),
                    line,
                    american: price.american,
                    decimal: price.decimal,
                    observed_at: at,
                });
            }
            Err(reason) => *out.rejected.entry(reason.as_str()).or_default() += 1,
        }
    }
    drop(seen);
    out.events = raw.events;
    out
}

/// The selection as [`Selection::as_str`] spells it, the line, the price and the update time.
type Checked<'e> = (&'e str, Option<f64>, Price, DateTime<Utc>);

fn check<'e>(
    q: &RawQuote,
    event: &'e Event,
    oldest: DateTime<Utc>,
    newest: DateTime<Utc>,
) -> Result<Checked<'e>, RejectReason> {
    let selection = selection(q, event)?;
    let price = match &q.price {
        RawPrice::American(None) | RawPrice::Decimal(None) => {
            return Err(RejectReason::MissingPrice);
        }
        RawPrice::American(Some(v)) => price::parse_american(v),
        RawPrice::Decimal(Some(v)) => price::parse_decimal(v),
    }
    .ok_or(RejectReason::InvalidPrice)?;
    let line = line(q)?;
    let at = match q.observed_at {
        RawTime::Missing => return Err(RejectReason::MissingTimestamp),
        RawTime::Invalid => return Err(RejectReason::InvalidTimestamp),
        RawTime::At(t) => t,
    };
    if at < oldest {
        return Err(RejectReason::Stale);
    }
    if at > newest {
        return Err(RejectReason::FutureTimestamp);
    }
    Ok((selection, line, price, at))
}

/// The selection a quote names, spelled as [`Selection::as_str`]: a team's nflverse abbreviation
/// (borrowed from the event), or `over`/`under`.
fn selection<'e>(q: &RawQuote, event: &'e Event) -> Result<&'e str, RejectReason> {
    let name = q.name.as_deref().map(str::trim).filter(|n| !n.is_empty());
    let name = name.ok_or(RejectReason::MissingSelection)?;
    match q.market {
        Market::Total => {
            if name.eq_ignore_ascii_case("over") {
                Ok("over")
            } else if name.eq_ignore_ascii_case("under") {
                Ok("under")
            } else {
                Err(RejectReason::UnknownSelection)
            }
        }
        Market::Moneyline | Market::Spread => event.side_of(name).ok_or(RejectReason::UnknownSelection),
    }
}

fn line(q: &RawQuote) -> Result<Option<f64>, RejectReason> {
    if q.market == Market::Moneyline {
        // A moneyline has no point; some feeds send 0 or null there. Ignore it.
        return Ok(None);
    }
    let raw = q.line.as_ref().ok_or(RejectReason::MissingLine)?;
    let x = raw.as_line().ok_or(RejectReason::InvalidLine)?;
    if !x.is_finite() {
        return Err(RejectReason::NonFiniteLine);
    }
    let plausible = match q.market {
        Market::Spread => x.abs() <= 60.0,
        Market::Total => x > 0.0 && x <= 150.0,
        Market::Moneyline => true,
    };
    if !plausible || (x * 4.0).fract() != 0.0 {
        return Err(RejectReason::InvalidLine);
    }
    // Normalise −0.0 (a pick'em written as "-0") to 0.
    Ok(Some(if x == 0.0 { 0.0 } else { x }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::loose::Loose;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 9, 8, 16, 0, 0).unwrap()
    }

    fn feed(quotes: Vec<RawQuote>) -> RawFeed {
        let kickoff = Utc.with_ymd_and_hms(2024, 9, 8, 17, 0, 0).unwrap();
        RawFeed {
            events: vec![Event::new("e1", "Kansas City Chiefs", "Baltimore Ravens", Some(kickoff))],
            quotes,
            skipped: Default::default(),
        }
    }

    fn q(market: Market, name: Option<&str>, line: Option<Loose>, price: RawPrice, at: RawTime) -> RawQuote {
        RawQuote {
            event: 0,
            book: "fanduel".into(),
            market,
            name: name.map(Into::into),
            line,
            price,
            observed_at: at,
        }
    }

    fn am(x: f64) -> RawPrice {
        RawPrice::American(Some(Loose::Number(x)))
    }

    #[test]
    fn each_reason() {
        let t = RawTime::At(now() - Duration::seconds(30));
        let n = |x: f64| Some(Loose::Number(x));
        let cases: Vec<(RawQuote, Option<&str>)> = vec![
            (q(Market::Moneyline, Some("Kansas City Chiefs"), None, am(-150.0), t), None),
            (q(Market::Moneyline, Some("Baltimore Ravens"), None, am(-80.0), t), Some("invalid_price")),
            (q(Market::Moneyline, Some("Baltimore Ravens"), None, am(0.0), t), Some("invalid_price")),
            (
                q(Market::Moneyline, Some("Baltimore Ravens"), None, RawPrice::American(None), t),
                Some("missing_price"),
            ),
            (q(Market::Moneyline, None, None, am(120.0), t), Some("missing_selection")),
            (q(Market::Moneyline, Some("  "), None, am(120.0), t), Some("missing_selection")),
            (q(Market::Moneyline, Some("Dallas Cowboys"), None, am(120.0), t), Some("unknown_selection")),
            (q(Market::Spread, Some("KC"), None, am(-110.0), t), Some("missing_line")),
            (
                q(Market::Spread, Some("KC"), Some(Loose::Text("NaN".into())), am(-110.0), t),
                Some("non_finite_line"),
            ),
            (q(Market::Spread, Some("KC"), n(-3.3), am(-110.0), t), Some("invalid_line")),
            (q(Market::Total, Some("Over"), n(-1.0), am(-110.0), t), Some("invalid_line")),
            (q(Market::Total, Some("Push"), n(45.5), am(-110.0), t), Some("unknown_selection")),
            (
                q(Market::Total, Some("Over"), n(45.5), am(-110.0), RawTime::Missing),
                Some("missing_timestamp"),
            ),
            (
                q(Market::Total, Some("Over"), n(45.5), am(-110.0), RawTime::Invalid),
                Some("invalid_timestamp"),
            ),
            (
                q(Market::Total, Some("Over"), n(45.5), am(-110.0), RawTime::At(now() - Duration::hours(1))),
                Some("stale"),
            ),
            (
                q(Market::Total, Some("Over"), n(45.5), am(-110.0), RawTime::At(now() + Duration::hours(1))),
                Some("future_timestamp"),
            ),
        ];
        for (raw, want) in cases {
            let desc = format!("{raw:?}");
            let out = normalise(feed(vec![raw]), &ValidationPolicy::default(), now());
            match want {
                None => assert_eq!(out.quotes.len(), 1, "{desc}"),
                Some(r) => assert_eq!(out.rejected.get(r), Some(&1), "{desc}: {:?}", out.rejected),
            }
        }
    }

    #[test]
    fn pickem_even_money_and_duplicates() {
        let t = RawTime::At(now());
        let out = normalise(
            feed(vec![
                q(Market::Spread, Some("Kansas City Chiefs"), Some(Loose::Number(0.0)), am(-100.0), t),
                q(Market::Spread, Some("Baltimore Ravens"), Some(Loose::Text("PK".into())), am(100.0), t),
                q(Market::Spread, Some("Baltimore Ravens"), Some(Loose::Number(-0.0)), am(100.0), t),
                q(
                    Market::Moneyline,
                    Some("KC"),
                    Some(Loose::Number(0.0)),
                    RawPrice::American(Some(Loose::Text("EVEN".into()))),
                    t,
                ),
            ]),
            &ValidationPolicy::default(),
            now(),
        );
        assert_eq!(out.quotes.len(), 3, "{:?}", out.rejected);
        assert_eq!(out.rejected.get("duplicate"), Some(&1));
        assert_eq!(out.quotes[0].line, Some(0.0));
        assert_eq!(out.quotes[0].decimal, 2.0);
        assert_eq!(out.quotes[1].selection, Selection::Team("BAL".into()));
        assert_eq!(out.quotes[2].line, None, "moneyline carries no line");
        assert_eq!(out.quotes[2].american, 100);
        assert_eq!(out.quotes[0].game_id.as_deref(), Some("2024_01_BAL_KC"));
    }
}
