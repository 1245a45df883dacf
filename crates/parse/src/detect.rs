//! Protocol detection by content, so services on unusual ports are still parsed.
