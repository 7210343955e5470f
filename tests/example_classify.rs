//! `examples/classify.rs` keeps its output shape: one `category<TAB>retry<TAB>severity<TAB>rule`
//! line per non-blank input line, `error<TAB>reason` for a line that does not parse.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// `cargo test` builds the examples next to the test binaries' folder; when only this
/// test was asked for, build the example here.
fn example() -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("tests run from target/<profile>/deps")
        .join("examples");
    let path = dir.join(format!("classify{}", std::env::consts::EXE_SUFFIX));
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build.args(["build", "--quiet", "--example", "classify"]);
        if dir.parent().and_then(|p| p.file_name()) == Some("release".as_ref()) {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "building examples/classify failed");
    }
    path
}

#[test]
fn classify_example_output_shape() {
    let path = example();
    let input: &[u8] = b"421 4.7.0 Try again later, closing connection.\n\
        \n   \n\
        550-5.1.1 The email account that you tried to reach does not exist.\\n550 5.1.1 https://support.google.com/mail/?p=NoSuchUser - gsmtp\r\n\
        hello\n\
        999 odd\n\
        451 4.7.1 Greylisting in action, please come back later\n\
        550 5.7.1 Mail rejet\xe9\n";
    let mut child = Command::new(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the example starts");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(input)
        .expect("input is written");
    let out = child.wait_with_output().expect("the example ends");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("UTF-8 output");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "rate_limited\tyes\ttransient\ttext.security_deferral",
            "unknown_user\tno\tpermanent\tesc.bad_mailbox",
            "error\tline 1: expected a three-digit reply code, found \"hello\"",
            "error\t999 is not an SMTP reply code (expected 200 to 599)",
            "greylisted\tyes\ttransient\ttext.greylisted",
            "policy\tno\tpermanent\tesc.not_authorized",
        ]
    );
}
