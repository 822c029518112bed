//! bkenv: stand up, diagnose and preflight BuildKit + private registry TLS environments.

pub mod catalog;
pub mod diag;
pub mod probe;
