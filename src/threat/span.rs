//! Time spans in the rule file: `90s`, `10m`, `1h`, `1d`, or a plain number of seconds.
//!
//! Windows are written the way fail2ban's `findtime` and Wazuh's `timeframe` are documented,
//! so a rule can be copied from those sources without converting units by hand.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A positive duration in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span(pub i64);

impl Span {
    pub fn secs(s: i64) -> Self {
        Self(s * 1000)
    }

    pub fn ms(self) -> i64 {
        self.0
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.0 / 1000;
        if self.0 % 1000 != 0 {
            write!(f, "{}ms", self.0)
        } else if s % 86_400 == 0 {
            write!(f, "{}d", s / 86_400)
        } else if s % 3600 == 0 {
            write!(f, "{}h", s / 3600)
        } else if s % 60 == 0 {
            write!(f, "{}m", s / 60)
        } else {
            write!(f, "{s}s")
        }
    }
}

impl std::str::FromStr for Span {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: f64 = num
            .parse()
            .map_err(|_| format!("bad time span '{text}': expected e.g. 90s, 10m, 1h, 1d"))?;
        let mult = match unit.trim() {
            "" | "s" => 1000.0,
            "ms" => 1.0,
            "m" | "min" => 60_000.0,
            "h" => 3_600_000.0,
            "d" => 86_400_000.0,
            other => {
                return Err(format!(
                    "bad time span '{text}': unknown unit '{other}' (use ms, s, m, h or d)"
                ))
            }
        };
        let ms = n * mult;
        // At most a year: windows longer than that are a typo, and this keeps i64 math safe.
        if !(1.0..=366.0 * 86_400_000.0).contains(&ms) {
            return Err(format!(
                "bad time span '{text}': must be between 1 ms and 366 days"
            ));
        }
        Ok(Self(ms.round() as i64))
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Num(n) => format!("{n}s").parse().map_err(serde::de::Error::custom),
            Raw::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_units() {
        assert_eq!("90s".parse::<Span>(), Ok(Span(90_000)));
        assert_eq!("10m".parse::<Span>(), Ok(Span(600_000)));
        assert_eq!("1h".parse::<Span>().unwrap().to_string(), "1h");
        assert_eq!("2d".parse::<Span>().unwrap().to_string(), "2d");
        assert_eq!("120".parse::<Span>(), Ok(Span(120_000)));
        assert_eq!(Span(90_000).to_string(), "90s");
        assert!("10 parsecs".parse::<Span>().is_err());
        assert!("0s".parse::<Span>().is_err());
        assert!("-5m".parse::<Span>().is_err());
        assert!("400d".parse::<Span>().is_err());
        let s: Span = serde_json::from_str("600").unwrap();
        assert_eq!(s, Span(600_000));
        let s: Span = serde_json::from_str("\"1h\"").unwrap();
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"1h\"");
    }
}
