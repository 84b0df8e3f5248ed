//! HTTP pieces with no process state: the HTTP/1 framing guard, identity and forwarding
//! headers (strip, then set), and the upstream client with its pool.

pub mod framing;
pub mod headers;
pub mod upstream;
