//! Pooled HTTP/1.1 clients (hyper-util) for TCP and Unix-socket upstreams. One pool per
//! distinct upstream URL; bodies stream both ways.

use crate::settings::UpstreamUrl;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Connects every request to one Unix socket, whatever the URI says.
#[derive(Clone, Debug)]
pub struct UnixConnector {
    path: Arc<PathBuf>,
}

impl tower_service::Service<http::Uri> for UnixConnector {
    type Response = TokioIo<tokio::net::UnixStream>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: http::Uri) -> Self::Future {
        let path = self.path.clone();
        Box::pin(async move { Ok(TokioIo::new(tokio::net::UnixStream::connect(&*path).await?)) })
    }
}

/// One upstream and its connection pool.
#[derive(Clone, Debug)]
pub enum Upstream {
    Http {
        client: Client<HttpConnector, Incoming>,
        /// `http://HOST:PORT`, prepended to the request's path and query.
        base: Arc<str>,
    },
    Unix {
        client: Client<UnixConnector, Incoming>,
    },
}

/// Why the upstream gave no response.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot connect to upstream: {0}")]
    Connect(#[source] hyper_util::client::legacy::Error),
    #[error("upstream reset or failed: {0}")]
    Reset(#[source] hyper_util::client::legacy::Error),
    #[error("upstream did not answer within the upstream timeout")]
    Timeout,
    #[error("cannot build the upstream request URI: {0}")]
    Uri(#[from] http::uri::InvalidUri),
}

impl UpstreamError {
    /// `certgate_upstream_errors_total{kind}`
    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamError::Connect(_) => "connect",
            UpstreamError::Timeout => "timeout",
            UpstreamError::Reset(_) | UpstreamError::Uri(_) => "reset",
        }
    }
}

impl Upstream {
    pub fn new(url: &UpstreamUrl) -> Upstream {
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(1024)
            .retry_canceled_requests(true);
        match url {
            UpstreamUrl::Http { authority } => {
                let mut conn = HttpConnector::new();
                conn.set_nodelay(true);
                conn.set_connect_timeout(Some(Duration::from_secs(5)));
                Upstream::Http {
                    client: builder.build(conn),
                    base: format!("http://{authority}").into(),
                }
            }
            UpstreamUrl::Unix(path) => Upstream::Unix {
                client: builder.build(UnixConnector {
                    path: Arc::new(path.clone()),
                }),
            },
        }
    }

    /// Send `req` to `path` (normalised) and `query`, and wait for the response headers up
    /// to `timeout`.
    pub async fn send(
        &self,
        mut req: http::Request<Incoming>,
        path: &str,
        query: Option<&str>,
        timeout: Duration,
    ) -> Result<http::Response<Incoming>, UpstreamError> {
        let base: &str = match self {
            Upstream::Http { base, .. } => base,
            Upstream::Unix { .. } => "http://localhost",
        };
        let mut s =
            String::with_capacity(base.len() + path.len() + query.map_or(0, |q| q.len() + 1));
        s.push_str(base);
        s.push_str(path);
        if let Some(q) = query {
            s.push('?');
            s.push_str(q);
        }
        let uri: http::Uri = s.parse()?;
        *req.uri_mut() = uri;
        *req.version_mut() = http::Version::HTTP_11;
        let fut = async {
            match self {
                Upstream::Http { client, .. } => client.request(req).await,
                Upstream::Unix { client } => client.request(req).await,
            }
        };
        match tokio::time::timeout(timeout, fut).await {
            Err(_) => Err(UpstreamError::Timeout),
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) if e.is_connect() => Err(UpstreamError::Connect(e)),
            Ok(Err(e)) => Err(UpstreamError::Reset(e)),
        }
    }
}
