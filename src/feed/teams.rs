//! NFL team names to nflverse abbreviations.
//!
//! Feeds spell teams as full names ("Kansas City Chiefs"), nicknames, or one of several
//! abbreviation schemes. nflverse (and so our game ids) uses one scheme; this maps every common
//! spelling onto it. Lookups compare a lowercase alphanumeric slug, so "St. Louis Rams",
//! "st louis rams" and "STLOUISRAMS" are the same key. There is deliberately no fuzzy matching:
//! a wrong team is worse than a dropped quote.

/// The 32 current nflverse abbreviations.
pub const ABBREVIATIONS: [&str; 32] = [
    "ARI", "ATL", "BAL", "BUF", "CAR", "CHI", "CIN", "CLE", "DAL", "DEN", "DET", "GB", "HOU", "IND", "JAX",
    "KC", "LA", "LAC", "LV", "MIA", "MIN", "NE", "NO", "NYG", "NYJ", "PHI", "PIT", "SEA", "SF", "TB", "TEN",
    "WAS",
];

/// (abbreviation, full name, nickname) of the current teams.
const TEAMS: [(&str, &str, &str); 32] = [
    ("ARI", "Arizona Cardinals", "Cardinals"),
    ("ATL", "Atlanta Falcons", "Falcons"),
    ("BAL", "Baltimore Ravens", "Ravens"),
    ("BUF", "Buffalo Bills", "Bills"),
    ("CAR", "Carolina Panthers", "Panthers"),
    ("CHI", "Chicago Bears", "Bears"),
    ("CIN", "Cincinnati Bengals", "Bengals"),
    ("CLE", "Cleveland Browns", "Browns"),
    ("DAL", "Dallas Cowboys", "Cowboys"),
    ("DEN", "Denver Broncos", "Broncos"),
    ("DET", "Detroit Lions", "Lions"),
    ("GB", "Green Bay Packers", "Packers"),
    ("HOU", "Houston Texans", "Texans"),
    ("IND", "Indianapolis Colts", "Colts"),
    ("JAX", "Jacksonville Jaguars", "Jaguars"),
    ("KC", "Kansas City Chiefs", "Chiefs"),
    ("LA", "Los Angeles Rams", "Rams"),
    ("LAC", "Los Angeles Chargers", "Chargers"),
    ("LV", "Las Vegas Raiders", "Raiders"),
    ("MIA", "Miami Dolphins", "Dolphins"),
    ("MIN", "Minnesota Vikings", "Vikings"),
    ("NE", "New England Patriots", "Patriots"),
    ("NO", "New Orleans Saints", "Saints"),
    ("NYG", "New York Giants", "Giants"),
    ("NYJ", "New York Jets", "Jets"),
    ("PHI", "Philadelphia Eagles", "Eagles"),
    ("PIT", "Pittsburgh Steelers", "Steelers"),
    ("SEA", "Seattle Seahawks", "Seahawks"),
    ("SF", "San Francisco 49ers", "49ers"),
    ("TB", "Tampa Bay Buccaneers", "Buccaneers"),
    ("TEN", "Tennessee Titans", "Titans"),
    ("WAS", "Washington Commanders", "Commanders"),
];

/// Other spellings: former names (mapped to the franchise's current abbreviation, which is what
/// a live feed means) and other abbreviation schemes (ESPN, PFR, Sportradar).
const ALIASES: [(&str, &str); 24] = [
    ("Washington Football Team", "WAS"),
    ("Washington Redskins", "WAS"),
    ("Washington", "WAS"),
    ("Oakland Raiders", "LV"),
    ("San Diego Chargers", "LAC"),
    ("St. Louis Rams", "LA"),
    ("LA Rams", "LA"),
    ("LA Chargers", "LAC"),
    ("LAR", "LA"),
    ("WSH", "WAS"),
    ("JAC", "JAX"),
    ("ARZ", "ARI"),
    ("BLT", "BAL"),
    ("CLV", "CLE"),
    ("HST", "HOU"),
    ("GNB", "GB"),
    ("KAN", "KC"),
    ("NOR", "NO"),
    ("NWE", "NE"),
    ("SFO", "SF"),
    ("TAM", "TB"),
    ("LVR", "LV"),
    ("OAK", "LV"),
    ("SD", "LAC"),
];

/// The lowercase alphanumeric characters of a name: its lookup key, compared without allocating.
fn slug(s: &str) -> impl Iterator<Item = char> + Clone + '_ {
    s.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase())
}

/// The nflverse abbreviation of a team name, nickname or abbreviation; None when unknown.
pub fn abbreviation(name: &str) -> Option<&'static str> {
    let key = slug(name);
    // A name without letters or digits names no team.
    key.clone().next()?;
    let is = |s: &str| key.clone().eq(slug(s));
    for (abbr, full, nick) in TEAMS {
        if is(abbr) || is(full) || is(nick) {
            return Some(abbr);
        }
    }
    ALIASES.iter().find(|(alias, _)| is(alias)).map(|(_, abbr)| *abbr)
}

/// The full name of an nflverse abbreviation.
pub fn full_name(abbr: &str) -> Option<&'static str> {
    TEAMS.iter().find(|(a, _, _)| *a == abbr).map(|(_, full, _)| *full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_full_name_nickname_and_abbreviation_maps() {
        for (abbr, full, nick) in TEAMS {
            assert_eq!(abbreviation(full), Some(abbr), "{full}");
            assert_eq!(abbreviation(nick), Some(abbr), "{nick}");
            assert_eq!(abbreviation(abbr), Some(abbr), "{abbr}");
            assert_eq!(abbreviation(&full.to_uppercase()), Some(abbr));
            assert_eq!(full_name(abbr), Some(full));
        }
        assert_eq!(ABBREVIATIONS.len(), TEAMS.len());
    }

    #[test]
    fn aliases_and_unknowns() {
        assert_eq!(abbreviation("Kansas City Chiefs"), Some("KC"));
        assert_eq!(abbreviation("St. Louis Rams"), Some("LA"));
        assert_eq!(abbreviation("Washington Football Team"), Some("WAS"));
        assert_eq!(abbreviation("LAR"), Some("LA"));
        assert_eq!(abbreviation("Los Angeles"), None, "ambiguous city is not a team");
        assert_eq!(abbreviation("New York"), None);
        assert_eq!(abbreviation("Toronto Argonauts"), None);
        assert_eq!(abbreviation(""), None);
        assert_eq!(abbreviation("  "), None);
    }
}
