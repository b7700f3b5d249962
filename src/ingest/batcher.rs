//! Gathering queued items into batches: flush on max items, max bytes, or max age counted
//! from the first item (as Vector's batcher does), and drain what is left at shutdown.

use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout_at};
use tokio_util::sync::CancellationToken;

/// When a batch is complete.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Complete at this many items (rows).
    pub max_items: usize,
    /// Complete at this many bytes.
    pub max_bytes: usize,
    /// Complete this long after the first item arrived.
    pub linger: Duration,
}

/// Something that counts toward the limits.
pub trait Measure {
    /// Items (rows) this entry holds.
    fn items(&self) -> usize;
    /// Bytes this entry holds (an estimate is fine).
    fn bytes(&self) -> usize;
}

/// The next batch from `rx`: waits for a first entry, then gathers until a limit is reached
/// or the linger time passes. After `stop` is cancelled the receiver is closed and what is
/// still queued is handed out without lingering. `None` once the channel is closed and empty.
pub async fn next_batch<T: Measure>(
    rx: &mut mpsc::Receiver<T>,
    limits: Limits,
    stop: &CancellationToken,
) -> Option<Vec<T>> {
    let first = tokio::select! {
        biased;
        item = rx.recv() => item,
        () = stop.cancelled() => {
            rx.close();
            rx.recv().await
        }
    }?;
    let deadline = Instant::now() + limits.linger;
    let (mut items, mut bytes) = (first.items(), first.bytes());
    let mut batch = vec![first];
    while items < limits.max_items && bytes < limits.max_bytes {
        let next = if stop.is_cancelled() {
            // Draining at shutdown: take what is queued, never wait for more.
            rx.close();
            rx.recv().await
        } else {
            tokio::select! {
                biased;
                item = timeout_at(deadline, rx.recv()) => match item {
                    Ok(item) => item,
                    Err(_) => break,
                },
                () = stop.cancelled() => continue,
            }
        };
        let Some(next) = next else { break };
        items += next.items();
        bytes += next.bytes();
        batch.push(next);
    }
    Some(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Measure for usize {
        fn items(&self) -> usize {
            *self
        }
        fn bytes(&self) -> usize {
            *self * 100
        }
    }

    const LIMITS: Limits = Limits {
        max_items: 10,
        max_bytes: 100_000,
        linger: Duration::from_millis(50),
    };

    #[tokio::test(start_paused = true)]
    async fn flushes_when_max_items_reached_without_waiting() {
        let (tx, mut rx) = mpsc::channel(16);
        for n in [4, 4, 4, 1] {
            tx.send(n).await.expect("send");
        }
        let started = Instant::now();
        let batch = next_batch(&mut rx, LIMITS, &CancellationToken::new()).await;
        assert_eq!(batch, Some(vec![4, 4, 4]));
        assert_eq!(started.elapsed(), Duration::ZERO, "no linger once full");
    }

    #[tokio::test(start_paused = true)]
    async fn flushes_on_linger_counted_from_the_first_item() {
        let (tx, mut rx) = mpsc::channel(16);
        tx.send(1).await.expect("send");
        let sender = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            tx.send(2).await.expect("send");
            tokio::time::sleep(Duration::from_millis(40)).await;
            tx.send(3).await.expect("send");
        });
        let started = Instant::now();
        let batch = next_batch(&mut rx, LIMITS, &CancellationToken::new()).await;
        assert_eq!(batch, Some(vec![1, 2]), "3 arrives after the linger");
        assert_eq!(started.elapsed(), Duration::from_millis(50));
        let batch = next_batch(&mut rx, LIMITS, &CancellationToken::new()).await;
        assert_eq!(batch, Some(vec![3]));
        sender.await.expect("sender");
    }

    #[tokio::test(start_paused = true)]
    async fn flushes_on_max_bytes() {
        let limits = Limits {
            max_bytes: 500,
            ..LIMITS
        };
        let (tx, mut rx) = mpsc::channel(16);
        for n in [3, 3, 1] {
            tx.send(n).await.expect("send");
        }
        let batch = next_batch(&mut rx, limits, &CancellationToken::new()).await;
        assert_eq!(batch, Some(vec![3, 3]));
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_drains_without_lingering_then_ends() {
        let (tx, mut rx) = mpsc::channel(16);
        tx.send(1).await.expect("send");
        tx.send(2).await.expect("send");
        let stop = CancellationToken::new();
        stop.cancel();
        let started = Instant::now();
        assert_eq!(next_batch(&mut rx, LIMITS, &stop).await, Some(vec![1, 2]));
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert!(tx.send(3).await.is_err(), "closed to new entries");
        assert_eq!(next_batch(&mut rx, LIMITS, &stop).await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_while_lingering_flushes_at_once() {
        let (tx, mut rx) = mpsc::channel(16);
        tx.send(1).await.expect("send");
        let stop = CancellationToken::new();
        let canceller = {
            let stop = stop.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                stop.cancel();
            })
        };
        let started = Instant::now();
        assert_eq!(next_batch(&mut rx, LIMITS, &stop).await, Some(vec![1]));
        assert_eq!(started.elapsed(), Duration::from_millis(10));
        canceller.await.expect("canceller");
        drop(tx);
    }
}
