//! Reading request bodies at the edge: within a size limit, at a minimum pace, and — for
//! uploads — within a memory budget shared by every connection. Nothing is allocated for a
//! declared `Content-Length` before its bytes arrive.

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Capacity a body buffer starts with; it grows as bytes arrive.
const INITIAL_CAPACITY: usize = 16 * 1024;

/// The pace a body must keep.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Time a body may take before the minimum rate applies; also the longest pause.
    pub grace: Duration,
    /// Bytes per second a body must average once `grace` has passed.
    pub min_bytes_per_sec: u64,
}

impl Pace {
    /// By when the body must have delivered `received` bytes, or have ended: `grace` after
    /// the start plus the time `received` takes at the minimum rate, and no more than
    /// `grace` after the last bytes.
    fn deadline(&self, started: Instant, last: Instant, received: usize) -> Instant {
        let rate = self.min_bytes_per_sec.max(1) as f64;
        let at_rate = started + self.grace + Duration::from_secs_f64(received as f64 / rate);
        at_rate.min(last + self.grace)
    }
}

/// Bytes of upload bodies being received, over all connections.
#[derive(Debug, Clone)]
pub struct ReadBudget {
    bytes: Arc<Semaphore>,
    capacity: usize,
    /// How long a body waits for room before the upload is refused.
    wait: Duration,
}

impl ReadBudget {
    /// A budget of `capacity` bytes; a chunk waits up to `wait` for room.
    pub fn new(capacity: usize, wait: Duration) -> Self {
        let capacity = capacity.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            bytes: Arc::new(Semaphore::new(capacity)),
            capacity,
            wait,
        }
    }

    /// Bytes of the budget in use now.
    pub fn in_use(&self) -> usize {
        self.capacity - self.bytes.available_permits()
    }
}

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Larger than the limit.
    TooLarge,
    /// Slower than its pace: cut off.
    TooSlow,
    /// The client broke the body off or sent it malformed.
    Broken,
    /// No room in the read budget.
    Busy,
}

/// A body read whole, and the room it holds in the read budget until dropped.
#[derive(Debug)]
pub struct ReadBody {
    /// The bytes.
    pub bytes: Bytes,
    /// Its share of the read budget.
    pub _budget: Option<OwnedSemaphorePermit>,
}

/// Reads `body` whole at `pace`. More than `limit` bytes is [`BodyError::TooLarge`], and no
/// room in the `budget` (each chunk takes its room first) is [`BodyError::Busy`], but only
/// once the body ended or passed `drain_to` bytes: the rest is read and dropped, because a
/// client still sending when the answer comes would see a broken pipe instead of it.
pub async fn read(
    body: poem::Body,
    limit: usize,
    drain_to: usize,
    pace: Pace,
    budget: Option<&ReadBudget>,
) -> Result<ReadBody, BodyError> {
    let started = Instant::now();
    let mut last = started;
    let mut stream = body.into_bytes_stream();
    let mut buf = BytesMut::new();
    let mut seen = 0usize;
    let mut held: Option<OwnedSemaphorePermit> = None;
    let mut refused = None;
    loop {
        let deadline = pace.deadline(started, last, seen);
        let chunk = match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => return Err(BodyError::TooSlow),
            Ok(None) => break,
            Ok(Some(Err(_))) => return Err(BodyError::Broken),
            Ok(Some(Ok(chunk))) => chunk,
        };
        last = Instant::now();
        seen = seen.saturating_add(chunk.len());
        if seen > limit && refused.is_none() {
            refused = Some(BodyError::TooLarge);
        }
        if let Some(refused) = refused {
            if seen > drain_to.max(limit) {
                return Err(refused);
            }
            // Draining towards the answer: nothing more is kept.
            buf = BytesMut::new();
            held = None;
            continue;
        }
        if let Some(budget) = budget {
            let want = u32::try_from(chunk.len().min(budget.capacity)).unwrap_or(u32::MAX);
            let room = Arc::clone(&budget.bytes).acquire_many_owned(want);
            match tokio::time::timeout(budget.wait, room).await {
                Ok(Ok(permit)) => match &mut held {
                    Some(held) => held.merge(permit),
                    None => held = Some(permit),
                },
                _ => {
                    refused = Some(BodyError::Busy);
                    continue;
                }
            }
        }
        if buf.is_empty() {
            buf.reserve(chunk.len().max(INITIAL_CAPACITY).min(limit));
        }
        buf.extend_from_slice(&chunk);
    }
    if let Some(refused) = refused {
        return Err(refused);
    }
    Ok(ReadBody {
        bytes: buf.freeze(),
        _budget: held,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;

    const PACE: Pace = Pace {
        grace: Duration::from_secs(10),
        min_bytes_per_sec: 100,
    };

    fn chunked(chunks: Vec<(u64, &'static [u8])>) -> poem::Body {
        let s = stream::iter(chunks).then(|(delay_ms, bytes)| async move {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            Ok::<_, std::io::Error>(Bytes::from_static(bytes))
        });
        poem::Body::from_bytes_stream(s)
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_at_pace_is_read_whole() {
        // 2100 bytes in 18 s: above 100 bytes/s over the whole, pauses under 10 s.
        let body = chunked(vec![
            (0, &[b'a'; 1500][..]),
            (9_000, &[b'b'; 500]),
            (9_000, b"cd"),
        ]);
        let read = read(body, 5000, 5000, PACE, None).await.expect("read");
        assert_eq!(read.bytes.len(), 2002);
        assert!(read.bytes.ends_with(b"bcd"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickle_is_cut_off_once_below_the_rate() {
        // A byte every 5 s: never a 10 s pause, but far below 100 bytes/s.
        let chunks = (0..100).map(|_| (5_000, &b"x"[..])).collect();
        let started = Instant::now();
        let err = read(chunked(chunks), 1000, 2000, PACE, None).await.err();
        assert_eq!(err, Some(BodyError::TooSlow));
        assert!(
            started.elapsed() < Duration::from_secs(11),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_pause_is_cut_off() {
        let body = chunked(vec![(0, &[b'x'; 2000][..]), (10_500, b"late")]);
        assert_eq!(
            read(body, 5000, 5000, PACE, None).await.err(),
            Some(BodyError::TooSlow)
        );
    }

    #[tokio::test]
    async fn too_large_is_told_after_draining_and_nothing_waits_on_the_declared_length() {
        let big = poem::Body::from_vec(vec![b'x'; 300]);
        assert_eq!(
            read(big, 100, 1000, PACE, None).await.err(),
            Some(BodyError::TooLarge)
        );
        let huge = poem::Body::from_vec(vec![b'x'; 3000]);
        assert_eq!(
            read(huge, 100, 1000, PACE, None).await.err(),
            Some(BodyError::TooLarge)
        );
    }

    #[tokio::test]
    async fn the_budget_is_held_while_the_body_lives() {
        let budget = ReadBudget::new(1000, Duration::from_millis(20));
        let first = read(
            poem::Body::from_vec(vec![b'x'; 600]),
            1000,
            1000,
            PACE,
            Some(&budget),
        )
        .await
        .expect("fits");
        assert_eq!(budget.in_use(), 600);
        let second = read(
            poem::Body::from_vec(vec![b'x'; 600]),
            1000,
            1000,
            PACE,
            Some(&budget),
        )
        .await;
        assert_eq!(second.err(), Some(BodyError::Busy));
        drop(first);
        assert_eq!(budget.in_use(), 0);
    }
}
