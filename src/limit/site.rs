//! What limits apply where: [`ScopeLimits`] of one scope, [`SiteLimits`] of a
//! receiving site, and the provider presets with their sources.

use std::time::Duration;

use super::rate::Rate;
use crate::error::ConfigError;
use crate::provider::Provider;

/// The most sessions one scope may allow at once.
const MAX_SESSIONS: u32 = 100_000;

/// Limits of one scope: a message rate and a cap on simultaneous sessions; `None`
/// means unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScopeLimits {
    /// Messages per time.
    pub rate: Option<Rate>,
    /// Simultaneous SMTP sessions.
    pub sessions: Option<u32>,
}

impl ScopeLimits {
    /// No limit.
    pub const UNLIMITED: ScopeLimits = ScopeLimits {
        rate: None,
        sessions: None,
    };

    /// A cap on simultaneous sessions only.
    pub fn sessions(sessions: u32) -> Self {
        Self {
            rate: None,
            sessions: Some(sessions),
        }
    }

    /// Adds a message rate.
    #[must_use]
    pub fn with_rate(mut self, rate: Rate) -> Self {
        self.rate = Some(rate);
        self
    }

    pub(crate) fn validate(&self, setting: &'static str) -> Result<(), ConfigError> {
        match self.sessions {
            Some(0) => Err(ConfigError::Zero { setting }),
            Some(n) if n > MAX_SESSIONS => Err(ConfigError::TooMany {
                setting,
                value: u64::from(n),
                max: u64::from(MAX_SESSIONS),
            }),
            _ => Ok(()),
        }
    }
}

/// The limits of one receiving site: for the site as a whole (all sending IPs
/// together), for each (sending IP, site) pair, and messages per session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SiteLimits {
    /// All sending IPs together.
    pub site: ScopeLimits,
    /// Each sending IP towards the site.
    pub pair: ScopeLimits,
    /// Messages one SMTP session may carry (`None`: no limit).
    pub deliveries_per_session: Option<u32>,
}

impl SiteLimits {
    /// The preset for a provider, from what the provider documents or asks for; `None`
    /// where nothing is published. Values are per sending IP (pair) unless noted.
    pub fn preset(provider: Provider) -> Option<SiteLimits> {
        // Sources: KumoMTA `assets/policy-extras/shaping.toml` (values marked there as
        // provided by the providers, with their pages), and DESIGN.md's provider facts.
        let pair = |sessions: u32, deliveries: Option<u32>| SiteLimits {
            site: ScopeLimits::UNLIMITED,
            pair: ScopeLimits::sessions(sessions),
            deliveries_per_session: deliveries,
        };
        Some(match provider {
            // support.google.com/mail/answer/81126: 5 connections, 50 messages each.
            Provider::Google => pair(5, Some(50)),
            // sendersupport.olc.protection.outlook.com/pm/Policies: 5 connections,
            // 50 messages each.
            Provider::Microsoft => pair(5, Some(50)),
            // senders.yahooinc.com/best-practices (provided by Yahoo): 20 messages per
            // connection; connections as the default.
            Provider::Yahoo => pair(10, Some(20)),
            // support.apple.com/en-us/102322: 10 connections, 5 messages each.
            Provider::Apple => pair(10, Some(5)),
            // spa.xfinity.com/postmaster (provided by Comcast): 25 connections per IP,
            // 1000 messages each.
            Provider::Comcast => pair(25, Some(1000)),
            // Cox: 5 connections and 100 messages per connection (DESIGN.md).
            Provider::Cox => pair(5, Some(100)),
            // messagerie.orange.fr/postmaster: 3 simultaneous connections per IP.
            Provider::Orange => pair(3, None),
            // Provided by Mimecast: 10 connections, 100 messages each.
            Provider::Mimecast => pair(10, Some(100)),
            // Provided by mail.com (GMX / web.de platform): 100 messages per connection.
            Provider::Gmx => pair(10, Some(100)),
            _ => return None,
        })
    }

    /// Amazon SES in the sandbox: 1 message per second and at most 200 in any 24 hours
    /// ([`Rate::at_most`]: 100 at once, the rest spread over the day;
    /// docs.aws.amazon.com/ses/latest/dg/quotas.html). Out of the sandbox the quota is
    /// per account ("varies based on your specific use case"): set the `MaxSendRate`
    /// that `GetSendQuota` reports for yours with [`SiteLimits::relay`].
    pub fn amazon_ses_sandbox() -> SiteLimits {
        SiteLimits {
            site: ScopeLimits {
                rate: Rate::per_second(1).ok(),
                sessions: None,
            },
            pair: ScopeLimits {
                rate: Rate::at_most(200, Duration::from_secs(24 * 3600)).ok(),
                sessions: None,
            },
            deliveries_per_session: None,
        }
    }

    /// Mailgun's SMTP relay (`smtp.mailgun.com`): up to 7000 connections, 3 messages
    /// each, as Mailgun gave them to KumoMTA's shaping data.
    pub fn mailgun() -> SiteLimits {
        SiteLimits {
            site: ScopeLimits::UNLIMITED,
            pair: ScopeLimits::sessions(7000),
            deliveries_per_session: Some(3),
        }
    }

    /// SendGrid's free plan: at most 100 messages in any 24 hours (its plan limits; 50
    /// at once, the rest spread over the day); paid plans are
    /// monthly volumes, set yours with [`SiteLimits::relay`].
    pub fn sendgrid_free() -> SiteLimits {
        SiteLimits {
            site: ScopeLimits {
                rate: Rate::at_most(100, Duration::from_secs(24 * 3600)).ok(),
                sessions: None,
            },
            pair: ScopeLimits::UNLIMITED,
            deliveries_per_session: None,
        }
    }

    /// A relay account you send through at `rate` (all sending IPs together), for
    /// Amazon SES out of the sandbox, paid SendGrid, Postmark and others whose rate
    /// comes with your account.
    pub fn relay(rate: Rate) -> SiteLimits {
        SiteLimits {
            site: ScopeLimits {
                rate: Some(rate),
                sessions: None,
            },
            pair: ScopeLimits::UNLIMITED,
            deliveries_per_session: None,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        self.site.validate("site sessions")?;
        self.pair.validate("pair sessions")?;
        if self.deliveries_per_session == Some(0) {
            return Err(ConfigError::Zero {
                setting: "deliveries_per_session",
            });
        }
        Ok(())
    }
}
