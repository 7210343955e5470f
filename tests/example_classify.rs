//! `examples/classify.rs` keeps its output shape: one `category<TAB>retry<TAB>severity<TAB>rule`
//! line per non-blank input line, `error<TAB>reason` for a line that does not parse.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn classify_example_output_shape() {
    let path = common::example_binary("classify", &[]);
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
            "unknown_user\tno\tpermanent\tesc.x.1.1",
            "error\tline 1: expected a three-digit reply code, found \"hello\"",
            "error\t999 is not an SMTP reply code (expected 200 to 599)",
            "greylisted\tyes\ttransient\ttext.greylisted",
            "policy\tno\tpermanent\tesc.x.7.1",
        ]
    );
}
