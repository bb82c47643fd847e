//! Surfaces and lesion measurements from label maps (in progress).
