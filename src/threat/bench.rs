//! Throughput and memory of the rate detectors (filled in below).
