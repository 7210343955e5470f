//! The IANA "SMTP Enhanced Status Codes" registry as the enhanced-code layer: every
//! registered `X.subject.detail` with its registry meaning mapped to a category, and a
//! fallback for each subject when the detail is not registered.
//!
//! The registry (iana.org/assignments/smtp-enhanced-status-codes) collects RFC 3463
//! (the base codes), RFC 3886 (X.1.9), RFC 4468 (X.6.6), RFC 4954 (X.5.6, X.7.8,
//! X.7.9, X.7.11, X.7.12), RFC 5248 (X.7.10, X.7.13, X.7.14), RFC 6531 (X.6.7 to
//! X.6.10), RFC 6710 (X.3.6, X.7.15, X.7.16), RFC 7293 (X.7.17 to X.7.19), RFC 7372
//! (X.7.20 to X.7.26), RFC 7505 (X.1.10, X.7.27), RFC 8617 (X.7.29), RFC 8689 (X.7.30)
//! and the mail-flood code X.7.28. Codes that only exist for success replies (X.1.5
//! "destination address valid") are kept so the table is the whole registry; a
//! success reply is never retried whatever it maps to.
//!
//! The table is consulted after the text rules: a reply whose words say more (Gmail's
//! `5.7.27`, which it uses for SPF, says "SPF") is decided by them first. Provider
//! meanings that differ from the registry are provider rules, ahead of both.

use super::{Category, Scope};
use crate::reply::EnhancedCode;
use Category::*;

/// One registry meaning.
#[derive(Debug)]
pub(super) struct Meaning {
    /// The rule id this meaning decides as: `esc.x.<subject>.<detail>`, or
    /// `esc.x.<subject>.*` for a subject's fallback.
    pub(super) id: &'static str,
    pub(super) category: Category,
    pub(super) scope: Option<Scope>,
    /// Whether to try again; `None` follows the reply code.
    pub(super) retry: Option<bool>,
}

const fn meaning(id: &'static str, category: Category) -> Meaning {
    Meaning {
        id,
        category,
        scope: None,
        retry: None,
    }
}

const fn with(
    id: &'static str,
    category: Category,
    scope: Option<Scope>,
    retry: Option<bool>,
) -> Meaning {
    Meaning {
        id,
        category,
        scope,
        retry,
    }
}

/// `(subject, detail, meaning)`, sorted by subject and detail. The comment on each line
/// is the registry's own title for the code.
pub(super) const REGISTERED: &[(u16, u16, Meaning)] = &[
    // Other undefined Status.
    (0, 0, meaning("esc.x.0.0", Other)),
    // Other address status.
    (1, 0, meaning("esc.x.1.0", UnknownUser)),
    // Bad destination mailbox address.
    (1, 1, meaning("esc.x.1.1", UnknownUser)),
    // Bad destination system address.
    (1, 2, meaning("esc.x.1.2", BadDomain)),
    // Bad destination mailbox address syntax.
    (1, 3, meaning("esc.x.1.3", UnknownUser)),
    // Destination mailbox address ambiguous.
    (1, 4, meaning("esc.x.1.4", UnknownUser)),
    // Destination address valid (success replies only).
    (1, 5, meaning("esc.x.1.5", Other)),
    // Destination mailbox has moved, No forwarding address.
    (1, 6, meaning("esc.x.1.6", MailboxDisabled)),
    // Bad sender's mailbox address syntax.
    (1, 7, meaning("esc.x.1.7", SenderRejected)),
    // Bad sender's system address.
    (1, 8, meaning("esc.x.1.8", SenderRejected)),
    // Message relayed to non-compliant mailer (success replies only).
    (1, 9, meaning("esc.x.1.9", Other)),
    // Recipient address has null MX.
    (1, 10, meaning("esc.x.1.10", BadDomain)),
    // Other or undefined mailbox status.
    (2, 0, meaning("esc.x.2.0", Other)),
    // Mailbox disabled, not accepting messages.
    (2, 1, meaning("esc.x.2.1", MailboxDisabled)),
    // Mailbox full.
    (2, 2, meaning("esc.x.2.2", MailboxFull)),
    // Message length exceeds administrative limit.
    (2, 3, meaning("esc.x.2.3", MessageTooLarge)),
    // Mailing list expansion problem: the list's own failure, nothing about the route.
    (2, 4, with("esc.x.2.4", Other, Some(Scope::Recipient), None)),
    // Other or undefined mail system status.
    (3, 0, meaning("esc.x.3.0", ServerBusy)),
    // Mail system full.
    (3, 1, meaning("esc.x.3.1", ServerBusy)),
    // System not accepting network messages.
    (3, 2, meaning("esc.x.3.2", ServerBusy)),
    // System not capable of selected features.
    (
        3,
        3,
        with("esc.x.3.3", Protocol, Some(Scope::Message), None),
    ),
    // Message too big for system.
    (3, 4, meaning("esc.x.3.4", MessageTooLarge)),
    // System incorrectly configured.
    (3, 5, meaning("esc.x.3.5", ServerBusy)),
    // Requested priority was changed (success replies only).
    (3, 6, meaning("esc.x.3.6", Other)),
    // Other or undefined network or routing status.
    (4, 0, meaning("esc.x.4.0", Routing)),
    // No answer from host.
    (4, 1, meaning("esc.x.4.1", Network)),
    // Bad connection.
    (4, 2, meaning("esc.x.4.2", Network)),
    // Directory server failure.
    (4, 3, meaning("esc.x.4.3", Routing)),
    // Unable to route.
    (4, 4, meaning("esc.x.4.4", Routing)),
    // Mail system congestion.
    (4, 5, meaning("esc.x.4.5", ServerBusy)),
    // Routing loop detected.
    (4, 6, meaning("esc.x.4.6", Routing)),
    // Delivery time expired: the sending side gave up on the message.
    (
        4,
        7,
        with("esc.x.4.7", Network, Some(Scope::Message), Some(false)),
    ),
    // Other or undefined protocol status.
    (5, 0, meaning("esc.x.5.0", Protocol)),
    // Invalid command.
    (5, 1, meaning("esc.x.5.1", Protocol)),
    // Syntax error.
    (5, 2, meaning("esc.x.5.2", Protocol)),
    // Too many recipients: the others go in another transaction.
    (5, 3, with("esc.x.5.3", TooManyRecipients, None, Some(true))),
    // Invalid command arguments.
    (5, 4, meaning("esc.x.5.4", Protocol)),
    // Wrong protocol version.
    (5, 5, meaning("esc.x.5.5", Protocol)),
    // Authentication Exchange line is too long.
    (5, 6, meaning("esc.x.5.6", Protocol)),
    // Other or undefined media error.
    (6, 0, meaning("esc.x.6.0", Content)),
    // Media not supported.
    (6, 1, meaning("esc.x.6.1", Content)),
    // Conversion required and prohibited.
    (6, 2, meaning("esc.x.6.2", Content)),
    // Conversion required but not supported.
    (6, 3, meaning("esc.x.6.3", Content)),
    // Conversion with loss performed.
    (6, 4, meaning("esc.x.6.4", Content)),
    // Conversion Failed.
    (6, 5, meaning("esc.x.6.5", Content)),
    // Message content not available (BURL: the referenced content could not be read).
    (6, 6, meaning("esc.x.6.6", Protocol)),
    // Non-ASCII addresses not permitted for that sender/recipient (SMTPUTF8).
    (6, 7, meaning("esc.x.6.7", Protocol)),
    // UTF-8 string reply is required, but not permitted by the SMTP client.
    (6, 8, meaning("esc.x.6.8", Protocol)),
    // UTF-8 header message cannot be transferred to one or more recipients.
    (6, 9, meaning("esc.x.6.9", Protocol)),
    // Registered as a duplicate of X.6.8 (deprecated).
    (6, 10, meaning("esc.x.6.10", Protocol)),
    // Other or undefined security status.
    (7, 0, meaning("esc.x.7.0", Policy)),
    // Delivery not authorized, message refused.
    (7, 1, meaning("esc.x.7.1", Policy)),
    // Mailing list expansion prohibited.
    (7, 2, meaning("esc.x.7.2", Policy)),
    // Security conversion required but not possible.
    (7, 3, meaning("esc.x.7.3", TlsRequired)),
    // Security features not supported.
    (7, 4, meaning("esc.x.7.4", TlsRequired)),
    // Cryptographic failure.
    (7, 5, meaning("esc.x.7.5", TlsRequired)),
    // Cryptographic algorithm not supported.
    (7, 6, meaning("esc.x.7.6", TlsRequired)),
    // Message integrity failure.
    (7, 7, meaning("esc.x.7.7", Content)),
    // Authentication credentials invalid (SMTP AUTH: the sender's own login).
    (7, 8, meaning("esc.x.7.8", Other)),
    // Authentication mechanism is too weak.
    (7, 9, meaning("esc.x.7.9", Other)),
    // Encryption Needed: nothing changes until the sender uses TLS.
    (7, 10, with("esc.x.7.10", TlsRequired, None, Some(false))),
    // Encryption required for requested authentication mechanism.
    (7, 11, with("esc.x.7.11", TlsRequired, None, Some(false))),
    // A password transition is needed.
    (7, 12, meaning("esc.x.7.12", Other)),
    // User Account Disabled.
    (7, 13, meaning("esc.x.7.13", MailboxDisabled)),
    // Trust relationship required.
    (7, 14, meaning("esc.x.7.14", Policy)),
    // Priority Level is too low.
    (7, 15, meaning("esc.x.7.15", Policy)),
    // Message is too big for the specified priority.
    (7, 16, meaning("esc.x.7.16", MessageTooLarge)),
    // Mailbox owner has changed.
    (7, 17, meaning("esc.x.7.17", MailboxDisabled)),
    // Domain owner has changed.
    (7, 18, meaning("esc.x.7.18", MailboxDisabled)),
    // RRVS test cannot be completed.
    (7, 19, meaning("esc.x.7.19", Policy)),
    // No passing DKIM signature found.
    (7, 20, meaning("esc.x.7.20", Authentication)),
    // No acceptable DKIM signature found.
    (7, 21, meaning("esc.x.7.21", Authentication)),
    // No valid author-matched DKIM signature found.
    (7, 22, meaning("esc.x.7.22", Authentication)),
    // SPF validation failed.
    (7, 23, meaning("esc.x.7.23", Authentication)),
    // SPF validation error.
    (7, 24, meaning("esc.x.7.24", Authentication)),
    // Reverse DNS validation failed.
    (7, 25, meaning("esc.x.7.25", Authentication)),
    // Multiple authentication checks failed.
    (7, 26, meaning("esc.x.7.26", Authentication)),
    // Sender address has null MX.
    (7, 27, meaning("esc.x.7.27", SenderRejected)),
    // Mail flood detected: too much similar mail, a later try may pass.
    (
        7,
        28,
        with("esc.x.7.28", RateLimited, Some(Scope::SourceIp), Some(true)),
    ),
    // ARC validation failure.
    (7, 29, meaning("esc.x.7.29", Authentication)),
    // REQUIRETLS support required.
    (7, 30, with("esc.x.7.30", TlsRequired, None, Some(false))),
];

/// The meaning of a subject whose detail is not registered (RFC 3463 §3: a client
/// that does not know the detail reads the subject).
pub(super) const SUBJECTS: [Meaning; 8] = [
    meaning("esc.x.0.*", Other),
    meaning("esc.x.1.*", UnknownUser),
    meaning("esc.x.2.*", MailboxDisabled),
    meaning("esc.x.3.*", ServerBusy),
    meaning("esc.x.4.*", Routing),
    meaning("esc.x.5.*", Protocol),
    meaning("esc.x.6.*", Content),
    meaning("esc.x.7.*", Policy),
];

/// How much a code says. Servers use the "other or undefined" details (`X.y.0`) and
/// `X.7.1` "delivery not authorized" for every kind of refusal, `4.2.x` (but the
/// full mailbox, `4.2.2`) for passing states and `4.1.1` for a recipient not checked
/// yet, so the generic text rules read the words before those, and before a subject's
/// fallback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Says {
    /// A registered detail with a meaning of its own.
    Specific,
    /// `X.y.0`, `X.7.1`, or an unregistered detail read by its subject.
    Vague,
}

/// The registry meaning of `code`, or its subject's; `None` for a subject the
/// registry does not define (8 and above).
pub(super) fn lookup(code: EnhancedCode) -> Option<(&'static Meaning, Says)> {
    let key = (code.subject(), code.detail());
    // A transient reply cannot mean the mailbox is disabled (X.2.1) or does not exist
    // (X.1.1): servers use 4.2.x for passing states (Gmail's "4.2.1 … receiving mail at
    // a rate", Orange's "4.2.1 Service refusé") and 4.1.1 for a recipient they could not
    // check just now ("… is temporarily unavailable", Postfix's "unverified address");
    // the words decide first.
    let passing = code.class() == 4 && ((key.0 == 2 && key.1 != 2) || key == (1, 1));
    match REGISTERED.binary_search_by(|(s, d, _)| (*s, *d).cmp(&key)) {
        Ok(i) if key.1 == 0 || key == (7, 1) || passing => Some((&REGISTERED[i].2, Says::Vague)),
        Ok(i) => Some((&REGISTERED[i].2, Says::Specific)),
        Err(_) => SUBJECTS
            .get(usize::from(code.subject()))
            .map(|m| (m, Says::Vague)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_ids_name_their_code() {
        for pair in REGISTERED.windows(2) {
            assert!((pair[0].0, pair[0].1) < (pair[1].0, pair[1].1), "{pair:?}");
        }
        for (subject, detail, m) in REGISTERED {
            assert_eq!(m.id, format!("esc.x.{subject}.{detail}"));
        }
        for (subject, m) in SUBJECTS.iter().enumerate() {
            assert_eq!(m.id, format!("esc.x.{subject}.*"));
        }
    }

    #[test]
    fn every_registered_detail_of_every_subject_is_present() {
        // The highest registered detail per subject, from the registry.
        let highest = [0u16, 10, 4, 6, 7, 6, 10, 30];
        for (subject, &top) in highest.iter().enumerate() {
            let subject = subject as u16;
            for detail in 0..=top {
                let code = EnhancedCode::new(5, subject, detail).unwrap();
                let (m, says) = lookup(code).unwrap();
                assert_eq!(m.id, format!("esc.x.{subject}.{detail}"));
                let vague = detail == 0 || (subject, detail) == (7, 1);
                assert_eq!(says == Says::Vague, vague, "{}", m.id);
            }
            let unregistered = EnhancedCode::new(4, subject, top + 1).unwrap();
            let (m, says) = lookup(unregistered).unwrap();
            assert_eq!(
                (m.id, says),
                (format!("esc.x.{subject}.*").as_str(), Says::Vague)
            );
        }
        assert!(lookup(EnhancedCode::new(5, 8, 1).unwrap()).is_none());
        // A transient 4.2.x but the full mailbox is a passing state.
        let says = |c, s, d| lookup(EnhancedCode::new(c, s, d).unwrap()).unwrap().1;
        assert_eq!(says(4, 2, 1), Says::Vague);
        assert_eq!(says(5, 2, 1), Says::Specific);
        assert_eq!(says(4, 2, 2), Says::Specific);
    }
}
