//! Odds feeds, from the provider's bytes to the snapshot a model reads.
//!
//! This is domain code: it knows nothing of Kubernetes or of HTTP. A provider describes the
//! request to make and parses the body it gets back into raw quotes; [`normalise`] maps teams and
//! games to nflverse identities and validates every quote, dropping bad ones with a counted reason;
//! [`snapshot`] stores the result. The scraper workload (`crate::scrape`) drives all of it.
//!
//! Module map:
//! - [`teams`]: full team names and aliases to nflverse abbreviations;
//! - [`calendar`]: NFL season and week from a kickoff, and nflverse game ids;
//! - [`json_str`]: JSON strings read in place, borrowed from the payload unless escaped;
//! - [`price`]: American and decimal odds, parsed leniently and converted exactly;
//! - [`quote`]: the normalised model (events and quotes);
//! - [`validate`]: raw quote to quote, or a reject reason;
//! - [`provider`]: the provider trait and its errors; [`the_odds_api`] and [`generic`] implement it;
//! - [`snapshot`]: the versioned, compressed, atomically written snapshot and its store;
//! - [`stored_object`]: gzip JSON objects read and written within size caps (snapshots, records);
//! - [`retention`]: deleting a writer's own objects older than its retention.

pub mod calendar;
pub mod generic;
pub mod json_str;
pub mod loose;
pub mod price;
pub mod provider;
pub mod quote;
pub mod retention;
pub mod snapshot;
pub mod stored_object;
pub mod teams;
pub mod the_odds_api;
pub mod validate;

pub use provider::{FeedError, FeedProvider, Quota, RawFeed, RawQuote};
pub use quote::{Event, Normalised, Quote, Selection};
pub use validate::{RejectReason, ValidationPolicy, normalise};
