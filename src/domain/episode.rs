//! One alert per episode: how a device's readings of one alert type, in sample-time order,
//! change its open alert. Pure logic; the store runs the plan inside the commit transaction.

use super::alert::AlertLevel;
use super::rules::Reading;
use chrono::{DateTime, TimeDelta, Utc};

/// The open alert of a device and type, as stored (locked for the transaction).
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAlert {
    /// `t_alert_info.id`.
    pub id: i64,
    /// Current level.
    pub level: AlertLevel,
    /// Breaching samples so far.
    pub occurrences: i32,
    /// Sample time of the latest breach.
    pub last_at: DateTime<Utc>,
}

/// One committed reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// Sample time.
    pub at: DateTime<Utc>,
    /// What it says.
    pub reading: Reading,
}

/// State of an episode after the readings.
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    /// Highest level reached.
    pub level: AlertLevel,
    /// Breaching samples in all.
    pub occurrences: i32,
    /// First breach (value, time): only for a new episode.
    pub first: (f64, DateTime<Utc>),
    /// Latest breach by sample time, when these readings brought a newer one than stored.
    pub last: Option<(f64, DateTime<Utc>)>,
    /// Sample time of the normal reading that ended the episode after the quiet period.
    pub resolved_at: Option<DateTime<Utc>>,
}

/// A change to write.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A new alert (notify "opened").
    Open(Episode),
    /// The open alert `id` changed; `escalated` when its level rose (notify "escalated").
    Update {
        /// `t_alert_info.id`.
        id: i64,
        /// The episode now; `last` is the stored one when no newer breach arrived.
        episode: Episode,
        /// Whether the level rose.
        escalated: bool,
    },
}

/// Plans the changes `observations` (sorted by time) make to `open`, resolving after
/// `resolve_after` of quiet when set. An episode that ends starts a new one on the next
/// breach.
pub fn plan(
    open: Option<OpenAlert>,
    observations: &[Observation],
    resolve_after: Option<TimeDelta>,
) -> Vec<Change> {
    let mut changes = Vec::new();
    // The episode being built: Some(id) for the stored alert, None for a new one; its
    // latest breach time; whether it escalated.
    let mut current: Option<(Option<i64>, Episode, DateTime<Utc>, bool)> = open.map(|o| {
        let episode = Episode {
            level: o.level,
            occurrences: o.occurrences,
            first: (0.0, o.last_at),
            last: None,
            resolved_at: None,
        };
        (Some(o.id), episode, o.last_at, false)
    });
    let mut touched = false;
    for obs in observations {
        match obs.reading {
            Reading::Breach { level, value } => match &mut current {
                Some((_, episode, last_at, escalated)) => {
                    episode.occurrences = episode.occurrences.saturating_add(1);
                    if level > episode.level {
                        episode.level = level;
                        *escalated = true;
                    }
                    if obs.at >= *last_at {
                        *last_at = obs.at;
                        episode.last = Some((value, obs.at));
                    }
                    touched = true;
                }
                None => {
                    current = Some((
                        None,
                        Episode {
                            level,
                            occurrences: 1,
                            first: (value, obs.at),
                            last: Some((value, obs.at)),
                            resolved_at: None,
                        },
                        obs.at,
                        false,
                    ));
                    touched = true;
                }
            },
            Reading::Normal => {
                let quiet = resolve_after.zip(current.as_ref());
                if let Some((after, (_, _, last_at, _))) = quiet
                    && obs.at - *last_at >= after
                    && let Some((id, mut episode, _, escalated)) = current.take()
                {
                    episode.resolved_at = Some(obs.at);
                    changes.push(finish(id, episode, escalated));
                    touched = false;
                }
            }
        }
    }
    if touched && let Some((id, episode, _, escalated)) = current {
        changes.push(finish(id, episode, escalated));
    }
    changes
}

fn finish(id: Option<i64>, episode: Episode, escalated: bool) -> Change {
    match id {
        Some(id) => Change::Update {
            id,
            episode,
            escalated,
        },
        None => Change::Open(episode),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0)
            .single()
            .expect("valid time")
    }

    fn breach(secs: i64, level: AlertLevel, value: f64) -> Observation {
        Observation {
            at: at(secs),
            reading: Reading::Breach { level, value },
        }
    }

    fn normal(secs: i64) -> Observation {
        Observation {
            at: at(secs),
            reading: Reading::Normal,
        }
    }

    #[test]
    fn breaches_without_an_open_alert_open_one_episode() {
        let changes = plan(
            None,
            &[
                breach(0, AlertLevel::Minor, 121.0),
                normal(1),
                breach(2, AlertLevel::Major, 141.0),
            ],
            None,
        );
        assert_eq!(
            changes,
            vec![Change::Open(Episode {
                level: AlertLevel::Major,
                occurrences: 2,
                first: (121.0, at(0)),
                last: Some((141.0, at(2))),
                resolved_at: None,
            })]
        );
    }

    #[test]
    fn an_open_alert_is_updated_and_escalates_only_upwards() {
        let open = OpenAlert {
            id: 7,
            level: AlertLevel::Major,
            occurrences: 3,
            last_at: at(10),
        };
        let changes = plan(
            Some(open.clone()),
            &[breach(5, AlertLevel::Minor, 125.0)],
            None,
        );
        let Some(Change::Update {
            id: 7,
            episode,
            escalated: false,
        }) = changes.first()
        else {
            panic!("expected an update, got {changes:?}");
        };
        assert_eq!(episode.occurrences, 4);
        assert_eq!(episode.level, AlertLevel::Major);
        // A late sample does not replace the latest breach.
        assert_eq!(episode.last, None);

        let changes = plan(Some(open), &[breach(11, AlertLevel::Critical, 35.0)], None);
        assert!(matches!(
            changes.as_slice(),
            [Change::Update { escalated: true, episode, .. }]
                if episode.level == AlertLevel::Critical && episode.last == Some((35.0, at(11)))
        ));
    }

    #[test]
    fn normal_readings_alone_change_nothing_without_hysteresis() {
        let open = OpenAlert {
            id: 1,
            level: AlertLevel::Minor,
            occurrences: 1,
            last_at: at(0),
        };
        assert!(plan(Some(open), &[normal(10_000)], None).is_empty());
    }

    #[test]
    fn a_quiet_period_resolves_and_the_next_breach_opens_anew() {
        let open = OpenAlert {
            id: 1,
            level: AlertLevel::Minor,
            occurrences: 1,
            last_at: at(0),
        };
        let quiet = Some(TimeDelta::seconds(60));
        // Not quiet long enough.
        assert!(plan(Some(open.clone()), &[normal(59)], quiet).is_empty());
        let changes = plan(
            Some(open),
            &[normal(60), breach(61, AlertLevel::Minor, 122.0)],
            quiet,
        );
        assert_eq!(changes.len(), 2);
        assert!(matches!(
            &changes[0],
            Change::Update { id: 1, episode, .. } if episode.resolved_at == Some(at(60))
        ));
        assert!(matches!(
            &changes[1],
            Change::Open(episode) if episode.first == (122.0, at(61)) && episode.resolved_at.is_none()
        ));
    }
}
