//! Tests of `proto::policy`: perms parsing (the NIP-46 examples, whitespace, duplicates, unknown
//! methods, bad params, the input bounds), canonical round trips, policy JSON and validation, the
//! dangerous-kind list, grants and narrowing (a `sign_event:1` session; dangerous kinds closed
//! until an admin opens them), the skew bound, and the intersection laws of
//! `Grant::negotiate`/`Grant::narrow` (proptest).
//!
//! Inline vectors and their sources:
//! - `nip44_encrypt,sign_event:4`: NIP-46 §"Requested permissions",
//!   <https://github.com/nostr-protocol/nips/blob/master/46.md#requested-permissions>.
//! - `nip44_encrypt,nip44_decrypt,sign_event:13,sign_event:14,sign_event:1059`: the `perms` value of
//!   the `nostrconnect://` example in NIP-46 §"Direct connection initiated by the client"
//!   (same URL), percent-decoded (`%2C` → `,`, `%3A` → `:`).
//! - The kinds of [`DANGEROUS_KINDS`], checked against the NIP texts cited in `expected_dangerous`.

use proptest::prelude::*;

use super::*;

const NOW: u64 = 1_700_000_000;

/// Parses `input` and compares the canonical string.
#[track_caller]
fn check_parse(input: &str, canonical: &str) {
    let perms = Perms::parse(input);
    assert_eq!(perms.to_string(), canonical, "input {input:?}");
    assert_eq!(Perms::parse(canonical), perms, "canonical form re-parses");
}

/// `check` for a `sign_event` of `kind` with no `created_at`.
fn sign(grant: &Grant, policy: &Policy, kind: u16) -> Result<(), Denied> {
    check(grant, policy, Method::SignEvent, Some(kind), None, NOW)
}

fn grant(perms: &str, policy: &Policy) -> Grant {
    Grant::negotiate(&Perms::parse(perms), policy)
}

fn only(kinds: &[u16]) -> SignKinds {
    SignKinds::Only(kinds.iter().copied().collect())
}

// ---- Method -------------------------------------------------------------------------------------

#[test]
fn method_names_round_trip_and_are_in_canonical_order() {
    for method in Method::ALL {
        assert_eq!(Method::from_name(method.name()), Some(method));
        assert_eq!(method.to_string(), method.name());
    }
    let names: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "ALL is alphabetical");
    let mut by_ord = Method::ALL;
    by_ord.sort();
    assert_eq!(by_ord, Method::ALL, "Ord follows the wire names");
}

#[test]
fn method_names_match_the_nip46_dispatcher() {
    for method in Method::ALL {
        assert_eq!(crate::nip46::method_label(method.name()), method.name());
    }
}

#[test]
fn unknown_and_removed_method_names_are_not_methods() {
    for name in [
        "",
        "get_relays",
        "create_account",
        "nip44_get_key",
        "Sign_Event",
        "sign_event ",
    ] {
        assert_eq!(Method::from_name(name), None, "{name:?}");
    }
}

#[test]
fn always_allowed_methods_are_exactly_the_five() {
    let always: Vec<&str> = Method::ALL
        .iter()
        .filter(|m| m.is_always_allowed())
        .map(|m| m.name())
        .collect();
    assert_eq!(
        always,
        [
            "connect",
            "get_public_key",
            "logout",
            "ping",
            "switch_relays"
        ]
    );
}

// ---- Perms parsing ------------------------------------------------------------------------------

#[test]
fn parses_the_nip46_example() {
    let perms = Perms::parse("nip44_encrypt,sign_event:4");
    assert_eq!(perms.to_string(), "nip44_encrypt,sign_event:4");
    assert!(perms.allows(Method::Nip44Encrypt, None));
    assert!(perms.allows(Method::SignEvent, Some(4)));
    assert!(!perms.allows(Method::SignEvent, Some(1)));
    assert!(!perms.allows(Method::SignEvent, None), "not every kind");
    assert!(!perms.allows(Method::Nip44Decrypt, None));
}

#[test]
fn parses_the_nostrconnect_example() {
    check_parse(
        "nip44_encrypt,nip44_decrypt,sign_event:13,sign_event:14,sign_event:1059",
        "nip44_decrypt,nip44_encrypt,sign_event:13,sign_event:14,sign_event:1059",
    );
}

#[test]
fn trims_whitespace_and_skips_empty_items() {
    check_parse(
        " nip44_encrypt , sign_event : 4 ,\tping\n",
        "nip44_encrypt,ping,sign_event:4",
    );
    check_parse(",,nip04_decrypt,,,", "nip04_decrypt");
    check_parse("", "");
    check_parse(" , ,\t", "");
}

#[test]
fn deduplicates_and_sorts() {
    check_parse("sign_event:1,sign_event:1,ping,ping", "ping,sign_event:1");
    check_parse(
        "sign_event:30023,sign_event:1,nip04_encrypt,connect",
        "connect,nip04_encrypt,sign_event:1,sign_event:30023",
    );
    check_parse("sign_event:007", "sign_event:7");
}

#[test]
fn bare_sign_event_means_any_kind_and_absorbs_kinds() {
    check_parse("sign_event:1,sign_event,sign_event:7", "sign_event");
    let perms = Perms::parse("sign_event");
    assert!(perms.allows(Method::SignEvent, Some(0)));
    assert!(perms.allows(Method::SignEvent, Some(65535)));
    assert!(perms.allows(Method::SignEvent, None));
    assert_eq!(perms.sign_kinds(), SignKinds::Any);
}

#[test]
fn ignores_unknown_methods() {
    check_parse(
        "get_relays,create_account,nip44_get_key,SIGN_EVENT,foo,ping",
        "ping",
    );
}

#[test]
fn ignores_items_with_bad_or_undefined_params() {
    for bad in [
        "sign_event:abc",
        "sign_event:70000",
        "sign_event:65536",
        "sign_event:-1",
        "sign_event:+1",
        "sign_event:",
        "sign_event:1.0",
        "sign_event:1:2",
        "sign_event:0x10",
        "sign_event:1 2",
        "nip44_encrypt:abcd",
        "ping:1",
    ] {
        check_parse(bad, "");
        check_parse(&format!("{bad},nip04_encrypt"), "nip04_encrypt");
    }
    check_parse("sign_event:0", "sign_event:0");
    check_parse("sign_event:65535", "sign_event:65535");
}

#[test]
fn looks_at_256_non_empty_items() {
    // 255 items, then the 256th: read.
    let mut input = "ping,".repeat(255);
    input.push_str("nip44_encrypt");
    check_parse(&input, "nip44_encrypt,ping");
    // 256 items, then the 257th: ignored.
    let mut input = "ping,".repeat(256);
    input.push_str("nip44_encrypt");
    assert!(
        input.len() <= MAX_PERMS_INPUT_BYTES,
        "only the item bound applies"
    );
    check_parse(&input, "ping");
    // Empty items do not count.
    let mut input = ",".repeat(500);
    input.push_str(&" , ping".repeat(255));
    input.push_str(",nip44_encrypt");
    assert!(
        input.len() <= MAX_PERMS_INPUT_BYTES,
        "only the item bound applies"
    );
    check_parse(&input, "nip44_encrypt,ping");
}

#[test]
fn looks_at_4_kib_and_never_cuts_an_item() {
    // `sign_event:12` spans bytes 4084..4097: its `2` lies just past the limit.
    let mut input = String::from("ping,");
    input.push_str(&" ".repeat(4084 - input.len()));
    input.push_str("sign_event:12,nip44_encrypt");
    assert_eq!(input.as_bytes()[MAX_PERMS_INPUT_BYTES], b'2');
    check_parse(&input, "ping");

    // An item that ends exactly at the limit, followed by a comma, is read.
    let mut input = String::from("ping,");
    input.push_str(&" ".repeat(4083 - input.len()));
    input.push_str("sign_event:12,nip44_encrypt");
    assert_eq!(input.as_bytes()[MAX_PERMS_INPUT_BYTES], b',');
    check_parse(&input, "ping,sign_event:12");

    // An input of exactly the limit is read whole.
    let mut input = " ".repeat(MAX_PERMS_INPUT_BYTES - "sign_event:12".len());
    input.push_str("sign_event:12");
    assert_eq!(input.len(), MAX_PERMS_INPUT_BYTES);
    check_parse(&input, "sign_event:12");

    // Multi-byte characters across the limit, no comma: nothing, no panic.
    check_parse(&"é".repeat(3000), "");
    let mut input = "é".repeat(2047);
    input.push_str("x,ping");
    check_parse(&input, "");
}

#[test]
fn all_and_none() {
    assert_eq!(
        Perms::all().to_string(),
        "connect,get_public_key,logout,nip04_decrypt,nip04_encrypt,nip44_decrypt,nip44_encrypt,ping,sign_event,switch_relays"
    );
    assert_eq!(Perms::parse(&Perms::all().to_string()), Perms::all());
    assert!(Perms::none().is_empty());
    assert_eq!(Perms::none().to_string(), "");
    assert!(!Perms::all().is_empty());
    assert_eq!(
        Perms::parse("ping").methods(),
        MethodSet::empty().with(Method::Ping)
    );
    assert_eq!(
        Perms::parse("sign_event:1").methods(),
        MethodSet::empty().with(Method::SignEvent)
    );
}

#[test]
fn perms_and_grants_serialize_as_the_canonical_string() {
    let perms = Perms::parse("sign_event:7, nip44_encrypt ,sign_event:1");
    let json = serde_json::to_string(&perms).unwrap();
    assert_eq!(json, r#""nip44_encrypt,sign_event:1,sign_event:7""#);
    assert_eq!(serde_json::from_str::<Perms>(&json).unwrap(), perms);

    let grant = Grant::from(perms.clone());
    assert_eq!(serde_json::to_string(&grant).unwrap(), json);
    assert_eq!(serde_json::from_str::<Grant>(&json).unwrap(), grant);
    assert_eq!(grant.to_string().parse::<Grant>().unwrap(), grant);
    assert_eq!(
        format!("{grant:?}"),
        format!("Grant({:?})", perms.to_string())
    );
    // A stored empty grant stays empty (negotiate's "absent means policy" does not apply).
    assert!("".parse::<Grant>().unwrap().perms().is_empty());
}

// ---- Policy -------------------------------------------------------------------------------------

#[test]
fn default_policy_is_conservative() {
    let policy = Policy::default();
    assert_eq!(policy.methods, MethodSet::all());
    assert_eq!(policy.sign_kinds, SignKinds::Any);
    assert!(policy.allow_dangerous_kinds.is_empty());
    assert_eq!(policy.max_created_at_skew_secs, Some(604_800));
    assert_eq!(policy.validate(), Ok(()));
    assert!(policy.allows_kind(1));
    for kind in DANGEROUS_KINDS {
        assert!(!policy.allows_kind(kind), "kind {kind}");
    }
}

#[test]
fn policy_json_has_stable_field_names() {
    let json = serde_json::to_string(&Policy::default()).unwrap();
    assert_eq!(
        json,
        concat!(
            r#"{"methods":["connect","get_public_key","logout","nip04_decrypt","nip04_encrypt","#,
            r#""nip44_decrypt","nip44_encrypt","ping","sign_event","switch_relays"],"#,
            r#""sign_kinds":"any","allow_dangerous_kinds":[],"max_created_at_skew_secs":604800}"#
        )
    );
    assert_eq!(
        serde_json::from_str::<Policy>(&json).unwrap(),
        Policy::default()
    );

    let custom = Policy {
        methods: [Method::SignEvent, Method::Nip44Encrypt]
            .into_iter()
            .collect(),
        sign_kinds: only(&[7, 1]),
        allow_dangerous_kinds: [3, 0].into_iter().collect(),
        max_created_at_skew_secs: None,
    };
    let json = serde_json::to_string(&custom).unwrap();
    assert_eq!(
        json,
        r#"{"methods":["nip44_encrypt","sign_event"],"sign_kinds":[1,7],"allow_dangerous_kinds":[0,3],"max_created_at_skew_secs":null}"#
    );
    assert_eq!(serde_json::from_str::<Policy>(&json).unwrap(), custom);
}

#[test]
fn policy_json_fills_defaults_and_normalizes_kind_lists() {
    assert_eq!(
        serde_json::from_str::<Policy>("{}").unwrap(),
        Policy::default()
    );
    let policy: Policy =
        serde_json::from_str(r#"{"sign_kinds":[7,1,1],"allow_dangerous_kinds":[3,0,3]}"#).unwrap();
    assert_eq!(policy.sign_kinds, only(&[1, 7]));
    assert_eq!(
        policy.allow_dangerous_kinds.iter().collect::<Vec<_>>(),
        [0, 3]
    );
    assert_eq!(policy.methods, MethodSet::all());
    let policy: Policy = serde_json::from_str(r#"{"max_created_at_skew_secs":null}"#).unwrap();
    assert_eq!(policy.max_created_at_skew_secs, None);
    let policy: Policy = serde_json::from_str(r#"{"methods":["ping","ping"]}"#).unwrap();
    assert_eq!(policy.methods, MethodSet::empty().with(Method::Ping));
}

#[test]
fn policy_json_refuses_wrong_shapes() {
    for bad in [
        r#"{"allow_dangerous_kind":[0]}"#,
        r#"{"methods":["sign_events"]}"#,
        r#"{"methods":["get_relays"]}"#,
        r#"{"methods":"all"}"#,
        r#"{"sign_kinds":"all"}"#,
        r#"{"sign_kinds":[70000]}"#,
        r#"{"sign_kinds":[-1]}"#,
        r#"{"sign_kinds":5}"#,
        r#"{"max_created_at_skew_secs":-5}"#,
    ] {
        assert!(serde_json::from_str::<Policy>(bad).is_err(), "{bad}");
    }
}

#[test]
fn validate_bounds_the_skew() {
    let mut policy = Policy {
        max_created_at_skew_secs: Some(MAX_SKEW_BOUND_SECS),
        ..Policy::default()
    };
    assert_eq!(policy.validate(), Ok(()));
    policy.max_created_at_skew_secs = Some(MAX_SKEW_BOUND_SECS + 1);
    assert_eq!(policy.validate(), Err(PolicyError::SkewTooLarge));
    // Seven days written in milliseconds.
    policy.max_created_at_skew_secs = Some(604_800_000);
    assert_eq!(policy.validate(), Err(PolicyError::SkewTooLarge));
    policy.max_created_at_skew_secs = None;
    assert_eq!(policy.validate(), Ok(()));
}

#[test]
fn validate_bounds_the_kind_list() {
    let mut policy = Policy {
        sign_kinds: SignKinds::Only((0..MAX_POLICY_KINDS as u16).collect()),
        ..Policy::default()
    };
    assert_eq!(policy.validate(), Ok(()));
    policy.sign_kinds = SignKinds::Only((0..=MAX_POLICY_KINDS as u16).collect());
    assert_eq!(policy.validate(), Err(PolicyError::TooManyKinds));
}

#[test]
fn validate_refuses_opening_a_kind_that_is_not_dangerous() {
    let mut policy = Policy {
        allow_dangerous_kinds: DANGEROUS_KINDS.into_iter().collect(),
        ..Policy::default()
    };
    assert_eq!(policy.validate(), Ok(()));
    policy.allow_dangerous_kinds = [0, 1].into_iter().collect();
    assert_eq!(policy.validate(), Err(PolicyError::NotDangerous));
}

#[test]
fn policy_errors_have_codes_and_fixed_texts() {
    let cases = [
        (PolicyError::SkewTooLarge, "skew_too_large"),
        (PolicyError::TooManyKinds, "too_many_kinds"),
        (PolicyError::NotDangerous, "not_dangerous"),
    ];
    for (error, code) in cases {
        assert_eq!(error.code(), code);
        assert!(!error.to_string().is_empty());
    }
}

// ---- Dangerous kinds ----------------------------------------------------------------------------

/// Every dangerous kind with the text it was checked against: `NN.md` is
/// `https://github.com/nostr-protocol/nips/blob/master/NN.md`; NWC-02 is
/// `https://github.com/nostr-wallet-connect/nwc/blob/main/02.md`.
fn expected_dangerous() -> [(u16, &'static str); 16] {
    [
        (0, "01.md metadata"),
        (3, "02.md follow list"),
        (5, "09.md deletion request"),
        (62, "62.md request to vanish"),
        (7374, "60.md reserved wallet tokens (quote)"),
        (7375, "60.md wallet tokens"),
        (7376, "60.md spending history"),
        (10002, "65.md relay list metadata"),
        (13194, "47.md §Events info event"),
        (17375, "60.md wallet event"),
        (22242, "42.md client authentication"),
        (23194, "47.md §Events request"),
        (23195, "47.md §Events response"),
        (23196, "47.md §Events notification (NIP-04)"),
        (
            23197,
            "nostr-wallet-connect/nwc 02.md §Transport notification (NIP-44)",
        ),
        (27235, "98.md HTTP auth"),
    ]
}

#[test]
fn dangerous_kinds_are_sorted_and_complete() {
    assert!(
        DANGEROUS_KINDS.windows(2).all(|w| w[0] < w[1]),
        "strictly ascending"
    );
    let expected: Vec<u16> = expected_dangerous().iter().map(|(k, _)| *k).collect();
    assert_eq!(DANGEROUS_KINDS.to_vec(), expected);
    for kind in DANGEROUS_KINDS {
        assert!(is_dangerous(kind));
    }
    for kind in [1, 4, 6, 7, 13, 14, 1059, 9734, 24133, 30023, 65535] {
        assert!(!is_dangerous(kind), "kind {kind}");
    }
}

// ---- check: grants, dangerous kinds and narrowing -----------------------------------------------

#[test]
fn session_granted_kind_1_signs_kind_1_and_is_refused_kind_0() {
    let policy = Policy::default();
    let grant = grant("sign_event:1", &policy);
    assert_eq!(grant.to_string(), "sign_event:1");
    assert_eq!(sign(&grant, &policy, 1), Ok(()));

    let denied = sign(&grant, &policy, 0).unwrap_err();
    assert_eq!(denied.permission().to_string(), "sign_event:0");
    assert_eq!(denied.reason(), DenyReason::DangerousKind);
    assert_eq!(denied.code(), "dangerous_kind");
    assert_eq!(
        denied.message(),
        "permission denied: sign_event:0 (dangerous kind; an admin must allow it)"
    );

    // Kind 0 opened by the admin: still not in this session's grant.
    let opened = Policy {
        allow_dangerous_kinds: [0].into_iter().collect(),
        ..Policy::default()
    };
    let denied = sign(&grant, &opened, 0).unwrap_err();
    assert_eq!(denied.permission().to_string(), "sign_event:0");
    assert_eq!(denied.reason(), DenyReason::NotGranted);
    assert_eq!(
        denied.message(),
        "permission denied: sign_event:0 (not granted to this session)"
    );

    // A kind that is not dangerous and not granted.
    let denied = sign(&grant, &policy, 7).unwrap_err();
    assert_eq!(denied.permission().to_string(), "sign_event:7");
    assert_eq!(denied.reason(), DenyReason::NotGranted);
}

#[test]
fn dangerous_kinds_refused_by_default_and_allowed_once_listed() {
    let policy = Policy::default();
    let grant = grant("", &policy);
    assert_eq!(
        grant.perms(),
        &Perms::all(),
        "no perms requested: the policy"
    );
    for kind in DANGEROUS_KINDS {
        let denied = sign(&grant, &policy, kind).unwrap_err();
        assert_eq!(denied.reason(), DenyReason::DangerousKind, "kind {kind}");
        assert_eq!(
            denied.permission().to_string(),
            format!("sign_event:{kind}")
        );
    }
    let opened = Policy {
        allow_dangerous_kinds: [0, 23197].into_iter().collect(),
        ..Policy::default()
    };
    assert_eq!(opened.validate(), Ok(()));
    assert_eq!(sign(&grant, &opened, 0), Ok(()));
    assert_eq!(sign(&grant, &opened, 23197), Ok(()));
    assert_eq!(
        sign(&grant, &opened, 3).unwrap_err().reason(),
        DenyReason::DangerousKind
    );
}

#[test]
fn an_opened_dangerous_kind_also_needs_the_kind_list() {
    let policy = Policy {
        sign_kinds: only(&[1]),
        allow_dangerous_kinds: [0].into_iter().collect(),
        ..Policy::default()
    };
    assert!(!policy.allows_kind(0));
    let grant = Grant::from(Perms::all());
    let denied = sign(&grant, &policy, 0).unwrap_err();
    assert_eq!(denied.reason(), DenyReason::NotAllowedByPolicy);
    assert_eq!(
        denied.message(),
        "permission denied: sign_event:0 (not allowed by this user's policy)"
    );
}

#[test]
fn explicitly_requested_dangerous_kinds_are_granted_only_when_opened() {
    let policy = Policy::default();
    assert_eq!(
        grant("sign_event:0,sign_event:1", &policy).to_string(),
        "sign_event:1"
    );
    let opened = Policy {
        allow_dangerous_kinds: [0].into_iter().collect(),
        ..Policy::default()
    };
    let reconnected = grant("sign_event:0,sign_event:1", &opened);
    assert_eq!(reconnected.to_string(), "sign_event:0,sign_event:1");
    assert_eq!(sign(&reconnected, &opened, 0), Ok(()));
}

#[test]
fn empty_request_grants_the_policy() {
    let policy = Policy {
        methods: [Method::SignEvent, Method::Nip44Encrypt, Method::Ping]
            .into_iter()
            .collect(),
        sign_kinds: only(&[7, 0, 1]),
        ..Policy::default()
    };
    let expected = "nip44_encrypt,ping,sign_event:1,sign_event:7";
    assert_eq!(
        policy.to_perms().to_string(),
        expected,
        "kind 0 is not opened"
    );
    assert_eq!(grant("", &policy).to_string(), expected);
    // Nothing recognised is treated like nothing sent.
    assert_eq!(
        grant("get_relays,sign_event:abc", &policy).to_string(),
        expected
    );
}

#[test]
fn methods_need_both_policy_and_grant() {
    let policy = Policy::default();
    let grant = grant("nip44_encrypt", &policy);
    let run =
        |grant: &Grant, policy: &Policy, method| check(grant, policy, method, None, None, NOW);
    assert_eq!(run(&grant, &policy, Method::Nip44Encrypt), Ok(()));
    let denied = run(&grant, &policy, Method::Nip44Decrypt).unwrap_err();
    assert_eq!(denied.permission().to_string(), "nip44_decrypt");
    assert_eq!(denied.reason(), DenyReason::NotGranted);
    assert_eq!(
        denied.message(),
        "permission denied: nip44_decrypt (not granted to this session)"
    );
    assert_eq!(
        run(&grant, &policy, Method::SignEvent)
            .unwrap_err()
            .reason(),
        DenyReason::NotAllowedByPolicy,
        "sign_event without a kind"
    );

    let tightened = Policy {
        methods: MethodSet::all().without(Method::Nip44Encrypt),
        ..Policy::default()
    };
    let denied = run(&grant, &tightened, Method::Nip44Encrypt).unwrap_err();
    assert_eq!(denied.reason(), DenyReason::NotAllowedByPolicy);
    assert_eq!(denied.code(), "not_allowed_by_policy");
}

#[test]
fn always_allowed_methods_pass_an_empty_grant_and_policy() {
    let policy = Policy {
        methods: MethodSet::empty(),
        ..Policy::default()
    };
    let grant = Grant::from(Perms::none());
    for method in Method::ALL {
        let result = check(&grant, &policy, method, Some(0), Some(0), NOW);
        assert_eq!(result.is_ok(), method.is_always_allowed(), "{method}");
    }
}

#[test]
fn narrowing_applies_a_tightened_policy() {
    let before = Policy::default();
    let session = grant("", &before);
    let after = Policy {
        methods: MethodSet::all().without(Method::Nip04Decrypt),
        sign_kinds: only(&[1]),
        ..Policy::default()
    };
    // Effective right away, without rewriting the grant ...
    assert!(check(&session, &after, Method::Nip04Decrypt, None, None, NOW).is_err());
    assert!(sign(&session, &after, 7).is_err());
    // ... and the rewritten grant says so.
    let narrowed = session.narrow(&after);
    assert_eq!(
        narrowed.to_string(),
        "connect,get_public_key,logout,nip04_encrypt,nip44_decrypt,nip44_encrypt,ping,sign_event:1,switch_relays"
    );
    // Widening the policy again does not widen the narrowed grant.
    assert_eq!(narrowed.narrow(&before), narrowed);
    assert!(sign(&narrowed, &before, 7).is_err());
    assert!(Grant::from(Perms::none())
        .narrow(&before)
        .perms()
        .is_empty());
}

#[test]
fn denied_display_is_fixed_text() {
    let denied = sign(
        &grant("sign_event:1", &Policy::default()),
        &Policy::default(),
        0,
    );
    let denied = denied.unwrap_err();
    assert_eq!(
        denied.to_string(),
        "permission denied: dangerous kind; an admin must allow it"
    );
    let codes = [
        DenyReason::NotGranted,
        DenyReason::NotAllowedByPolicy,
        DenyReason::DangerousKind,
        DenyReason::CreatedAtOutOfBounds { max_skew_secs: 5 },
    ]
    .map(|r| r.code());
    assert_eq!(
        codes,
        [
            "not_granted",
            "not_allowed_by_policy",
            "dangerous_kind",
            "created_at_out_of_bounds"
        ]
    );
}

// ---- check: the created_at skew bound -----------------------------------------------------------

#[test]
fn skew_bound_is_inclusive_in_both_directions() {
    let policy = Policy {
        max_created_at_skew_secs: Some(600),
        ..Policy::default()
    };
    let grant = grant("sign_event:1", &policy);
    let at = |created_at| {
        check(
            &grant,
            &policy,
            Method::SignEvent,
            Some(1),
            Some(created_at),
            NOW,
        )
    };
    assert_eq!(at(NOW), Ok(()));
    assert_eq!(at(NOW - 600), Ok(()));
    assert_eq!(at(NOW + 600), Ok(()));
    for out in [NOW - 601, NOW + 601, 0, u64::MAX] {
        let denied = at(out).unwrap_err();
        assert_eq!(
            denied.reason(),
            DenyReason::CreatedAtOutOfBounds { max_skew_secs: 600 }
        );
        assert_eq!(denied.code(), "created_at_out_of_bounds");
        assert_eq!(
            denied.message(),
            "permission denied: sign_event:1 (created_at more than 600 s from the signer's clock)"
        );
    }
    // No created_at in the template: the signer uses `now`.
    assert_eq!(
        check(&grant, &policy, Method::SignEvent, Some(1), None, NOW),
        Ok(())
    );
    // The grant is checked first.
    assert_eq!(
        check(&grant, &policy, Method::SignEvent, Some(7), Some(0), NOW)
            .unwrap_err()
            .reason(),
        DenyReason::NotGranted
    );
    // The bound applies to sign_event only.
    assert_eq!(
        check(&grant, &policy, Method::Ping, None, Some(0), NOW),
        Ok(())
    );
}

#[test]
fn default_skew_is_seven_days_and_none_means_unbounded() {
    let policy = Policy::default();
    let grant = grant("sign_event:1", &policy);
    let at = |policy: &Policy, created_at| {
        check(
            &grant,
            policy,
            Method::SignEvent,
            Some(1),
            Some(created_at),
            NOW,
        )
    };
    assert_eq!(at(&policy, NOW - 7 * 86_400), Ok(()));
    assert!(at(&policy, NOW + 7 * 86_400 + 1).is_err());
    let unbounded = Policy {
        max_created_at_skew_secs: None,
        ..Policy::default()
    };
    assert_eq!(at(&unbounded, 0), Ok(()));
    assert_eq!(at(&unbounded, u64::MAX), Ok(()));
}

// ---- Properties ---------------------------------------------------------------------------------

/// Kinds the properties draw from: dangerous and ordinary ones, so that sets overlap often.
const KIND_POOL: [u16; 10] = [0, 1, 3, 4, 7, 62, 1059, 10002, 23197, 30023];

fn kind() -> impl Strategy<Value = u16> {
    prop_oneof![4 => proptest::sample::select(KIND_POOL.to_vec()), 1 => any::<u16>()]
}

fn perms_item() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(Method::ALL.to_vec()).prop_map(|m| m.name().to_owned()),
        4 => kind().prop_map(|k| format!("sign_event:{k}")),
        1 => "[a-z_:0-9 ]{0,14}",
    ]
}

fn perms_text() -> impl Strategy<Value = String> {
    proptest::collection::vec((perms_item(), "[ \t]{0,2}"), 0..12).prop_map(|items| {
        items
            .into_iter()
            .map(|(item, pad)| format!("{pad}{item}{pad}"))
            .collect::<Vec<_>>()
            .join(",")
    })
}

fn perms() -> impl Strategy<Value = Perms> {
    perms_text().prop_map(|text| Perms::parse(&text))
}

fn policy() -> impl Strategy<Value = Policy> {
    let sign_kinds = prop_oneof![
        Just(SignKinds::Any),
        proptest::collection::vec(kind(), 0..6)
            .prop_map(|ks| SignKinds::Only(ks.into_iter().collect())),
    ];
    let dangerous = proptest::sample::subsequence(DANGEROUS_KINDS.to_vec(), 0..=4);
    (0u16..1 << 10, sign_kinds, dangerous).prop_map(|(bits, sign_kinds, dangerous)| Policy {
        methods: Method::ALL
            .into_iter()
            .filter(|m| bits & (1 << *m as u16) != 0)
            .collect(),
        sign_kinds,
        allow_dangerous_kinds: dangerous.into_iter().collect(),
        max_created_at_skew_secs: None,
    })
}

/// The policy's rule written out independently of the implementation.
fn policy_allows(policy: &Policy, method: Method, kind: u16) -> bool {
    if !policy.methods.contains(method) {
        return false;
    }
    if method != Method::SignEvent {
        return true;
    }
    let listed = match &policy.sign_kinds {
        SignKinds::Any => true,
        SignKinds::Only(kinds) => kinds.iter().any(|k| k == kind),
    };
    let opened =
        !DANGEROUS_KINDS.contains(&kind) || policy.allow_dangerous_kinds.iter().any(|k| k == kind);
    listed && opened
}

fn passes(grant: &Grant, policy: &Policy, method: Method, kind: u16) -> bool {
    check(grant, policy, method, Some(kind), None, NOW).is_ok()
}

proptest! {
    #[test]
    fn canonical_string_round_trips(perms in perms()) {
        let canonical = perms.to_string();
        prop_assert_eq!(Perms::parse(&canonical), perms);
        prop_assert_eq!(Perms::parse(&canonical).to_string(), canonical);
    }

    #[test]
    fn parse_never_panics(text in any::<String>()) {
        let perms = Perms::parse(&text);
        prop_assert_eq!(Perms::parse(&perms.to_string()), perms);
    }

    #[test]
    fn intersect_is_exact_and_commutative(a in perms(), b in perms(), k in kind()) {
        prop_assert_eq!(a.intersect(&b), b.intersect(&a));
        for m in Method::ALL {
            let both = a.allows(m, Some(k)) && b.allows(m, Some(k));
            prop_assert_eq!(a.intersect(&b).allows(m, Some(k)), both);
        }
    }

    /// `negotiate(r, p)` allows exactly what `r` requests and `p` allows (r non-empty).
    #[test]
    fn negotiate_is_requested_intersect_policy(r in perms(), p in policy(), k in kind()) {
        prop_assume!(!r.is_empty());
        let grant = Grant::negotiate(&r, &p);
        for m in Method::ALL {
            let expected = m.is_always_allowed() || (policy_allows(&p, m, k) && r.allows(m, Some(k)));
            prop_assert_eq!(passes(&grant, &p, m, k), expected, "{} kind {}", m, k);
            if grant.perms().allows(m, Some(k)) {
                prop_assert!(r.allows(m, Some(k)));
                prop_assert!(p.to_perms().allows(m, Some(k)));
            }
        }
        // A kind granted by name is one the policy allows now, dangerous-kind gate included.
        if let SignKinds::Only(kinds) = grant.perms().sign_kinds() {
            if kinds.contains(k) {
                prop_assert!(policy_allows(&p, Method::SignEvent, k));
            }
        }
    }

    /// Without requested perms, a session gets exactly the policy.
    #[test]
    fn negotiate_without_request_is_the_policy(p in policy(), k in kind()) {
        let grant = Grant::negotiate(&Perms::none(), &p);
        prop_assert_eq!(grant.perms(), &p.to_perms());
        for m in Method::ALL {
            let expected = m.is_always_allowed() || policy_allows(&p, m, k);
            prop_assert_eq!(passes(&grant, &p, m, k), expected, "{} kind {}", m, k);
        }
    }

    /// Narrowing never widens: neither the grant itself nor what passes under any policy.
    #[test]
    fn narrowing_never_widens(r in perms(), p1 in policy(), p2 in policy(), p3 in policy(), k in kind()) {
        let grant = Grant::negotiate(&r, &p1);
        let narrowed = grant.narrow(&p2);
        for m in Method::ALL {
            if narrowed.perms().allows(m, Some(k)) {
                prop_assert!(grant.perms().allows(m, Some(k)));
                prop_assert!(p2.to_perms().allows(m, Some(k)));
            }
            if passes(&narrowed, &p2, m, k) {
                prop_assert!(m.is_always_allowed() || policy_allows(&p2, m, k));
            }
            if passes(&narrowed, &p3, m, k) {
                prop_assert!(passes(&grant, &p3, m, k));
            }
        }
        prop_assert_eq!(narrowed.narrow(&p2), narrowed.clone(), "idempotent");
    }
}
