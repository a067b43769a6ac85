//! Evaluation of labeled event streams (filled in below).
