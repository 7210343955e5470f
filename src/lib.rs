//! # smtp-throttle
//!
//! Keeps email senders on the right side of receiving mail servers. Pass any SMTP reply
//! your sender got to [`classify()`] and learn what it means — rate limit, greylisting,
//! reputation, unknown user … — whether to try the message again, and what to slow down.
//!
//! The crate is pure logic: no sockets, no DNS, no runtime of its own. It fits around
//! whatever talks SMTP for you (lettre, an MTA's delivery agent, a custom client):
//! [`classify()`] what a reply means, keep each route within what receivers accept with
//! [`limit::Limits`], and schedule the next try with [`retry::RetryPolicy`].
//!
//! ## Quick start
//!
//! ```
//! use smtp_throttle::{classify, Category, Reply, Scope};
//!
//! // A reply exactly as the server sent it (multi-line, CRLF or LF).
//! let reply = Reply::parse(
//!     "421-4.7.28 Gmail has detected an unusual rate of unsolicited mail originating\r\n\
//!      421 4.7.28 from your IP address. Please try again later. - gsmtp\r\n",
//! )?;
//! let c = classify(&reply);
//! assert_eq!(c.category, Category::RateLimited);
//! assert!(c.retry);                        // defer, don't bounce
//! assert_eq!(c.scope, Scope::SourceIp);    // slow the sending IP down
//! assert_eq!(c.provider.map(|p| p.as_str()), Some("google"));
//! println!("{} (rule {})", c.category, c.rule);
//!
//! // A reply your client already split into parts (lettre, smtp-proto).
//! let reply = Reply::from_parts(451, None, "4.7.1 Greylisting in action, please come back in 00:05:00")?;
//! let c = classify(&reply);
//! assert_eq!(c.category, Category::Greylisted);
//! assert_eq!(c.retry_hint, Some(std::time::Duration::from_secs(300)));
//! # Ok::<(), smtp_throttle::ParseError>(())
//! ```
//!
//! ## Wrapping your sender
//!
//! ```
//! use std::net::IpAddr;
//! use std::time::Duration;
//! use smtp_throttle::limit::Limits;
//! use smtp_throttle::retry::RetryPolicy;
//! use smtp_throttle::route::{Destination, Route};
//! use smtp_throttle::throttle::{sender_fn, Outcome, Throttle, Throttled, TransportError};
//! use smtp_throttle::Reply;
//!
//! // The code that really talks SMTP (lettre, your client …), one message per call.
//! let smtp = sender_fn(|route: &Route, message: &str| -> Result<Reply, TransportError> {
//!     let _ = (route, message);
//!     Ok(Reply::parse("250 2.0.0 Ok: queued").expect("valid reply"))
//! });
//! let throttle = Throttle::new(Limits::builder().build()?, RetryPolicy::default());
//! let sender = Throttled::new(smtp, throttle.clone());
//!
//! let route = Route::new("192.0.2.10".parse::<IpAddr>()?, Destination::new("gmail.com")?);
//! let mut history = throttle.history();          // keep one per message in your queue
//! match sender.send(&route, "Subject: hi\r\n\r\nhello", &mut history, Duration::from_secs(30)) {
//!     Ok(Outcome::Delivered { .. }) => {}
//!     Ok(Outcome::Deferred { retry_at, .. }) => { /* requeue for retry_at */ let _ = retry_at; }
//!     Ok(Outcome::Bounced { reason, .. }) => { /* bounce: {reason} */ let _ = reason; }
//!     Ok(other) => { /* a kind added later: keep the message queued */ let _ = other; }
//!     Err(wait) => { /* not tried: no capacity before the timeout */ let _ = wait; }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Modules
//!
//! - [`reply`]: [`Reply`], reply codes and enhanced status codes; parsing and writing.
//! - [`classify`](mod@classify): [`Category`], [`Classification`], the rule engine,
//!   your own rules.
//! - [`provider`]: the receiving providers the classifier recognises.
//! - [`retry`]: when to try a deferred message again, and a small retry queue.
//! - [`limit`]: session slots and message rates per route, adapting to replies.
//! - [`throttle`]: [`Throttle`](throttle::Throttle) around your sender: limits, classify,
//!   feedback and retry in one call.
//! - [`route`]: routes (sending IP, destination) and the sites they group onto.
//! - `config` (feature `config`): limits, sites and rules from TOML files, and
//!   KumoMTA's `shaping.toml`.
//! - [`error`]: the error types.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]

pub mod classify;
#[cfg(feature = "config")]
#[cfg_attr(docsrs, doc(cfg(feature = "config")))]
pub mod config;
pub mod error;
#[cfg(feature = "lettre")]
#[cfg_attr(docsrs, doc(cfg(feature = "lettre")))]
pub mod lettre;
pub mod limit;
mod mail;
pub mod provider;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub mod queue;
pub mod reply;
pub mod retry;
pub mod route;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod shared;
pub mod throttle;

/// The examples of README.md, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use classify::{classify, Category, Classification, Classifier, Rule, Scope, Severity};
pub use error::{
    Cause, ConfigError, HistoryError, LearnedError, ParseError, RouteError, RuleError,
};
#[cfg(feature = "config")]
pub use error::{FileError, FileErrorKind};
pub use mail::Mail;
pub use provider::Provider;
pub use reply::Reply;
