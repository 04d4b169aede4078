//! When a connection moves to the demoted-I/O thread and back.

use super::Placement;
use std::time::{Duration, Instant};

#[test]
fn a_rate_limited_refusal_demotes_and_a_quiet_hold_promotes() {
    let mut placement = Placement::new(true, 10);
    let t0 = Instant::now();
    assert!(
        !placement.after_message(false, t0),
        "served normally: stays"
    );
    assert!(
        placement.after_message(true, t0),
        "first refusal: moves down"
    );
    assert!(placement.demoted);
    assert!(!placement.after_message(true, t0 + Duration::from_secs(1)));
    // Admitted messages inside the hold (counted from the last refusal, at 1 s) keep it down.
    assert!(!placement.after_message(false, t0 + Duration::from_secs(10)));
    assert!(placement.demoted);
    // The first message at or after the hold's end moves it back up.
    assert!(placement.after_message(false, t0 + Duration::from_secs(11)));
    assert!(!placement.demoted);
    assert!(!placement.after_message(false, t0 + Duration::from_secs(12)));
    // And a new refusal moves it down again.
    assert!(placement.after_message(true, t0 + Duration::from_secs(13)));
    assert!(placement.demoted);
}

#[test]
fn a_refused_message_after_the_hold_stays_down() {
    let mut placement = Placement::new(true, 2);
    let t0 = Instant::now();
    assert!(placement.after_message(true, t0));
    // Refused again long after: the hold restarts from this refusal, no move.
    assert!(!placement.after_message(true, t0 + Duration::from_secs(60)));
    assert!(placement.demoted);
    assert!(!placement.after_message(false, t0 + Duration::from_secs(61)));
    assert!(placement.after_message(false, t0 + Duration::from_secs(62)));
}

#[test]
fn demotion_off_never_moves() {
    let t0 = Instant::now();
    for mut placement in [Placement::new(false, 10), Placement::new(true, 0)] {
        for n in 0..5 {
            assert!(!placement.after_message(n % 2 == 0, t0 + Duration::from_secs(n)));
        }
        assert!(!placement.demoted);
    }
}

#[test]
fn the_hold_ends_at_promotion_at_and_shutdown_recalls() {
    let mut placement = Placement::new(true, 3);
    let t0 = Instant::now();
    assert_eq!(placement.promotion_at(), None, "not demoted");
    assert!(placement.after_message(true, t0));
    assert_eq!(placement.promotion_at(), Some(t0 + Duration::from_secs(3)));
    assert!(!placement.after_message(true, t0 + Duration::from_secs(1)));
    assert_eq!(placement.promotion_at(), Some(t0 + Duration::from_secs(4)));
    // What the read loop does when that instant comes.
    assert!(placement.after_message(false, t0 + Duration::from_secs(4)));
    assert_eq!(placement.promotion_at(), None);
    assert!(!placement.recall(), "not demoted: nothing to move");
    assert!(placement.after_message(true, t0 + Duration::from_secs(5)));
    assert!(placement.recall(), "demoted: moves back for shutdown");
    assert!(!placement.demoted);
    assert_eq!(placement.promotion_at(), None);
}
