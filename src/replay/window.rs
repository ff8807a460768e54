//! The replay window: `--from` / `--to` as dates (YYYY-MM-DD) or seasons (e.g. 2019).

use super::ReplayError;
use crate::domain::games::Game;
use chrono::NaiveDate;
use serde::Serialize;
use std::fmt;

/// One end of a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Bound {
    Date(NaiveDate),
    /// A season: as `--from` its first game, as `--to` its last (the Super Bowl is in February of
    /// the next calendar year but belongs to the season).
    Season(u16),
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bound::Date(d) => write!(f, "{d}"),
            Bound::Season(s) => write!(f, "season {s}"),
        }
    }
}

impl Bound {
    pub fn parse(flag: &'static str, value: &str) -> Result<Self, ReplayError> {
        let value = value.trim();
        if let Ok(season) = value.parse::<u16>()
            && (1920..=2100).contains(&season)
        {
            return Ok(Bound::Season(season));
        }
        NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .map(Bound::Date)
            .map_err(|_| ReplayError::InvalidBound { flag, value: value.to_string() })
    }

    /// Earliest date this bound can stand for (NFL seasons start in September).
    pub fn earliest(self) -> NaiveDate {
        match self {
            Bound::Date(d) => d,
            Bound::Season(s) => NaiveDate::from_ymd_opt(i32::from(s), 3, 1).unwrap_or(NaiveDate::MIN),
        }
    }

    /// Latest date this bound can stand for (seasons end in February).
    pub fn latest(self) -> NaiveDate {
        match self {
            Bound::Date(d) => d,
            Bound::Season(s) => NaiveDate::from_ymd_opt(i32::from(s) + 1, 2, 28).unwrap_or(NaiveDate::MAX),
        }
    }
}

/// A closed window of games.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    pub from: Bound,
    pub to: Bound,
}

impl Window {
    pub fn new(from: Bound, to: Bound) -> Result<Self, ReplayError> {
        if from.earliest() > to.latest() {
            return Err(ReplayError::FromAfterTo { from: from.to_string(), to: to.to_string() });
        }
        Ok(Self { from, to })
    }

    pub fn parse(from: &str, to: &str) -> Result<Self, ReplayError> {
        Self::new(Bound::parse("--from", from)?, Bound::parse("--to", to)?)
    }

    pub fn contains(&self, game: &Game) -> bool {
        let after_start = match self.from {
            Bound::Date(d) => game.gameday >= d,
            Bound::Season(s) => game.season >= s,
        };
        let before_end = match self.to {
            Bound::Date(d) => game.gameday <= d,
            Bound::Season(s) => game.season <= s,
        };
        after_start && before_end
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} to {}", self.from, self.to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dates_and_seasons() {
        assert_eq!(Bound::parse("--from", "2019").unwrap(), Bound::Season(2019));
        assert_eq!(
            Bound::parse("--to", "2020-01-05").unwrap(),
            Bound::Date(NaiveDate::from_ymd_opt(2020, 1, 5).unwrap())
        );
        assert!(Bound::parse("--from", "last week").is_err());
        assert!(Bound::parse("--from", "2019-13-01").is_err());
        assert!(Window::parse("2020", "2019").is_err());
        assert!(Window::parse("2020-01-10", "2020-01-09").is_err());
        // A season's Super Bowl (February) is inside "--to <season>".
        assert!(Window::parse("2019", "2019-12-31").is_ok());
        assert!(Window::parse("2020-01-15", "2019").is_ok());
    }
}
