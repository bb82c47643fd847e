//! Synthetic abdominal CT phantoms (in progress).
