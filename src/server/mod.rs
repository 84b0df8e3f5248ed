//! The serving layer: process-wide state, the accept loop, one connection's lifecycle, the
//! per-request pipeline (hyper's servers, and certgate's own for plain HTTP/1.1 requests),
//! the admin server and the reload loop. Uses every lower layer.

pub mod access;
pub mod admin;
pub mod answer;
pub(crate) mod buffers;
pub mod conn;
pub mod lazy_timer;
pub mod listener;
pub mod own_h1;
pub mod peer;
pub mod proxy;
pub mod reloader;
pub(crate) mod request_id;
pub mod rules;
pub mod run;
pub mod send;
pub mod state;
