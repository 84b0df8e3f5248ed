//! Prometheus' standard process metrics (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, `process_virtual_memory_bytes`, `process_open_fds`,
//! `process_max_fds`, `process_start_time_seconds`), read from `/proc` at each scrape, as the
//! Go and Python clients do. prometheus-client has no process collector; the parsing here is
//! pure and unit-tested, and the clock-tick and page sizes come from rustix (no `unsafe`).
//! Off Linux, or when `/proc` cannot be read, the metrics are left out of the scrape.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: no field {field}")]
    Field {
        path: &'static str,
        field: &'static str,
    },
}

/// What `/proc/self/stat` says, in the kernel's units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// User and system time, in clock ticks.
    pub utime_ticks: u64,
    pub stime_ticks: u64,
    /// Start time after boot, in clock ticks.
    pub starttime_ticks: u64,
    pub vsize_bytes: u64,
    pub rss_pages: u64,
}

const STAT: &str = "/proc/self/stat";

/// Pure: parse `/proc/<pid>/stat`. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Result<Stat, ProcError> {
    let after = text
        .rfind(')')
        .map(|i| &text[i + 1..])
        .ok_or(ProcError::Field {
            path: STAT,
            field: "comm",
        })?;
    // After `)`, index 0 is field 3 (state); field N is index N - 3.
    let fields: Vec<&str> = after.split_ascii_whitespace().collect();
    let field = |n: usize, name: &'static str| -> Result<u64, ProcError> {
        fields
            .get(n - 3)
            .and_then(|v| v.parse().ok())
            .ok_or(ProcError::Field {
                path: STAT,
                field: name,
            })
    };
    Ok(Stat {
        utime_ticks: field(14, "utime")?,
        stime_ticks: field(15, "stime")?,
        starttime_ticks: field(22, "starttime")?,
        vsize_bytes: field(23, "vsize")?,
        rss_pages: field(24, "rss")?,
    })
}

/// Pure: the `btime` (boot time, unix seconds) line of `/proc/stat`.
pub fn parse_boot_time(text: &str) -> Result<u64, ProcError> {
    text.lines()
        .find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())
        .ok_or(ProcError::Field {
            path: "/proc/stat",
            field: "btime",
        })
}

/// Pure: the soft `Max open files` limit of `/proc/<pid>/limits` (None when `unlimited`).
pub fn parse_max_fds(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()
}

fn read(path: &'static str) -> Result<String, ProcError> {
    std::fs::read_to_string(path).map_err(|source| ProcError::Read { path, source })
}

fn open_fds() -> Result<u64, ProcError> {
    let path = "/proc/self/fd";
    let dir =
        std::fs::read_dir(Path::new(path)).map_err(|source| ProcError::Read { path, source })?;
    Ok(dir.count() as u64)
}

/// One scrape's values.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    cpu_seconds: f64,
    resident_bytes: u64,
    virtual_bytes: u64,
    open_fds: u64,
    max_fds: Option<u64>,
}

/// The collector registered with the registry.
#[derive(Debug)]
pub struct ProcessCollector {
    /// Fixed for the life of the process, so read once.
    start_time_seconds: Option<f64>,
    ticks_per_second: f64,
    page_size: u64,
}

impl Default for ProcessCollector {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcessCollector {
    pub fn new() -> ProcessCollector {
        let ticks_per_second = rustix::param::clock_ticks_per_second().max(1) as f64;
        let start_time_seconds = read(STAT)
            .and_then(|t| parse_stat(&t))
            .and_then(|s| {
                let boot = parse_boot_time(&read("/proc/stat")?)?;
                Ok(boot as f64 + s.starttime_ticks as f64 / ticks_per_second)
            })
            .map_err(|e| tracing::debug!(error = %e, "process_start_time_seconds unavailable"))
            .ok();
        ProcessCollector {
            start_time_seconds,
            ticks_per_second,
            page_size: rustix::param::page_size() as u64,
        }
    }

    fn sample(&self) -> Result<Sample, ProcError> {
        let stat = parse_stat(&read(STAT)?)?;
        Ok(Sample {
            cpu_seconds: (stat.utime_ticks + stat.stime_ticks) as f64 / self.ticks_per_second,
            resident_bytes: stat.rss_pages.saturating_mul(self.page_size),
            virtual_bytes: stat.vsize_bytes,
            open_fds: open_fds()?,
            max_fds: read("/proc/self/limits")
                .ok()
                .and_then(|t| parse_max_fds(&t)),
        })
    }
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: f64,
) -> Result<(), std::fmt::Error> {
    let g = ConstGauge::new(value);
    g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let sample = match self.sample() {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::debug!(error = %e, "process metrics unavailable");
                None
            }
        };
        if let Some(s) = sample {
            let cpu = ConstCounter::new(s.cpu_seconds);
            cpu.encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds",
                None,
                cpu.metric_type(),
            )?)?;
            gauge(
                &mut encoder,
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                s.resident_bytes as f64,
            )?;
            gauge(
                &mut encoder,
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                s.virtual_bytes as f64,
            )?;
            gauge(
                &mut encoder,
                "process_open_fds",
                "Number of open file descriptors",
                s.open_fds as f64,
            )?;
            if let Some(max) = s.max_fds {
                gauge(
                    &mut encoder,
                    "process_max_fds",
                    "Maximum number of open file descriptors",
                    max as f64,
                )?;
            }
        }
        if let Some(start) = self.start_time_seconds {
            gauge(
                &mut encoder,
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds",
                start,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A real line, with a command name holding a space and a parenthesis.
    const LINE: &str = "4242 (cert gate)) S 1 4242 4242 0 -1 4194560 1800 0 0 0 731 152 0 0 20 0 3 0 98765 123456789 2345 18446744073709551615 1 1 0 0 0 0 0 4096 17610 0 0 0 17 1 0 0 0 0 0";

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let s = parse_stat(LINE).unwrap();
        assert_eq!(
            s,
            Stat {
                utime_ticks: 731,
                stime_ticks: 152,
                starttime_ticks: 98765,
                vsize_bytes: 123456789,
                rss_pages: 2345,
            }
        );
    }

    #[test]
    fn truncated_stat_names_the_missing_field() {
        let e = parse_stat("1 (x) S 1 2 3").unwrap_err();
        assert!(matches!(e, ProcError::Field { field: "utime", .. }), "{e}");
        assert!(matches!(
            parse_stat("no parenthesis"),
            Err(ProcError::Field { field: "comm", .. })
        ));
    }

    #[test]
    fn boot_time_and_fd_limit() {
        assert_eq!(
            parse_boot_time("cpu  1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n").unwrap(),
            1_700_000_000
        );
        assert!(parse_boot_time("cpu 1\n").is_err());
        let limits = "Limit                     Soft Limit           Hard Limit           Units\nMax cpu time              unlimited            unlimited            seconds\nMax open files            1024                 524288               files\n";
        assert_eq!(parse_max_fds(limits), Some(1024));
        assert_eq!(
            parse_max_fds(
                "Max open files            unlimited            unlimited            files\n"
            ),
            None
        );
    }

    #[test]
    fn this_process_reads_sane_values() {
        let c = ProcessCollector::new();
        let s = c.sample().expect("/proc is readable on Linux");
        assert!(s.resident_bytes > 100_000, "{s:?}");
        assert!(s.open_fds >= 3, "{s:?}");
        assert!(s.cpu_seconds >= 0.0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let start = c.start_time_seconds.expect("start time");
        assert!(
            start <= now + 1.0 && start > now - 3600.0,
            "{start} vs {now}"
        );
    }
}
