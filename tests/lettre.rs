//! lettre conversions and senders, without a server: a closed port is a `network`
//! deferral, never a panic.
#![cfg(feature = "lettre")]

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use lettre::{Message, SmtpTransport};
use smtp_throttle::lettre::{Pooled, SmtpSender};
use smtp_throttle::limit::Limits;
use smtp_throttle::retry::RetryPolicy;
use smtp_throttle::route::{Destination, Route};
use smtp_throttle::throttle::{Outcome, Throttle, Throttled};
use smtp_throttle::Category;

fn message() -> Message {
    Message::builder()
        .from("a@smtp-throttle.test".parse().unwrap())
        .to("b@example.test".parse().unwrap())
        .subject("t")
        .body(String::from("x"))
        .unwrap()
}

fn closed_port() -> SocketAddr {
    // Bind and drop: nothing listens there any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr
}

fn route() -> Route {
    Route::new(
        IpAddr::from([127, 0, 0, 1]),
        Destination::new("example.test").unwrap(),
    )
}

#[test]
fn unreachable_servers_are_network_deferrals() {
    let throttle = Throttle::new(Limits::builder().build().unwrap(), RetryPolicy::default());
    let addr = closed_port();
    let session_sender = Throttled::new(
        SmtpSender::new(addr, "client.test").timeout(Duration::from_secs(2)),
        throttle.clone(),
    );
    let mut history = throttle.history();
    match session_sender.send(&route(), &message(), &mut history, Duration::from_secs(5)) {
        Ok(Outcome::Deferred { classification, .. }) => {
            assert_eq!(classification.category, Category::Network)
        }
        other => panic!("{other:?}"),
    }
    let transport = SmtpTransport::builder_dangerous(addr.ip().to_string())
        .port(addr.port())
        .timeout(Some(Duration::from_secs(2)))
        .build();
    let wrapped = Throttled::new(Pooled(transport), throttle.clone());
    let mut history = throttle.history();
    match wrapped.send(&route(), &message(), &mut history, Duration::from_secs(5)) {
        Ok(Outcome::Deferred { classification, .. }) => {
            assert_eq!(classification.category, Category::Network)
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(throttle.limits().in_flight(&route()), 0);
}

#[cfg(feature = "lettre-tokio")]
#[tokio::test(flavor = "current_thread")]
async fn async_transport_is_an_async_sender() {
    use lettre::{AsyncSmtpTransport, Tokio1Executor};
    let addr = closed_port();
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
        .port(addr.port())
        .timeout(Some(Duration::from_secs(2)))
        .build();
    let throttle = Throttle::new(Limits::builder().build().unwrap(), RetryPolicy::default());
    let mut history = throttle.history();
    let outcome = throttle
        .send_async(
            &Pooled(transport),
            &route(),
            &message(),
            &mut history,
            Duration::from_secs(5),
        )
        .await;
    match outcome {
        Ok(Outcome::Deferred { classification, .. }) => {
            assert_eq!(classification.category, Category::Network)
        }
        other => panic!("{other:?}"),
    }
}

/// The `SmtpSender` says which command each reply answered, against the test receiver.
#[test]
fn smtp_sender_replies_carry_their_command() {
    use smtp_throttle::reply::Command;
    use smtp_throttle::throttle::{Sender, TransportError};

    #[path = "common/receiver.rs"]
    #[allow(unreachable_pub)]
    mod receiver;

    // Greylisting answers RCPT; a spent message bucket answers MAIL; a full server
    // answers the greeting.
    let grey = receiver::Receiver::start(receiver::Config {
        greylist: Duration::from_secs(300),
        max_connections: 1,
        ..receiver::Config::default()
    })
    .unwrap();
    let sender = SmtpSender::new(grey.addr(), "client.test").bind_source(false);
    let mut session = sender.connect(&route()).unwrap();
    let reply = sender.send(&mut session, &message()).unwrap();
    assert_eq!(
        (reply.code().get(), reply.command()),
        (450, Some(Command::RcptTo))
    );
    // The session goes on after the refused transaction; a second one is over the cap.
    match sender.connect(&route()) {
        Err(TransportError::Rejected(reply)) => {
            assert_eq!(
                (reply.code().get(), reply.command()),
                (421, Some(Command::Greeting))
            )
        }
        other => panic!("{other:?}"),
    }
    let reply = sender.send(&mut session, &message()).unwrap();
    assert_eq!(reply.command(), Some(Command::RcptTo));
    drop(session);

    let rate = receiver::Receiver::start(receiver::Config {
        message_bucket: Some(receiver::Bucket {
            rate: receiver::Rate::new(1, Duration::from_secs(3600)),
            burst: 1,
        }),
        ..receiver::Config::default()
    })
    .unwrap();
    let sender = SmtpSender::new(rate.addr(), "client.test").bind_source(false);
    let mut session = sender.connect(&route()).unwrap();
    let reply = sender.send(&mut session, &message()).unwrap();
    assert_eq!(
        (reply.code().get(), reply.command()),
        (250, Some(Command::DataEnd))
    );
    let reply = sender.send(&mut session, &message()).unwrap();
    assert_eq!(
        (reply.code().get(), reply.command()),
        (450, Some(Command::MailFrom))
    );
}
