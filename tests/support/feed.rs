//! A generic-format odds feed on 127.0.0.1 with fresh timestamps, whose answers wait while its
//! gate is closed, so a test can hold a poll between its fetch and its write.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::watch;

pub struct Feed {
    pub url: String,
    requests: Arc<AtomicUsize>,
    gate: watch::Sender<bool>,
}

#[derive(Clone)]
struct FeedState {
    book: &'static str,
    events: usize,
    requests: Arc<AtomicUsize>,
    gate: watch::Receiver<bool>,
}

/// `events` games of `book`, two moneyline quotes each, kicking off in 30 hours.
pub fn payload(book: &str, events: usize) -> Value {
    let now = k8s_openapi::jiff::Timestamp::now();
    let kickoff = now + k8s_openapi::jiff::SignedDuration::from_hours(30);
    let events: Vec<Value> = (0..events)
        .map(|i| {
            json!({
                "id": format!("{book}-{i}"), "home": "Kansas City Chiefs", "away": "BUF", "kickoff": kickoff.to_string(),
                "quotes": [
                    {"market": "moneyline", "selection": "KC", "american": -130},
                    {"market": "moneyline", "selection": "BUF", "american": 110}
                ]
            })
        })
        .collect();
    json!({"version": 1, "book": book, "generatedAt": now.to_string(), "events": events})
}

async fn answer(State(mut s): State<FeedState>) -> axum::Json<Value> {
    s.requests.fetch_add(1, Ordering::SeqCst);
    let _ = s.gate.wait_for(|open| *open).await;
    axum::Json(payload(s.book, s.events))
}

impl Feed {
    /// Serve [`payload`]`(book, events)` at `/feed`.
    pub async fn start(book: &'static str, events: usize) -> Feed {
        let (gate, rx) = watch::channel(true);
        let requests = Arc::new(AtomicUsize::new(0));
        let app = Router::new().route("/feed", get(answer)).with_state(FeedState {
            book,
            events,
            requests: requests.clone(),
            gate: rx,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Feed { url: format!("http://{addr}/feed"), requests, gate }
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Hold answers (`false`) or let them go (`true`).
    pub fn gate(&self, open: bool) {
        self.gate.send_replace(open);
    }
}
