//! NFL season and week from a kickoff time, and nflverse game ids.
//!
//! Feeds give a kickoff instant, not a week. The NFL calendar is regular enough to derive it:
//! the season opens on the Thursday after Labor Day (the first Monday of September), weeks run
//! Wednesday to Tuesday (so a Christmas Wednesday game opens its week, and a game postponed from
//! Sunday or Monday to Tuesday stays in its week), the regular season has 18 weeks (17 before 2021), then wild card, divisional
//! and conference weeks, one bye week, and the Super Bowl. nflverse numbers the Super Bowl as the
//! week after the conference games, skipping the bye; this module does the same.
//!
//! Where the calendar cannot say (a kickoff in the bye week, before the opener, or in the
//! off-season) the week is None and the quote keeps only the provider's event id. Dates are taken
//! in US Eastern time (America/New_York, daylight saving included), the time zone of the nflverse
//! file's `gameday`.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};

/// Season and week of one game.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeasonWeek {
    pub season: i32,
    pub week: u32,
}

/// The Eastern calendar date of a kickoff.
pub fn eastern_date(kickoff: DateTime<Utc>) -> NaiveDate {
    kickoff.with_timezone(&chrono_tz::America::New_York).date_naive()
}

/// NFL season of a game played on this Eastern date: the year, minus one in January and February.
pub fn season_of(date: NaiveDate) -> i32 {
    if date.month() <= 2 { date.year() - 1 } else { date.year() }
}

/// Thursday after Labor Day of a season: the scheduled opener.
pub fn opening_thursday(season: i32) -> Option<NaiveDate> {
    let labor_day = NaiveDate::from_weekday_of_month_opt(season, 9, Weekday::Mon, 1)?;
    Some(labor_day + Duration::days(3))
}

/// Regular-season weeks of a season.
pub fn regular_season_weeks(season: i32) -> u32 {
    if season >= 2021 { 18 } else { 17 }
}

/// nflverse week of a game on this Eastern date, when the calendar determines it.
pub fn week_of(date: NaiveDate) -> Option<SeasonWeek> {
    let season = season_of(date);
    // Weeks run Wednesday..Tuesday: a Wednesday opener (2012) or a Christmas Wednesday game
    // belongs to the week of the Thursday after it, a Tuesday make-up game to the week before.
    let first_wednesday = opening_thursday(season)? - Duration::days(1);
    let days = (date - first_wednesday).num_days();
    if days < 0 {
        return None;
    }
    let raw = u32::try_from(days / 7).ok()? + 1;
    let regular = regular_season_weeks(season);
    let week = match raw {
        w if w <= regular + 3 => w,
        // The bye week before the Super Bowl has no games.
        w if w == regular + 4 => return None,
        w if w == regular + 5 => regular + 4,
        _ => return None,
    };
    Some(SeasonWeek { season, week })
}

/// nflverse game id, `SEASON_WEEK_AWAY_HOME` with a two-digit week (`2024_01_BAL_KC`).
pub fn game_id(sw: SeasonWeek, away: &str, home: &str) -> String {
    format!("{}_{:02}_{}_{}", sw.season, sw.week, away, home)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn known_weeks() {
        let cases = [
            (d(2024, 9, 5), 2024, 1),    // opener
            (d(2024, 9, 9), 2024, 1),    // Monday night
            (d(2024, 12, 25), 2024, 17), // Christmas Wednesday
            (d(2025, 1, 5), 2024, 18),
            (d(2025, 1, 11), 2024, 19), // wild card
            (d(2025, 1, 26), 2024, 21), // conference
            (d(2025, 2, 9), 2024, 22),  // Super Bowl after the bye
            (d(2012, 9, 5), 2012, 1),   // Wednesday opener
            (d(2021, 2, 7), 2020, 21),  // 17-week era Super Bowl
        ];
        for (date, season, week) in cases {
            assert_eq!(week_of(date), Some(SeasonWeek { season, week }), "{date}");
        }
        assert_eq!(week_of(d(2025, 2, 2)), None, "bye week before the Super Bowl");
        assert_eq!(week_of(d(2024, 7, 1)), None, "off-season");
        assert_eq!(week_of(d(2024, 8, 15)), None, "preseason");
    }

    #[test]
    fn monday_night_in_utc_stays_on_monday() {
        // 20:15 EDT Monday is 00:15 UTC Tuesday.
        let k = Utc.with_ymd_and_hms(2024, 9, 10, 0, 15, 0).unwrap();
        assert_eq!(eastern_date(k), d(2024, 9, 9));
        let sw = week_of(eastern_date(k)).unwrap();
        assert_eq!(game_id(sw, "NYJ", "SF"), "2024_01_NYJ_SF");
    }

    /// Cross-check against the nflverse schedule in the shared data (`NFLBET_SHARED_DIR`, default
    /// `../shared`; a missing file fails the test, it never passes by skipping): every
    /// game from 2004 on (the era of a fixed opener and a bye before the Super Bowl) must get its
    /// nflverse week back from its date, except the one game the calendar cannot know: a game
    /// postponed by a whole week into the next week's Wednesday.
    #[test]
    fn agrees_with_nflverse_schedule() {
        let shared = std::env::var_os("NFLBET_SHARED_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
        let path = shared.join("data/nfl_games.csv");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; the nflverse games file is needed (set NFLBET_SHARED_DIR; see README, 'Test data')",
                path.display()
            )
        });
        let mut checked = 0;
        let mut wrong = Vec::new();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            let (Ok(season), Ok(week), Ok(date)) =
                (f[1].parse::<i32>(), f[3].parse::<u32>(), NaiveDate::parse_from_str(f[4], "%Y-%m-%d"))
            else {
                continue;
            };
            if season < 2004 {
                continue;
            }
            checked += 1;
            const POSTPONED: [&str; 1] = ["2020_12_BAL_PIT"];
            if week_of(date) != Some(SeasonWeek { season, week }) && !POSTPONED.contains(&f[0]) {
                wrong.push(format!("{} on {date}: got {:?}", f[0], week_of(date)));
            }
        }
        assert!(checked > 5000, "checked {checked}");
        assert!(
            wrong.is_empty(),
            "{} of {checked} games disagree: {:?}",
            wrong.len(),
            &wrong[..wrong.len().min(20)]
        );
    }
}
