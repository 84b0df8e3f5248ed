//! Minimal HTTP/1.1 keep-alive upstream for the certgate benchmark (`bench/run.sh`).
//!
//! Answers every request with `200 ok` (`content-length: 2`), reading and discarding any
//! request body. It is deliberately trivial so that the proxies, not the upstream, dominate the
//! measurement. Listens on loopback only.
//!
//! Usage: `bench_upstream --listen 127.0.0.1:PORT [--threads N]`
//! (`--threads 1`, the default, runs a single-threaded runtime; the benchmark pins it to one CPU).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::SocketAddr;
use tokio::net::TcpListener;

static BODY: &[u8] = b"ok";

fn usage() -> ! {
    eprintln!("usage: bench_upstream --listen 127.0.0.1:PORT [--threads N]");
    std::process::exit(2);
}

fn parse_args() -> (SocketAddr, usize) {
    let mut listen: Option<SocketAddr> = None;
    let mut threads = 1usize;
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
            _ => usage(),
        }
    }
    let listen = listen.unwrap_or_else(|| usage());
    if !listen.ip().is_loopback() {
        eprintln!("bench_upstream: refusing to listen on a non-loopback address {listen}");
        std::process::exit(2);
    }
    (listen, threads)
}

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // Drain a request body if there is one, so the connection stays reusable.
    let _ = req.into_body().collect().await;
    Ok(Response::new(Full::new(Bytes::from_static(BODY))))
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
    let (listen, threads) = parse_args();
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
