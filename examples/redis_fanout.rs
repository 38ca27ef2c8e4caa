//! Redis on the fan-out of `huddle bench fanout`, for BENCHMARKS.md: M
//! members each on their own connection, one sender at a steady rate, each
//! message carrying its send time; deliveries a second and end-to-end
//! latency. Run by `scripts/bench.sh` against a redis-server it starts.
//!
//! ```sh
//! cargo run --release --example redis_fanout -- pubsub 100 1000 5 redis://127.0.0.1:6399/
//! cargo run --release --example redis_fanout -- xread  100 1000 5 redis://127.0.0.1:6399/
//! ```
//!
//! `pubsub`: SUBSCRIBE / PUBLISH (nothing stored). `xread`: each member
//! blocks in XREAD on a stream the sender XADDs to (stored, with the server's
//! appendfsync setting). Each member is a thread blocking on its connection.

use hdrhistogram::Histogram;
use redis::Commands;
use redis::streams::{StreamReadOptions, StreamReadReply};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const KEY: &str = "huddle-fanout";

fn main() -> redis::RedisResult<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: redis_fanout pubsub|xread MEMBERS RATE SECONDS [REDIS_URL]";
    let mode = args.get(1).expect(usage).clone();
    let members: usize = args.get(2).and_then(|a| a.parse().ok()).expect(usage);
    let rate: u64 = args.get(3).and_then(|a| a.parse().ok()).expect(usage);
    let seconds: f64 = args.get(4).and_then(|a| a.parse().ok()).expect(usage);
    let url = args.get(5).cloned().unwrap_or_else(|| "redis://127.0.0.1:6379/".into());
    let client = redis::Client::open(url)?;
    let _: () = client.get_connection()?.del(KEY)?;

    let start = Instant::now();
    let ready = Arc::new(Barrier::new(members + 1));
    let (latencies, received) = mpsc::channel::<u64>();
    for _ in 0..members {
        let (client, ready, latencies, mode) = (client.clone(), ready.clone(), latencies.clone(), mode.clone());
        std::thread::spawn(move || -> redis::RedisResult<()> {
            let mut connection = client.get_connection()?;
            let elapsed = || start.elapsed().as_micros() as u64;
            if mode == "pubsub" {
                let mut pubsub = connection.as_pubsub();
                pubsub.subscribe(KEY)?;
                ready.wait();
                loop {
                    let sent: u64 = pubsub.get_message()?.get_payload()?;
                    if latencies.send(elapsed().saturating_sub(sent)).is_err() {
                        return Ok(());
                    }
                }
            }
            let mut last = "$".to_owned();
            ready.wait();
            let options = StreamReadOptions::default().block(0);
            loop {
                let reply: Option<StreamReadReply> = connection.xread_options(&[KEY], &[&last], &options)?;
                for entry in reply.into_iter().flat_map(|reply| reply.keys).flat_map(|key| key.ids) {
                    let sent: u64 = entry.get("t").unwrap_or(0);
                    last = entry.id;
                    if latencies.send(elapsed().saturating_sub(sent)).is_err() {
                        return Ok(());
                    }
                }
            }
        });
    }
    drop(latencies);
    ready.wait();

    let mut sender = client.get_connection()?;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let duration = Duration::from_secs_f64(seconds);
    let sending_started = Instant::now();
    let mut next = sending_started;
    let mut sent = 0u64;
    while sending_started.elapsed() < duration {
        let now_us = start.elapsed().as_micros() as u64;
        if mode == "pubsub" {
            let _: i64 = sender.publish(KEY, now_us)?;
        } else {
            let _: String = sender.xadd(KEY, "*", &[("t", now_us)])?;
        }
        sent += 1;
        next += interval;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }

    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
    let expected = sent * members as u64;
    let drain_until = Instant::now() + Duration::from_secs(2);
    while histogram.len() < expected {
        match received.recv_timeout(drain_until.saturating_duration_since(Instant::now())) {
            Ok(latency) => histogram.saturating_record(latency.max(1)),
            Err(_) => break,
        }
    }
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "redis-{mode:<7} {members:>4} members, {rate} sent/s {:>10.0} deliveries/s   p50 {:>8.3} ms  p99 {:>8.3} ms  p99.9 {:>8.3} ms   ({} of {expected} delivered)",
        histogram.len() as f64 / seconds,
        ms(0.5),
        ms(0.99),
        ms(0.999),
        histogram.len()
    );
    std::process::exit(0)
}
