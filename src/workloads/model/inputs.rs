//! From snapshots to what a model prices: the quotes of every book, grouped by game, as the
//! domain's [`BookPrice`]s.
//!
//! Several Sportsbook resources may carry the same game (under its nflverse game id, or under a
//! provider's event id shared by two resources on one provider), so events are keyed by game id
//! when known and by provider event id otherwise; that key is also the `event` metric label. The
//! same book's price on the same selection and line can then appear twice; the most recently
//! observed one wins. Games that have kicked off are left out: the workload prices pre-game
//! markets only, and live prices would be compared with a pre-game consensus.

use crate::domain::games::Game;
use crate::domain::market::{BookPrice, Market, Selection};
use crate::domain::pricing_model::Fixture;
use crate::feed::quote::{Event, Selection as FeedSelection};
use crate::feed::snapshot::Snapshot;
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::HashMap;

/// One game's prices across every book.
#[derive(Clone, Debug, PartialEq)]
pub struct EventPrices {
    /// nflverse game id when known, else the provider event id: the `event` label.
    pub key: String,
    pub game_id: Option<String>,
    /// Provider event id (of the first snapshot that named the game).
    pub event_id: String,
    /// nflverse abbreviation when known, else the provider's spelling.
    pub home: String,
    pub away: String,
    /// Both teams are NFL teams the feed could name.
    pub teams_known: bool,
    pub season: Option<i32>,
    pub week: Option<u32>,
    pub kickoff: Option<DateTime<Utc>>,
    pub prices: Vec<BookPrice>,
}

impl EventPrices {
    /// The pre-kickoff view of the game: the games file's when it knows the game id (neutral
    /// site, playoff), else built from the feed's event (`today`, the Eastern date of the run,
    /// stands in for a missing kickoff).
    pub fn fixture(&self, games: &HashMap<String, Game>, today: NaiveDate) -> Fixture {
        if let Some(g) = self.game_id.as_ref().and_then(|id| games.get(id)) {
            return g.fixture();
        }
        let season = self
            .season
            .and_then(|s| u16::try_from(s).ok())
            .unwrap_or_else(|| u16::try_from(crate::feed::calendar::season_of(today)).unwrap_or(0));
        let week = self.week.and_then(|w| u8::try_from(w).ok()).unwrap_or(0);
        Fixture {
            game_id: self.key.clone(),
            season,
            week,
            gameday: self.kickoff.map(crate::feed::calendar::eastern_date).unwrap_or(today),
            home_team: self.home.clone(),
            away_team: self.away.clone(),
            neutral: false,
            playoff: u32::from(week) > crate::feed::calendar::regular_season_weeks(i32::from(season)),
            pre_game: Default::default(),
        }
    }

    /// Teams whose fortunes decide a bet on `selection`: the backed team, or both for a total.
    pub fn teams_of(&self, selection: Selection) -> Vec<String> {
        match selection {
            Selection::Home => vec![self.home.clone()],
            Selection::Away => vec![self.away.clone()],
            Selection::Over | Selection::Under => vec![self.home.clone(), self.away.clone()],
        }
    }

    /// The label of a selection: the team (abbreviation when known), `over` or `under`.
    pub fn selection_label(&self, selection: Selection) -> &str {
        match selection {
            Selection::Home => &self.home,
            Selection::Away => &self.away,
            Selection::Over => "over",
            Selection::Under => "under",
        }
    }
}

/// Counts of what the conversion skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Quotes of markets this model does not price.
    pub market: u64,
    /// Quotes whose team is neither side of the event.
    pub selection: u64,
    /// Quotes of games that have kicked off.
    pub started: u64,
    /// Older duplicates of a price seen in another snapshot.
    pub duplicate: u64,
}

fn key_of(event: &Event) -> String {
    event.game_id.as_deref().unwrap_or(&event.id).to_string()
}

/// (event key, book, market, selection, line in tenths).
type PriceKey = (String, String, Market, Selection, Option<i64>);

/// Groups the quotes of snapshots by game, one snapshot at a time, so a reader never holds
/// more than one decoded snapshot: keeps the markets asked for and games not yet started at
/// `now`, and turns team selections into home/away.
pub struct Collector<'a> {
    markets: &'a [Market],
    now: DateTime<Utc>,
    skipped: Skipped,
    order: Vec<String>,
    events: HashMap<String, EventPrices>,
    /// Price key → (index in its event's prices, observed at).
    seen: HashMap<PriceKey, (usize, DateTime<Utc>)>,
}

impl<'a> Collector<'a> {
    pub fn new(markets: &'a [Market], now: DateTime<Utc>) -> Collector<'a> {
        Collector {
            markets,
            now,
            skipped: Skipped::default(),
            order: Vec::new(),
            events: HashMap::new(),
            seen: HashMap::new(),
        }
    }

    /// Take in one snapshot's quotes; the snapshot can be dropped afterwards.
    pub fn add(&mut self, snap: &Snapshot) {
        let (markets, now, skipped) = (self.markets, self.now, &mut self.skipped);
        let by_id: HashMap<&str, &Event> = snap.events.iter().map(|e| (&*e.id, e)).collect();
        for q in &snap.quotes {
            let m = q.market;
            if !markets.contains(&m) {
                skipped.market += 1;
                continue;
            }
            let Some(event) = by_id.get(&*q.event_id) else {
                skipped.selection += 1;
                continue;
            };
            if event.kickoff.is_some_and(|k| k <= now) {
                skipped.started += 1;
                continue;
            }
            let selection = match &q.selection {
                FeedSelection::Over => Selection::Over,
                FeedSelection::Under => Selection::Under,
                FeedSelection::Team(t) if Some(t) == event.home.as_ref() => Selection::Home,
                FeedSelection::Team(t) if Some(t) == event.away.as_ref() => Selection::Away,
                FeedSelection::Team(_) => {
                    skipped.selection += 1;
                    continue;
                }
            };
            if !m.selections().contains(&selection) {
                skipped.selection += 1;
                continue;
            }
            let key = key_of(event);
            let order = &mut self.order;
            let entry = self.events.entry(key.clone()).or_insert_with(|| {
                order.push(key.clone());
                EventPrices {
                    key: key.clone(),
                    game_id: event.game_id.as_deref().map(str::to_string),
                    event_id: event.id.to_string(),
                    home: event.home.clone().unwrap_or_else(|| event.home_name.clone()),
                    away: event.away.clone().unwrap_or_else(|| event.away_name.clone()),
                    teams_known: event.home.is_some() && event.away.is_some(),
                    season: event.season,
                    week: event.week,
                    kickoff: event.kickoff,
                    prices: Vec::new(),
                }
            });
            let price = BookPrice {
                book: q.book.to_string(),
                market: m,
                selection,
                line: q.line,
                american: q.american,
            };
            let line_key = q.line.map(|l| (l * 10.0).round() as i64);
            let pk = (key, q.book.to_string(), m, selection, line_key);
            match self.seen.get_mut(&pk) {
                Some((idx, at)) => {
                    skipped.duplicate += 1;
                    if q.observed_at > *at {
                        entry.prices[*idx] = price;
                        *at = q.observed_at;
                    }
                }
                None => {
                    self.seen.insert(pk, (entry.prices.len(), q.observed_at));
                    entry.prices.push(price);
                }
            }
        }
    }

    /// The games, by kickoff then key, and what was skipped.
    pub fn finish(mut self) -> (Vec<EventPrices>, Skipped) {
        let mut out: Vec<EventPrices> =
            self.order.into_iter().filter_map(|k| self.events.remove(&k)).collect();
        out.sort_by(|a, b| (a.kickoff, &a.key).cmp(&(b.kickoff, &b.key)));
        (out, self.skipped)
    }
}

/// Group the quotes of `snapshots` by game (a [`Collector`] over all of them).
pub fn collect(
    snapshots: &[Snapshot],
    markets: &[Market],
    now: DateTime<Utc>,
) -> (Vec<EventPrices>, Skipped) {
    let mut c = Collector::new(markets, now);
    for snap in snapshots {
        c.add(snap);
    }
    c.finish()
}
