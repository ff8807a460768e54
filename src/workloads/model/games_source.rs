//! The games file (nflverse format) as a refreshed input: read from a path or an http(s) URL
//! at start and again every `--games-refresh`, because results arrive weekly and the file is
//! a few megabytes. A failed reload keeps the last good copy (and is counted by the caller).

use super::error::GamesSourceError;
use crate::domain::games::{Game, load_games, parse_games};
use crate::egress::Egress;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest games file accepted over HTTP (the 1999-2025 file is about 3 MB).
pub const MAX_GAMES_BYTES: u64 = 64 * 1024 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);

/// Games by nflverse id, shared cheaply between a run and its readers.
#[derive(Clone, Debug, Default)]
pub struct Games {
    pub list: Arc<Vec<Game>>,
    pub by_id: Arc<HashMap<String, Game>>,
}

impl Games {
    pub fn new(list: Vec<Game>) -> Games {
        let by_id = list.iter().map(|g| (g.game_id.clone(), g.clone())).collect();
        Games { list: Arc::new(list), by_id: Arc::new(by_id) }
    }
}

/// Where the games come from and when they were last read.
pub struct GamesSource {
    location: Option<String>,
    refresh: Duration,
    loaded_at: Option<Instant>,
    games: Games,
    egress: Egress,
}

impl GamesSource {
    pub fn new(location: Option<String>, refresh: Duration, egress: Egress) -> GamesSource {
        GamesSource { location, refresh, loaded_at: None, games: Games::default(), egress }
    }

    /// A source that never reloads (tests, benchmarks).
    pub fn fixed(games: Vec<Game>) -> GamesSource {
        GamesSource {
            location: None,
            refresh: Duration::MAX,
            loaded_at: Some(Instant::now()),
            games: Games::new(games),
            egress: Egress::default(),
        }
    }

    pub fn games(&self) -> &Games {
        &self.games
    }

    /// Reload when due. `Ok(true)` when new games were loaded.
    pub async fn refresh(&mut self) -> Result<bool, GamesSourceError> {
        let Some(location) = self.location.clone() else {
            return Ok(false);
        };
        if self.loaded_at.is_some_and(|t| t.elapsed() < self.refresh) {
            return Ok(false);
        }
        // Retry no sooner than the refresh period, success or not.
        self.loaded_at = Some(Instant::now());
        let games = load(&location, &self.egress).await?;
        self.games = Games::new(games);
        Ok(true)
    }
}

/// Read a games file from a path or an http(s) URL (within the egress policy).
pub async fn load(location: &str, egress: &Egress) -> Result<Vec<Game>, GamesSourceError> {
    if location.starts_with("http://") || location.starts_with("https://") {
        let body = fetch(location, egress).await?;
        return Ok(parse_games(body.as_slice())?);
    }
    let path = location.strip_prefix("file://").unwrap_or(location).to_owned();
    tokio::task::spawn_blocking(move || load_games(std::path::Path::new(&path)))
        .await
        .map_err(|e| GamesSourceError::Fetch(e.to_string()))?
        .map_err(GamesSourceError::from)
}

async fn fetch(url: &str, egress: &Egress) -> Result<Vec<u8>, GamesSourceError> {
    // Errors name no URL: a games URL may carry a token in its query.
    let parsed = url::Url::parse(url).map_err(|_| GamesSourceError::Fetch("not a valid URL".into()))?;
    egress.check_destination(&parsed).map_err(|e| GamesSourceError::Refused(e.to_string()))?;
    // Redirects are followed (release downloads redirect to a CDN), each one checked.
    let client = egress
        .client_builder()
        .redirect(crate::egress::redirect_policy(egress))
        .user_agent(concat!("nflbet-model/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| GamesSourceError::Fetch(e.without_url().to_string()))?;
    let failed = |e: reqwest::Error| match crate::egress::refusal_in(&e) {
        Some(refused) => GamesSourceError::Refused(refused.to_string()),
        None => GamesSourceError::Fetch(e.without_url().to_string()),
    };
    let work = async {
        let mut resp = client.get(parsed).send().await.map_err(failed)?;
        if !resp.status().is_success() {
            return Err(GamesSourceError::Status(resp.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(failed)? {
            body.extend_from_slice(&chunk);
            if body.len() as u64 > MAX_GAMES_BYTES {
                return Err(GamesSourceError::TooLarge(MAX_GAMES_BYTES));
            }
        }
        Ok(body)
    };
    tokio::time::timeout(FETCH_TIMEOUT, work)
        .await
        .map_err(|_| GamesSourceError::Fetch(format!("timed out after {FETCH_TIMEOUT:?}")))?
}
