//! Faults (next).
