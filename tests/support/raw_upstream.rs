//! A raw scripted upstream: it writes exactly the answer bytes a test scripts, in the pieces
//! and with the pauses it scripts, and records exactly the request bytes it gets, per
//! connection (so reuse is counted, not assumed). With the helpers that read what it saw
//! (`head_lines`, `values`) and `assert_incomplete` for answers cut short. Used by
//! `upstream_wire.rs` (certgate's own upstream client) and `own_server.rs` (certgate's own
//! HTTP/1.1 server).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{eventually, fold_name, RawResponse, CLIENT_TIMEOUT};

/// What the upstream does with a connection once an answer is written.
#[derive(Clone, Copy, Debug)]
pub enum After {
    /// Wait for the next request, however long.
    KeepOpen,
    /// Close (FIN) at once.
    Close,
    /// Close if no next request starts within this long (an app server's keep-alive timeout).
    CloseIfIdleFor(Duration),
}

/// One scripted answer: these bytes, in these pieces, with `pause` between pieces.
#[derive(Clone, Debug)]
pub struct Reply {
    pub pieces: Vec<Vec<u8>>,
    pub pause: Duration,
    pub after: After,
}

impl Reply {
    pub fn bytes(b: impl AsRef<[u8]>) -> Reply {
        Reply {
            pieces: vec![b.as_ref().to_vec()],
            pause: Duration::ZERO,
            after: After::KeepOpen,
        }
    }

    /// Written piece by piece with `pause` between them, so certgate reads them apart.
    pub fn pieces(pieces: &[&[u8]], pause: Duration) -> Reply {
        Reply {
            pieces: pieces.iter().map(|p| p.to_vec()).collect(),
            pause,
            after: After::KeepOpen,
        }
    }

    pub fn then(mut self, after: After) -> Reply {
        self.after = after;
        self
    }
}

/// `200 OK` with a `Content-Length` body, keeping the connection open.
pub fn ok(body: &str) -> Reply {
    Reply::bytes(format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ))
}

/// Pieces of a wire message are written with this pause between them.
pub const PAUSE: Duration = Duration::from_millis(20);

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    conns: Vec<ConnSeen>,
    /// The request line of every request, in the order they arrived over all connections.
    arrivals: Vec<String>,
    /// Answers written whole.
    written: usize,
}

/// One upstream connection as the upstream saw it.
#[derive(Default, Clone, Debug)]
pub struct ConnSeen {
    /// Every byte received, in order.
    pub raw: Vec<u8>,
    /// Each request head, as received (up to and including the blank line).
    pub heads: Vec<String>,
    /// certgate closed (or reset) the connection.
    pub closed_by_certgate: bool,
}

/// A TCP upstream that answers the n-th request it receives (over all connections) with the
/// n-th scripted reply, byte for byte; an unscripted request gets `599 Unscripted`.
pub struct RawUpstream {
    pub url: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RawUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RawUpstream {
    pub async fn start(script: Vec<Reply>) -> RawUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            script: script.into(),
            ..State::default()
        }));
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    continue;
                };
                let i = {
                    let mut s = st.lock().unwrap();
                    s.conns.push(ConnSeen::default());
                    s.conns.len() - 1
                };
                tokio::spawn(serve(sock, i, st.clone()));
            }
        });
        RawUpstream { url, state, task }
    }

    pub fn conns(&self) -> Vec<ConnSeen> {
        self.state.lock().unwrap().conns.clone()
    }

    /// The request line of every request, in the order they arrived (over all
    /// connections: the order in which they took their scripted replies).
    pub fn arrivals(&self) -> Vec<String> {
        self.state.lock().unwrap().arrivals.clone()
    }

    /// The request line of every request, per connection.
    pub fn lines(&self) -> Vec<Vec<String>> {
        self.conns()
            .iter()
            .map(|c| {
                c.heads
                    .iter()
                    .map(|h| h.lines().next().unwrap_or("").to_string())
                    .collect()
            })
            .collect()
    }

    pub fn assert_lines(&self, want: &[&[&str]]) {
        let want: Vec<Vec<String>> = want
            .iter()
            .map(|c| c.iter().map(|l| l.to_string()).collect())
            .collect();
        assert_eq!(self.lines(), want, "request lines per upstream connection");
    }

    /// Waits until `n` answers have been written whole.
    pub async fn wait_written(&self, n: usize) {
        eventually(
            &format!("the upstream to have written {n} answers"),
            CLIENT_TIMEOUT,
            || async { self.state.lock().unwrap().written >= n },
        )
        .await;
    }

    /// Waits until certgate has closed upstream connection `i`.
    pub async fn wait_closed_by_certgate(&self, i: usize) {
        eventually(
            &format!("certgate to close upstream connection {i}"),
            CLIENT_TIMEOUT,
            || async { self.state.lock().unwrap().conns[i].closed_by_certgate },
        )
        .await;
    }
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The value of the first `name:` line of `head` (case-insensitive).
pub fn head_value(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

async fn serve(mut sock: TcpStream, i: usize, state: Arc<Mutex<State>>) {
    let closed = |state: &Mutex<State>| state.lock().unwrap().conns[i].closed_by_certgate = true;
    let mut buf = Vec::new();
    let mut idle_limit = None;
    loop {
        // One request head, and the body it announces (these tests send none).
        let mut need = None;
        loop {
            if need.is_none() {
                if let Some(p) = find(&buf, b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..p + 4]).into_owned();
                    let body = head_value(&head, "content-length")
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    need = Some(p + 4 + body);
                }
            }
            if need.is_some_and(|n| buf.len() >= n) {
                break;
            }
            let mut chunk = [0u8; 16 * 1024];
            let read = match idle_limit {
                Some(d) if buf.is_empty() => {
                    match tokio::time::timeout(d, sock.read(&mut chunk)).await {
                        Ok(r) => r,
                        Err(_) => {
                            let _ = sock.shutdown().await;
                            return; // idle too long: the upstream closes
                        }
                    }
                }
                _ => sock.read(&mut chunk).await,
            };
            match read {
                Ok(0) | Err(_) => return closed(&state),
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    state.lock().unwrap().conns[i]
                        .raw
                        .extend_from_slice(&chunk[..n]);
                }
            }
        }
        let n = need.unwrap();
        let head_end = find(&buf, b"\r\n\r\n").unwrap() + 4;
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        buf.drain(..n);
        let reply = {
            let mut s = state.lock().unwrap();
            s.arrivals
                .push(head.lines().next().unwrap_or("").to_string());
            s.conns[i].heads.push(head);
            s.script.pop_front().unwrap_or_else(|| {
                Reply::bytes("HTTP/1.1 599 Unscripted\r\nContent-Length: 0\r\n\r\n")
            })
        };
        for (k, piece) in reply.pieces.iter().enumerate() {
            if k > 0 {
                tokio::time::sleep(reply.pause).await;
            }
            if sock.write_all(piece).await.is_err() {
                return closed(&state);
            }
        }
        state.lock().unwrap().written += 1;
        match reply.after {
            After::KeepOpen => idle_limit = None,
            After::CloseIfIdleFor(d) => idle_limit = Some(d),
            After::Close => {
                let _ = sock.shutdown().await;
                return;
            }
        }
    }
}

/// Header lines of a request head as (lowercase name with `_` folded to `-`, value).
pub fn head_lines(head: &str) -> Vec<(String, String)> {
    head.split("\r\n")
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l
                .split_once(':')
                .unwrap_or_else(|| panic!("bad line {l:?}"));
            (fold_name(n.trim()), v.trim().to_string())
        })
        .collect()
}

pub fn values<'a>(lines: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    lines
        .iter()
        .filter(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The client's connection was cut, and what came before the cut (if anything) is not a
/// complete answer by the framing its head announces.
pub fn assert_incomplete(raw: &RawResponse) {
    assert!(
        raw.closed,
        "the client's connection must be cut: {}",
        raw.text()
    );
    if raw.bytes.is_empty() {
        return; // cut before the head went out (hyper holds it back for the first data)
    }
    assert_eq!(raw.status(), Some(200), "{}", raw.text());
    let Some(end) = find(&raw.bytes, b"\r\n\r\n") else {
        return; // cut within the head
    };
    let head = String::from_utf8_lossy(&raw.bytes[..end + 4]).into_owned();
    let body = &raw.bytes[end + 4..];
    if let Some(n) = head_value(&head, "content-length") {
        let n: usize = n.parse().unwrap();
        assert!(body.len() < n, "a complete-looking answer: {}", raw.text());
    } else {
        assert!(
            head_value(&head, "transfer-encoding").is_some_and(|v| v.contains("chunked")),
            "neither a length nor chunked: the close looks like the end: {}",
            raw.text()
        );
        assert!(
            !body.ends_with(b"0\r\n\r\n"),
            "a complete chunked answer: {}",
            raw.text()
        );
    }
}
