//! Shared by the link tests that drive a `Links` hub directly: waiting for
//! a link, reading its bytes, and reproducible payloads.

#![allow(dead_code)]

use std::time::Duration;

use pacom_bt::node::{LinkEvent, NeighbourId};
use tokio::sync::mpsc::UnboundedReceiver;

/// Longest wait for one event: private-mode links carry ~150 B per block.
const EVENT_WAIT: Duration = Duration::from_secs(60);

pub async fn next_event(events: &mut UnboundedReceiver<LinkEvent>) -> LinkEvent {
    tokio::time::timeout(EVENT_WAIT, events.recv())
        .await
        .expect("event in time")
        .expect("hub alive")
}

/// The neighbour of the first link that comes up.
pub async fn wait_up(events: &mut UnboundedReceiver<LinkEvent>) -> NeighbourId {
    loop {
        if let LinkEvent::Up { neighbour, .. } = next_event(events).await {
            return neighbour;
        }
    }
}

/// Reads `n` link bytes from the events (ignoring other events).
pub async fn read_bytes(events: &mut UnboundedReceiver<LinkEvent>, n: usize) -> Vec<u8> {
    let mut got = Vec::new();
    while got.len() < n {
        match next_event(events).await {
            LinkEvent::Data { bytes, .. } => got.extend(bytes),
            LinkEvent::Down { reason, .. } => panic!("link down: {reason}"),
            _ => {}
        }
    }
    got
}

/// Reproducible, non-repeating bytes; `salt` tells directions apart.
pub fn pattern(n: usize, salt: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31) ^ salt ^ (i >> 9) as u8)
        .collect()
}
