//! Threat reports (filled in below).
