//! The bus on a real Apache Kafka broker (`DAOLI_KAFKA=host:port`; `deploy/local/infra.sh
//! start` runs one on 127.0.0.1:19092, and the README's test command starts it): events keep
//! their order and content, a consumer group resumes after the last event whose effect was
//! made durable (not after the last one it received), an event that does not decode is skipped
//! rather than stalling the service, and an unreachable broker stops start-up by name. On the
//! broker's SASL listener (`DAOLI_KAFKA_SASL`), where ACLs apply: each missing permission stops
//! start-up naming the topic or group and the operation, and a wrong password is named.

use daoli_protocol::dcc::Cycle;
use daoli_protocol::roles::{Event, Phase};
use daoli_runtime::bus::kafka::{KafkaBus, KafkaBusError, KafkaOptions};
use daoli_runtime::bus::{Bus, BusError, Subscriber};
use daoli_runtime::host::RoleEvent;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::sync::Arc;
use std::time::Duration;

fn brokers() -> String {
    std::env::var("DAOLI_KAFKA").unwrap_or_else(|_| {
        panic!("DAOLI_KAFKA is not set: these tests need a real broker (deploy/local/infra.sh start, then DAOLI_KAFKA=127.0.0.1:19092)")
    })
}

/// A datacenter name no other run has used, so topics and groups start empty.
fn fresh_dc(what: &str) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("t{what}{t}")
}

fn cycle(h: u64) -> RoleEvent {
    RoleEvent(Arc::new(Event::Cycle(Cycle {
        height: h,
        start: 1_764_000_000_000 + h,
        length: 1_000,
    })))
}

async fn next(s: &mut Box<dyn Subscriber<RoleEvent>>) -> Event {
    tokio::time::timeout(Duration::from_secs(30), s.recv())
        .await
        .expect("an event within 30 s")
        .map(|e| (*e.0).clone())
        .expect("the bus is open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_keep_order_and_a_group_resumes_after_what_it_made_durable() {
    let dc = fresh_dc("order");
    let bus = KafkaBus::connect(&dc, KafkaOptions::new(&brokers()))
        .await
        .expect("connects");
    assert_eq!(bus.topic("events"), format!("daoli.{dc}.events"));
    for h in 1..=20 {
        if h % 2 == 0 {
            bus.publish(&cycle(h)).await.expect("delivered");
        } else {
            bus.try_publish(&cycle(h)).expect("queued");
        }
    }
    bus.publish(&RoleEvent(Arc::new(Event::Phase(21, Phase::Throttle))))
        .await
        .expect("delivered");

    // Two groups each see every event, in order.
    let mut a = bus.subscribe("events", "kernel-buffer").expect("joins");
    let mut b = bus.subscribe("events", "ledger").expect("joins");
    for h in 1..=20 {
        let want = (*cycle(h).0).clone();
        assert_eq!(next(&mut a).await, want);
        assert_eq!(next(&mut b).await, want);
    }
    assert_eq!(next(&mut b).await, Event::Phase(21, Phase::Throttle));
    // Group a made events 1..=10 durable and received 11..=20 without doing so; it stops.
    drop(a);
    let mut a = bus.subscribe("events", "kernel-buffer").expect("joins again");
    for h in 1..=10 {
        assert_eq!(next(&mut a).await, (*cycle(h).0).clone());
        a.commit();
    }
    drop(a);
    // Restarted, it sees again exactly what it had not made durable.
    let mut a = bus.subscribe("events", "kernel-buffer").expect("joins again");
    assert_eq!(
        next(&mut a).await,
        (*cycle(11).0).clone(),
        "resumes after the last commit"
    );
    assert_eq!(bus.failed_deliveries(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_does_not_decode_is_skipped_not_fatal() {
    let dc = fresh_dc("garbage");
    let bus = KafkaBus::connect(&dc, KafkaOptions::new(&brokers()))
        .await
        .expect("connects");
    let topic = bus.topic("events");
    // Someone else writes garbage into the stream.
    let raw: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .expect("a raw producer");
    raw.send(BaseRecord::<[u8], [u8]>::to(&topic).payload(&[0xff, 0x01, 0x02][..]))
        .map_err(|(e, _)| e)
        .expect("sent");
    raw.flush(Duration::from_secs(10)).expect("flushed");
    bus.publish(&cycle(5)).await.expect("delivered");
    let mut s = bus.subscribe("events", "lottery").expect("joins");
    assert_eq!(next(&mut s).await, (*cycle(5).0).clone(), "the garbage is skipped");
    assert_eq!(bus.undecodable(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_stops_start_up_by_name() {
    let mut opts = KafkaOptions::new("127.0.0.1:1");
    opts.timeout = Duration::from_secs(2);
    let e = KafkaBus::connect(&fresh_dc("down"), opts)
        .await
        .expect_err("nothing listens there");
    assert!(matches!(e, KafkaBusError::Unreachable { .. }), "{e}");
    assert!(e.to_string().contains("127.0.0.1:1"), "{e}");
}

/// A topic an operator made is used as it is, unless it breaks the one order the roles need.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_topic_is_used_if_it_has_one_partition() {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .unwrap();
    let (good, bad) = (fresh_dc("opgood"), fresh_dc("opbad"));
    let topics = [format!("daoli.{good}.events"), format!("daoli.{bad}.events")];
    let made = admin
        .create_topics(
            [
                &NewTopic::new(&topics[0], 1, TopicReplication::Fixed(1)),
                &NewTopic::new(&topics[1], 3, TopicReplication::Fixed(1)),
            ],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    assert!(made.iter().all(Result::is_ok), "{made:?}");
    let bus = KafkaBus::connect(&good, KafkaOptions::new(&brokers()))
        .await
        .expect("used as it is");
    bus.publish(&cycle(1)).await.expect("delivered");
    let e = KafkaBus::connect(&bad, KafkaOptions::new(&brokers()))
        .await
        .expect_err("three partitions would reorder events");
    assert!(matches!(e, KafkaBusError::Topic { .. }), "{e}");
    assert!(
        e.to_string().contains("3 partitions") && e.to_string().contains(&topics[1]),
        "{e}"
    );
}

/// The SASL listener of the test broker, where ACLs apply (deploy/local/infra.sh's header
/// lists its users; each one's password is its name followed by "-password").
fn sasl_brokers() -> String {
    std::env::var("DAOLI_KAFKA_SASL").unwrap_or_else(|_| {
        panic!("DAOLI_KAFKA_SASL is not set: these tests need the broker's SASL listener (deploy/local/infra.sh start, then DAOLI_KAFKA_SASL=127.0.0.1:19094)")
    })
}

fn as_user(user: &str) -> KafkaOptions {
    let mut o = KafkaOptions::new(&sasl_brokers());
    o.extra = [
        ("security.protocol", "sasl_plaintext".to_string()),
        ("sasl.mechanism", "PLAIN".into()),
        ("sasl.username", user.into()),
        ("sasl.password", format!("{user}-password")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    o
}

/// A datacenter whose topic exists (made by a super user) with one event in it.
async fn existing_dc(what: &str) -> String {
    let dc = fresh_dc(what);
    let bus = KafkaBus::connect(&dc, KafkaOptions::new(&brokers()))
        .await
        .expect("a super user makes the topic");
    bus.publish(&cycle(1)).await.expect("delivered");
    dc
}

/// `connect` as `user` fails with NotAllowed for `operation`, naming the topic.
async fn refused(user: &str, dc: &str, operation: &str) -> String {
    let e = KafkaBus::connect(dc, as_user(user))
        .await
        .map(drop)
        .expect_err("a missing permission stops start-up");
    let msg = e.to_string();
    assert!(
        matches!(&e, KafkaBusError::NotAllowed { operation: o, .. } if *o == operation),
        "{user}: want {operation}: {msg}"
    );
    assert!(msg.contains(&format!("daoli.{dc}.events")), "names the topic: {msg}");
    assert!(msg.contains(&format!("not allowed to {operation} it")), "{msg}");
    msg
}

// Each permission a service needs, missing in turn, stops start-up by topic and operation:
// none at all (describe), no CREATE on a new topic, no WRITE, no READ.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_topic_permission_stops_start_up_naming_topic_and_operation() {
    refused("daoli-none", &fresh_dc("none"), "describe").await;
    refused("daoli-ro", &fresh_dc("nocreate"), "create").await;
    refused("daoli-ro", &existing_dc("nowrite").await, "write").await;
    refused("daoli-noread", &existing_dc("noread").await, "read").await;
    // With every topic permission, the bus starts (and the super user's login works).
    let dc = existing_dc("full").await;
    KafkaBus::connect(&dc, as_user("daoli-nogroup"))
        .await
        .expect("describe, write and read are allowed");
    KafkaBus::connect(&fresh_dc("super"), as_user("daoli"))
        .await
        .expect("a super user logs in over SASL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_kafka_password_is_named_at_start_up() {
    let mut o = as_user("daoli");
    o.extra.retain(|(k, _)| k != "sasl.password");
    o.extra.push(("sasl.password".into(), "not-the-password".into()));
    o.timeout = Duration::from_secs(5);
    let e = KafkaBus::connect(&fresh_dc("pw"), o).await.map(drop).unwrap_err();
    assert!(matches!(e, KafkaBusError::NotAuthenticated { .. }), "{e}");
    assert!(!e.to_string().contains("not-the-password"), "{e}");
}

// A service whose user may not use its consumer group stops when it subscribes (at start-up),
// naming the group; one that may look at the group but not join it is stopped by its first
// receive instead of retrying for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_group_permission_stops_the_subscription_naming_the_group() {
    let dc = existing_dc("nogroup").await;
    let bus = KafkaBus::connect(&dc, as_user("daoli-nogroup"))
        .await
        .expect("topic permissions are enough to connect");
    let e = bus.subscribe("events", "ledger").map(drop).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, BusError::NotAllowed { .. }), "{msg}");
    assert!(
        msg.contains(&format!(
            "Kafka consumer group daoli.{dc}.ledger: not allowed to describe it"
        )),
        "{msg}"
    );

    let bus = KafkaBus::connect(&dc, as_user("daoli-nojoin")).await.expect("connects");
    let mut s = bus.subscribe("events", "ledger").expect("may describe the group");
    let ended = tokio::time::timeout(Duration::from_secs(30), s.recv())
        .await
        .expect("the receive ends rather than retrying");
    assert!(ended.is_none(), "no event without the group");
    let e = s.failure().expect("why it ended");
    assert!(
        matches!(&e, BusError::NotAllowed { resource, .. } if resource.contains(&format!("daoli.{dc}.ledger"))),
        "{e}"
    );
}

// Every start-up writes a probe record into the stream; consumers skip it without counting it
// as undecodable, and a probe behind an event whose effect is not durable yet does not move
// the group past that event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_records_are_skipped_without_moving_the_group_past_an_unsettled_event() {
    let dc = fresh_dc("probe");
    let first = KafkaBus::connect(&dc, KafkaOptions::new(&brokers()))
        .await
        .expect("connects");
    first.publish(&cycle(1)).await.expect("delivered");
    first.publish(&cycle(2)).await.expect("delivered");
    // Another service starts: its probe lands between events 2 and 3.
    let second = KafkaBus::connect(&dc, KafkaOptions::new(&brokers()))
        .await
        .expect("connects");
    second.publish(&cycle(3)).await.expect("delivered");

    let mut s = first.subscribe("events", "ledger").expect("joins");
    assert_eq!(next(&mut s).await, (*cycle(1).0).clone());
    s.commit();
    assert_eq!(next(&mut s).await, (*cycle(2).0).clone());
    // Event 2 is not durable; the probe after it is skipped; event 3 comes.
    assert_eq!(next(&mut s).await, (*cycle(3).0).clone());
    drop(s);
    let mut s = first.subscribe("events", "ledger").expect("joins again");
    assert_eq!(
        next(&mut s).await,
        (*cycle(2).0).clone(),
        "resumes at the event it had not made durable, not past the probe"
    );
    assert_eq!(first.undecodable() + second.undecodable(), 0);
}
