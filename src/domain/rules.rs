//! Alert rules: which samples breach, at which level.

use super::alert::AlertLevel;
use super::sample::Sample;
use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

/// One alert rule: a sample breaches it when its `field` is above `above` or below `below`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    /// The sample field checked.
    pub field: AlertField,
    /// Breach when the value is strictly greater. Unset: no upper bound.
    #[serde(default)]
    pub above: Option<f64>,
    /// Breach when the value is strictly smaller. Unset: no lower bound.
    #[serde(default)]
    pub below: Option<f64>,
    /// Level of the alert raised.
    pub level: AlertLevel,
    /// Alert type written to `t_alert_info.alert_type`, e.g. `heart_rate_abnormal`. Rules
    /// of one type form one episode; the highest breached level wins.
    pub alert_type: String,
}

impl AlertRule {
    /// The seed's `check_health_alert_single` thresholds.
    pub fn seed_defaults() -> Vec<AlertRule> {
        let rule = |field, above, below, level, alert_type: &str| AlertRule {
            field,
            above,
            below,
            level,
            alert_type: alert_type.to_owned(),
        };
        vec![
            rule(
                AlertField::HeartRate,
                Some(120.0),
                Some(50.0),
                AlertLevel::Minor,
                "heart_rate_abnormal",
            ),
            rule(
                AlertField::HeartRate,
                Some(140.0),
                Some(40.0),
                AlertLevel::Major,
                "heart_rate_abnormal",
            ),
            rule(
                AlertField::BloodOxygen,
                None,
                Some(90.0),
                AlertLevel::Major,
                "blood_oxygen_low",
            ),
            rule(
                AlertField::BloodOxygen,
                None,
                Some(85.0),
                AlertLevel::Critical,
                "blood_oxygen_low",
            ),
        ]
    }
}

/// A sample field an alert rule can check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertField {
    /// Beats per minute.
    HeartRate,
    /// SpO2 in percent.
    BloodOxygen,
    /// Body temperature in °C.
    Temperature,
    /// Systolic blood pressure in mmHg.
    PressureHigh,
    /// Diastolic blood pressure in mmHg.
    PressureLow,
    /// Stress index 0–100.
    Stress,
}

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
    /// Checks and groups `rules`; a normal reading `resolve_after_secs` after the last
    /// breach resolves an open alert (`0`: never).
    pub fn new(rules: &[AlertRule], resolve_after_secs: u64) -> Result<Self, RuleError> {
        let mut types: Vec<AlertType> = Vec::new();
        for (index, rule) in rules.iter().enumerate() {
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
        let resolve_after = (resolve_after_secs > 0).then(|| {
            TimeDelta::seconds(i64::try_from(resolve_after_secs).unwrap_or(i64::MAX / 1000))
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
        let rules = Rules::new(&AlertRule::seed_defaults(), 0).expect("default rules load");
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
        let mut rules = AlertRule::seed_defaults();
        rules[0].above = None;
        rules[0].below = None;
        assert!(Rules::new(&rules, 0).is_err());
        let mut rules = AlertRule::seed_defaults();
        rules[1].alert_type = String::new();
        assert!(Rules::new(&rules, 0).is_err());
    }

    #[test]
    fn levels_round_trip_through_their_rank() {
        for level in [AlertLevel::Minor, AlertLevel::Major, AlertLevel::Critical] {
            assert_eq!(AlertLevel::of_rank(level.rank()), level);
        }
        assert_eq!(value_text(121.0), "121");
        assert_eq!(value_text(38.5), "38.5");
    }
}
