//! Loader for the nflverse games file (`nflverse/nfldata`, `data/games.csv`, maintained by Lee
//! Sharpe): one row per game with scores and closing lines, 1999 onward.
//!
//! **When a result is known.** Learning is cut off by instants, never by dates: `gameday` is the
//! US Eastern date and `gametime` the US Eastern wall-clock kickoff, so a night game's kickoff
//! (20:20 ET = 00:20 UTC the next day) falls on another UTC date than its `gameday`. The kickoff
//! instant is built with the America/New_York time zone (daylight saving included). A game's
//! result counts as known [`RESULT_DELAY`] (4 h) after kickoff: a game lasts about 3 h 15 min
//! with overtime and stoppages included, so 4 h is after every game has ended and never before
//! kickoff. Where the file has no time (every 1999 game), the result is known 4 h after the end
//! of the Eastern day, and a forecast counts as pre-game only before the start of that day.
//!
//! The file is read by column name, so extra or reordered columns do not matter. Quirks handled:
//! empty fields and quoted empty strings (`""`) are "absent"; `-0` is zero; rows of games not yet
//! played have no scores (an in-progress season) and are kept, unsettled.

use super::market::{BookPrice, Market, Selection};
use super::odds::{OddsError, validate_american};
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::America::New_York;
use serde::Serialize;
use std::io::Read;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The book name given to the games file's closing lines (the file does not say which book).
pub const CLOSING_BOOK: &str = "close";

/// How long after kickoff a game's result is taken as known (see the module documentation).
pub const RESULT_DELAY: Duration = Duration::hours(4);

/// The instant of a US Eastern wall-clock time. Kickoffs are never in the hour that daylight
/// saving skips or repeats (02:00 on a Sunday in March or November); a repeated time takes its
/// first instant, a skipped one is None.
pub fn eastern_instant(day: NaiveDate, time: NaiveTime) -> Option<DateTime<Utc>> {
    New_York.from_local_datetime(&NaiveDateTime::new(day, time)).earliest().map(|t| t.with_timezone(&Utc))
}

/// Midnight at the start of an Eastern date, as an instant.
fn eastern_midnight(day: NaiveDate) -> DateTime<Utc> {
    eastern_instant(day, NaiveTime::MIN)
        // No US zone has had a daylight-saving change at midnight since 1974; UTC−5 as a fallback.
        .unwrap_or_else(|| day.and_time(NaiveTime::MIN).and_utc() + Duration::hours(5))
}

#[derive(Debug, Error)]
pub enum GamesError {
    #[error("cannot open games file {path}")]
    Open { path: PathBuf, source: std::io::Error },
    #[error("games file is not valid CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("games file has no `{0}` column; is it the nflverse games.csv?")]
    MissingColumn(&'static str),
    #[error("games file line {line}, column `{column}`: {reason} (value {value:?})")]
    BadField { line: u64, column: &'static str, value: String, reason: String },
}

/// Regular season or a playoff round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum GameType {
    #[serde(rename = "REG")]
    Regular,
    #[serde(rename = "WC")]
    WildCard,
    #[serde(rename = "DIV")]
    Divisional,
    #[serde(rename = "CON")]
    Conference,
    #[serde(rename = "SB")]
    SuperBowl,
}

impl GameType {
    pub fn is_playoff(self) -> bool {
        self != GameType::Regular
    }
}

/// One game with its result (if played) and closing lines (if recorded).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Game {
    /// `SEASON_WEEK_AWAY_HOME`, e.g. `2023_01_DET_KC`.
    pub game_id: String,
    pub season: u16,
    pub game_type: GameType,
    pub week: u8,
    pub gameday: NaiveDate,
    /// Kickoff instant, from `gameday` and `gametime` in US Eastern time; None when the file
    /// has no time (1999).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kickoff: Option<DateTime<Utc>>,
    pub away_team: String,
    pub home_team: String,
    pub away_score: Option<u32>,
    pub home_score: Option<u32>,
    /// A neutral site: the "home" team is nominal and gets no home-field advantage.
    pub neutral: bool,
    pub away_moneyline: Option<i32>,
    pub home_moneyline: Option<i32>,
    /// Points the home team is favoured by (nflverse convention: positive = home favoured).
    pub spread_line: Option<f64>,
    pub away_spread_odds: Option<i32>,
    pub home_spread_odds: Option<i32>,
    pub total_line: Option<f64>,
    pub under_odds: Option<i32>,
    pub over_odds: Option<i32>,
    /// What else is known before kickoff (rest, starting quarterbacks).
    #[serde(skip_serializing_if = "PreGame::is_empty")]
    pub pre_game: PreGame,
}

/// What the games file knows about a game before kickoff besides teams, date and site: days of
/// rest and the starting quarterbacks (nflverse `home_rest`, `away_rest`, `home_qb_id`,
/// `away_qb_id`; optional columns, absent values are None). Starters are announced before
/// kickoff, so a forecast may use them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PreGame {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub home_rest: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub away_rest: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub home_qb: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub away_qb: Option<String>,
}

impl PreGame {
    pub fn is_empty(&self) -> bool {
        *self == PreGame::default()
    }
}

impl Game {
    /// A played regular-season week-1 game without lines, for tests.
    #[cfg(test)]
    pub(crate) fn played(
        gameday: NaiveDate,
        home: &str,
        away: &str,
        home_score: u32,
        away_score: u32,
    ) -> Game {
        use chrono::Datelike;
        Game {
            game_id: format!("{}_01_{away}_{home}", gameday.year()),
            season: gameday.year() as u16,
            game_type: GameType::Regular,
            week: 1,
            gameday,
            kickoff: eastern_instant(gameday, NaiveTime::from_hms_opt(13, 0, 0).unwrap_or(NaiveTime::MIN)),
            away_team: away.into(),
            home_team: home.into(),
            away_score: Some(away_score),
            home_score: Some(home_score),
            neutral: false,
            away_moneyline: None,
            home_moneyline: None,
            spread_line: None,
            away_spread_odds: None,
            home_spread_odds: None,
            total_line: None,
            under_odds: None,
            over_odds: None,
            pre_game: PreGame::default(),
        }
    }

    /// The last instant at which a forecast is surely made before kickoff: the kickoff, or
    /// when the file has no time the start of the game's Eastern day.
    pub fn forecast_deadline(&self) -> DateTime<Utc> {
        self.kickoff.unwrap_or_else(|| eastern_midnight(self.gameday))
    }

    /// From when the result may be used: kickoff + [`RESULT_DELAY`], or with no kickoff time the
    /// end of the Eastern day + [`RESULT_DELAY`].
    pub fn result_known_at(&self) -> DateTime<Utc> {
        let kickoff = self.kickoff.unwrap_or_else(|| eastern_midnight(self.gameday + Duration::days(1)));
        kickoff + RESULT_DELAY
    }

    /// The game has a result and a model pricing at `at` may learn it.
    pub fn result_known_by(&self, at: DateTime<Utc>) -> bool {
        self.score().is_some() && self.result_known_at() <= at
    }

    /// Final score as (home, away), if the game has been played.
    pub fn score(&self) -> Option<(u32, u32)> {
        Some((self.home_score?, self.away_score?))
    }

    /// Home points minus away points.
    pub fn home_margin(&self) -> Option<i32> {
        let (h, a) = self.score()?;
        Some(h as i32 - a as i32)
    }

    /// The closing prices in this row as book prices from [`CLOSING_BOOK`], for every market whose
    /// line and both prices are present.
    pub fn closing_prices(&self) -> Vec<BookPrice> {
        let price = |market, selection, line, american| BookPrice {
            book: CLOSING_BOOK.to_string(),
            market,
            selection,
            line,
            american,
        };
        let mut prices = Vec::with_capacity(6);
        if let (Some(h), Some(a)) = (self.home_moneyline, self.away_moneyline) {
            prices.push(price(Market::Moneyline, Selection::Home, None, h));
            prices.push(price(Market::Moneyline, Selection::Away, None, a));
        }
        if let (Some(s), Some(h), Some(a)) = (self.spread_line, self.home_spread_odds, self.away_spread_odds)
        {
            // Lines are from each selection's view; `+ 0.0` turns a -0 into 0.
            prices.push(price(Market::Spread, Selection::Home, Some(-s + 0.0), h));
            prices.push(price(Market::Spread, Selection::Away, Some(s + 0.0), a));
        }
        if let (Some(t), Some(o), Some(u)) = (self.total_line, self.over_odds, self.under_odds) {
            prices.push(price(Market::Total, Selection::Over, Some(t), o));
            prices.push(price(Market::Total, Selection::Under, Some(t), u));
        }
        prices
    }
}

/// Read a games file from disk.
pub fn load_games(path: &Path) -> Result<Vec<Game>, GamesError> {
    let file =
        std::fs::File::open(path).map_err(|source| GamesError::Open { path: path.to_path_buf(), source })?;
    parse_games(std::io::BufReader::new(file))
}

/// Parse the nflverse games CSV format.
pub fn parse_games(reader: impl Read) -> Result<Vec<Game>, GamesError> {
    let mut csv = csv::ReaderBuilder::new().has_headers(true).from_reader(reader);
    let headers = csv.headers()?.clone();
    let column = |name: &'static str| {
        headers.iter().position(|h| h.trim() == name).ok_or(GamesError::MissingColumn(name))
    };
    let optional = |name: &str| headers.iter().position(|h| h.trim() == name);
    let cols = Columns {
        game_id: column("game_id")?,
        season: column("season")?,
        game_type: column("game_type")?,
        week: column("week")?,
        gameday: column("gameday")?,
        gametime: headers.iter().position(|h| h.trim() == "gametime"),
        away_team: column("away_team")?,
        away_score: column("away_score")?,
        home_team: column("home_team")?,
        home_score: column("home_score")?,
        location: column("location")?,
        away_moneyline: column("away_moneyline")?,
        home_moneyline: column("home_moneyline")?,
        spread_line: column("spread_line")?,
        away_spread_odds: column("away_spread_odds")?,
        home_spread_odds: column("home_spread_odds")?,
        total_line: column("total_line")?,
        under_odds: column("under_odds")?,
        over_odds: column("over_odds")?,
        home_rest: optional("home_rest"),
        away_rest: optional("away_rest"),
        home_qb: optional("home_qb_id"),
        away_qb: optional("away_qb_id"),
    };
    let mut games = Vec::new();
    let mut record = csv::StringRecord::new();
    while csv.read_record(&mut record)? {
        let line = record.position().map_or(0, |p| p.line());
        games.push(parse_row(&record, &cols, line)?);
    }
    Ok(games)
}

struct Columns {
    game_id: usize,
    season: usize,
    game_type: usize,
    week: usize,
    gameday: usize,
    /// Optional: without it every kickoff time is unknown.
    gametime: Option<usize>,
    away_team: usize,
    away_score: usize,
    home_team: usize,
    home_score: usize,
    location: usize,
    away_moneyline: usize,
    home_moneyline: usize,
    spread_line: usize,
    away_spread_odds: usize,
    home_spread_odds: usize,
    total_line: usize,
    under_odds: usize,
    over_odds: usize,
    /// Optional pre-game columns.
    home_rest: Option<usize>,
    away_rest: Option<usize>,
    home_qb: Option<usize>,
    away_qb: Option<usize>,
}

struct Row<'a> {
    record: &'a csv::StringRecord,
    line: u64,
}

impl Row<'_> {
    fn raw(&self, index: usize) -> &str {
        self.record.get(index).unwrap_or("").trim()
    }

    fn bad(&self, column: &'static str, value: &str, reason: impl ToString) -> GamesError {
        GamesError::BadField { line: self.line, column, value: value.to_string(), reason: reason.to_string() }
    }

    fn required(&self, index: usize, column: &'static str) -> Result<&str, GamesError> {
        let value = self.raw(index);
        if value.is_empty() { Err(self.bad(column, value, "required but empty")) } else { Ok(value) }
    }

    fn parse<T: std::str::FromStr>(&self, index: usize, column: &'static str) -> Result<Option<T>, GamesError>
    where
        T::Err: std::fmt::Display,
    {
        let value = self.raw(index);
        if value.is_empty() || value.eq_ignore_ascii_case("NA") {
            return Ok(None);
        }
        value.parse().map(Some).map_err(|e| self.bad(column, value, e))
    }

    fn line_value(&self, index: usize, column: &'static str) -> Result<Option<f64>, GamesError> {
        match self.parse::<f64>(index, column)? {
            Some(v) if !v.is_finite() => Err(self.bad(column, self.raw(index), "not finite")),
            // `+ 0.0` normalises the file's `-0` spread to 0.
            other => Ok(other.map(|v| v + 0.0)),
        }
    }

    fn american(&self, index: usize, column: &'static str) -> Result<Option<i32>, GamesError> {
        let value = self.parse::<i32>(index, column)?;
        if let Some(a) = value {
            validate_american(a).map_err(|e: OddsError| self.bad(column, self.raw(index), e))?;
        }
        Ok(value)
    }
}

fn parse_row(record: &csv::StringRecord, c: &Columns, line: u64) -> Result<Game, GamesError> {
    let row = Row { record, line };
    let game_id = row.required(c.game_id, "game_id")?.to_string();
    let season = row.parse::<u16>(c.season, "season")?.ok_or_else(|| row.bad("season", "", "required"))?;
    let week = row.parse::<u8>(c.week, "week")?.ok_or_else(|| row.bad("week", "", "required"))?;
    let game_type = match row.required(c.game_type, "game_type")? {
        "REG" => GameType::Regular,
        "WC" => GameType::WildCard,
        "DIV" => GameType::Divisional,
        "CON" => GameType::Conference,
        "SB" => GameType::SuperBowl,
        other => return Err(row.bad("game_type", other, "expected REG, WC, DIV, CON or SB")),
    };
    let gameday_raw = row.required(c.gameday, "gameday")?;
    let gameday =
        NaiveDate::parse_from_str(gameday_raw, "%Y-%m-%d").map_err(|e| row.bad("gameday", gameday_raw, e))?;
    let kickoff =
        match c.gametime.map(|i| row.raw(i)).filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("NA")) {
            None => None,
            Some(raw) => {
                let time = NaiveTime::parse_from_str(raw, "%H:%M")
                    .map_err(|e| row.bad("gametime", raw, format!("{e}; expected HH:MM, US Eastern")))?;
                Some(eastern_instant(gameday, time).ok_or_else(|| {
                    row.bad("gametime", raw, "not a valid time in America/New_York that day")
                })?)
            }
        };
    let away_team = row.required(c.away_team, "away_team")?.to_string();
    let home_team = row.required(c.home_team, "home_team")?.to_string();
    let expected_id = format!("{season}_{week:02}_{away_team}_{home_team}");
    if game_id != expected_id {
        return Err(row.bad("game_id", &game_id, format!("expected SEASON_WEEK_AWAY_HOME = {expected_id}")));
    }
    let away_score = row.parse::<u32>(c.away_score, "away_score")?;
    let home_score = row.parse::<u32>(c.home_score, "home_score")?;
    if away_score.is_some() != home_score.is_some() {
        return Err(row.bad("home_score", row.raw(c.home_score), "only one team has a score"));
    }
    Ok(Game {
        game_id,
        season,
        game_type,
        week,
        gameday,
        kickoff,
        away_team,
        home_team,
        away_score,
        home_score,
        neutral: row.raw(c.location).eq_ignore_ascii_case("Neutral"),
        away_moneyline: row.american(c.away_moneyline, "away_moneyline")?,
        home_moneyline: row.american(c.home_moneyline, "home_moneyline")?,
        spread_line: row.line_value(c.spread_line, "spread_line")?,
        away_spread_odds: row.american(c.away_spread_odds, "away_spread_odds")?,
        home_spread_odds: row.american(c.home_spread_odds, "home_spread_odds")?,
        total_line: row.line_value(c.total_line, "total_line")?,
        under_odds: row.american(c.under_odds, "under_odds")?,
        over_odds: row.american(c.over_odds, "over_odds")?,
        pre_game: PreGame {
            home_rest: c.home_rest.map(|i| row.parse::<u16>(i, "home_rest")).transpose()?.flatten(),
            away_rest: c.away_rest.map(|i| row.parse::<u16>(i, "away_rest")).transpose()?.flatten(),
            home_qb: c
                .home_qb
                .map(|i| row.raw(i))
                .filter(|q| !q.is_empty() && *q != "NA")
                .map(str::to_string),
            away_qb: c
                .away_qb
                .map(|i| row.raw(i))
                .filter(|q| !q.is_empty() && *q != "NA")
                .map(str::to_string),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "game_id,season,game_type,week,gameday,weekday,gametime,away_team,away_score,home_team,home_score,location,result,total,overtime,away_moneyline,home_moneyline,spread_line,away_spread_odds,home_spread_odds,total_line,under_odds,over_odds,surface";

    #[test]
    fn parses_played_unplayed_and_quirky_rows() {
        let csv = format!(
            "{HEADER}\n\
             2023_01_DET_KC,2023,REG,1,2023-09-07,Thursday,20:20,DET,21,KC,20,Home,-1,41,0,180,-218,-0,-110,-110,53,-110,-110,\"\"\n\
             2025_18_BAL_PIT,2025,REG,18,2026-01-04,Sunday,13:00,BAL,,PIT,,Home,,,,,,,,,,,,grass\n\
             2022_22_PHI_KC,2022,SB,22,2023-02-12,Sunday,18:30,PHI,35,KC,38,Neutral,3,73,0,-120,100,-1.5,-105,-115,50.5,-110,-110,grass\n"
        );
        let games = parse_games(csv.as_bytes()).unwrap();
        assert_eq!(games.len(), 3);
        let det = &games[0];
        assert_eq!(det.spread_line, Some(0.0));
        assert!(det.spread_line.unwrap().is_sign_positive());
        assert_eq!(det.home_margin(), Some(-1));
        assert_eq!((det.home_moneyline, det.away_moneyline), (Some(-218), Some(180)));
        assert_eq!(det.closing_prices().len(), 6);
        let unplayed = &games[1];
        assert_eq!(unplayed.score(), None);
        assert!(unplayed.closing_prices().is_empty());
        let sb = &games[2];
        assert!(sb.neutral && sb.game_type.is_playoff());
        let home_spread = sb.closing_prices().into_iter().find(|p| p.market == Market::Spread).unwrap();
        assert_eq!((home_spread.selection, home_spread.line), (Selection::Home, Some(1.5)));
    }

    #[test]
    fn kickoffs_are_eastern_instants_and_results_come_four_hours_later() {
        let csv = format!(
            "{HEADER}\n\
             2023_01_DAL_NYG,2023,REG,1,2023-09-10,Sunday,20:20,DAL,40,NYG,0,Home,-40,40,0,,,,,,,,,\n\
             2023_04_JAX_ATL,2023,REG,4,2023-10-01,Sunday,09:30,JAX,23,ATL,7,Neutral,-16,30,0,,,,,,,,,\n\
             2023_10_DEN_BUF,2023,REG,10,2023-11-13,Monday,20:15,DEN,24,BUF,22,Home,-2,46,0,,,,,,,,,\n\
             1999_01_MIN_ATL,1999,REG,1,1999-09-12,Sunday,,MIN,17,ATL,14,Home,-3,31,0,,,,,,,,,\n"
        );
        let games = parse_games(csv.as_bytes()).unwrap();
        let utc = |y, m, d, h, min| Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap();
        // Sunday night in daylight saving time: 20:20 EDT is 00:20 UTC on Monday.
        let night = &games[0];
        assert_eq!(night.kickoff, Some(utc(2023, 9, 11, 0, 20)));
        assert_eq!(night.result_known_at(), utc(2023, 9, 11, 4, 20));
        assert!(!night.result_known_by(utc(2023, 9, 11, 0, 10)), "not before kickoff");
        assert!(!night.result_known_by(utc(2023, 9, 11, 4, 19)));
        assert!(night.result_known_by(utc(2023, 9, 11, 4, 20)));
        // London, 09:30 EDT = 13:30 UTC.
        assert_eq!(games[1].kickoff, Some(utc(2023, 10, 1, 13, 30)));
        // After daylight saving ends: 20:15 EST = 01:15 UTC.
        assert_eq!(games[2].kickoff, Some(utc(2023, 11, 14, 1, 15)));
        // No time: pre-game only before the Eastern day starts, known 4 h after it ends.
        let untimed = &games[3];
        assert_eq!(untimed.kickoff, None);
        assert_eq!(untimed.forecast_deadline(), utc(1999, 9, 12, 4, 0));
        assert_eq!(untimed.result_known_at(), utc(1999, 9, 13, 8, 0));
        let unplayed = Game { away_score: None, home_score: None, ..night.clone() };
        assert!(!unplayed.result_known_by(utc(2030, 1, 1, 0, 0)), "no result, nothing to know");
    }

    #[test]
    fn bad_gametime_is_refused_with_line_and_column() {
        for bad in ["8:20pm", "25:00"] {
            let csv = format!(
                "{HEADER}\n2023_01_DAL_NYG,2023,REG,1,2023-09-10,Sunday,{bad},DAL,40,NYG,0,Home,-40,40,0,,,,,,,,,\n"
            );
            let err = parse_games(csv.as_bytes()).unwrap_err();
            assert!(matches!(err, GamesError::BadField { line: 2, column: "gametime", .. }), "{err}");
        }
        // 02:30 on the March Sunday when clocks jump from 02:00 to 03:00 does not exist.
        let csv = format!(
            "{HEADER}\n2024_01_DAL_NYG,2024,REG,1,2024-03-10,Sunday,02:30,DAL,40,NYG,0,Home,-40,40,0,,,,,,,,,\n"
        );
        assert!(parse_games(csv.as_bytes()).unwrap_err().to_string().contains("America/New_York"));
    }

    #[test]
    fn bad_rows_name_line_and_column() {
        let csv = format!(
            "{HEADER}\n2023_01_DET_KC,2023,REG,1,2023-09-07,Thursday,20:20,DET,21,KC,20,Home,-1,41,0,180,-80,3,-110,-110,53,-110,-110,grass\n"
        );
        let err = parse_games(csv.as_bytes()).unwrap_err();
        assert!(matches!(err, GamesError::BadField { line: 2, column: "home_moneyline", .. }), "{err}");
        let csv = format!(
            "{HEADER}\n2023_01_DET_KC,2023,REG,1,2023-09-07,Thursday,20:20,DET,21,KC,20,Home,-1,41,0,180,-218,3.5x,-110,-110,53,-110,-110,grass\n"
        );
        assert!(parse_games(csv.as_bytes()).unwrap_err().to_string().contains("spread_line"));
        let csv = format!(
            "{HEADER}\n2023_01_KC_DET,2023,REG,1,2023-09-07,Thursday,20:20,DET,21,KC,20,Home,-1,41,0,,,,,,,,,grass\n"
        );
        assert!(parse_games(csv.as_bytes()).unwrap_err().to_string().contains("SEASON_WEEK_AWAY_HOME"));
        assert!(matches!(
            parse_games("game_id,season\n".as_bytes()),
            Err(GamesError::MissingColumn("game_type"))
        ));
    }
}
