//! bedkey's end-to-end tests: one binary (one link instead of one per file), a module
//! per concern. Every test runs the real `bedkey` binary in a private sandbox
//! (`support::Sandbox`) against real parts: a Secret Service, the kernel keyring, the
//! IAM/Secrets Manager test server, a TLS stand-in for Bedrock, and the real clients.

mod support;

mod action;
mod audit;
mod cli;
mod clients;
mod consumers;
mod create;
mod hardening;
mod inspect;
mod keys;
mod layout;
mod org;
mod platform;
mod proxy;
mod rotate;
// Stand-in service managers are shell scripts.
#[cfg(unix)]
mod schedule;
mod stores;
mod team;
mod terminal;
mod token;
