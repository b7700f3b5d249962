//! Alert rules: which samples breach, at which level.

use crate::config::{AlertField, AlertLevel, AlertRule, AlertsConfig};
use crate::ingest::Sample;
use chrono::TimeDelta;

/// What a sample says about one alert type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reading {
    /// At least one rule of the type is breached; the highest level and its value.
    Breach {
        /// Highest level breached.
        level: AlertLevel,
        /// The value that breached it.
        value: f64,
    },
    /// The sample has a field of the type and breaches none of its rules.
    Normal,
}

/// A rule set that failed to load.
#[derive(Debug, thiserror::Error)]
#[error("alert rule {index} ({alert_type:?}): {reason}")]
pub struct RuleError {
    index: usize,
    alert_type: String,
    reason: &'static str,
}

/// The configured rules, grouped by alert type.
#[derive(Debug, Clone)]
pub struct Rules {
    types: Vec<AlertType>,
    resolve_after: Option<TimeDelta>,
}

#[derive(Debug, Clone)]
struct AlertType {
    name: String,
    rules: Vec<AlertRule>,
}

impl Rules {
    /// Checks and groups the rules of `config`.
    pub fn from_config(config: &AlertsConfig) -> Result<Self, RuleError> {
        let mut types: Vec<AlertType> = Vec::new();
        for (index, rule) in config.rules.iter().enumerate() {
            let error = |reason| RuleError {
                index,
                alert_type: rule.alert_type.clone(),
                reason,
            };
            if rule.alert_type.is_empty() || rule.alert_type.len() > 64 {
                return Err(error("alert_type must be 1 to 64 characters"));
            }
            if rule.above.is_none() && rule.below.is_none() {
                return Err(error("a rule needs `above`, `below` or both"));
            }
            if rule.above.is_some_and(|v| !v.is_finite())
                || rule.below.is_some_and(|v| !v.is_finite())
            {
                return Err(error("bounds must be finite numbers"));
            }
            match types.iter_mut().find(|t| t.name == rule.alert_type) {
                Some(t) => t.rules.push(rule.clone()),
                None => types.push(AlertType {
                    name: rule.alert_type.clone(),
                    rules: vec![rule.clone()],
                }),
            }
        }
        let resolve_after = (config.resolve_after_secs > 0).then(|| {
            TimeDelta::seconds(i64::try_from(config.resolve_after_secs).unwrap_or(i64::MAX / 1000))
        });
        Ok(Self {
            types,
            resolve_after,
        })
    }

    /// Whether there is no rule at all.
    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }

    /// Name of alert type `index` (as [`Rules::check`] numbers them).
    pub fn type_name(&self, index: usize) -> &str {
        &self.types[index].name
    }

    /// Quiet period after which a normal reading resolves an open alert; `None`: never.
    pub fn resolve_after(&self) -> Option<TimeDelta> {
        self.resolve_after
    }

    /// The readings of `sample`, one per alert type it has a field for, numbered by type.
    pub fn check<'a>(&'a self, sample: &'a Sample) -> impl Iterator<Item = (usize, Reading)> + 'a {
        self.types.iter().enumerate().filter_map(|(index, t)| {
            let mut reading = None;
            for rule in &t.rules {
                let Some(value) = field_value(sample, rule.field) else {
                    continue;
                };
                let breached = rule.above.is_some_and(|above| value > above)
                    || rule.below.is_some_and(|below| value < below);
                reading = match (reading, breached) {
                    (Some(Reading::Breach { level, .. }), true) if level >= rule.level => reading,
                    (_, true) => Some(Reading::Breach {
                        level: rule.level,
                        value,
                    }),
                    (None, false) => Some(Reading::Normal),
                    (_, false) => reading,
                };
            }
            reading.map(|r| (index, r))
        })
    }
}

fn field_value(sample: &Sample, field: AlertField) -> Option<f64> {
    match field {
        AlertField::HeartRate => sample.heart_rate.map(f64::from),
        AlertField::BloodOxygen => sample.blood_oxygen.map(f64::from),
        AlertField::Temperature => sample.temperature,
        AlertField::PressureHigh => sample.pressure_high.map(f64::from),
        AlertField::PressureLow => sample.pressure_low.map(f64::from),
        AlertField::Stress => sample.stress.map(f64::from),
    }
}

/// `level` as stored in `t_alert_info.level`.
pub fn level_name(level: AlertLevel) -> &'static str {
    match level {
        AlertLevel::Minor => "minor",
        AlertLevel::Major => "major",
        AlertLevel::Critical => "critical",
    }
}

/// `level` as stored in `t_alert_info.level_rank`.
pub fn level_rank(level: AlertLevel) -> i16 {
    match level {
        AlertLevel::Minor => 1,
        AlertLevel::Major => 2,
        AlertLevel::Critical => 3,
    }
}

/// The level of a stored rank (unknown ranks read as minor).
pub fn level_of_rank(rank: i16) -> AlertLevel {
    match rank {
        3.. => AlertLevel::Critical,
        2 => AlertLevel::Major,
        _ => AlertLevel::Minor,
    }
}

/// A value as stored in `alert_value` / `last_value`: `121`, `38.5`.
pub fn value_text(value: f64) -> String {
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn sample(heart_rate: Option<i32>, blood_oxygen: Option<i32>) -> Sample {
        Sample {
            device_sn: "TEST_0001".to_owned(),
            heart_rate,
            blood_oxygen,
            temperature: None,
            pressure_high: None,
            pressure_low: None,
            stress: None,
            step: None,
            distance: None,
            calorie: None,
            latitude: None,
            longitude: None,
            sleep: None,
            timestamp: Utc::now(),
            upload_method: None,
        }
    }

    fn readings(rules: &Rules, s: &Sample) -> Vec<(String, Reading)> {
        rules
            .check(s)
            .map(|(i, r)| (rules.type_name(i).to_owned(), r))
            .collect()
    }

    #[test]
    fn seed_rules_take_the_highest_level_per_type() {
        let rules = Rules::from_config(&AlertsConfig::default()).expect("default rules load");
        let breach = |level, value| Reading::Breach { level, value };
        assert_eq!(
            readings(&rules, &sample(Some(150), Some(84))),
            vec![
                (
                    "heart_rate_abnormal".to_owned(),
                    breach(AlertLevel::Major, 150.0)
                ),
                (
                    "blood_oxygen_low".to_owned(),
                    breach(AlertLevel::Critical, 84.0)
                ),
            ]
        );
        assert_eq!(
            readings(&rules, &sample(Some(45), None)),
            vec![(
                "heart_rate_abnormal".to_owned(),
                breach(AlertLevel::Minor, 45.0)
            )]
        );
        assert_eq!(
            readings(&rules, &sample(Some(120), Some(90))),
            vec![
                ("heart_rate_abnormal".to_owned(), Reading::Normal),
                ("blood_oxygen_low".to_owned(), Reading::Normal),
            ]
        );
        assert!(readings(&rules, &sample(None, None)).is_empty());
    }

    #[test]
    fn rules_need_a_bound_and_a_type() {
        let mut config = AlertsConfig::default();
        config.rules[0].above = None;
        config.rules[0].below = None;
        assert!(Rules::from_config(&config).is_err());
        let mut config = AlertsConfig::default();
        config.rules[1].alert_type = String::new();
        assert!(Rules::from_config(&config).is_err());
    }

    #[test]
    fn levels_round_trip_through_their_rank() {
        for level in [AlertLevel::Minor, AlertLevel::Major, AlertLevel::Critical] {
            assert_eq!(level_of_rank(level_rank(level)), level);
        }
        assert_eq!(value_text(121.0), "121");
        assert_eq!(value_text(38.5), "38.5");
    }
}
