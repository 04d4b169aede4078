//! [`Refusal`]: why a relay answers an `EVENT` with `OK false`, with NIP-01's machine-readable
//! prefix. Shared by the relay, which writes the `OK`, and the signer, which decides most of them.

/// Why an event was not accepted: becomes `["OK", <id>, false, "<prefix>: <text>"]` (NIP-01,
/// "OK messages"). The text is fixed by the code, never client input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `invalid:` — malformed, bad id or signature, undecryptable content.
    Invalid(&'static str),
    /// `blocked:` — not something this relay accepts (kind, recipient).
    Blocked(&'static str),
    /// `rate-limited:` — a limit or a full queue; retry later.
    RateLimited(&'static str),
    /// `error:` — the server's fault.
    Error(&'static str),
}

impl Refusal {
    /// The `OK` message: the prefix, `": "`, the text.
    pub fn message(&self) -> String {
        format!("{}: {}", self.prefix(), self.text())
    }

    /// The NIP-01 prefix: `invalid`, `blocked`, `rate-limited` or `error`.
    pub fn prefix(&self) -> &'static str {
        match self {
            Refusal::Invalid(_) => "invalid",
            Refusal::Blocked(_) => "blocked",
            Refusal::RateLimited(_) => "rate-limited",
            Refusal::Error(_) => "error",
        }
    }

    /// Stable snake_case label for metrics and audit records: `invalid`, `blocked`,
    /// `rate_limited`, `error`.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::RateLimited(_) => "rate_limited",
            other => other.prefix(),
        }
    }

    /// The fixed text after the prefix.
    pub fn text(&self) -> &'static str {
        match self {
            Refusal::Invalid(t)
            | Refusal::Blocked(t)
            | Refusal::RateLimited(t)
            | Refusal::Error(t) => t,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_prefix_and_code() {
        let r = Refusal::RateLimited("slow down");
        assert_eq!(r.message(), "rate-limited: slow down");
        assert_eq!((r.prefix(), r.code()), ("rate-limited", "rate_limited"));
        assert_eq!(Refusal::Invalid("bad id").message(), "invalid: bad id");
        assert_eq!(Refusal::Error("x").code(), "error");
        assert_eq!(Refusal::Blocked("x").code(), "blocked");
    }
}
