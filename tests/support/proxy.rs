//! A TCP proxy on loopback that a test can cut and restore, to put a network fault between a
//! client and a real server (the API server, a feed, an object store).
//!
//! [`Proxy::cut`] black-holes rather than refuses: new connections are still accepted but not
//! connected onward, and open connections stall with their bytes held, in both directions. A
//! client therefore sees requests that hang (the hard case: only its own deadline helps), not
//! errors it could act on at once. [`Proxy::restore`] forwards again: held bytes are delivered late,
//! as after a healed partition, and held connections are connected to the target. TLS passes
//! through untouched, so a server certificate for 127.0.0.1 still verifies.
//! [`Proxy::pass_only`] lets a given number of bytes more reach the target from clients, then
//! holds the rest: a request torn at a known point once the client dies.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Proxy {
    addr: SocketAddr,
    open: watch::Sender<bool>,
    /// Bytes clients may still send to the target (`u64::MAX`: no limit).
    budget: Arc<AtomicU64>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listen on 127.0.0.1 and forward every connection to `target`, which must be on loopback.
    pub async fn start(target: SocketAddr) -> Proxy {
        assert!(target.ip().is_loopback(), "the proxy forwards to loopback only, not {target}");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy on loopback");
        let addr = listener.local_addr().expect("proxy address");
        let (open, gate) = watch::channel(true);
        let budget = Arc::new(AtomicU64::new(u64::MAX));
        let upstream = budget.clone();
        let accept = tokio::spawn(async move {
            // Dropped with the accept task, which aborts every connection.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((client, _)) => {
                            connections.spawn(forward(client, target, gate.clone(), upstream.clone()));
                        }
                        Err(e) => panic!("proxy accept failed: {e}"),
                    },
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        Proxy { addr, open, budget, accept }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop forwarding anything, in both directions, without closing or refusing a connection.
    pub fn cut(&self) {
        self.open.send_replace(false);
    }

    /// Forward again, held bytes and held connections included.
    pub fn restore(&self) {
        self.open.send_replace(true);
    }

    /// From now on let only `bytes` more reach the target from clients (all connections
    /// together); hold the rest, as a cut would, for as long as the proxy lives.
    pub fn pass_only(&self, bytes: u64) {
        self.budget.store(bytes, Ordering::SeqCst);
    }

    /// True once the bytes allowed by [`Proxy::pass_only`] have all been forwarded.
    pub fn passed_all(&self) -> bool {
        self.budget.load(Ordering::SeqCst) == 0
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Wait until the proxy forwards.
async fn until_open(gate: &mut watch::Receiver<bool>) {
    // The sender lives as long as the accept task, which outlives every connection.
    let _ = gate.wait_for(|open| *open).await;
}

async fn forward(
    client: TcpStream,
    target: SocketAddr,
    mut gate: watch::Receiver<bool>,
    upstream: Arc<AtomicU64>,
) {
    until_open(&mut gate).await;
    let Ok(server) = TcpStream::connect(target).await else { return };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::join!(
        pump(client_read, server_write, gate.clone(), Some(upstream)),
        pump(server_read, client_write, gate, None)
    );
}

/// Take up to `n` bytes from `budget`; how many may pass.
fn take(budget: &AtomicU64, n: usize) -> usize {
    let mut allowed = 0;
    let _ = budget.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
        allowed = if left == u64::MAX { n } else { n.min(left as usize) };
        Some(if left == u64::MAX { left } else { left - allowed as u64 })
    });
    allowed
}

/// Copy one direction, holding bytes while the proxy is cut: a read that completes during a cut
/// is written only after the restore.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut gate: watch::Receiver<bool>,
    budget: Option<Arc<AtomicU64>>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        until_open(&mut gate).await;
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        until_open(&mut gate).await;
        let pass = budget.as_deref().map_or(n, |b| take(b, n));
        if to.write_all(&buf[..pass]).await.is_err() {
            break;
        }
        if pass < n {
            // Over the budget: hold the rest (and the connection) until the proxy is dropped.
            std::future::pending::<()>().await;
        }
    }
    let _ = to.shutdown().await;
}
