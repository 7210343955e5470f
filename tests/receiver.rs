//! The hostile test receiver of `tests/common/receiver.rs`, over real loopback TCP with
//! a plain std client, on a fake clock.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::receiver::{clock_of, Bucket, Config, Kind, Rate, Receiver, Running};
use governor::clock::FakeRelativeClock;

/// A line-at-a-time SMTP client.
struct Client {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Client {
    /// Connects and returns the client and the greeting.
    fn connect(addr: SocketAddr) -> (Self, String) {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        let mut client = Self { stream, reader };
        let greeting = client.reply();
        (client, greeting)
    }

    /// Connects, checks the greeting is 220 and says EHLO.
    fn ready(addr: SocketAddr) -> Self {
        let (mut client, greeting) = Self::connect(addr);
        assert!(greeting.starts_with("220 "), "{greeting}");
        let ehlo = client.cmd("EHLO client.test");
        assert!(ehlo.ends_with("250 8BITMIME"), "{ehlo}");
        client
    }

    /// One reply, all its lines joined by `\n`.
    fn reply(&mut self) -> String {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).expect("a reply in time");
            if n == 0 {
                return lines.join("\n");
            }
            let line = line.trim_end().to_owned();
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return lines.join("\n");
            }
        }
    }

    fn write(&mut self, text: &str) {
        self.stream.write_all(text.as_bytes()).unwrap();
    }

    fn cmd(&mut self, line: &str) -> String {
        self.write(&format!("{line}\r\n"));
        self.reply()
    }

    /// Sends one message; the first reply that is not a success, or the final 250.
    fn send(&mut self, from: &str, to: &str, id: &str) -> String {
        let mail = self.cmd(&format!("MAIL FROM:<{from}> SIZE=100"));
        if !mail.starts_with("250") {
            return mail;
        }
        let rcpt = self.cmd(&format!("RCPT TO:<{to}>"));
        if !rcpt.starts_with("250") {
            self.cmd("RSET");
            return rcpt;
        }
        let data = self.cmd("DATA");
        assert!(data.starts_with("354"), "{data}");
        self.write(&format!(
            "Message-ID: <{id}>\r\nSubject: test\r\n\r\nhello\r\n..dot\r\n.\r\n"
        ));
        self.reply()
    }

    /// Whether the server closed the connection (reads until EOF).
    fn closed(&mut self) -> bool {
        let mut rest = String::new();
        matches!(self.reader.read_line(&mut rest), Ok(0))
    }
}

fn start(config: Config) -> (Running, FakeRelativeClock) {
    let clock = FakeRelativeClock::default();
    let config = Config {
        clock: clock_of(clock.clone()),
        ..config
    };
    (Receiver::start(config).expect("start"), clock)
}

#[test]
fn dialogue_and_recorded_messages() {
    let (rx, _clock) = start(Config::default());
    let (mut c, greeting) = Client::connect(rx.addr());
    assert_eq!(greeting, "220 mx.hostile.test ESMTP");
    assert!(c.cmd("MAIL FROM:<a@x.test>").starts_with("503 5.5.1"));
    let ehlo = c.cmd("EHLO client.test");
    for cap in ["250-mx.hostile.test", "PIPELINING", "SIZE", "8BITMIME"] {
        assert!(ehlo.contains(cap), "{ehlo}");
    }
    assert_eq!(c.cmd("HELO client.test"), "250 mx.hostile.test");
    assert_eq!(c.cmd("NOOP"), "250 2.0.0 Ok");
    assert!(c.cmd("RCPT TO:<b@y.test>").starts_with("503 5.5.1"));
    assert!(c.cmd("DATA").starts_with("503 5.5.1"));
    assert!(c.cmd("VRFY x").starts_with("500 5.5.2"));
    assert_eq!(c.cmd("MAIL FROM:<a@x.test>"), "250 2.1.0 Ok");
    assert_eq!(c.cmd("RSET"), "250 2.0.0 Ok");
    let queued = c.send("a@x.test", "b@y.test", "one@x.test");
    assert!(queued.starts_with("250 2.0.0 Ok: queued as "), "{queued}");

    // Lone LF, lower case, pipelined, a folded Message-ID.
    c.write(
        "mail from:<c@x.test>\nrcpt to:<d@y.test>\nrcpt to:<e@y.test>\ndata\n\
         Subject: two\nMessage-ID:\n <two@x.test>\n\n..\n.\n",
    );
    for expected in ["250 2.1.0", "250 2.1.5", "250 2.1.5", "354", "250 2.0.0"] {
        let reply = c.reply();
        assert!(reply.starts_with(expected), "{reply}");
    }
    assert_eq!(c.cmd("QUIT"), "221 2.0.0 Bye");
    assert!(c.closed());

    let messages = rx.messages();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].from, "a@x.test");
    assert_eq!(messages[0].to, ["b@y.test"]);
    assert_eq!(messages[0].message_id.as_deref(), Some("<one@x.test>"));
    assert_eq!(
        messages[0].size,
        "Message-ID: <one@x.test>\nSubject: test\n\nhello\n.dot\n".len()
    );
    assert_ne!(messages[0].queue_id, messages[1].queue_id);
    assert!(queued.ends_with(&messages[0].queue_id));
    assert_eq!(messages[1].to, ["d@y.test", "e@y.test"]);
    assert_eq!(messages[1].message_id.as_deref(), Some("<two@x.test>"));
    assert_eq!(
        messages[1].size,
        "Subject: two\nMessage-ID:\n <two@x.test>\n\n.\n".len()
    );
    assert_eq!(rx.delivered("<one@x.test>"), 1);
    assert_eq!(rx.delivered("<three@x.test>"), 0);
    let stats = rx.stats();
    assert_eq!((stats.connections, stats.messages), (1, 2));
    assert_eq!(stats.refused_at_greeting, 0);
    assert!(stats.refusals.is_empty());
}

#[test]
fn connection_over_the_cap_is_refused_at_the_greeting() {
    let (rx, _clock) = start(Config {
        max_connections: 2,
        ..Config::default()
    });
    let mut a = Client::ready(rx.addr());
    let _b = Client::ready(rx.addr());
    let (mut c, greeting) = Client::connect(rx.addr());
    assert_eq!(greeting, "421 4.7.0 Try again later, closing connection.");
    assert!(c.closed());
    assert_eq!(a.cmd("QUIT"), "221 2.0.0 Bye");
    assert!(a.closed());
    let _d = Client::ready(rx.addr());

    let stats = rx.stats();
    assert_eq!(stats.connections, 4);
    assert_eq!(stats.refused_at_greeting, 1);
    assert_eq!(stats.refused(Kind::Connections), 1);
    let local = stats.local();
    assert_eq!(
        (local.open, local.peak_connections, local.strikes),
        (2, 3, 1)
    );
}

#[test]
fn connection_rate_is_a_fixed_window() {
    let (rx, clock) = start(Config {
        connection_rate: Some(Rate::new(2, Duration::from_secs(60))),
        ..Config::default()
    });
    for _ in 0..2 {
        Client::ready(rx.addr()).cmd("QUIT");
    }
    let (mut c, greeting) = Client::connect(rx.addr());
    assert_eq!(
        greeting,
        "421 4.7.0 mx.hostile.test Error: too many connections from 127.0.0.1"
    );
    assert!(c.closed());
    clock.advance(Duration::from_secs(59));
    assert!(Client::connect(rx.addr()).1.starts_with("421 "));
    clock.advance(Duration::from_secs(1));
    Client::ready(rx.addr());
    assert_eq!(rx.stats().refused(Kind::ConnectionRate), 2);
}

#[test]
fn token_bucket_refuses_mail_from_and_refills() {
    let (rx, clock) = start(Config {
        message_bucket: Some(Bucket {
            rate: Rate::new(1, Duration::from_secs(10)),
            burst: 2,
        }),
        ..Config::default()
    });
    let mut c = Client::ready(rx.addr());
    assert!(c
        .send("a@x.test", "b@y.test", "1@x")
        .starts_with("250 2.0.0"));
    assert!(c
        .send("a@x.test", "b@y.test", "2@x")
        .starts_with("250 2.0.0"));
    assert_eq!(
        c.send("a@x.test", "b@y.test", "3@x"),
        "450 4.7.1 Error: too much mail from 127.0.0.1"
    );
    clock.advance(Duration::from_secs(9));
    assert!(c
        .send("a@x.test", "b@y.test", "3@x")
        .starts_with("450 4.7.1"));
    clock.advance(Duration::from_secs(1));
    assert!(c
        .send("a@x.test", "b@y.test", "3@x")
        .starts_with("250 2.0.0"));
    assert!(c
        .send("a@x.test", "b@y.test", "4@x")
        .starts_with("450 4.7.1"));
    clock.advance(Duration::from_secs(20));
    assert!(c
        .send("a@x.test", "b@y.test", "4@x")
        .starts_with("250 2.0.0"));
    assert!(c
        .send("a@x.test", "b@y.test", "5@x")
        .starts_with("250 2.0.0"));
    assert!(c
        .send("a@x.test", "b@y.test", "6@x")
        .starts_with("450 4.7.1"));
    let stats = rx.stats();
    assert_eq!((stats.messages, stats.refused(Kind::MessageRate)), (5, 4));
    for id in ["<1@x>", "<2@x>", "<3@x>", "<4@x>", "<5@x>"] {
        assert_eq!(rx.delivered(id), 1, "{id}");
    }
}

#[test]
fn fixed_window_refuses_mail_from_until_the_next_window() {
    let (rx, clock) = start(Config {
        message_window: Some(Rate::new(3, Duration::from_secs(60))),
        ..Config::default()
    });
    let mut c = Client::ready(rx.addr());
    for i in 0..3 {
        assert!(c
            .send("a@x.test", "b@y.test", &format!("{i}@x"))
            .starts_with("250 2.0.0"));
    }
    assert!(c
        .send("a@x.test", "b@y.test", "3@x")
        .starts_with("450 4.7.1"));
    clock.advance(Duration::from_secs(59));
    assert!(c
        .send("a@x.test", "b@y.test", "3@x")
        .starts_with("450 4.7.1"));
    clock.advance(Duration::from_secs(1));
    for i in 3..6 {
        assert!(c
            .send("a@x.test", "b@y.test", &format!("{i}@x"))
            .starts_with("250 2.0.0"));
    }
    assert!(c
        .send("a@x.test", "b@y.test", "6@x")
        .starts_with("450 4.7.1"));
    assert_eq!(rx.stats().messages, 6);
}

#[test]
fn rate_drops_after_a_reputation_change() {
    let (rx, clock) = start(Config {
        message_window: Some(Rate::new(10, Duration::from_secs(60))),
        rate_after: Some((
            Duration::from_secs(120),
            Rate::new(1, Duration::from_secs(60)),
        )),
        ..Config::default()
    });
    let mut c = Client::ready(rx.addr());
    for i in 0..3 {
        assert!(c
            .send("a@x.test", "b@y.test", &format!("{i}@x"))
            .starts_with("250 2.0.0"));
    }
    clock.advance(Duration::from_secs(120));
    assert!(c
        .send("a@x.test", "b@y.test", "3@x")
        .starts_with("250 2.0.0"));
    assert!(c
        .send("a@x.test", "b@y.test", "4@x")
        .starts_with("450 4.7.1"));
}

#[test]
fn greylisting_at_rcpt_to_until_the_delay_passed() {
    let (rx, clock) = start(Config {
        greylist: Duration::from_secs(300),
        block_after: 1,
        ..Config::default()
    });
    let mut c = Client::ready(rx.addr());
    assert_eq!(c.cmd("MAIL FROM:<a@x.test>"), "250 2.1.0 Ok");
    assert_eq!(
        c.cmd("RCPT TO:<b@y.test>"),
        "450 4.2.0 <b@y.test>: Recipient address rejected: Greylisted, see \
         http://postgrey.schweikert.ch/help/y.test.html"
    );
    assert_eq!(c.cmd("DATA"), "554 5.5.1 Error: no valid recipients");
    c.cmd("RSET");
    clock.advance(Duration::from_secs(299));
    assert!(c
        .send("a@x.test", "b@y.test", "1@x")
        .starts_with("450 4.2.0"));
    clock.advance(Duration::from_secs(1));
    assert!(c
        .send("a@x.test", "b@y.test", "1@x")
        .starts_with("250 2.0.0"));
    // Another triple is greylisted on its own.
    assert!(c
        .send("z@x.test", "b@y.test", "2@x")
        .starts_with("450 4.2.0"));
    assert!(c
        .send("a@x.test", "b@y.test", "3@x")
        .starts_with("250 2.0.0"));
    let stats = rx.stats();
    assert_eq!(stats.refused(Kind::Greylisted), 3);
    // Greylisting is no strike.
    assert_eq!((stats.local().strikes, stats.local().blocked), (0, false));
}

#[test]
fn strikes_fade_one_per_interval() {
    let (rx, clock) = start(Config {
        message_window: Some(Rate::new(1, Duration::from_secs(3600))),
        fade: Duration::from_secs(60),
        ..Config::default()
    });
    let mut c = Client::ready(rx.addr());
    assert!(c
        .send("a@x.test", "b@y.test", "1@x")
        .starts_with("250 2.0.0"));
    for _ in 0..3 {
        assert!(c.cmd("MAIL FROM:<a@x.test>").starts_with("450 4.7.1"));
    }
    assert_eq!(rx.stats().local().strikes, 3);
    clock.advance(Duration::from_secs(59));
    assert_eq!(rx.stats().local().strikes, 3);
    clock.advance(Duration::from_secs(1));
    assert_eq!(rx.stats().local().strikes, 2);
    clock.advance(Duration::from_secs(90));
    assert_eq!(rx.stats().local().strikes, 1);
    // A strike now, and the half interval already run counts toward the next fade.
    assert!(c.cmd("MAIL FROM:<a@x.test>").starts_with("450 4.7.1"));
    assert_eq!(rx.stats().local().strikes, 2);
    clock.advance(Duration::from_secs(1000));
    assert_eq!(rx.stats().local().strikes, 0);
}

#[test]
fn block_after_strikes_then_every_greeting_is_5xx() {
    let (rx, clock) = start(Config {
        message_window: Some(Rate::new(1, Duration::from_secs(60))),
        block_after: 2,
        block_for: Some(Duration::from_secs(600)),
        ..Config::default()
    });
    let mut c = Client::ready(rx.addr());
    assert!(c
        .send("a@x.test", "b@y.test", "1@x")
        .starts_with("250 2.0.0"));
    clock.advance(Duration::from_secs(5));
    assert!(c.cmd("MAIL FROM:<a@x.test>").starts_with("450 4.7.1"));
    assert!(!rx.stats().local().blocked);
    assert!(c.cmd("MAIL FROM:<a@x.test>").starts_with("450 4.7.1"));
    let local = rx.stats().local();
    assert!(local.blocked);
    assert_eq!(local.blocked_at, Some(Duration::from_secs(5)));
    assert_eq!(local.blocked_until, Some(Duration::from_secs(605)));
    for _ in 0..3 {
        let (mut d, greeting) = Client::connect(rx.addr());
        assert_eq!(
            greeting,
            "554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using \
             zen.spamhaus.org"
        );
        assert!(d.closed());
    }
    clock.advance(Duration::from_secs(599));
    assert!(Client::connect(rx.addr()).1.starts_with("554 5.7.1"));
    clock.advance(Duration::from_secs(1));
    Client::ready(rx.addr());
    let stats = rx.stats();
    assert_eq!(stats.refused(Kind::Blocked), 4);
    assert_eq!(stats.refused_at_greeting, 4);
    // The block's own refusals are no strikes.
    assert_eq!((stats.local().strikes, stats.local().blocks), (2, 1));
    assert!(!stats.local().blocked);
}

#[test]
fn block_for_the_rest_of_the_run() {
    let (rx, clock) = start(Config {
        max_connections: 1,
        block_after: 1,
        ..Config::default()
    });
    let _a = Client::ready(rx.addr());
    assert!(Client::connect(rx.addr()).1.starts_with("421 4.7.0"));
    clock.advance(Duration::from_secs(1_000_000));
    assert!(Client::connect(rx.addr()).1.starts_with("554 5.7.1"));
    let local = rx.stats().local();
    assert!(local.blocked);
    assert_eq!(
        (local.blocked_at, local.blocked_until),
        (Some(Duration::ZERO), None)
    );
}

#[test]
fn messages_per_connection_then_421_and_close() {
    let (rx, _clock) = start(Config {
        messages_per_connection: 2,
        ..Config::default()
    });
    let mut c = Client::ready(rx.addr());
    assert!(c
        .send("a@x.test", "b@y.test", "1@x")
        .starts_with("250 2.0.0"));
    assert!(c
        .send("a@x.test", "b@y.test", "2@x")
        .starts_with("250 2.0.0"));
    assert_eq!(
        c.cmd("MAIL FROM:<a@x.test>"),
        "421 4.7.0 mx.hostile.test Error: too many messages in one connection, closing \
         connection"
    );
    assert!(c.closed());
    let mut d = Client::ready(rx.addr());
    assert!(d
        .send("a@x.test", "b@y.test", "3@x")
        .starts_with("250 2.0.0"));
    let stats = rx.stats();
    assert_eq!((stats.messages, stats.refused(Kind::PerConnection)), (3, 1));
}

#[test]
fn messages_per_connection_refused_without_closing() {
    let mut config = Config {
        messages_per_connection: 1,
        ..Config::default()
    };
    config.texts.per_connection =
        "432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded".into();
    let (rx, _clock) = start(config);
    let mut c = Client::ready(rx.addr());
    assert!(c
        .send("a@x.test", "b@y.test", "1@x")
        .starts_with("250 2.0.0"));
    assert!(c
        .cmd("MAIL FROM:<a@x.test>")
        .starts_with("432 4.3.2 STOREDRV"));
    assert_eq!(c.cmd("NOOP"), "250 2.0.0 Ok");
    assert_eq!(rx.stats().local().strikes, 1);
}

#[test]
fn odd_values_neither_panic_nor_limit() {
    let mut config = Config {
        host: " \r\n".into(),
        max_connections: 0,
        connection_rate: Some(Rate::new(0, Duration::from_secs(1))),
        message_bucket: Some(Bucket {
            rate: Rate::new(u32::MAX, Duration::ZERO),
            burst: 0,
        }),
        message_window: Some(Rate::new(5, Duration::ZERO)),
        rate_after: Some((Duration::MAX, Rate::new(0, Duration::MAX))),
        fade: Duration::MAX,
        block_for: Some(Duration::MAX),
        read_timeout: Duration::ZERO,
        ..Config::default()
    };
    config.texts.message_rate = String::new();
    let (rx, clock) = start(config);
    clock.advance(Duration::from_secs(1 << 30));
    let mut c = Client::ready(rx.addr());
    for i in 0..20 {
        assert!(c
            .send("a@x.test", "b@y.test", &format!("{i}@x"))
            .starts_with("250 2.0.0"));
    }
    // A huge burst with a tiny rate, and a window with a zero-length rate after.
    let (rx, _clock) = start(Config {
        message_bucket: Some(Bucket {
            rate: Rate::new(1, Duration::MAX),
            burst: u32::MAX,
        }),
        ..Config::default()
    });
    let mut c = Client::ready(rx.addr());
    for i in 0..5 {
        assert!(c
            .send("a@x.test", "b@y.test", &format!("{i}@x"))
            .starts_with("250 2.0.0"));
    }
}

#[test]
fn silent_clients_time_out_and_drop_closes_everything() {
    let (rx, _clock) = start(Config {
        read_timeout: Duration::from_millis(100),
        ..Config::default()
    });
    let mut silent = Client::ready(rx.addr());
    assert!(silent.closed());
    let (rx, _clock) = start(Config::default());
    let mut idle = Client::ready(rx.addr());
    let started = Instant::now();
    drop(rx);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(idle.closed());
}

#[test]
fn tarpit_delays_each_reply() {
    let (rx, _clock) = start(Config {
        tarpit: Duration::from_millis(30),
        ..Config::default()
    });
    let started = Instant::now();
    let mut c = Client::ready(rx.addr());
    c.cmd("NOOP");
    assert!(started.elapsed() >= Duration::from_millis(90));
}
