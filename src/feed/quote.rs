//! The normalised quote model: what every provider's payload becomes and what a snapshot holds.
//!
//! Events are stored once and quotes refer to them by the provider's event id, which is always
//! present; the nflverse game id is added when both teams are NFL teams and the kickoff falls in a
//! week the calendar can name (see [`super::calendar`]).

use super::calendar::{self, SeasonWeek};
use super::price::Price;
use super::teams;
use crate::domain::market::Market;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One game as a feed describes it, with its nflverse identity where it can be determined.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// The provider's id of the event; always present, unique within a payload. Shared with
    /// every quote of the event.
    pub id: Arc<str>,
    /// nflverse game id `SEASON_WEEK_AWAY_HOME`, when teams and kickoff determine it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub game_id: Option<Arc<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub season: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub week: Option<u32>,
    /// nflverse abbreviation of the home team, when it is an NFL team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<String>,
    /// nflverse abbreviation of the away team, when it is an NFL team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub away: Option<String>,
    /// Home team as the provider spelled it.
    pub home_name: String,
    /// Away team as the provider spelled it.
    pub away_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kickoff: Option<DateTime<Utc>>,
}

impl Event {
    /// Build an event and derive its nflverse identity from the names and kickoff.
    pub fn new(id: &str, home_name: &str, away_name: &str, kickoff: Option<DateTime<Utc>>) -> Event {
        let home = teams::abbreviation(home_name);
        let away = teams::abbreviation(away_name);
        let sw: Option<SeasonWeek> = kickoff.and_then(|k| calendar::week_of(calendar::eastern_date(k)));
        let game_id = match (sw, away, home) {
            (Some(sw), Some(a), Some(h)) if a != h => Some(calendar::game_id(sw, a, h)),
            _ => None,
        };
        Event {
            id: Arc::from(id),
            game_id: game_id.map(Arc::from),
            season: sw.map(|s| s.season),
            week: sw.map(|s| s.week),
            home: home.map(str::to_owned),
            away: away.map(str::to_owned),
            home_name: home_name.to_owned(),
            away_name: away_name.to_owned(),
            kickoff,
        }
    }

    /// The nflverse abbreviation of a team name if it is one of this event's two teams.
    pub fn side_of(&self, name: &str) -> Option<&str> {
        if name == self.home_name || name == self.away_name {
            // Exact provider spelling: the fast path for The Odds API, whose outcome names repeat
            // home_team/away_team verbatim.
            return if name == self.home_name { self.home.as_deref() } else { self.away.as_deref() };
        }
        let abbr = teams::abbreviation(name)?;
        [self.home.as_deref(), self.away.as_deref()].into_iter().flatten().find(|t| *t == abbr)
    }
}

/// What a quote prices: a team (moneyline, spread) or a side of the total.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Selection {
    /// nflverse abbreviation of the team.
    Team(String),
    Over,
    Under,
}

impl Selection {
    pub fn as_str(&self) -> &str {
        match self {
            Selection::Team(t) => t,
            Selection::Over => "over",
            Selection::Under => "under",
        }
    }
}

/// The inverse of [`Selection::as_str`]: `over`, `under`, or a team.
impl From<&str> for Selection {
    fn from(s: &str) -> Selection {
        match s {
            "over" => Selection::Over,
            "under" => Selection::Under,
            _ => Selection::Team(s.to_owned()),
        }
    }
}

impl Serialize for Selection {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Selection {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.as_str() {
            "over" => Selection::Over,
            "under" => Selection::Under,
            _ => Selection::Team(s),
        })
    }
}

/// One validated price of one selection at one book.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Quote {
    /// Provider event id (see [`Event::id`]); shared with the event, not copied.
    pub event_id: Arc<str>,
    /// nflverse game id, shared with the event for readers that want quotes alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub game_id: Option<Arc<str>>,
    /// Bookmaker key, lower_snake as the provider spells it (`fanduel`, `draftkings`); shared by
    /// the book's quotes.
    pub book: Arc<str>,
    pub market: Market,
    pub selection: Selection,
    /// Spread from the selection's view (−3.5 = favourite by 3.5), or the total; None for
    /// moneyline. A pick'em spread is 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<f64>,
    pub american: i32,
    pub decimal: f64,
    /// When the book last updated this price (provider time, UTC).
    pub observed_at: DateTime<Utc>,
}

impl Quote {
    pub fn price(&self) -> Price {
        Price { american: self.american, decimal: self.decimal }
    }
}

/// A payload after normalisation and validation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Normalised {
    pub events: Vec<Event>,
    pub quotes: Vec<Quote>,
    /// Rejected quotes by reason (`RejectReason::as_str`).
    pub rejected: std::collections::BTreeMap<&'static str, u64>,
}

impl Normalised {
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}
