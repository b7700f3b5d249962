//! The vital signs (and activity) the read side reports one by one: in FHIR, in Open mHealth,
//! on the wearer's page.

use super::Sample;

/// One measurement of a sample, as the read side names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Vital {
    /// `heartRate`, beats per minute.
    HeartRate,
    /// `bloodOxygen`, SpO2 in percent.
    BloodOxygen,
    /// `temperature`, °C.
    Temperature,
    /// `pressureHigh` and `pressureLow`, mmHg, as one blood pressure.
    BloodPressure,
    /// `step`: the watch's running step count for the day.
    Steps,
}

impl Vital {
    /// Every one, in the order the read side lists them.
    pub const ALL: [Vital; 5] = [
        Vital::HeartRate,
        Vital::BloodOxygen,
        Vital::Temperature,
        Vital::BloodPressure,
        Vital::Steps,
    ];

    /// Whether `sample` holds this measurement (blood pressure: both values).
    pub fn present_in(self, sample: &Sample) -> bool {
        match self {
            Vital::HeartRate => sample.heart_rate.is_some(),
            Vital::BloodOxygen => sample.blood_oxygen.is_some(),
            Vital::Temperature => sample.temperature.is_some(),
            Vital::BloodPressure => sample.pressure_high.is_some() && sample.pressure_low.is_some(),
            Vital::Steps => sample.step.is_some(),
        }
    }

    /// The `t_user_health_data` columns that must not be null for it.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Vital::HeartRate => &["heart_rate"],
            Vital::BloodOxygen => &["blood_oxygen"],
            Vital::Temperature => &["temperature"],
            Vital::BloodPressure => &["pressure_high", "pressure_low"],
            Vital::Steps => &["step"],
        }
    }

    /// A short stable name (`hr`, `spo2`, `temp`, `bp`, `steps`), used in resource ids.
    pub fn short(self) -> &'static str {
        match self {
            Vital::HeartRate => "hr",
            Vital::BloodOxygen => "spo2",
            Vital::Temperature => "temp",
            Vital::BloodPressure => "bp",
            Vital::Steps => "steps",
        }
    }

    /// The vital named by [`Vital::short`].
    pub fn from_short(name: &str) -> Option<Vital> {
        Vital::ALL.into_iter().find(|v| v.short() == name)
    }
}
