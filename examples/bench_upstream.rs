//! Minimal HTTP/1.1 keep-alive upstream for the certgate benchmark (`bench/run.sh`).
//!
//! Answers every request with `200 ok` (`content-length: 2`), reading and discarding any
//! request body. It is deliberately trivial so that the proxies, not the upstream, dominate the
//! measurement. Listens on loopback only.
//!
//! Usage: `bench_upstream --listen 127.0.0.1:PORT [--threads N] [--shape one|split|chunked]
//! [--body-bytes N]`
//! (`--threads 1`, the default, runs a single-threaded runtime; the benchmark pins it to one CPU).
//!
//! `--shape` is how the answer leaves the upstream, because real apps differ and a proxy's cost
//! depends on it: `one` (default) writes head and body in one write, as a framework with a
//! buffered response does; `split` writes the head, then the body in a second write
//! (`Content-Length` known: what an app that flushes its headers first does); `chunked` does
//! the same with `Transfer-Encoding: chunked` (no length known up front). `--body-bytes N`
//! answers N bytes instead of `ok`.

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use tokio::net::TcpListener;

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    One,
    Split,
    Chunked,
}

struct Opts {
    listen: SocketAddr,
    threads: usize,
    shape: Shape,
    body: Bytes,
}

static OPTS: OnceLock<(Shape, Bytes)> = OnceLock::new();

fn usage() -> ! {
    eprintln!("usage: bench_upstream --listen 127.0.0.1:PORT [--threads N] [--shape one|split|chunked] [--body-bytes N]");
    std::process::exit(2);
}

fn parse_args() -> Opts {
    let mut listen: Option<SocketAddr> = None;
    let mut threads = 1usize;
    let mut shape = Shape::One;
    let mut body = Bytes::from_static(b"ok");
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--listen" => {
                listen = Some(
                    it.next()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or_else(|| usage()),
                )
            }
            "--threads" => {
                threads = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| (1..=64).contains(&n))
                    .unwrap_or_else(|| usage())
            }
            "--shape" => {
                shape = match it.next().as_deref() {
                    Some("one") => Shape::One,
                    Some("split") => Shape::Split,
                    Some("chunked") => Shape::Chunked,
                    _ => usage(),
                }
            }
            "--body-bytes" => {
                let n: usize = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| n <= 64 << 20)
                    .unwrap_or_else(|| usage());
                body = Bytes::from(vec![b'x'; n]);
            }
            _ => usage(),
        }
    }
    let listen = listen.unwrap_or_else(|| usage());
    if !listen.ip().is_loopback() {
        eprintln!("bench_upstream: refusing to listen on a non-loopback address {listen}");
        std::process::exit(2);
    }
    Opts {
        listen,
        threads,
        shape,
        body,
    }
}

/// The answer's body. With `Shape::One` it is ready at once, so hyper writes head and body
/// together; otherwise its first poll is `Pending` (waking itself), so hyper flushes the head
/// first and the body goes out in a write of its own.
struct Answer {
    data: Option<Bytes>,
    shape: Shape,
    held: bool,
}

impl Body for Answer {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.shape != Shape::One && !self.held {
            self.held = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(self.data.take().map(|d| Ok(Frame::data(d))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.data, self.shape) {
            (_, Shape::Chunked) => SizeHint::default(),
            (Some(d), _) => SizeHint::with_exact(d.len() as u64),
            (None, _) => SizeHint::with_exact(0),
        }
    }
}

async fn handle(req: Request<Incoming>) -> Result<Response<Answer>, Infallible> {
    // Drain a request body if there is one, so the connection stays reusable.
    let _ = req.into_body().collect().await;
    let (shape, body) = OPTS.get().expect("options are set before serving");
    Ok(Response::new(Answer {
        data: Some(body.clone()),
        shape: *shape,
        held: false,
    }))
}

async fn serve(listen: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    println!("listening addr={}", listener.local_addr()?);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                eprintln!("bench_upstream: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service_fn(handle))
                .await;
        });
    }
}

fn main() {
    let Opts {
        listen,
        threads,
        shape,
        body,
    } = parse_args();
    let _ = OPTS.set((shape, body));
    let rt = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    };
    let rt = rt.unwrap_or_else(|e| {
        eprintln!("bench_upstream: runtime: {e}");
        std::process::exit(1);
    });
    if let Err(e) = rt.block_on(serve(listen)) {
        eprintln!("bench_upstream: {e}");
        std::process::exit(1);
    }
}
