//! The simulated internet: a campaign, and receivers with hidden limits that answer
//! with real reply texts (the strings `classify` is tested on).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use governor::clock::FakeRelativeClock;
use smtp_throttle::route::{Destination, Route};
use smtp_throttle::throttle::{Sender, TransportError};
use smtp_throttle::Reply;

/// Virtual milliseconds since the campaign started.
pub type Ms = u64;

pub const SECOND: Ms = 1000;
pub const MINUTE: Ms = 60 * SECOND;
pub const HOUR: Ms = 60 * MINUTE;
pub const DAY: Ms = 24 * HOUR;

/// The provider classes the table and chart report on; the last is everything else.
pub const CLASSES: [&str; 6] = ["google", "microsoft", "yahoo", "apple", "comcast", "other"];
const OTHER: usize = 5;

/// What a receiver says, verbatim from `tests/data/replies.tsv` where it has the text.
struct Texts {
    rate: &'static str,
    connections: &'static str,
    block: &'static str,
    busy: &'static str,
    unknown: &'static str,
    full: &'static str,
    full_for_now: &'static str,
    greylisted: &'static str,
    accepted: &'static str,
}

const GOOGLE: Texts = Texts {
    rate: "421 4.7.28 [192.0.2.25] Our system has detected an unusual rate of unsolicited mail originating from your IP address. To protect our users from spam, mail sent from your IP address has been temporarily rate limited. Please visit https://support.google.com/mail/?p=UnsolicitedRateLimitError to review our Bulk Email Senders Guidelines.",
    connections: "421 4.7.0 Try again later, closing connection.",
    block: "550-5.7.1 [192.0.2.25       1] Our system has detected an unusual rate of\n550-5.7.1 unsolicited mail originating from your IP address. To protect our\n550-5.7.1 users from spam, mail sent from your IP address has been blocked.\n550-5.7.1 Please visit\n550 5.7.1  https://support.google.com/mail/answer/188131 for more information.",
    busy: "421 4.4.5 Server busy, try again later.",
    unknown: "550 5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces. Learn more at https://support.google.com/mail/?p=NoSuchUser - gsmtp",
    full: "552 5.2.2 The email account that you tried to reach is over quota. Please direct the recipient to https://support.google.com/mail/?p=OverQuotaPerm - gsmtp",
    full_for_now: "452 4.2.2 The email account that you tried to reach is over quota. Please direct the recipient to https://support.google.com/mail/?p=OverQuotaTemp - gsmtp",
    greylisted: "",
    accepted: "250 2.0.0 OK  1700000000 a1-20020a170902ee0100b001bc5dd8d7e1si123456plb.123 - gsmtp",
};

const MICROSOFT: Texts = Texts {
    rate: "451 4.7.500 Server busy. Please try again later from [192.0.2.25]. (S77719) [BN8NAM12FT055.eop-nam12.prod.protection.outlook.com]",
    connections: "432 4.3.2 Concurrent connections limit exceeded. Visit https://aka.ms/concurrent_sending for more information. [Hostname=OS0PR01MB6099.jpnprd01.prod.outlook.com]",
    block: "550 5.7.606 Access denied, banned sending IP [192.0.2.25]. To request removal from this list please visit https://sender.office.com/ and follow the directions. For more information please go to  http://go.microsoft.com/fwlink/?LinkID=526655 (AS16012609)",
    busy: "451 4.7.700 PFA agent busy, please try again. [xxx.prod.protection.outlook.com]",
    unknown: "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
    full: "550 5.2.2 <user@outlook.com>... Mailbox Full",
    full_for_now: "450 4.2.2 <user@outlook.com>... Mailbox Full",
    greylisted: "",
    accepted: "250 2.6.0 <id@example.com> [InternalId=1, Hostname=BN8NAM12HT123.eop-nam12.prod.protection.outlook.com] Queued mail for delivery",
};

const YAHOO: Texts = Texts {
    rate: "421 4.7.0 [TSS04] Messages from 192.0.2.25 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
    connections: "421 4.7.0 [TSS04] Messages from 192.0.2.25 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
    block: "553 5.7.2 [TSS09] All messages from 192.0.2.25 will be permanently deferred; Retrying will NOT succeed. See https://postmaster.yahooinc.com/error-codes",
    busy: "421 Service not available, closing transmission channel",
    unknown: "554 delivery error: dd This user doesn't have a yahoo.com account (this-local-part-does-not-exist@yahoo.com) [0] - mta1061.mail.ne1.yahoo.com",
    full: "554 delivery error: dd Sorry, your message to example@example.com cannot be delivered. This mailbox is disabled (554.30). - example.yahoo.com",
    full_for_now: "450 4.2.2 <user@yahoo.com>... Mailbox Full",
    greylisted: "",
    accepted: "250 ok dirdel",
};

const APPLE: Texts = Texts {
    rate: "450 4.7.1 Error: too many recipients from 192.0.2.1",
    connections: "421 4.7.0 mx.example.com Error: too many connections from 192.0.2.1",
    block: "554 5.7.1 [CS01] Message rejected due to local policy. Please visit https://support.apple.com/en-us/HT204137",
    busy: "451 [BS02] Temporary server error. Please try again later.",
    unknown: "550 5.1.1 <example@icloud.com>: user does not exist",
    full: "552 5.2.2 <pseudo-local-part-of-apple-icloud-mail@icloud.com>: user is over quota",
    full_for_now: "450 4.2.2 <user@icloud.com>... Mailbox Full",
    greylisted: "",
    accepted: "250 2.0.0 Ok: queued as 4Xk9F2",
};

const COMCAST: Texts = Texts {
    rate: "421 4.7.0 Try again later, closing connection.",
    connections: "421 Too many connections",
    block: "554 imta14.emeryville.ca.mail.comcast.net comcast 192.0.2.2 Comcast block for spam.",
    busy: "450 4.3.2 try again later",
    unknown: "550 5.1.1 <example@comcast.net> recipient mailbox unallocated",
    full: "550 5.2.2 <user@comcast.net>... Mailbox Full",
    full_for_now: "450 4.2.2 <user@comcast.net>... Mailbox Full",
    greylisted: "",
    accepted: "250 2.0.0 Ok: queued as 4Xk9F2",
};

/// A Postfix server of the long tail; some run postgrey.
const POSTFIX: Texts = Texts {
    rate: "421 4.7.0 Try again later, closing connection.",
    connections: "421 4.7.0 mx.example.com Error: too many connections from 192.0.2.1",
    block: "554 5.7.1 <a8-95.smtp-out.amazonses.com[203.0.113.22]>: Client host rejected: blocked using mail.neko.example.org; Please see http://mail.neko.example.org/rbl/?ip=203.0.113.22 to send.",
    busy: "451 4.3.0 Temporary lookup error",
    unknown: "550 5.1.1 <neko@example.co.jp>: Recipient address rejected: User unknown in virtual mailbox table",
    full: "550 5.2.2 <mailboxfull@bouncehammer.jp>... Mailbox Full",
    full_for_now: "450 4.2.2 <kijitora@example.jp>... Mailbox Full",
    greylisted: "450 4.2.0 <xo@wvvw.me>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/wvvw.me.html",
    accepted: "250 2.0.0 Ok: queued as 4Xk9F2",
};

/// A receiver's limits per sending IP, which senders are not told.
#[derive(Clone, Copy, Debug)]
pub struct Hidden {
    /// Messages a minute it accepts from one IP (a token bucket).
    pub per_minute: f64,
    /// Messages it accepts at once above the rate (the bucket's size).
    pub burst: f64,
    /// Simultaneous connections from one IP.
    pub connections: u32,
    /// Refusals it tolerates (each forgotten after `forget`) before it blocks the IP.
    pub strikes: f64,
    /// Time for one message on an open connection.
    pub service: Ms,
    /// Whether first contact is greylisted for 300 s, as postgrey does.
    pub greylist: bool,
}

/// Strikes fade at one per this much time.
const FORGET: Ms = 10 * SECOND;
/// How long a block lasts.
const BLOCK: Ms = DAY;
/// postgrey's default delay.
const GREYLIST: Ms = 300 * SECOND;
/// One send in this many meets a busy server, one in `LOST` a lost connection.
const BUSY: u64 = 1000;
const LOST: u64 = 2000;

/// Big providers' hidden limits per IP: chosen near what their postmaster pages and
/// DESIGN.md's facts suggest (connection caps 5–25 per IP, rates of a few hundred a
/// minute for an IP without history), not published figures.
fn provider_limits(class: usize) -> Hidden {
    let (per_minute, connections, strikes, service) = match class {
        0 => (600.0, 20, 100.0, 200),
        1 => (300.0, 10, 60.0, 400),
        2 => (250.0, 10, 40.0, 300),
        3 => (200.0, 10, 50.0, 300),
        _ => (150.0, 25, 50.0, 300),
    };
    Hidden {
        per_minute,
        burst: per_minute / 6.0,
        connections,
        strikes,
        service,
        greylist: false,
    }
}

/// One sending IP's standing at one receiver.
#[derive(Clone, Copy, Debug, Default)]
struct Standing {
    tokens: f64,
    refilled: Ms,
    connections: u32,
    strikes: f64,
    struck: Ms,
    blocked_until: Ms,
}

/// What becomes of a message at its receiver, decided by the seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    Deliverable,
    /// Over quota for a while after the first attempt, then deliverable.
    FullFor(Ms),
    /// Over quota for good (5.2.2).
    Full,
    /// No such user.
    Unknown,
}

impl Fate {
    pub fn deliverable(self) -> bool {
        matches!(self, Fate::Deliverable | Fate::FullFor(_))
    }
}

/// One message of the campaign.
#[derive(Clone, Copy, Debug)]
pub struct Message {
    pub receiver: u32,
    pub ip: u8,
    pub fate: Fate,
}

/// A receiving site: a big provider or one domain of the long tail.
pub struct Receiver {
    pub class: usize,
    pub hidden: Hidden,
    /// The destination a session to this receiver is opened for.
    pub destination: Destination,
    replies: usize,
}

/// A receiver kind's replies, parsed once.
struct Replies {
    rate: Reply,
    connections: Reply,
    block: Reply,
    busy: Reply,
    unknown: Reply,
    full: Reply,
    full_for_now: Reply,
    greylisted: Option<Reply>,
    accepted: Reply,
}

impl Replies {
    fn new(texts: &Texts) -> Result<Self, String> {
        let parse = |text: &str| Reply::parse(text).map_err(|e| format!("{text:?}: {e}"));
        Ok(Self {
            rate: parse(texts.rate)?,
            connections: parse(texts.connections)?,
            block: parse(texts.block)?,
            busy: parse(texts.busy)?,
            unknown: parse(texts.unknown)?,
            full: parse(texts.full)?,
            full_for_now: parse(texts.full_for_now)?,
            greylisted: (!texts.greylisted.is_empty())
                .then(|| parse(texts.greylisted))
                .transpose()?,
            accepted: parse(texts.accepted)?,
        })
    }
}

/// The campaign: recipients spread over domains as a real list is, sent from `ips`.
pub struct Campaign {
    pub ips: Vec<IpAddr>,
    pub receivers: Vec<Receiver>,
    pub messages: Vec<Message>,
    pub domains: usize,
    pub seed: u64,
    by_domain: HashMap<String, u32>,
    replies: Vec<Replies>,
}

/// SplitMix64 of `(seed, a, b)`: one independent draw per name, so every policy sees
/// the same campaign whatever order it sends in.
pub fn draw(seed: u64, a: u64, b: u64) -> u64 {
    let mut z = seed
        .wrapping_add(a.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(b.wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// Consumer domains and their share of a typical list (Gmail ≈ 30 %, Microsoft's
/// consumer domains ≈ 18 %, Yahoo/AOL ≈ 11 %, Apple ≈ 5 %, Comcast 2 %).
const CONSUMER: [(&str, usize, f64); 11] = [
    ("gmail.com", 0, 0.290),
    ("googlemail.com", 0, 0.005),
    ("outlook.com", 1, 0.080),
    ("hotmail.com", 1, 0.080),
    ("live.com", 1, 0.020),
    ("yahoo.com", 2, 0.080),
    ("aol.com", 2, 0.030),
    ("ymail.com", 2, 0.005),
    ("icloud.com", 3, 0.040),
    ("me.com", 3, 0.010),
    ("comcast.net", 4, 0.020),
];

impl Campaign {
    /// `messages` to `domains` recipient domains from `ips` source IPs.
    pub fn new(messages: usize, domains: usize, ips: usize, seed: u64) -> Result<Self, String> {
        if domains <= CONSUMER.len() {
            return Err(format!("--domains must be above {}", CONSUMER.len()));
        }
        if !(1..=250).contains(&ips) {
            return Err("--ips must be 1..=250".into());
        }
        if messages == 0 || messages > 50_000_000 {
            return Err("--messages must be 1..=50000000".into());
        }
        let ips: Vec<IpAddr> = (0..ips)
            .map(|i| IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10 + i as u8)))
            .collect();
        let mut receivers = Vec::new();
        let mut by_domain = HashMap::new();
        let replies = [GOOGLE, MICROSOFT, YAHOO, APPLE, COMCAST, POSTFIX]
            .iter()
            .map(Replies::new)
            .collect::<Result<Vec<_>, _>>()?;
        let big = [
            ("gmail.com", "gmail-smtp-in.l.google.com"),
            ("outlook.com", "outlook-com.olc.protection.outlook.com"),
            ("yahoo.com", "mta5.am0.yahoodns.net"),
            ("icloud.com", "mx01.mail.icloud.com"),
            ("comcast.net", "mx1a1.comcast.net"),
        ];
        for (class, (domain, mx)) in big.into_iter().enumerate() {
            receivers.push(Receiver {
                class,
                hidden: provider_limits(class),
                destination: Destination::new(domain)
                    .and_then(|d| d.with_mx(mx))
                    .map_err(|e| e.to_string())?,
                replies: class,
            });
        }
        // Weights: consumer domains by share, the tail by a Zipf law over 34.5 %.
        let mut weights = Vec::with_capacity(domains);
        for (domain, class, share) in CONSUMER {
            by_domain.insert(domain.to_string(), class as u32);
            weights.push((class as u32, share));
        }
        let tail = domains - CONSUMER.len();
        let zipf: f64 = (0..tail).map(|k| 1.0 / (k as f64 + 10.0)).sum();
        for k in 0..tail {
            let domain = format!("d{k}.example.net");
            let hosting = draw(seed, 1, k as u64) % 100;
            // Of the tail: 26 % Google Workspace, 12 % Microsoft 365, the rest their own.
            let receiver = if hosting < 26 {
                0
            } else if hosting < 38 {
                1
            } else {
                let rate = [30.0, 60.0, 60.0, 120.0][(draw(seed, 2, k as u64) % 4) as usize];
                let greylist = draw(seed, 3, k as u64) % 100 < 30;
                receivers.push(Receiver {
                    class: OTHER,
                    hidden: Hidden {
                        per_minute: rate,
                        burst: (rate / 6.0).max(5.0),
                        connections: if draw(seed, 4, k as u64) % 2 == 0 {
                            5
                        } else {
                            10
                        },
                        strikes: 30.0,
                        service: 500,
                        greylist,
                    },
                    destination: Destination::new(&domain).map_err(|e| e.to_string())?,
                    replies: OTHER,
                });
                (receivers.len() - 1) as u32
            };
            by_domain.insert(domain, receiver);
            weights.push((receiver, 0.345 / zipf / (k as f64 + 10.0)));
        }
        let mut cumulative = Vec::with_capacity(weights.len());
        let mut sum = 0.0;
        for (receiver, weight) in &weights {
            sum += weight;
            cumulative.push((sum, *receiver));
        }
        let messages = (0..messages as u64)
            .map(|i| {
                let u = unit(draw(seed, 5, i)) * sum;
                let at = cumulative.partition_point(|(c, _)| *c < u);
                let receiver = cumulative[at.min(cumulative.len() - 1)].1;
                let f = draw(seed, 6, i) % 1000;
                let fate = match f {
                    0..=19 => Fate::Unknown,
                    20..=22 => Fate::Full,
                    23..=27 => Fate::FullFor((10 + draw(seed, 7, i) % 50) * MINUTE),
                    _ => Fate::Deliverable,
                };
                Message {
                    receiver,
                    ip: (i % ips.len() as u64) as u8,
                    fate,
                }
            })
            .collect();
        Ok(Self {
            ips,
            receivers,
            messages,
            domains,
            seed,
            by_domain,
            replies,
        })
    }

    /// Messages a perfect sender delivers.
    pub fn deliverable(&self) -> usize {
        self.messages
            .iter()
            .filter(|m| m.fate.deliverable())
            .count()
    }

    /// The least time the hidden limits allow: each (IP, receiver)'s deliverable mail at
    /// its hidden rate (after its burst), greylisted mail no sooner than the delay, a
    /// full mailbox no sooner than it frees.
    pub fn ideal(&self) -> Ms {
        let ips = self.ips.len();
        let mut counts = vec![0u64; self.receivers.len() * ips];
        let mut frees = 0;
        for m in &self.messages {
            if m.fate.deliverable() {
                counts[m.receiver as usize * ips + m.ip as usize] += 1;
            }
            if let Fate::FullFor(time) = m.fate {
                frees = frees.max(time);
            }
        }
        let mut ideal = frees as f64 / MINUTE as f64;
        for (at, &n) in counts.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let hidden = self.receivers[at / ips].hidden;
            let mut minutes = (n as f64 - hidden.burst).max(0.0) / hidden.per_minute;
            if hidden.greylist {
                minutes = minutes.max(GREYLIST as f64 / MINUTE as f64);
            }
            ideal = ideal.max(minutes);
        }
        (ideal * MINUTE as f64) as Ms
    }

    /// The route a session to `receiver` from `ip` is opened for.
    pub fn route(&self, receiver: u32, ip: u8) -> Route {
        Route::new(
            self.ips[ip as usize],
            self.receivers[receiver as usize].destination.clone(),
        )
    }
}

/// The receivers' state during one policy's run, on one virtual clock.
pub struct World<'c> {
    pub campaign: &'c Campaign,
    /// The throttle's clock, kept at `now`.
    pub clock: FakeRelativeClock,
    now: Cell<Ms>,
    standing: RefCell<Vec<Standing>>,
    /// First attempt of each message (greylisting, temporarily full mailboxes).
    first_seen: RefCell<Vec<Ms>>,
    sends: Cell<u64>,
    blocks: Cell<u32>,
}

impl<'c> World<'c> {
    pub fn new(campaign: &'c Campaign) -> Self {
        let ips = campaign.ips.len();
        let standing = campaign
            .receivers
            .iter()
            .flat_map(|r| {
                (0..ips).map(|_| Standing {
                    tokens: r.hidden.burst,
                    ..Standing::default()
                })
            })
            .collect();
        Self {
            campaign,
            clock: FakeRelativeClock::default(),
            now: Cell::new(0),
            standing: RefCell::new(standing),
            first_seen: RefCell::new(vec![Ms::MAX; campaign.messages.len()]),
            sends: Cell::new(0),
            blocks: Cell::new(0),
        }
    }

    pub fn now(&self) -> Ms {
        self.now.get()
    }

    /// Moves virtual time (and the throttle's clock) forward to `to`.
    pub fn advance(&self, to: Ms) {
        let now = self.now.get();
        if to > now {
            self.clock.advance(Duration::from_millis(to - now));
            self.now.set(to);
        }
    }

    /// Times a receiver blocked a sending IP.
    pub fn blocks(&self) -> u32 {
        self.blocks.get()
    }

    fn strike(&self, s: &mut Standing, hidden: &Hidden) {
        let now = self.now();
        s.strikes = (s.strikes - (now - s.struck) as f64 / FORGET as f64).max(0.0) + 1.0;
        s.struck = now;
        if s.strikes >= hidden.strikes {
            s.strikes = 0.0;
            s.blocked_until = now + BLOCK;
            self.blocks.set(self.blocks.get() + 1);
        }
    }

    fn pair(&self, route: &Route) -> Result<(u32, usize), TransportError> {
        let campaign = self.campaign;
        let receiver = *campaign
            .by_domain
            .get(route.destination().domain())
            .ok_or_else(|| TransportError::Other("unknown domain".into()))?;
        let ip = campaign
            .ips
            .iter()
            .position(|ip| *ip == route.source())
            .ok_or_else(|| TransportError::Other("not our IP".into()))?;
        Ok((receiver, receiver as usize * campaign.ips.len() + ip))
    }

    /// Opens a connection: refused past the hidden connection cap, and by a block.
    pub fn connect(&self, route: &Route) -> Result<Connection<'_, 'c>, TransportError> {
        let (receiver, at) = self.pair(route)?;
        let r = &self.campaign.receivers[receiver as usize];
        let replies = &self.campaign.replies[r.replies];
        let mut standing = self.standing.borrow_mut();
        let s = &mut standing[at];
        if s.blocked_until > self.now() {
            return Err(TransportError::Rejected(replies.block.clone()));
        }
        if s.connections >= r.hidden.connections {
            self.strike(s, &r.hidden);
            return Err(TransportError::Rejected(replies.connections.clone()));
        }
        s.connections += 1;
        Ok(Connection {
            world: self,
            receiver,
            at,
        })
    }

    /// The receiver's answer to one message on `connection`.
    pub fn deliver(
        &self,
        connection: &Connection<'_, 'c>,
        id: u32,
    ) -> Result<Reply, TransportError> {
        let now = self.now();
        let campaign = self.campaign;
        let r = &campaign.receivers[connection.receiver as usize];
        let replies = &campaign.replies[r.replies];
        let message = campaign.messages[id as usize];
        let sends = self.sends.get() + 1;
        self.sends.set(sends);
        let mut standing = self.standing.borrow_mut();
        let s = &mut standing[connection.at];
        if s.blocked_until > now {
            return Ok(replies.block.clone());
        }
        let luck = draw(campaign.seed, 8, sends);
        if luck % LOST == 0 {
            return Err(TransportError::ConnectionLost(
                "connection reset by peer".into(),
            ));
        }
        if luck % BUSY == 1 {
            return Ok(replies.busy.clone());
        }
        let hidden = r.hidden;
        s.tokens = (s.tokens + (now - s.refilled) as f64 * hidden.per_minute / MINUTE as f64)
            .min(hidden.burst);
        s.refilled = now;
        if s.tokens < 1.0 {
            self.strike(s, &hidden);
            return Ok(replies.rate.clone());
        }
        s.tokens -= 1.0;
        drop(standing);
        if message.fate == Fate::Unknown {
            return Ok(replies.unknown.clone());
        }
        let mut first_seen = self.first_seen.borrow_mut();
        let first = &mut first_seen[id as usize];
        if *first == Ms::MAX {
            *first = now;
        }
        if let Some(greylisted) = &replies.greylisted {
            if hidden.greylist && now - *first < GREYLIST {
                return Ok(greylisted.clone());
            }
        }
        Ok(match message.fate {
            Fate::Full => &replies.full,
            Fate::FullFor(time) if now - *first < time => &replies.full_for_now,
            _ => &replies.accepted,
        }
        .clone())
    }
}

/// An open connection; closing it frees the receiver's slot.
pub struct Connection<'w, 'c> {
    world: &'w World<'c>,
    receiver: u32,
    at: usize,
}

impl Drop for Connection<'_, '_> {
    fn drop(&mut self) {
        let mut standing = self.world.standing.borrow_mut();
        standing[self.at].connections -= 1;
    }
}

/// The SMTP client every policy sends with.
#[derive(Clone, Copy)]
pub struct Client<'w, 'c>(pub &'w World<'c>);

impl<'w, 'c> Sender<u32> for Client<'w, 'c> {
    type Session = Connection<'w, 'c>;
    fn open(&self, route: &Route) -> Result<Connection<'w, 'c>, TransportError> {
        self.0.connect(route)
    }
    fn send(&self, session: &mut Connection<'w, 'c>, id: &u32) -> Result<Reply, TransportError> {
        self.0.deliver(session, *id)
    }
}
