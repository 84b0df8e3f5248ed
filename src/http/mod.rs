//! HTTP pieces with no process state: the HTTP/1 framing guard, identity and forwarding
//! headers (strip, then set), plain HTTP/1.1 requests as bytes (h1request), the upstream
//! client with its pool, and write coalescing of upstream answers (prefetch).

pub mod framing;
pub mod h1client;
pub mod h1request;
pub mod h1wire;
pub mod headers;
pub mod identity_headers;
pub mod prefetch;
pub mod upstream;
