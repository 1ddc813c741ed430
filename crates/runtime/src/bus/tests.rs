use super::*;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Ev {
    height: u64,
    seq: u32,
}

impl Event for Ev {
    fn topic(&self) -> &'static str {
        "certified"
    }
    fn key(&self) -> u64 {
        self.height
    }
}

fn ev(height: u64, seq: u32) -> Ev {
    Ev { height, seq }
}

fn bus(partitions: usize, capacity: usize) -> InProcBus<Ev> {
    InProcBus::new("dc0", InProcOptions { partitions, capacity })
}

fn drain(s: &mut dyn Subscriber<Ev>) -> Vec<Ev> {
    std::iter::from_fn(|| s.try_recv()).collect()
}

#[test]
fn topics_are_named_per_datacenter() {
    assert_eq!(bus(1, 1).topic("certified"), "daoli.dc0.certified");
    assert!(matches!(
        bus(1, 1).subscribe("Certified", "ledger"),
        Err(BusError::BadName(_))
    ));
    assert!(matches!(
        bus(1, 1).subscribe("certified", ""),
        Err(BusError::BadName(_))
    ));
}

#[test]
fn events_of_one_key_arrive_in_publish_order() {
    let b = bus(4, 1000);
    let mut members: Vec<_> = (0..3).map(|_| b.subscribe("certified", "ledger").unwrap()).collect();
    // Interleave 10 heights, 20 events each.
    for seq in 0..20 {
        for h in 0..10 {
            b.try_publish(&ev(h, seq)).unwrap();
        }
    }
    let mut seen = 0;
    for m in &mut members {
        let got = drain(m.as_mut());
        seen += got.len();
        let mut last: BTreeMap<u64, u32> = BTreeMap::new();
        for e in got {
            if let Some(prev) = last.insert(e.height, e.seq) {
                assert!(e.seq > prev, "height {} went {prev} -> {}", e.height, e.seq);
            }
        }
    }
    assert_eq!(seen, 200);
}

#[test]
fn every_group_sees_every_event_once() {
    let b = bus(4, 1000);
    let mut ledger: Vec<_> = (0..2).map(|_| b.subscribe("certified", "ledger").unwrap()).collect();
    let mut lottery = b.subscribe("certified", "lottery").unwrap();
    let mut other_topic = b.subscribe("executed", "lottery").unwrap();
    let all: Vec<Ev> = (0..40).map(|h| ev(h, 0)).collect();
    for e in &all {
        b.try_publish(e).unwrap();
    }
    let mut got: Vec<Ev> = ledger.iter_mut().flat_map(|m| drain(m.as_mut())).collect();
    got.sort_by_key(|e| e.height);
    assert_eq!(got, all, "the two ledger members share the events, each once");
    assert!(ledger.iter().all(|m| m.queued() == 0));
    assert_eq!(drain(lottery.as_mut()), all, "a single member gets them all, in order");
    assert_eq!(other_topic.try_recv(), None);
    // A group that joins later sees only what comes after.
    let mut late = b.subscribe("certified", "explorer").unwrap();
    b.try_publish(&ev(99, 0)).unwrap();
    assert_eq!(drain(late.as_mut()), vec![ev(99, 0)]);
}

#[test]
fn the_bound_is_respected_and_publishing_is_all_or_nothing() {
    let b = bus(1, 3);
    let mut fast = b.subscribe("certified", "fast").unwrap();
    let mut slow = b.subscribe("certified", "slow").unwrap();
    for h in 0..3 {
        b.try_publish(&ev(h, 0)).unwrap();
    }
    assert_eq!(fast.try_recv(), Some(ev(0, 0)));
    let err = b.try_publish(&ev(3, 0)).unwrap_err();
    assert_eq!(
        err,
        BusError::Full {
            topic: "daoli.dc0.certified".into(),
            group: "slow".into(),
            capacity: 3
        }
    );
    // Refused everywhere: the fast group did not get it either.
    assert_eq!(fast.queued(), 2);
    assert_eq!(slow.queued(), 3);
    assert_eq!(slow.try_recv(), Some(ev(0, 0)));
    b.try_publish(&ev(3, 0)).unwrap();
    assert_eq!(drain(slow.as_mut()).len(), 3);
    assert_eq!(drain(fast.as_mut()).len(), 3);
}

#[tokio::test]
async fn publish_waits_for_room() {
    let b = Arc::new(bus(1, 2));
    let mut sub = b.subscribe("certified", "ledger").unwrap();
    b.publish(&ev(0, 0)).await.unwrap();
    b.publish(&ev(1, 0)).await.unwrap();
    let publisher = {
        let b = b.clone();
        tokio::spawn(async move { b.publish(&ev(2, 0)).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!publisher.is_finished(), "held back while the queue is full");
    assert_eq!(sub.recv().await, Some(ev(0, 0)));
    tokio::time::timeout(Duration::from_secs(5), publisher)
        .await
        .expect("released once there is room")
        .unwrap()
        .unwrap();
    assert_eq!(sub.queued(), 2);
}

#[tokio::test]
async fn recv_waits_for_an_event_and_ends_when_the_bus_closes() {
    let b = Arc::new(bus(2, 8));
    let mut sub = b.subscribe("certified", "ledger").unwrap();
    let consumer = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Some(e) = sub.recv().await {
            got.push(e);
        }
        got
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    for h in 0..5 {
        b.publish(&ev(h, 0)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    b.close();
    assert_eq!(b.try_publish(&ev(9, 0)), Err(BusError::Closed));
    let mut got = tokio::time::timeout(Duration::from_secs(5), consumer)
        .await
        .unwrap()
        .unwrap();
    got.sort_by_key(|e| e.height);
    assert_eq!(got, (0..5).map(|h| ev(h, 0)).collect::<Vec<_>>());
}

#[test]
fn a_leaving_member_hands_its_queued_events_over_in_order() {
    let b = bus(4, 100);
    let mut stay = b.subscribe("certified", "ledger").unwrap();
    let leave = b.subscribe("certified", "ledger").unwrap();
    for seq in 0..5 {
        for h in 0..8 {
            b.try_publish(&ev(h, seq)).unwrap();
        }
    }
    assert_eq!(leave.queued(), 20);
    drop(leave);
    let got = drain(stay.as_mut());
    assert_eq!(got.len(), 40, "nothing lost");
    for h in 0..8 {
        let seqs: Vec<u32> = got.iter().filter(|e| e.height == h).map(|e| e.seq).collect();
        assert_eq!(seqs, [0, 1, 2, 3, 4]);
    }
    // The last member leaving drops the group, so it cannot hold publishers back.
    let b = bus(1, 1);
    let only = b.subscribe("certified", "ledger").unwrap();
    b.try_publish(&ev(0, 0)).unwrap();
    drop(only);
    b.try_publish(&ev(1, 0)).unwrap();
}

#[test]
fn each_subscriber_has_a_queue_gauge() {
    let metrics = Metrics::new();
    let b = bus(1, 10);
    b.register(&metrics);
    let _ledger = b.subscribe("certified", "ledger").unwrap();
    let gone = b.subscribe("certified", "lottery").unwrap();
    for h in 0..3 {
        b.try_publish(&ev(h, 0)).unwrap();
    }
    let text = metrics.encode();
    let line = r#"daoli_bus_queue_events{topic="daoli.dc0.certified",group="ledger",member="0"} 3"#;
    assert!(text.contains(line), "{text}");
    assert!(text.contains(r#"group="lottery",member="1"} 3"#), "{text}");
    drop(gone);
    assert!(!metrics.encode().contains("lottery"), "a member's gauge leaves with it");
}
