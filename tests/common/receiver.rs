//! A hostile SMTP receiver for tests and examples: it speaks enough SMTP for lettre and
//! for a hand-written client, and refuses the way real receivers do (Gmail's and
//! Postfix anvil's connection and rate limits, postgrey's greylisting, DNSBL-style
//! blocks after repeated abuse), on an injectable clock.
//!
//! Depends only on std, `parking_lot` and `governor`; usable from an example with
//! `#[path = "../tests/common/receiver.rs"] mod receiver;`.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// The receiver's time: a duration since an arbitrary epoch, never decreasing.
pub type ClockFn = Arc<dyn Fn() -> Duration + Send + Sync>;

/// Real monotonic time since this call.
pub fn real_clock() -> ClockFn {
    let start = Instant::now();
    Arc::new(move || start.elapsed())
}

/// The time of a governor clock (e.g. a `FakeRelativeClock` shared with a throttle),
/// measured from the clock's reading at this call.
pub fn clock_of<C>(clock: C) -> ClockFn
where
    C: governor::clock::Clock + Send + Sync + 'static,
{
    use governor::clock::Reference;
    let start = clock.now();
    Arc::new(move || Duration::from(clock.now().duration_since(start)))
}

/// `count` events per `per`; a zero count or a zero `per` turns the limit off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Events allowed per period.
    pub count: u32,
    /// The period.
    pub per: Duration,
}

impl Rate {
    /// `count` per `per`.
    pub fn new(count: u32, per: Duration) -> Self {
        Self { count, per }
    }

    fn on(self) -> Option<Self> {
        (self.count > 0 && !self.per.is_zero()).then_some(self)
    }
}

/// A token bucket: `burst` tokens (0 reads as 1), refilled at `rate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// The refill rate.
    pub rate: Rate,
    /// How many tokens a full bucket holds.
    pub burst: u32,
}

/// The reply texts. `{host}`, `{ip}` (the client's), `{rcpt}` and `{domain}` (the
/// recipient's, in the greylisting text) are filled in. A reply starting with `421`
/// closes the connection, as RFC 5321 says; any refusal at the greeting does too. An
/// empty text reads as the default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Texts {
    /// Over the simultaneous connections cap, at the greeting (Gmail's text).
    pub connections: String,
    /// Over the connection-open rate, at the greeting (Postfix anvil's).
    pub connection_rate: String,
    /// Over the message rate, at MAIL FROM (Postfix anvil's).
    pub message_rate: String,
    /// At the MAIL FROM after `messages_per_connection` messages. Exchange's
    /// `432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded` would refuse
    /// without closing.
    pub per_connection: String,
    /// Greylisting, at RCPT TO (postgrey's).
    pub greylisted: String,
    /// Every greeting while the client is blocked (a DNSBL-style block).
    pub blocked: String,
}

impl Default for Texts {
    fn default() -> Self {
        Self {
            connections: "421 4.7.0 Try again later, closing connection.".into(),
            connection_rate: "421 4.7.0 {host} Error: too many connections from {ip}".into(),
            message_rate: "450 4.7.1 Error: too much mail from {ip}".into(),
            per_connection:
                "421 4.7.0 {host} Error: too many messages in one connection, closing connection"
                    .into(),
            greylisted: "450 4.2.0 <{rcpt}>: Recipient address rejected: Greylisted, see \
                         http://postgrey.schweikert.ch/help/{domain}.html"
                .into(),
            blocked: "554 5.7.1 Service unavailable; Client host [{ip}] blocked using \
                      zen.spamhaus.org"
                .into(),
        }
    }
}

/// What the receiver enforces. All limits are per client IP; zero (or `None`) is off.
#[derive(Clone)]
pub struct Config {
    /// The port on 127.0.0.1; 0 (default) picks a free one.
    pub port: u16,
    /// The name in the greeting and in replies (default `mx.hostile.test`).
    pub host: String,
    /// Simultaneous connections per client; the one over is refused at the greeting.
    pub max_connections: u32,
    /// Connections opened per fixed window, refused ones included; over it, the
    /// greeting is refused.
    pub connection_rate: Option<Rate>,
    /// Messages (MAIL FROM) as a token bucket; over it, MAIL FROM is refused.
    pub message_bucket: Option<Bucket>,
    /// Messages (MAIL FROM) per fixed window, anvil style; over it, MAIL FROM is refused.
    pub message_window: Option<Rate>,
    /// A reputation change: from time `.0` on, `.1` replaces the bucket's refill rate
    /// and the window's limit (with neither set, it acts as a fixed window).
    pub rate_after: Option<(Duration, Rate)>,
    /// Messages per connection; the next MAIL FROM gets `texts.per_connection`.
    pub messages_per_connection: u32,
    /// Greylisting: the first attempt of each (client, sender, recipient) is refused at
    /// RCPT TO, and so is every retry until this long after it.
    pub greylist: Duration,
    /// A real sleep before each reply.
    pub tarpit: Duration,
    /// Strikes fade at one per this interval (zero: never).
    pub fade: Duration,
    /// At this many strikes the client is blocked (zero: never). Every refusal but
    /// greylisting and the block's own is a strike. Strikes go on fading during a
    /// block; the ones left when it ends count toward the next. A block refuses
    /// greetings only: connections open when it starts go on.
    pub block_after: u32,
    /// How long a block lasts; `None` (default): the rest of the run.
    pub block_for: Option<Duration>,
    /// The real-time limit on waiting for a client's line (default 10 s; at least 1 ms).
    pub read_timeout: Duration,
    /// The reply texts.
    pub texts: Texts,
    /// The time limits are measured in (default: [`real_clock`]).
    pub clock: ClockFn,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            port: 0,
            host: "mx.hostile.test".into(),
            max_connections: 0,
            connection_rate: None,
            message_bucket: None,
            message_window: None,
            rate_after: None,
            messages_per_connection: 0,
            greylist: Duration::ZERO,
            tarpit: Duration::ZERO,
            fade: Duration::ZERO,
            block_after: 0,
            block_for: None,
            read_timeout: Duration::from_secs(10),
            texts: Texts::default(),
            clock: real_clock(),
        }
    }
}

/// Why a reply refused something.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Over `max_connections`.
    Connections,
    /// Over `connection_rate`.
    ConnectionRate,
    /// Over `message_bucket` or `message_window`.
    MessageRate,
    /// Over `messages_per_connection`.
    PerConnection,
    /// Greylisted.
    Greylisted,
    /// Blocked.
    Blocked,
}

/// One client IP's state, as [`Running::stats`] saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Client {
    /// Connections open now (served ones).
    pub open: u32,
    /// The most connections open at once, counting the one being refused for the cap.
    pub peak_connections: u32,
    /// Strikes now, fading applied.
    pub strikes: u32,
    /// Whether the client is blocked now.
    pub blocked: bool,
    /// When the latest block started, by the receiver's clock.
    pub blocked_at: Option<Duration>,
    /// When the latest block ends; `None` with `blocked_at` set: never.
    pub blocked_until: Option<Duration>,
    /// How many blocks started.
    pub blocks: u32,
}

/// Counts since the start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// TCP connections accepted.
    pub connections: u64,
    /// Connections refused at the greeting (cap, connection rate, block).
    pub refused_at_greeting: u64,
    /// Messages accepted (queued).
    pub messages: u64,
    /// Refusals of each kind.
    pub refusals: BTreeMap<Kind, u64>,
    /// Per client IP.
    pub clients: BTreeMap<IpAddr, Client>,
}

impl Stats {
    /// Refusals of `kind`.
    pub fn refused(&self, kind: Kind) -> u64 {
        self.refusals.get(&kind).copied().unwrap_or(0)
    }

    /// The state of client `ip` (default if never seen).
    pub fn client(&self, ip: IpAddr) -> Client {
        self.clients.get(&ip).cloned().unwrap_or_default()
    }

    /// The state of 127.0.0.1.
    pub fn local(&self) -> Client {
        self.client(IpAddr::V4(Ipv4Addr::LOCALHOST))
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "connections={} refused_at_greeting={} messages={}",
            self.connections, self.refused_at_greeting, self.messages
        )?;
        for (kind, n) in &self.refusals {
            write!(f, " {kind:?}={n}")?;
        }
        for (ip, c) in &self.clients {
            write!(
                f,
                " [{ip} open={} peak={} strikes={} blocked={} blocks={}]",
                c.open, c.peak_connections, c.strikes, c.blocked, c.blocks
            )?;
        }
        Ok(())
    }
}

/// One accepted message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The client's IP.
    pub client: IpAddr,
    /// The MAIL FROM address (without `<>`).
    pub from: String,
    /// The accepted RCPT TO addresses.
    pub to: Vec<String>,
    /// The `Message-ID:` header's value, if there was one.
    pub message_id: Option<String>,
    /// The id in `250 2.0.0 Ok: queued as <ID>`.
    pub queue_id: String,
    /// The receiver's time at acceptance.
    pub at: Duration,
    /// Bytes of content after dot-unstuffing.
    pub size: usize,
}

/// The receiver (see [`Receiver::start`]).
#[derive(Debug)]
pub struct Receiver;

impl Receiver {
    /// Listens on 127.0.0.1 and serves each connection on its own thread until the
    /// returned [`Running`] is dropped.
    pub fn start(config: Config) -> io::Result<Running> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, config.port))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config: validated(config),
            state: Mutex::new(State::default()),
            stop: AtomicBool::new(false),
            streams: Mutex::new(HashMap::new()),
            workers: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(0),
        });
        let accepting = shared.clone();
        let acceptor = std::thread::Builder::new()
            .name("receiver-accept".into())
            .spawn(move || accept(listener, &accepting))?;
        Ok(Running {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }
}

/// A receiver at work; dropping it closes every connection and joins every thread.
pub struct Running {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl Running {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The receiver's time now.
    pub fn now(&self) -> Duration {
        (self.shared.config.clock)()
    }

    /// Counts so far, strikes and blocks as of now.
    pub fn stats(&self) -> Stats {
        let now = self.now();
        let cfg = &self.shared.config;
        let mut state = self.shared.state.lock();
        let mut stats = state.stats.clone();
        for (ip, c) in &mut state.clients {
            c.fade(now, cfg.fade);
            let (blocked_at, blocked_until) = c.block.map_or((None, None), |(a, u)| (Some(a), u));
            let client = Client {
                open: c.open,
                peak_connections: c.peak,
                strikes: c.strikes,
                blocked: c.blocked(now),
                blocked_at,
                blocked_until,
                blocks: c.blocks,
            };
            stats.clients.insert(*ip, client);
        }
        stats
    }

    /// Every message accepted so far, in order.
    pub fn messages(&self) -> Vec<Message> {
        self.shared.state.lock().messages.clone()
    }

    /// How many accepted messages had the `Message-ID:` `id` (exactly once: 1).
    pub fn delivered(&self, id: &str) -> usize {
        let state = self.shared.state.lock();
        let id = Some(id);
        state
            .messages
            .iter()
            .filter(|m| m.message_id.as_deref() == id)
            .count()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the acceptor from accept(); if that fails, the acceptor is left behind
        // rather than waited for forever.
        let woken = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok();
        if let Some(acceptor) = self.acceptor.take().filter(|_| woken) {
            let _ = acceptor.join();
        }
        for stream in self.shared.streams.lock().values() {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        let workers = std::mem::take(&mut *self.shared.workers.lock());
        for worker in workers {
            let _ = worker.join();
        }
    }
}

const MAX_LINE: u64 = 4096;
const MAX_SIZE: usize = 10_240_000;

struct Shared {
    config: Config,
    state: Mutex<State>,
    stop: AtomicBool,
    streams: Mutex<HashMap<u64, TcpStream>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    next_id: AtomicU64,
}

#[derive(Default)]
struct State {
    clients: HashMap<IpAddr, ClientState>,
    /// When each (client, sender, recipient) was first greylisted.
    greylist: HashMap<(IpAddr, String, String), Duration>,
    stats: Stats,
    messages: Vec<Message>,
}

#[derive(Default)]
struct ClientState {
    open: u32,
    peak: u32,
    /// (window index, opened in it)
    conn_window: (u64, u32),
    /// (window length, window index, messages in it)
    msg_window: (Duration, u64, u32),
    /// The token bucket's theoretical arrival time (GCRA).
    tat: Duration,
    strikes: u32,
    /// When the strikes last faded (or the first was given).
    faded_at: Duration,
    /// (since, until)
    block: Option<(Duration, Option<Duration>)>,
    blocks: u32,
}

impl ClientState {
    fn fade(&mut self, now: Duration, fade: Duration) {
        if self.strikes == 0 || fade.is_zero() {
            self.faded_at = now;
            return;
        }
        let steps = now.saturating_sub(self.faded_at).as_nanos() / fade.as_nanos();
        let steps = u32::try_from(steps).unwrap_or(u32::MAX).min(self.strikes);
        self.strikes -= steps;
        self.faded_at = if self.strikes == 0 {
            now
        } else {
            self.faded_at.saturating_add(fade.saturating_mul(steps))
        };
    }

    fn blocked(&self, now: Duration) -> bool {
        matches!(self.block, Some((_, until)) if until.is_none_or(|u| now < u))
    }

    fn strike(&mut self, now: Duration, cfg: &Config) {
        self.fade(now, cfg.fade);
        self.strikes = self.strikes.saturating_add(1);
        if cfg.block_after > 0 && self.strikes >= cfg.block_after && !self.blocked(now) {
            let until = cfg.block_for.map(|d| now.saturating_add(d));
            self.block = Some((now, until));
            self.blocks = self.blocks.saturating_add(1);
        }
    }
}

fn validated(mut c: Config) -> Config {
    let defaults = Texts::default();
    let texts = [
        (&mut c.texts.connections, defaults.connections),
        (&mut c.texts.connection_rate, defaults.connection_rate),
        (&mut c.texts.message_rate, defaults.message_rate),
        (&mut c.texts.per_connection, defaults.per_connection),
        (&mut c.texts.greylisted, defaults.greylisted),
        (&mut c.texts.blocked, defaults.blocked),
    ];
    for (text, default) in texts {
        if text.trim().is_empty() {
            *text = default;
        }
    }
    c.host.retain(|ch| !ch.is_control() && ch != ' ');
    if c.host.is_empty() {
        c.host = "mx.hostile.test".into();
    }
    c.connection_rate = c.connection_rate.and_then(Rate::on);
    c.message_window = c.message_window.and_then(Rate::on);
    c.message_bucket = c.message_bucket.and_then(|b| {
        b.rate.on().map(|rate| Bucket {
            rate,
            burst: b.burst.max(1),
        })
    });
    c.rate_after = c.rate_after.and_then(|(t, r)| r.on().map(|r| (t, r)));
    c.read_timeout = c.read_timeout.max(Duration::from_millis(1));
    c
}

fn accept(listener: TcpListener, shared: &Arc<Shared>) {
    loop {
        let accepted = listener.accept();
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok((stream, peer)) = accepted else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(clone) = stream.try_clone() {
            shared.streams.lock().insert(id, clone);
        }
        let serving = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("receiver-conn".into())
            .spawn(move || {
                let _ = Conn::new(&serving, stream, peer.ip()).and_then(Conn::serve);
                serving.streams.lock().remove(&id);
            });
        let mut workers = shared.workers.lock();
        workers.retain(|w| !w.is_finished());
        if let Ok(worker) = spawned {
            workers.push(worker);
        }
    }
}

fn fill(text: &str, host: &str, ip: IpAddr, rcpt: &str) -> String {
    let domain = rcpt.rsplit_once('@').map_or("", |(_, d)| d);
    text.replace("{host}", host)
        .replace("{ip}", &ip.to_string())
        .replace("{rcpt}", rcpt)
        .replace("{domain}", domain)
}

/// The address in `FROM:<a@b> SIZE=1` or `TO:a@b`, if the argument has the colon.
fn address(arg: &str) -> Option<String> {
    let (_, rest) = arg.split_once(':')?;
    let rest = rest.trim_start();
    let addr = match rest.strip_prefix('<') {
        Some(inner) => inner.split('>').next().unwrap_or(""),
        None => rest.split_whitespace().next().unwrap_or(""),
    };
    Some(addr.to_owned())
}

fn message_id(content: &str) -> Option<String> {
    let mut lines = content.split('\n').map(|l| l.trim_end_matches('\r'));
    while let Some(line) = lines.next() {
        if line.is_empty() {
            return None;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("message-id") {
            let mut value = value.trim().to_owned();
            for more in lines.by_ref() {
                if !more.starts_with([' ', '\t']) {
                    break;
                }
                value.push_str(more.trim());
            }
            return Some(value);
        }
    }
    None
}

struct Conn<'a> {
    shared: &'a Shared,
    stream: TcpStream,
    reader: BufReader<TcpStream>,
    ip: IpAddr,
    /// Whether this connection counts in its client's `open`.
    counted: bool,
    helo: bool,
    from: Option<String>,
    rcpts: Vec<String>,
    queued: u32,
}

/// What a reply means for the connection.
enum Next {
    Go,
    Close,
}

impl<'a> Conn<'a> {
    fn new(shared: &'a Shared, stream: TcpStream, ip: IpAddr) -> io::Result<Self> {
        let timeout = Some(shared.config.read_timeout);
        stream.set_read_timeout(timeout)?;
        stream.set_write_timeout(timeout)?;
        Ok(Self {
            shared,
            reader: BufReader::new(stream.try_clone()?),
            stream,
            ip,
            counted: false,
            helo: false,
            from: None,
            rcpts: Vec::new(),
            queued: 0,
        })
    }

    fn cfg(&self) -> &Config {
        &self.shared.config
    }

    fn now(&self) -> Duration {
        (self.shared.config.clock)()
    }

    fn text(&self, kind: Kind, rcpt: &str) -> String {
        let t = &self.cfg().texts;
        let text = match kind {
            Kind::Connections => &t.connections,
            Kind::ConnectionRate => &t.connection_rate,
            Kind::MessageRate => &t.message_rate,
            Kind::PerConnection => &t.per_connection,
            Kind::Greylisted => &t.greylisted,
            Kind::Blocked => &t.blocked,
        };
        fill(text, &self.cfg().host, self.ip, rcpt)
    }

    fn reply(&mut self, text: &str) -> io::Result<Next> {
        let mut left = self.cfg().tarpit;
        while !left.is_zero() && !self.shared.stop.load(Ordering::Relaxed) {
            let step = left.min(Duration::from_millis(20));
            std::thread::sleep(step);
            left -= step;
        }
        let wire = text.trim_end().replace("\r\n", "\n").replace('\n', "\r\n");
        self.stream.write_all(format!("{wire}\r\n").as_bytes())?;
        Ok(if text.starts_with("421") {
            Next::Close
        } else {
            Next::Go
        })
    }

    /// Counts a refusal (a strike unless greylisting or the block) and answers it.
    fn refuse(&mut self, kind: Kind, rcpt: &str) -> io::Result<Next> {
        let now = self.now();
        {
            let mut state = self.shared.state.lock();
            *state.stats.refusals.entry(kind).or_insert(0) += 1;
            if !matches!(kind, Kind::Greylisted | Kind::Blocked) {
                let client = state.clients.entry(self.ip).or_default();
                client.strike(now, &self.shared.config);
            }
        }
        let text = self.text(kind, rcpt);
        self.reply(&text)
    }

    /// The greeting's verdict: `None` admits (and counts the connection as open).
    fn admit(&mut self) -> Option<Kind> {
        let now = self.now();
        let cfg = &self.shared.config;
        let mut state = self.shared.state.lock();
        state.stats.connections += 1;
        let c = state.clients.entry(self.ip).or_default();
        c.peak = c.peak.max(c.open.saturating_add(1));
        let mut verdict = None;
        if c.blocked(now) {
            verdict = Some(Kind::Blocked);
        } else if cfg.max_connections > 0 && c.open >= cfg.max_connections {
            verdict = Some(Kind::Connections);
        } else if let Some(rate) = cfg.connection_rate {
            let window = (now.as_nanos() / rate.per.as_nanos()) as u64;
            if c.conn_window.0 != window {
                c.conn_window = (window, 0);
            }
            c.conn_window.1 = c.conn_window.1.saturating_add(1);
            if c.conn_window.1 > rate.count {
                verdict = Some(Kind::ConnectionRate);
            }
        }
        if verdict.is_none() {
            c.open += 1;
            self.counted = true;
        } else {
            state.stats.refused_at_greeting += 1;
        }
        verdict
    }

    /// Whether the message rate allows one more MAIL FROM now (and charges it if so).
    fn message_allowed(&self) -> bool {
        let now = self.now();
        let cfg = &self.shared.config;
        let late = cfg.rate_after.filter(|(t, _)| now >= *t).map(|(_, r)| r);
        let bucket = cfg.message_bucket.map(|b| Bucket {
            rate: late.unwrap_or(b.rate),
            burst: b.burst,
        });
        let window = match late {
            Some(late) if bucket.is_none() || cfg.message_window.is_some() => Some(late),
            _ => cfg.message_window,
        };
        let mut state = self.shared.state.lock();
        let c = state.clients.entry(self.ip).or_default();
        let mut tat = c.tat;
        if let Some(b) = bucket {
            let interval = b.rate.per / b.rate.count;
            let tolerance = interval.saturating_mul(b.burst - 1);
            if c.tat.saturating_sub(now) > tolerance {
                return false;
            }
            tat = c.tat.max(now).saturating_add(interval);
        }
        if let Some(w) = window {
            let index = (now.as_nanos() / w.per.as_nanos()) as u64;
            if (c.msg_window.0, c.msg_window.1) != (w.per, index) {
                c.msg_window = (w.per, index, 0);
            }
            if c.msg_window.2 >= w.count {
                return false;
            }
            c.msg_window.2 += 1;
        }
        c.tat = tat;
        true
    }

    fn serve(mut self) -> io::Result<()> {
        let result = self.dialogue();
        if self.counted {
            let mut state = self.shared.state.lock();
            if let Some(c) = state.clients.get_mut(&self.ip) {
                c.open = c.open.saturating_sub(1);
            }
        }
        result
    }

    fn dialogue(&mut self) -> io::Result<()> {
        if let Some(kind) = self.admit() {
            self.refuse(kind, "")?;
            return Ok(());
        }
        let greeting = format!("220 {} ESMTP", self.cfg().host);
        self.reply(&greeting)?;
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let n = (&mut self.reader)
                .take(MAX_LINE)
                .read_until(b'\n', &mut buf)?;
            if n == 0 || self.shared.stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            let line = String::from_utf8_lossy(&buf);
            let line = line.trim_end_matches(['\r', '\n']);
            if let Next::Close = self.command(line)? {
                return Ok(());
            }
        }
    }

    fn command(&mut self, line: &str) -> io::Result<Next> {
        let (verb, arg) = line.split_once(' ').unwrap_or((line, ""));
        let host = self.cfg().host.clone();
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                self.helo = true;
                self.reset();
                let ehlo = format!("250-{host}\n250-PIPELINING\n250-SIZE {MAX_SIZE}\n250 8BITMIME");
                self.reply(&ehlo)
            }
            "HELO" => {
                self.helo = true;
                self.reset();
                self.reply(&format!("250 {host}"))
            }
            "MAIL" => self.mail(arg),
            "RCPT" => self.rcpt(arg),
            "DATA" => self.data(),
            "RSET" => {
                self.reset();
                self.reply("250 2.0.0 Ok")
            }
            "NOOP" => self.reply("250 2.0.0 Ok"),
            "QUIT" => {
                self.reply("221 2.0.0 Bye")?;
                Ok(Next::Close)
            }
            _ => self.reply("500 5.5.2 Error: command not recognized"),
        }
    }

    fn reset(&mut self) {
        self.from = None;
        self.rcpts.clear();
    }

    fn mail(&mut self, arg: &str) -> io::Result<Next> {
        if !self.helo {
            return self.reply("503 5.5.1 Error: send HELO/EHLO first");
        }
        if self.from.is_some() {
            return self.reply("503 5.5.1 Error: nested MAIL command");
        }
        let Some(from) = address(arg) else {
            return self.reply("501 5.5.4 Syntax: MAIL FROM:<address>");
        };
        let per_connection = self.cfg().messages_per_connection;
        if per_connection > 0 && self.queued >= per_connection {
            return self.refuse(Kind::PerConnection, "");
        }
        if !self.message_allowed() {
            return self.refuse(Kind::MessageRate, "");
        }
        self.from = Some(from);
        self.reply("250 2.1.0 Ok")
    }

    fn rcpt(&mut self, arg: &str) -> io::Result<Next> {
        let Some(from) = self.from.clone() else {
            return self.reply("503 5.5.1 Error: need MAIL command");
        };
        let Some(rcpt) = address(arg) else {
            return self.reply("501 5.5.4 Syntax: RCPT TO:<address>");
        };
        let delay = self.cfg().greylist;
        if !delay.is_zero() {
            let now = self.now();
            let key = (self.ip, from, rcpt.clone());
            let first = *self.shared.state.lock().greylist.entry(key).or_insert(now);
            if now.saturating_sub(first) < delay {
                return self.refuse(Kind::Greylisted, &rcpt);
            }
        }
        self.rcpts.push(rcpt);
        self.reply("250 2.1.5 Ok")
    }

    fn data(&mut self) -> io::Result<Next> {
        let Some(from) = self.from.clone() else {
            return self.reply("503 5.5.1 Error: need RCPT command");
        };
        if self.rcpts.is_empty() {
            return self.reply("554 5.5.1 Error: no valid recipients");
        }
        self.reply("354 End data with <CR><LF>.<CR><LF>")?;
        let mut content = String::new();
        let mut too_big = false;
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let limit = MAX_SIZE as u64 + 2;
            if (&mut self.reader).take(limit).read_until(b'\n', &mut buf)? == 0 {
                return Ok(Next::Close);
            }
            let line = String::from_utf8_lossy(&buf);
            let line = line.trim_end_matches(['\r', '\n']);
            if line == "." {
                break;
            }
            let line = line.strip_prefix('.').unwrap_or(line);
            too_big |= content.len() + line.len() > MAX_SIZE;
            if !too_big {
                content.push_str(line);
                content.push('\n');
            }
        }
        let to = std::mem::take(&mut self.rcpts);
        self.from = None;
        if too_big {
            return self.reply("552 5.3.4 Error: message file too big");
        }
        let at = self.now();
        let queue_id = {
            let mut state = self.shared.state.lock();
            state.stats.messages += 1;
            let queue_id = format!("4A{:08X}", state.stats.messages);
            let message = Message {
                client: self.ip,
                from,
                to,
                message_id: message_id(&content),
                queue_id: queue_id.clone(),
                at,
                size: content.len(),
            };
            state.messages.push(message);
            queue_id
        };
        self.queued += 1;
        self.reply(&format!("250 2.0.0 Ok: queued as {queue_id}"))
    }
}
