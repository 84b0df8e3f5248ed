//! The sub-commands besides `run`: `inspect`, `check`, `demo` and `echo`.

pub mod check;
pub mod check_request;
pub mod demo;
pub mod demo_pki;
pub mod demo_webhook;
pub mod echo;
pub mod inspect;
pub mod verdict;
