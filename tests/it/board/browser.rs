//! The board in a real browser (placeholder, filled below).
