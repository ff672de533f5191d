//! The announcement service under a deterministic in-memory network: seeded latency, message
//! loss, partitions, and a node that joins late. The same seed gives the same run, event for
//! event; a head must reach every node that follows the log.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::time::Duration;

use cairn_core::net::service::{Command, Held, Input, Service};
use cairn_core::testing::SplitMix;
use cairn_protocol::cid::Cid;
use cairn_protocol::identity::IdentityId;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// Gossip bytes from `from` reach `to`.
    Deliver {
        to: usize,
        from: usize,
        bytes: Vec<u8>,
    },
    /// `node`'s fetch from `from` finished (the head `from` held when it answered, if it could).
    Fetched {
        node: usize,
        from: usize,
        got: Option<u64>,
    },
    /// `node`'s re-announcement timer.
    Tick { node: usize },
    /// The publisher signs its next revision.
    Publish,
    /// `node` joins, linked to `peers`.
    Join { node: usize, peers: Vec<usize> },
    /// The partition ends.
    Heal,
}

struct Node {
    service: Service,
    seq: u64,
    links: BTreeSet<usize>,
    online: bool,
}

struct Sim {
    rng: SplitMix,
    now: Duration,
    queue: BinaryHeap<Reverse<(Duration, u64, Event)>>,
    order: u64,
    nodes: Vec<Node>,
    loss_percent: u64,
    /// Nodes on side A of a partition (links across it carry nothing), while it lasts.
    partition: Option<BTreeSet<usize>>,
    log: String,
    /// A trace of what happened, to compare two runs.
    trace: Vec<(u128, usize, u64)>,
    dropped: usize,
}

const REANNOUNCE: Duration = Duration::from_secs(30);

fn payload(seq: u64) -> Cid {
    Cid::of_record(&seq.to_be_bytes())
}

impl Sim {
    fn new(seed: u64, nodes: usize, loss_percent: u64) -> Sim {
        let log = format!("{}:libfoo", IdentityId::from_digest([5; 32]));
        let mut sim = Sim {
            rng: SplitMix(seed),
            now: Duration::ZERO,
            queue: BinaryHeap::new(),
            order: 0,
            nodes: Vec::new(),
            loss_percent,
            partition: None,
            log,
            trace: Vec::new(),
            dropped: 0,
        };
        for i in 0..nodes {
            // A random connected topology: each node links to up to three earlier ones.
            let peers: Vec<usize> = (0..3.min(i))
                .map(|_| sim.rng.below(i as u64) as usize)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            sim.add_node(&peers);
        }
        sim
    }

    fn add_node(&mut self, peers: &[usize]) -> usize {
        let i = self.nodes.len();
        self.nodes.push(Node {
            service: Service::new(),
            seq: 1, // Every node follows the log (pulled once, as `cairn sync` does).
            links: peers.iter().copied().collect(),
            online: true,
        });
        for &p in peers {
            self.nodes[p].links.insert(i);
        }
        let first = Duration::from_millis(self.rng.below(30_000));
        self.at(first, Event::Tick { node: i });
        self.feed(i, Input::Held(self.held(i)));
        i
    }

    fn at(&mut self, delay: Duration, e: Event) {
        self.order += 1;
        self.queue.push(Reverse((self.now + delay, self.order, e)));
    }

    fn held(&self, i: usize) -> Held {
        let mut h = Held::default();
        let seq = self.nodes[i].seq;
        h.heads.insert(
            self.log.clone(),
            (seq, payload(seq), "version-index".into()),
        );
        h
    }

    fn cut(&self, a: usize, b: usize) -> bool {
        self.partition
            .as_ref()
            .is_some_and(|side| side.contains(&a) != side.contains(&b))
    }

    fn latency(&mut self) -> Duration {
        Duration::from_millis(5 + self.rng.below(45))
    }

    /// Gives `node` an input and carries out its commands.
    fn feed(&mut self, node: usize, input: Input) {
        for command in self.nodes[node].service.handle(input, self.now) {
            match command {
                Command::Announce(a) => {
                    let bytes = a.encode();
                    let links: Vec<usize> = self.nodes[node].links.iter().copied().collect();
                    for to in links {
                        if self.cut(node, to) || self.rng.below(100) < self.loss_percent {
                            continue;
                        }
                        let delay = self.latency();
                        self.at(
                            delay,
                            Event::Deliver {
                                to,
                                from: node,
                                bytes: bytes.clone(),
                            },
                        );
                    }
                }
                Command::Fetch { from, .. } => {
                    let from: usize = from.parse().expect("a node number");
                    // A request and its answer: reliable (QUIC), but not across a partition.
                    let (delay, got) = if self.cut(node, from) {
                        (Duration::from_secs(5), None)
                    } else {
                        (self.latency() * 2, Some(self.nodes[from].seq))
                    };
                    self.at(delay, Event::Fetched { node, from, got });
                }
                Command::Dropped(_) => self.dropped += 1,
                Command::Have(_) | Command::Record { .. } | Command::Verdict(_) => {
                    unreachable!(
                        "the simulated nodes hold no artifacts and no package index, and push nothing"
                    )
                }
            }
        }
    }

    fn run_until(&mut self, end: Duration) {
        while let Some(Reverse((t, _, _))) = self.queue.peek() {
            if *t > end {
                break;
            }
            let Some(Reverse((t, _, e))) = self.queue.pop() else {
                break;
            };
            self.now = t;
            self.step(e);
        }
        self.now = end;
    }

    fn step(&mut self, e: Event) {
        match e {
            Event::Deliver { to, from, bytes } => {
                if self.nodes[to].online {
                    self.feed(
                        to,
                        Input::Heard {
                            from: from.to_string(),
                            bytes,
                        },
                    );
                }
            }
            Event::Fetched { node, from, got } => {
                let newer = got.is_some_and(|s| s > self.nodes[node].seq);
                if let Some(s) = got.filter(|_| newer) {
                    self.nodes[node].seq = s;
                    self.trace.push((self.now.as_millis(), node, s));
                }
                let result = match got {
                    Some(_) => Ok(newer),
                    None => Err(format!("node {from} did not answer")),
                };
                let log = self.log.clone();
                self.feed(node, Input::Fetched { log, result });
                let held = self.held(node);
                self.feed(node, Input::Held(held));
            }
            Event::Tick { node } => {
                self.feed(node, Input::Reannounce);
                let jitter = Duration::from_millis(self.rng.below(1000));
                self.at(REANNOUNCE + jitter, Event::Tick { node });
            }
            Event::Publish => {
                self.nodes[0].seq += 1;
                let s = self.nodes[0].seq;
                self.trace.push((self.now.as_millis(), 0, s));
                let held = self.held(0);
                self.feed(0, Input::Held(held));
            }
            Event::Join { node, peers } => {
                assert_eq!(node, self.nodes.len());
                self.add_node(&peers);
                for p in peers {
                    self.feed(p, Input::NeighborUp);
                }
                self.feed(node, Input::NeighborUp);
            }
            Event::Heal => self.partition = None,
        }
    }

    fn all_hold(&self, seq: u64) -> bool {
        self.nodes.iter().all(|n| n.seq == seq)
    }

    /// When the last node reached `seq` (the trace's last entry for it).
    fn converged_at(&self, seq: u64) -> Option<u128> {
        self.trace
            .iter()
            .filter(|(_, _, s)| *s == seq)
            .map(|(t, _, _)| *t)
            .max()
    }
}

#[test]
fn fifty_nodes_converge_under_ten_percent_loss_and_runs_repeat_exactly() {
    let run = |seed| {
        let mut sim = Sim::new(seed, 50, 10);
        for k in 0..5u64 {
            sim.at(Duration::from_secs(1 + 20 * k), Event::Publish);
        }
        sim.run_until(Duration::from_mins(10));
        sim
    };
    let sim = run(7);
    assert!(
        sim.all_hold(6),
        "every node holds revision 6: {:?}",
        sim.nodes.iter().map(|n| n.seq).collect::<Vec<_>>()
    );
    let t = sim.converged_at(6).expect("converged");
    eprintln!(
        "50 nodes, 10% loss: revision 6 everywhere {} ms after start ({} announcements dropped)",
        t, sim.dropped
    );
    assert_eq!(run(7).trace, sim.trace, "the same seed gives the same run");
    assert_ne!(run(8).trace, sim.trace, "another seed, another run");
}

#[test]
fn a_partition_holds_the_head_back_and_healing_lets_it_through() {
    let mut sim = Sim::new(11, 30, 10);
    sim.partition = Some((0..15).collect());
    sim.at(Duration::from_secs(1), Event::Publish);
    sim.run_until(Duration::from_mins(2));
    assert!(
        (0..15).all(|i| sim.nodes[i].seq == 2),
        "the publisher's side converged"
    );
    assert!(
        (15..30).all(|i| sim.nodes[i].seq == 1),
        "nothing crossed the partition"
    );
    sim.at(Duration::ZERO, Event::Heal);
    sim.run_until(Duration::from_mins(2 + 3));
    assert!(
        sim.all_hold(2),
        "after healing, re-announcements carry it across"
    );
}

#[test]
fn a_node_that_joins_late_catches_up_from_its_neighbours() {
    let mut sim = Sim::new(3, 20, 10);
    for k in 0..3u64 {
        sim.at(Duration::from_secs(1 + 10 * k), Event::Publish);
    }
    sim.run_until(Duration::from_mins(5));
    assert!(sim.all_hold(4));
    let late = sim.nodes.len();
    sim.at(
        Duration::from_secs(1),
        Event::Join {
            node: late,
            peers: vec![3, 17],
        },
    );
    sim.run_until(Duration::from_secs(302));
    assert_eq!(
        sim.nodes[late].seq, 4,
        "told everything held when it joined, it fetched the head at once"
    );
}
