//! A TCP proxy on loopback that a test can cut and restore, to put a network fault between a
//! client and a real server (the API server, a feed, an object store).
//!
//! [`Proxy::cut`] black-holes rather than refuses: new connections are still accepted but not
//! connected onward, and open connections stall with their bytes held, in both directions. A
//! client therefore sees requests that hang (the hard case: only its own deadline helps), not
//! errors it could act on at once. [`Proxy::restore`] forwards again: held bytes are delivered late,
//! as after a healed partition, and held connections are connected to the target. TLS passes
//! through untouched, so a server certificate for 127.0.0.1 still verifies.

use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct Proxy {
    addr: SocketAddr,
    open: watch::Sender<bool>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Listen on 127.0.0.1 and forward every connection to `target`, which must be on loopback.
    pub async fn start(target: SocketAddr) -> Proxy {
        assert!(target.ip().is_loopback(), "the proxy forwards to loopback only, not {target}");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy on loopback");
        let addr = listener.local_addr().expect("proxy address");
        let (open, gate) = watch::channel(true);
        let accept = tokio::spawn(async move {
            // Dropped with the accept task, which aborts every connection.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((client, _)) => {
                            connections.spawn(forward(client, target, gate.clone()));
                        }
                        Err(e) => panic!("proxy accept failed: {e}"),
                    },
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        Proxy { addr, open, accept }
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

async fn forward(client: TcpStream, target: SocketAddr, mut gate: watch::Receiver<bool>) {
    until_open(&mut gate).await;
    let Ok(server) = TcpStream::connect(target).await else { return };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::join!(pump(client_read, server_write, gate.clone()), pump(server_read, client_write, gate));
}

/// Copy one direction, holding bytes while the proxy is cut: a read that completes during a cut
/// is written only after the restore.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut gate: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        until_open(&mut gate).await;
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        until_open(&mut gate).await;
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
