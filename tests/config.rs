//! Limits, sites and rules from files (feature `config`): this crate's layout with
//! every setting, its error messages, and KumoMTA's `shaping.toml` layout with the
//! report of keys it cannot take as they are.
#![cfg(feature = "config")]

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use governor::clock::FakeRelativeClock;
use smtp_throttle::classify::{Category, Classifier, Scope};
use smtp_throttle::config::LimitsFile;
use smtp_throttle::limit::{Limits, LimitsBuilder, Rate};
use smtp_throttle::route::{Destination, Route, Site};
use smtp_throttle::{ConfigError, FileError, FileErrorKind, Provider, Reply, RuleError};

fn data(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/config")
        .join(name)
}

fn named(name: &str) -> Site {
    Site::Named(name.into())
}

fn error(text: &str) -> FileError {
    match LimitsFile::from_toml(text) {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => e,
    }
}

#[test]
fn the_example_file_sets_every_setting() {
    let file = LimitsFile::from_file(data("limits.toml")).unwrap();
    let limits = file
        .apply(Limits::builder_with_clock(FakeRelativeClock::default()))
        .build()
        .unwrap();
    let sites = file.sites();
    for (domain, mx) in [
        ("acme.example", None),
        ("acme-mail.example", None),
        ("eu.acme.co.example", None),
        ("acme.co.example", None),
        ("customer.example", Some("a.mx.acme-hosting.example")),
        ("other.example", Some("in.acme-relay.example")),
    ] {
        let site = sites.destination(domain, mx).unwrap().site().clone();
        assert_eq!(site, named("acme"), "{domain} {mx:?}");
    }
    // An exact MX host does not take its subdomains.
    let elsewhere = sites
        .destination("other.example", Some("x.in.acme-relay.example"))
        .unwrap();
    assert_eq!(elsewhere.site(), &named("other.example"));

    let acme = limits.site_limits(&named("acme"));
    let rate = acme.pair.rate.unwrap();
    assert_eq!(
        (rate.count(), rate.per(), rate.burst()),
        (10, Duration::from_secs(1), 5)
    );
    assert_eq!(acme.pair.sessions, Some(8));
    // Keys a site does not set come from [default].
    assert_eq!(acme.deliveries_per_session, Some(100));
    assert_eq!(acme.site.rate, None);

    let org = limits.site_limits(&named("example.org"));
    assert_eq!(
        org.pair.rate,
        Some(Rate::new(30, Duration::from_secs(300)).unwrap())
    );
    assert_eq!(org.pair.sessions, Some(4));

    let plain = limits.site_limits(&named("unknown.example"));
    assert_eq!(plain.pair.rate, Some(Rate::per_minute(100).unwrap()));
    assert_eq!(plain.pair.sessions, Some(4));

    // A provider table is laid over the preset; Google keeps its preset.
    let yahoo = limits.site_limits(&Site::Provider(Provider::Yahoo));
    assert_eq!(
        (yahoo.pair.sessions, yahoo.deliveries_per_session),
        (Some(5), Some(20))
    );
    let google = limits.site_limits(&Site::Provider(Provider::Google));
    assert_eq!(
        (google.pair.sessions, google.deliveries_per_session),
        (Some(5), Some(50))
    );

    // The connections' idle time is visible on the limits.
    assert_eq!(limits.session_idle(), Duration::from_secs(5));

    // Rules: in file order, ahead of the built-in ones.
    let classifier = file.classifier(Classifier::builder()).build().unwrap();
    let ids: Vec<_> = file.rules().iter().map(|r| r.id().to_owned()).collect();
    assert_eq!(ids, ["acme.slow-down", "acme.quota", "acme.ticket"]);
    let c = classifier.classify(&Reply::parse("451 Slow down, friend").unwrap());
    assert_eq!(
        (c.category, c.rule.as_str()),
        (Category::RateLimited, "acme.slow-down")
    );
    assert_eq!(c.retry_hint, Some(Duration::from_secs(900)));
    let c = classifier.classify(&Reply::parse("550 5.7.1 Daily quota reached").unwrap());
    assert_eq!(
        (c.rule.as_str(), c.retry, c.scope),
        ("acme.quota", true, Scope::SourceIp)
    );
    let c = classifier.classify(&Reply::parse("554 Blocked, see Ticket #123456").unwrap());
    assert_eq!(
        (c.rule.as_str(), c.category),
        ("acme.ticket", Category::Reputation)
    );
    let c = classifier.classify(&Reply::parse("554 Blocked, see ticket #12").unwrap());
    assert_ne!(c.rule.as_str(), "acme.ticket");
}

#[test]
fn settings_reach_the_limits() {
    let clock = FakeRelativeClock::default();
    let text = std::fs::read_to_string(data("limits.toml")).unwrap();
    let file = LimitsFile::from_toml(&text).unwrap();
    let limits = file
        .apply(Limits::builder_with_clock(clock.clone()))
        .build()
        .unwrap();
    let ip: IpAddr = "192.0.2.20".parse().unwrap();
    let route = Route::new(ip, file.sites().destination("acme.example", None).unwrap());
    // Slow start: initial_sessions = 2 of the 8 configured.
    let first = limits.try_acquire(&route).unwrap();
    let second = limits.try_acquire(&route).unwrap();
    assert!(limits.try_acquire(&route).is_err());
    drop((first, second));
    // The source cap of 50 sessions is not what binds here; the pair's cap is.
    assert_eq!(limits.pair_limits(&route).1, Some(2));
}

#[test]
fn limits_builder_and_classifier_builder_read_files() {
    let builder = LimitsBuilder::from_toml("[default]\nsessions = 3\n").unwrap();
    let limits = builder.build().unwrap();
    assert_eq!(
        limits.site_limits(&named("x.example")).pair.sessions,
        Some(3)
    );
    let from_file = LimitsBuilder::from_file(data("limits.toml"))
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(from_file.site_limits(&named("acme")).pair.sessions, Some(8));
    let classifier = Classifier::builder()
        .rules_from_toml(
            "[[rules]]\nid = \"t.busy\"\ncategory = \"server_busy\"\nphrase = \"come back soon\"\n",
        )
        .unwrap()
        .build()
        .unwrap();
    let c = classifier.classify(&Reply::parse("451 Please come back soon").unwrap());
    assert_eq!(c.category, Category::ServerBusy);
}

#[test]
fn a_typo_is_an_unknown_key_naming_what_is_allowed() {
    let e = error("[default]\nrate = \"10/s\"\nsesions = 4\n");
    assert_eq!((e.line(), e.key()), (Some(3), "default.sesions"));
    let FileErrorKind::UnknownKey { allowed } = e.kind() else {
        panic!("{e}");
    };
    assert!(allowed.contains(&"sessions"));
    assert_eq!(
        e.to_string(),
        "(text):3: default.sesions: unknown key; allowed here: rate, sessions, site_rate, \
         site_sessions, deliveries_per_session"
    );
    let e = error("max_route = 5\n");
    assert_eq!((e.line(), e.key()), (Some(1), "max_route"));
    let e = error("[[rules]]\nid = \"a\"\ncategory = \"policy\"\nphrase = \"x\"\ncolour = 1\n");
    assert_eq!((e.line(), e.key()), (Some(5), "rules[0].colour"));
}

#[test]
fn an_unknown_key_in_a_site_names_the_site() {
    let e = error("[sites.\"example.org\"]\ndomain = [\"a.example\"]\n");
    assert_eq!(
        (e.line(), e.key()),
        (Some(2), "sites.\"example.org\".domain")
    );
    assert!(
        matches!(e.kind(), FileErrorKind::UnknownKey { allowed } if allowed.contains(&"domains"))
    );
}

#[test]
fn a_bad_rate_says_what_a_rate_looks_like() {
    let e = error("\n[sites.acme]\nrate = \"100/mn\"\n");
    assert_eq!((e.line(), e.key()), (Some(3), "sites.acme.rate"));
    let FileErrorKind::BadValue { found, expected } = e.kind() else {
        panic!("{e}");
    };
    assert_eq!(found, "\"100/mn\"");
    assert!(expected.contains("\"100/min\""), "{expected}");
    assert!(e
        .to_string()
        .starts_with("(text):3: sites.acme.rate: \"100/mn\" is not accepted; expected a rate"));
    let e = error("[source]\nrate = 100\n");
    assert!(
        matches!(
            e.kind(),
            FileErrorKind::WrongType {
                found: "integer",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn a_bad_duration_says_what_a_duration_looks_like() {
    let e = error("[escalation]\nwindow = \"1 hour and a bit\"\n");
    assert_eq!((e.line(), e.key()), (Some(2), "escalation.window"));
    let FileErrorKind::BadValue { expected, .. } = e.kind() else {
        panic!("{e}");
    };
    assert!(expected.contains("\"90s\""), "{expected}");
    let e = error("idle_after = \"5\"\n");
    assert_eq!(e.key(), "idle_after");
    let e = error("[warm_up]\nfirst_sends = { \"192.0.2.1\" = \"2 weeks\" }\n");
    assert_eq!(e.key(), "warm_up.first_sends.\"192.0.2.1\"");
}

#[test]
fn a_negative_count_is_refused() {
    let e = error("[default]\nsessions = -3\n");
    assert_eq!((e.line(), e.key()), (Some(2), "default.sessions"));
    let FileErrorKind::BadValue { found, expected } = e.kind() else {
        panic!("{e}");
    };
    assert_eq!(
        (found.as_str(), *expected),
        ("-3", "a whole number from 0 to 4294967295")
    );
    let e = error("[adaptive]\ndecrease = -0.5\n");
    assert_eq!(e.key(), "adaptive.decrease");
    assert!(
        matches!(
            e.kind(),
            FileErrorKind::Invalid(ConfigError::OutOfRange { .. })
        ),
        "{e}"
    );
}

#[test]
fn a_zero_is_refused_by_the_builders_checks_at_its_key() {
    for (text, line, key) in [
        ("[default]\nsessions = 0\n", 2, "default.sessions"),
        (
            "[sites.acme]\nsite_sessions = 0\n",
            2,
            "sites.acme.site_sessions",
        ),
        (
            "[providers.google]\n\ndeliveries_per_session = 0\n",
            3,
            "providers.google.deliveries_per_session",
        ),
        ("[source]\nsessions = 0\n", 2, "source.sessions"),
        ("[default]\nrate = \"0/min\"\n", 2, "default.rate"),
        ("[adaptive]\nramp_after = 0\n", 2, "adaptive.ramp_after"),
        ("[escalation]\nwindow = \"0s\"\n", 2, "escalation.window"),
        (
            "[connections]\nfirst_delay = \"0s\"\n",
            2,
            "connections.first_delay",
        ),
        ("[warm_up]\ndaily = [10, 0]\n", 2, "warm_up.daily"),
        ("max_routes = 0\n", 1, "max_routes"),
        ("[shared]\nlease = \"0s\"\n", 2, "shared.lease"),
    ] {
        let e = error(text);
        assert_eq!((e.line(), e.key()), (Some(line), key), "{text}: {e}");
        assert!(
            matches!(e.kind(), FileErrorKind::Invalid(ConfigError::Zero { .. })),
            "{text}: {e}"
        );
    }
}

#[test]
fn too_large_values_are_refused_by_the_builders_checks() {
    let e = error("[escalation]\nroute_pause = \"90d\"\n");
    assert_eq!(e.key(), "escalation.route_pause");
    assert!(
        matches!(
            e.kind(),
            FileErrorKind::Invalid(ConfigError::TooLong { .. })
        ),
        "{e}"
    );
    let e = error("[sites.acme]\nsessions = 100001\n");
    assert!(
        matches!(
            e.kind(),
            FileErrorKind::Invalid(ConfigError::TooMany { .. })
        ),
        "{e}"
    );
    let e = error("max_routes = 200000000\n");
    assert_eq!((e.line(), e.key()), (Some(1), "max_routes"));
}

#[test]
fn bad_rules_name_the_rule() {
    let e = error(
        "[[rules]]\nid = \"a\"\ncategory = \"policy\"\nphrase = \"x\"\n\n\
         [[rules]]\nid = \"a\"\ncategory = \"policy\"\nphrase = \"y\"\n",
    );
    assert_eq!(e.key(), "rules[1]");
    assert!(
        matches!(e.kind(), FileErrorKind::Rule(RuleError::DuplicateId { .. })),
        "{e}"
    );
    let e = error("[[rules]]\nid = \"r\"\ncategory = \"policy\"\nregex = \"(unclosed\"\n");
    assert_eq!((e.key(), e.line()), ("rules[0]", Some(1)));
    assert!(
        matches!(e.kind(), FileErrorKind::Rule(RuleError::BadRegex { .. })),
        "{e}"
    );
    let e = error("[[rules]]\nid = \"r\"\ncategory = \"slow\"\nphrase = \"x\"\n");
    assert_eq!(e.key(), "rules[0].category");
    let e = error("[[rules]]\nid = \"r\"\ncategory = \"policy\"\n");
    assert!(
        matches!(e.kind(), FileErrorKind::Rule(RuleError::NoCondition { .. })),
        "{e}"
    );
    let e = error("[[rules]]\ncategory = \"policy\"\nphrase = \"x\"\n");
    assert_eq!(e.key(), "rules[0].id");
}

#[test]
fn syntax_and_io_errors_name_the_file() {
    let e = error("[default\nsessions = 3\n");
    assert!(matches!(e.kind(), FileErrorKind::Syntax(_)), "{e}");
    assert_eq!(e.line(), Some(1));
    let missing = data("no-such-file.toml");
    let e = LimitsFile::from_file(&missing).unwrap_err();
    assert_eq!(e.file(), Some(missing.as_path()));
    assert!(matches!(e.kind(), FileErrorKind::Io(_)));
    let e = LimitsFile::from_kumo_file(&missing).unwrap_err();
    assert!(e.to_string().starts_with(&missing.display().to_string()));
}

#[test]
fn file_errors_name_the_file_they_came_from() {
    let dir = std::env::temp_dir().join(format!("smtp-throttle-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("limits.toml");
    std::fs::write(&path, "[default]\nsessions = 2\nrate = \"5/fortnight\"\n").unwrap();
    let e = LimitsFile::from_file(&path).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        e.to_string()
            .starts_with(&format!("{}:3: default.rate: ", path.display())),
        "{e}"
    );
}

// ---- KumoMTA's layout ----

fn kumo(name: &str) -> (LimitsFile, smtp_throttle::config::KumoReport) {
    LimitsFile::from_kumo_file(data(&format!("kumo/{name}"))).unwrap()
}

fn paths(keys: &[smtp_throttle::config::KumoKey]) -> Vec<&str> {
    keys.iter().map(|k| k.path.as_str()).collect()
}

#[test]
fn kumo_default_table() {
    let (file, report) = kumo("default.toml");
    let limits = file.apply(Limits::builder()).build().unwrap();
    let d = limits.site_limits(&named("x.example"));
    assert_eq!(d.pair.sessions, Some(10));
    assert_eq!(d.deliveries_per_session, Some(100));
    let rate = d.pair.rate.unwrap();
    // KumoMTA's throttles allow the whole count at once unless max_burst says less.
    assert_eq!(
        (rate.count(), rate.per(), rate.burst()),
        (100, Duration::from_secs(1), 100)
    );
    assert_eq!(limits.session_idle(), Duration::from_secs(60));
    assert!(report.unmapped.is_empty(), "{report}");
    assert_eq!(paths(&report.approximated), ["default.idle_timeout"]);
}

#[test]
fn kumo_domain_tables() {
    let (file, report) = kumo("domain.toml");
    let limits = file.apply(Limits::builder()).build().unwrap();
    let mail = limits.site_limits(&named("mail.example"));
    assert_eq!(mail.pair.sessions, Some(1000));
    let rate = mail.pair.rate.unwrap();
    assert_eq!(
        (rate.count(), rate.per(), rate.burst()),
        (1000, Duration::from_secs(3600), 50)
    );
    assert_eq!(mail.deliveries_per_session, Some(25));
    // A provider's own domain limits the provider's site, over its preset.
    let google = limits.site_limits(&Site::Provider(Provider::Google));
    assert_eq!(
        (google.pair.sessions, google.deliveries_per_session),
        (Some(5), Some(40))
    );
    assert!(report.is_empty(), "{report}");
}

#[test]
fn kumo_provider_tables_and_matches() {
    let (file, report) = kumo("provider.toml");
    let limits = file.apply(Limits::builder()).build().unwrap();
    let sites = file.sites();
    for (domain, mx) in [
        ("someone.example", Some("in1.mx.bigmail.example")),
        ("eu.bigmail.example", None),
        ("hosted.example", Some("inbound.bigmail-relay.example")),
    ] {
        let d = sites.destination(domain, mx).unwrap();
        assert_eq!(d.site(), &named("bigmail"), "{domain}");
    }
    let big = limits.site_limits(&named("bigmail"));
    assert_eq!(
        (big.pair.sessions, big.deliveries_per_session),
        (Some(6), Some(30))
    );
    assert_eq!(
        paths(&report.approximated),
        ["provider.bigmail.connection_limit"]
    );
    assert!(report.unmapped.is_empty(), "{report}");
}

#[test]
fn kumo_sources_are_reported_key_by_key() {
    let (file, report) = kumo("sources.toml");
    let limits = file.apply(Limits::builder()).build().unwrap();
    assert_eq!(
        limits.site_limits(&named("mail.example")).pair.sessions,
        Some(5)
    );
    assert_eq!(
        paths(&report.unmapped),
        [
            "\"mail.example\".sources.ip-1.connection_limit",
            "\"mail.example\".sources.ip-1.max_message_rate",
        ]
    );
    assert_eq!(report.unmapped[0].line, 6);
}

#[test]
fn kumo_automation_becomes_rules() {
    let (file, report) = kumo("automation.toml");
    let ids: Vec<_> = file.rules().iter().map(|r| r.id()).collect();
    assert_eq!(
        ids,
        [
            "kumo.provider.bigmail.automation[0]",
            "kumo.provider.bigmail.automation[1]",
            "kumo.provider.bigmail.automation[2]",
        ]
    );
    let classifier = file.classifier(Classifier::builder()).build().unwrap();
    let c = classifier.classify(&Reply::parse("421 4.7.0 [BM-04] deferred").unwrap());
    assert_eq!(c.rule.as_str(), "kumo.provider.bigmail.automation[0]");
    assert_eq!((c.category, c.retry), (Category::RateLimited, true));
    assert_eq!(c.retry_hint, Some(Duration::from_secs(7200)));
    for text in ["451 too much mail from 192.0.2.1", "451 RL-0001 slow down"] {
        let c = classifier.classify(&Reply::parse(text).unwrap());
        assert_eq!(
            c.rule.as_str(),
            "kumo.provider.bigmail.automation[1]",
            "{text}"
        );
    }
    let c = classifier.classify(&Reply::parse("450 mailbox permanently closed by policy").unwrap());
    assert_eq!((c.category, c.retry), (Category::Policy, false));

    assert_eq!(
        paths(&report.unmapped),
        ["provider.bigmail.automation[3].action"]
    );
    let approximated = paths(&report.approximated);
    for path in [
        "provider.bigmail.automation[0].action",
        "provider.bigmail.automation[1].action",
        "provider.bigmail.automation[1].trigger",
        "provider.bigmail.automation[2].action",
    ] {
        assert!(approximated.contains(&path), "{path} in {approximated:?}");
    }
}

#[test]
fn kumo_unmapped_keys_are_reported_not_dropped() {
    let (_, report) = kumo("unmapped.toml");
    assert_eq!(
        paths(&report.unmapped),
        [
            "default.enable_tls",
            "default.max_recipients_per_message",
            "\"mail.example\".max_connection_rate",
            "\"mail.example\".replace_base",
            "\"mail.example\".smtp_port",
        ]
    );
    let lines: Vec<_> = report.unmapped.iter().map(|k| k.line).collect();
    assert_eq!(lines, [3, 4, 7, 8, 9]);
    let text = report.to_string();
    assert!(
        text.starts_with("unmapped line 3: default.enable_tls: TLS is"),
        "{text}"
    );
}

#[test]
fn kumo_bad_values_are_errors() {
    let bad = |text: &str| LimitsFile::from_kumo_shaping(text).unwrap_err();
    let e = bad("[\"mail.example\"]\nmax_message_rate = \"100/fortnight\"\n");
    assert_eq!(
        (e.line(), e.key()),
        (Some(2), "\"mail.example\".max_message_rate")
    );
    let e = bad("[default]\nconnection_limit = 0\n");
    assert!(
        matches!(e.kind(), FileErrorKind::Invalid(ConfigError::Zero { .. })),
        "{e}"
    );
    let e = bad("[[\"x.example\".automation]]\nregex = \"(\"\naction = \"Suspend\"\n");
    assert!(
        matches!(e.kind(), FileErrorKind::Rule(RuleError::BadRegex { .. })),
        "{e}"
    );
    let e = bad(
        "[[\"x.example\".automation]]\nregex = \"x\"\naction = \"Suspend\"\nduration = \"soon\"\n",
    );
    assert_eq!(e.key(), "\"x.example\".automation[0].duration");
    let e = bad("[\"not a domain\"]\nconnection_limit = 3\n");
    assert!(matches!(e.kind(), FileErrorKind::Route(_)), "{e}");
}

#[test]
fn destination_for_named_site_matches_file_key() {
    // A site table named after a domain limits that domain's routes without a match.
    let file = LimitsFile::from_toml("[sites.\"Example.ORG\"]\nsessions = 2\n").unwrap();
    let limits = file.apply(Limits::builder()).build().unwrap();
    let d = Destination::new("example.org").unwrap();
    assert_eq!(limits.site_limits(d.site()).pair.sessions, Some(2));
}

// ---- the README tells the truth ----

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

#[test]
fn readme_shows_the_example_file_and_the_kumo_report() {
    let readme = readme();
    let example = std::fs::read_to_string(data("limits.toml")).unwrap();
    assert!(readme.contains(&format!("```toml\n{example}```")));
    let fixture = std::fs::read_to_string(data("kumo/unmapped.toml")).unwrap();
    assert!(readme.contains(&format!("```toml\n{fixture}```")));
    let (_, report) = LimitsFile::from_kumo_shaping(&fixture).unwrap();
    assert!(
        readme.contains(&format!("```text\n{report}```")),
        "{report}"
    );
}

#[test]
fn readme_error_messages_are_the_real_ones() {
    let readme = readme();
    for text in [
        "[default]\nrate = \"10/s\"\nsesions = 4\n",
        "[default]\nsessions = 2\n\n[sites.acme]\nsessions = 8\n\nrate = \"100/mn\"\n",
        "[escalation]\nwindow = \"1 hour and a bit\"\n",
        "[default]\nsessions = -3\n",
        "[default]\nsessions = 0\n",
        "[[rules]]\nid = \"a\"\ncategory = \"policy\"\nphrase = \"x\"\n\n\
         [[rules]]\nid = \"a\"\ncategory = \"policy\"\nphrase = \"y\"\n",
    ] {
        let message = error(text).to_string().replace("(text)", "limits.toml");
        // The README shortens the list of accepted forms after the first one.
        let shown = match message.find(", \"") {
            Some(cut) => format!("{}, …", &message[..cut]),
            None => message.clone(),
        };
        assert!(readme.contains(&shown), "README lacks: {shown}");
    }
}

#[test]
fn presets_can_be_turned_off_and_warm_up_on() {
    let file = LimitsFile::from_toml(
        "presets = false\n[default]\nsessions = 7\n[warm_up]\nschedule = \"sendgrid\"\n",
    )
    .unwrap();
    let limits = file.apply(Limits::builder()).build().unwrap();
    let google = limits.site_limits(&Site::Provider(Provider::Google));
    assert_eq!(
        (google.pair.sessions, google.deliveries_per_session),
        (Some(7), Some(100))
    );
    let e = error("[warm_up]\nschedule = \"fast\"\n");
    assert_eq!(e.key(), "warm_up.schedule");
    let e = error("[warm_up]\nfirst_sends = { \"not-an-ip\" = \"1d\" }\n");
    assert_eq!(e.key(), "warm_up.first_sends.not-an-ip");
}

#[test]
fn kumo_provider_named_after_a_known_provider_is_that_provider() {
    let (file, report) = LimitsFile::from_kumo_shaping(
        "[provider.\"yahoo\"]\nmatch = [{MXSuffix = \".yahoodns.net\"}]\nmax_deliveries_per_connection = 15\n",
    )
    .unwrap();
    assert!(report.is_empty(), "{report}");
    let limits = file.apply(Limits::builder()).build().unwrap();
    let d = file
        .sites()
        .destination("example.com", Some("mta5.am0.yahoodns.net"))
        .unwrap();
    assert_eq!(d.site(), &Site::Provider(Provider::Yahoo));
    // Over Yahoo's preset (10 sessions), with the file's messages per session.
    let yahoo = limits.site_limits(d.site());
    assert_eq!(
        (yahoo.pair.sessions, yahoo.deliveries_per_session),
        (Some(10), Some(15))
    );
    // Yahoo's own domains, without their MX, get the same limits.
    let plain = Destination::new("yahoo.com").unwrap();
    assert_eq!(limits.site_limits(plain.site()), yahoo);
}
