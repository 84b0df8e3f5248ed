//! The accept loop: connection limit, handshake deadline, the connection's verified
//! identity (computed once per TLS connection), then hand-over to `conn`; drain on shutdown.

use super::conn;
use super::peer::{Conn, ConnAuth};
use super::send::Stream;
use super::state::{h1_buffer, until_shutdown, Shared};
use crate::http::identity_headers::IdentityHeaders;
use crate::pki::identity::PeerIdentity;
use crate::pki::tls::{HandshakeNote, HANDSHAKE_NOTE};
use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{info, warn};

/// Accept until `shutdown` is signalled, then drain for up to `--shutdown-grace`.
pub async fn serve(shared: Arc<Shared>, listener: TcpListener) {
    let sem = Arc::new(Semaphore::new(shared.settings.max_connections));
    let mut shutdown_rx = shared.shutdown_rx();
    shared.ready.store(true, Ordering::SeqCst);
    loop {
        let permit = tokio::select! {
            p = sem.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = until_shutdown(&mut shutdown_rx) => break,
        };
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and friends: log, back off a little, keep serving.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = until_shutdown(&mut shutdown_rx) => break,
        };
        let shared = shared.clone();
        tokio::spawn(connection(shared, tcp, peer, permit));
    }
    drop(listener);
    info!("draining: listener closed, waiting for open connections");
    let all = u32::try_from(shared.settings.max_connections).unwrap_or(u32::MAX);
    let grace = shared.settings.timeouts.shutdown_grace;
    if tokio::time::timeout(grace, sem.acquire_many(all))
        .await
        .is_err()
    {
        warn!(grace = ?grace, "shutdown grace elapsed with connections still open");
    }
}

/// Decrements `certgate_connections_active` however the connection task ends.
struct ActiveGuard(Arc<Shared>);
impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.metrics.connections_active.dec();
    }
}

async fn connection(
    shared: Arc<Shared>,
    tcp: TcpStream,
    peer: SocketAddr,
    _permit: OwnedSemaphorePermit,
) {
    shared.metrics.connections_active.inc();
    let _active = ActiveGuard(shared.clone());
    // Boxed, and the stream comes back boxed: what the connection task holds for its whole
    // life (most of it idle) is a few pointers, not the handshake's or the stream's state.
    let Some((io, conn)) = Box::pin(accept(&shared, tcp, peer)).await else {
        return;
    };
    conn::serve_http(shared, conn, io).await;
}

/// The TLS handshake and the connection's verified identity, computed once.
async fn accept(
    shared: &Arc<Shared>,
    tcp: TcpStream,
    peer: SocketAddr,
) -> Option<(Box<Stream>, Arc<Conn>)> {
    let _ = tcp.set_nodelay(true);
    let send = super::send::SendWatch::new();
    let tcp = super::send::WatchedIo::new(tcp, send.clone());
    let live = shared.live.load();
    let acceptor = tokio_rustls::TlsAcceptor::from(live.tls.clone());
    let timeout = shared.settings.timeouts.handshake;
    let (result, note) = HANDSHAKE_NOTE
        .scope(RefCell::new(HandshakeNote::default()), async {
            // Boxed: the handshake's state must not size the task for the connection's life.
            let r = tokio::time::timeout(timeout, Box::pin(acceptor.accept(tcp))).await;
            (r, HANDSHAKE_NOTE.with(|n| n.take()))
        })
        .await;
    let tls = match result {
        Err(_) => {
            shared.metrics.handshake("timeout");
            info!(peer = %peer, reason = "handshake timeout", "TLS handshake rejected: the client did not complete the handshake within --handshake-timeout");
            return None;
        }
        Ok(Err(e)) => {
            crate::ops::handshake_log::rejected(&shared.metrics, &shared.live, peer, &e, note);
            return None;
        }
        Ok(Ok(tls)) => tls,
    };
    shared.metrics.handshake("ok");
    let (identity, bundles) = {
        let (_, session) = tls.get_ref();
        match session.peer_certificates() {
            Some([leaf, rest @ ..]) => {
                // The verifier noted the path it validated; without a note (not expected),
                // verify again rather than trust the presented chain.
                let verified = match note.verified {
                    Some(v) => Some(v),
                    None => live
                        .trust
                        .verify_path(leaf, rest, rustls::pki_types::UnixTime::now())
                        .ok(),
                };
                let Some(verified) = verified else {
                    warn!(peer = %peer, "client certificate accepted by TLS but not by the trust store; closing");
                    return None;
                };
                // The identity keeps the chain used for validation (RFC 9440's
                // Client-Cert-Chain, and the re-check after trust changes), not extra
                // certificates the client may have sent.
                match PeerIdentity::from_chain(leaf, &verified.path) {
                    Ok(id) => (Some(Arc::new(id)), verified.bundles),
                    Err(e) => {
                        warn!(peer = %peer, error = %e, "verified client certificate cannot be parsed; closing");
                        return None;
                    }
                }
            }
            _ => (None, Vec::new()),
        }
    };
    let headers = identity
        .as_ref()
        .map(|id| IdentityHeaders::build(id, &shared.settings.headers));
    let conn = Arc::new(Conn {
        peer,
        peer_ip: crate::http::headers::client_ip_value(peer.ip()),
        identity,
        headers,
        auth: Mutex::new(Arc::new(ConnAuth::new(live.generation, bundles, None))),
        in_flight: AtomicUsize::new(0),
        requests_seen: AtomicU64::new(0),
        closing: AtomicBool::new(false),
        framing: Arc::default(),
        send,
        last_active_ms: AtomicU64::new(0),
        expiry_check_ms: AtomicU64::new(0),
        started: Instant::now(),
    });
    drop(live);
    let io = Box::new(crate::http::framing::GuardedIo::new(
        tls,
        conn.framing.clone(),
        h1_buffer(shared.settings.max_header_bytes),
    ));
    Some((io, conn))
}
