//! Classifies SMTP replies: what each means and whether to retry.
//!
//! Reads replies from standard input, one per line (write a multi-line reply on one line
//! with the two characters `\n` between its lines), and prints one tab-separated line per
//! input line:
//!
//! ```text
//! category<TAB>retry<TAB>severity<TAB>rule        retry is yes or no
//! error<TAB>reason                                when the line does not parse
//! ```
//!
//! Blank lines are skipped. With a terminal on standard input, it classifies a built-in
//! sample of real replies and prints them as a table.
//!
//! Run: `cargo run --release --example classify`
//!      `printf '421 4.7.0 Try again later, closing connection.\n' | cargo run --release --example classify`

use std::io::{self, BufRead, BufWriter, IsTerminal, Write};

use smtp_throttle::{classify, Reply};

/// Real replies (from tests/data/replies.tsv) shown when no input is piped in.
const SAMPLE: &[&str] = &[
    "421 4.7.0 Try again later, closing connection.",
    "421-4.7.28 Gmail has detected an unusual rate of mail originating from your SPF\\n421-4.7.28 domain [example.com]. To protect our users from\\n421 4.7.28 spam, mail sent from your domain has been temporarily rate limited.",
    "421 4.7.0 [TSS04] Messages from 192.0.2.25 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
    "421 4.7.1 [TS03] All messages from 192.0.2.1 permanently deferred",
    "421 4.7.0 mx.example.com Error: too many connections from 192.0.2.1",
    "432 4.3.2 Concurrent connections limit exceeded. Visit https://aka.ms/concurrent_sending for more information.",
    "451 4.7.1 Greylisting in action, please come back in 00:05:00",
    "550 5.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered. - gsmtp",
    "554 5.7.1 Service unavailable; Client host [192.0.2.49] blocked using cbl.abuseat.org",
    "550-5.7.26 This mail has been blocked because the sender is unauthenticated.\\n550 5.7.26 Gmail requires all senders to authenticate with either SPF or DKIM.",
    "452 4.2.2 The email account that you tried to reach is over quota. - gsmtp",
    "550 5.1.1 <neko@example.co.jp>: Recipient address rejected: User unknown in virtual mailbox table",
    "451 5.7.3 STARTTLS is required to send mail",
    "250 2.0.0 Ok: queued as 4Xk9F2",
];

fn main() {
    let stdin = io::stdin();
    let stdout = io::stdout();
    let result = if stdin.is_terminal() {
        sample_table(&mut stdout.lock())
    } else {
        filter(stdin.lock(), &mut BufWriter::new(stdout.lock()))
    };
    match result {
        Ok(()) => {}
        // A closed pipe (`| head`) is the reader's choice, not an error.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        Err(e) => {
            eprintln!("classify: {e}");
            std::process::exit(1);
        }
    }
}

/// One output line per non-blank input line; the input may hold any bytes. The line
/// and the unescaped reply reuse their buffers, so the loop allocates only what
/// `Reply::parse` keeps.
fn filter(mut input: impl BufRead, out: &mut impl Write) -> io::Result<()> {
    let mut line = Vec::new();
    let mut wire = Vec::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        unescape_into(&line, &mut wire);
        match Reply::parse(&wire) {
            Ok(reply) => {
                let c = classify(&reply);
                for part in [
                    c.category.as_str(),
                    "\t",
                    if c.retry { "yes" } else { "no" },
                    "\t",
                    c.severity.as_str(),
                    "\t",
                    c.rule.as_str(),
                    "\n",
                ] {
                    out.write_all(part.as_bytes())?;
                }
            }
            Err(e) => writeln!(out, "error\t{e}")?,
        }
    }
    out.flush()
}

/// Turns the two characters `\n` into a line break.
fn unescape(line: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len());
    unescape_into(line, &mut out);
    out
}

/// [`unescape`] into a buffer of the caller's, copying the runs between backslashes
/// whole.
fn unescape_into(line: &[u8], out: &mut Vec<u8>) {
    out.clear();
    // Most lines hold no backslash: one memchr finds that out.
    if !line.contains(&b'\\') {
        out.extend_from_slice(line);
        return;
    }
    let mut rest = line;
    while let Some(i) = rest.iter().position(|&b| b == b'\\') {
        out.extend_from_slice(&rest[..i]);
        if rest.get(i + 1) == Some(&b'n') {
            out.push(b'\n');
            rest = &rest[i + 2..];
        } else {
            out.push(b'\\');
            rest = &rest[i + 1..];
        }
    }
    out.extend_from_slice(rest);
}

fn sample_table(out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "No input piped in: classifying {} real replies.\n\
         Pipe your own, one per line: printf '421 4.7.0 Try again later\\n' | cargo run --release --example classify\n",
        SAMPLE.len()
    )?;
    writeln!(
        out,
        "{:<21} {:<5} {:<12} {:<10} {:<7} {:<27} reply",
        "category", "retry", "severity", "provider", "hint", "rule"
    )?;
    writeln!(out, "{}", "-".repeat(120))?;
    for wire in SAMPLE {
        let reply = match Reply::parse(unescape(wire.as_bytes())) {
            Ok(reply) => reply,
            Err(e) => {
                writeln!(out, "error: {e}")?;
                continue;
            }
        };
        let c = classify(&reply);
        let hint = c
            .retry_hint
            .map(|d| format!("{}s", d.as_secs()))
            .unwrap_or_else(|| "-".into());
        let provider = c.provider.map_or("-", |p| p.as_str());
        let first_line: String = wire
            .split("\\n")
            .next()
            .unwrap_or("")
            .chars()
            .take(60)
            .collect();
        writeln!(
            out,
            "{:<21} {:<5} {:<12} {:<10} {:<7} {:<27} {first_line}",
            c.category.as_str(),
            if c.retry { "yes" } else { "no" },
            c.severity.as_str(),
            provider,
            hint,
            c.rule.as_str(),
        )?;
    }
    Ok(())
}
