//! `pacom chat NAME` between two `pacom run` processes in one PACOM swarm:
//! lines typed on one side's stdin show up in the other side's chat output
//! and inbox, both ways; end of input ends the chat cleanly.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

mod common;

use common::Node;

const SWARM: &str = "3333333333333333333333333333333333333333333333333333333333333333";
const FILE_SIZE: u64 = 512 << 20;
const LINK_RATE: &str = "80";

/// A running `pacom chat` with its stdin and its stdout lines.
struct Chat {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Chat {
    fn start(node: &Node, peer: &str) -> Chat {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pacom"))
            .arg("--data-dir")
            .arg(node.path())
            .args(["chat", peer])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn pacom chat");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(l) = line else { return };
                if tx.send(l).is_err() {
                    return;
                }
            }
        });
        let stdin = child.stdin.take();
        Chat {
            child,
            stdin,
            lines,
        }
    }

    fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    fn expect(&self, want: &str) {
        let got = self
            .lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no chat line {want:?}"));
        assert_eq!(got, want);
    }

    /// Closes stdin; the chat must exit 0.
    fn end(mut self) {
        drop(self.stdin.take());
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                assert!(st.success(), "chat exited with {st}");
                return;
            }
            assert!(std::time::Instant::now() < deadline, "chat did not end");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Chat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn chat_lines_arrive_on_the_other_side() {
    let mut alice = Node::init_with(LINK_RATE, FILE_SIZE);
    let mut bob = Node::init_with(LINK_RATE, FILE_SIZE);
    alice.add_contact("bob", &bob.contact());
    bob.add_contact("alice", &alice.contact());
    bob.add_swarm(SWARM, &[]);
    bob.start();
    alice.add_swarm(SWARM, &[bob.addr()]);
    alice.start();
    alice.wait_neighbours(1);
    bob.wait_neighbours(1);

    let mut a = Chat::start(&alice, "bob");
    let mut b = Chat::start(&bob, "alice");
    // Both subscriptions are up once each chat printed its banner; give
    // them a moment before the first line.
    std::thread::sleep(Duration::from_millis(500));
    a.say("hello bob, typed into pacom chat");
    b.expect("alice> hello bob, typed into pacom chat");
    let rec = bob.wait_inbox("alice's chat line", |v| {
        v["text"] == "hello bob, typed into pacom chat"
    });
    assert_eq!(rec["from_name"], "alice");
    assert_eq!(rec["verified"], true);
    b.say("hi alice");
    b.say("second line");
    a.expect("bob> hi alice");
    a.expect("bob> second line");
    a.end();
    b.end();
    alice.stop();
    bob.stop();
}
